"""AST -> AST, between syntax/ and elaborate/: `for` loops and `use` of stages copied out, names
with `{...}` parts built (expander.py).  The output holds only the statements the elaborator knows."""

from .expander import expand

__all__ = ["expand"]
