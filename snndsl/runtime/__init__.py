"""Support code inlined verbatim into every generated module (see codegen/generate.py).

These files import nothing from snndsl, so the emitted train.py stands alone.  Lines ending in
`# inline: drop` are removed when inlining (they import a sibling that is inlined before them).
Order of inlining: errors, config, checkpoint, metrics, datasets.
"""

INLINE_ORDER = ("errors", "config", "checkpoint", "metrics", "datasets")
