"""The `snndsl` command: check, run, emit, eval.

Every error in the user's input is a diagnostic and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from .diagnostics import Diagnostic, SpecError, render_all

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


def _color(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


def report(diags: list[Diagnostic], sources, fmt: str = "text", stream=None) -> None:
    stream = stream or sys.stderr
    if not diags:
        return
    print(render_all(diags, sources, fmt, color=_color(stream) and fmt == "text"), file=stream)
    if fmt == "text":
        n_err = sum(d.is_error for d in diags)
        n_warn = len(diags) - n_err
        parts = [f"{n_err} error{'s' if n_err != 1 else ''}"] if n_err else []
        if n_warn:
            parts.append(f"{n_warn} warning{'s' if n_warn != 1 else ''}")
        print(", ".join(parts), file=stream)


def cmd_check(args) -> int:
    from .frontend import compile_spec

    status = EXIT_OK
    all_json = []
    for path in args.files:
        spec, diags, sources = compile_spec(path, args.set or [])
        if args.format == "json":
            all_json.extend(d.to_json() for d in diags)
        else:
            report(diags, sources)
        if spec is None:
            status = EXIT_BAD_INPUT
            continue
        if args.format == "json":
            continue
        if args.ir:
            print(spec.model_dump_json(indent=2))
        else:
            from .summary import summarize

            print(summarize(spec))
    if args.format == "json":
        import json

        print(json.dumps(all_json, indent=2))
    return status


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting, e.g. train.population=64, task.episode_length=100, time.dt=0.25ms")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="snndsl", description="Train spiking neural networks from .snn specs.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate specs and print a summary (or every error)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--ir", action="store_true", help="print the IR as JSON")
    p.add_argument("--format", choices=["text", "json"], default="text", help="diagnostics format")
    _add_set(p)
    p.set_defaults(func=cmd_check)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpecError as e:
        report(e.diagnostics, getattr(e, "sources", None))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
