"""Parse .snn text into the syntax tree (syntax/ast.py).

Lark LALR(1) with the grammar in grammars/snn.lark.  A post-lexer drops newlines inside ( ) and
[ ] so long expressions can span lines.  Syntax errors become E001 diagnostics that name what
was expected in words.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .. import ir
from ..diagnostics import Diagnostic, Span, SpecError
from . import ast

GRAMMAR = Path(__file__).resolve().parent.parent.parent / "grammars" / "snn.lark"
if not GRAMMAR.exists():  # installed as a wheel: grammars/ is shipped inside the package
    GRAMMAR = Path(__file__).resolve().parent.parent / "_data" / "grammars" / "snn.lark"

# How the parser's terminal names read in an error message.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "TNAME": "a name",  # with `{...}` parts
    "NUMBER": "a number",
    "STRING": "a string",
    "DERIV": "an equation `dx/dt = ...`",
    "COMPARE": "a comparison",
    "ASSIGN_OP": "`=`, `+=` or `-=`",
    "_NL": "a new line",
    "SEMICOLON": "`;`",
    "$END": "the end of the file",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "EQUAL": "`=`",
    "COMMA": "`,`",
    "DOT": "`.`",
    "PLUS": "`+`",
    "MINUS": "`-`",
    "STAR": "`*`",
    "SLASH": "`/`",
    "__ANON_0": "`->`",
}

_STATEMENT_KEYWORDS = [
    "from", "const", "neuron", "encoder", "readout", "time", "task", "train",
    "input", "population", "group", "output", "project", "for", "stage", "use",
]


class _NewlinesInBrackets:
    """Post-lexer: a newline inside ( ) or [ ] is whitespace."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif tok.type == "_NL" and depth > 0:
                continue
            yield tok


@lru_cache(maxsize=None)
def _lark(start: str) -> Lark:
    return Lark(
        GRAMMAR.read_text(),
        parser="lalr",
        start=start,
        propagate_positions=True,
        postlex=_NewlinesInBrackets(),
        maybe_placeholders=True,
        cache=False,
    )


def _span(file: str, meta_or_tok) -> Span:
    m = meta_or_tok
    if isinstance(m, Token):
        return Span(file=file, line=m.line, col=m.column, end_line=m.end_line, end_col=m.end_column)
    if getattr(m, "empty", False):
        return Span(file=file, line=1, col=1)
    return Span(file=file, line=m.line, col=m.column, end_line=m.end_line, end_col=m.end_column)


class _Build(Transformer):
    """Lark tree -> ast / ir.Expr nodes."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _s(self, x) -> Span:
        return _span(self.file, x)

    def _id(self, tok: Token) -> ast.Ident:
        return ast.Ident(str(tok), self._s(tok))

    # ---- expressions
    @v_args(meta=True)
    def number(self, meta, ch):
        return ir.Num(value=float(ch[0]), span=self._s(meta))

    @v_args(meta=True)
    def quantity(self, meta, ch):
        num, unit = ch
        # The unit is checked (and scaled) by the builder; keep the unit's own position for carets.
        return ir.Num(value=float(num), unit=str(unit), span=self._s(meta))

    @v_args(meta=True)
    def string(self, meta, ch):
        return ir.Str(value=str(ch[0])[1:-1], span=self._s(meta))

    @v_args(meta=True)
    def name(self, meta, ch):
        return ir.Name(id=str(ch[0]), span=self._s(meta))

    @v_args(meta=True)
    def dotted(self, meta, ch):
        return ir.Dotted(obj=str(ch[0]), attr=str(ch[1]), span=self._s(meta))

    @v_args(meta=True)
    def call(self, meta, ch):
        func, args = ch
        pos, kws = [], []
        for a in args or []:
            (kws if isinstance(a, ir.KwArg) else pos).append(a)
        return ir.Call(func=str(func), args=pos, kwargs=kws, span=self._s(meta))

    def args(self, ch):
        return list(ch)

    @v_args(meta=True)
    def kwarg(self, meta, ch):
        return ir.KwArg(name=str(ch[0]), value=ch[1], span=self._s(ch[0]))

    @v_args(meta=True)
    def list(self, meta, ch):
        return ir.ListExpr(items=[c for c in ch if c is not None], span=self._s(meta))

    def _bin(op):
        @v_args(meta=True)
        def f(self, meta, ch):
            return ir.Bin(op=op, left=ch[0], right=ch[1], span=self._s(meta))

        return f

    add, sub, mul, div, pow = _bin("+"), _bin("-"), _bin("*"), _bin("/"), _bin("**")

    @v_args(meta=True)
    def neg(self, meta, ch):
        return ir.Neg(operand=ch[0], span=self._s(meta))

    def pos(self, ch):
        return ch[0]

    @v_args(meta=True)
    def compare(self, meta, ch):
        return ir.Compare(op=str(ch[1]), left=ch[0], right=ch[2], span=self._s(meta))

    def key(self, ch):
        return ch[0]

    def ident(self, ch):
        return ch[0]

    # ---- items
    def body(self, ch):
        return [c for c in ch if c is not None]

    @v_args(meta=True)
    def param_decl(self, meta, ch):
        return ast.ParamDecl(self._id(ch[0]), ch[1], self._s(meta))

    @v_args(meta=True)
    def state_decl(self, meta, ch):
        return ast.StateDecl(self._id(ch[0]), ch[1], self._s(meta))

    @v_args(meta=True)
    def port_decl(self, meta, ch):
        return ast.PortDecl(self._id(ch[0]), self._s(meta))

    @v_args(meta=True)
    def ode(self, meta, ch):
        tok = ch[0]
        var = str(tok)[1:].split("/")[0]
        span = Span(file=self.file, line=tok.line, col=tok.column + 1, end_line=tok.line, end_col=tok.column + 1 + len(var))
        return ast.OdeDecl(ast.Ident(var, span), ch[1], self._s(meta))

    @v_args(meta=True)
    def spike_decl(self, meta, ch):
        return ast.SpikeDecl(ch[0], self._s(meta))

    @v_args(meta=True)
    def on_spike(self, meta, ch):
        return ast.OnSpike([c for c in ch if c is not None], self._s(meta))

    @v_args(meta=True)
    def assign(self, meta, ch):
        return ast.Assign(self._id(ch[0]), str(ch[1]), ch[2], self._s(meta))

    @v_args(meta=True)
    def step_block(self, meta, ch):
        return ast.StepBlock([c for c in ch if c is not None], self._s(meta))

    @v_args(meta=True)
    def step_assign(self, meta, ch):
        return ast.StepAssign(self._id(ch[0]), ch[1], self._s(meta))

    @v_args(meta=True)
    def setting(self, meta, ch):
        return ast.Setting(self._id(ch[0]), ch[1], self._s(meta))

    @v_args(meta=True)
    def learn_decl(self, meta, ch):
        target, per, body = ch
        return ast.LearnDecl(self._id(target), self._id(per) if per is not None else None, body or [], self._s(meta))

    # ---- statements
    @v_args(meta=True)
    def import_stmt(self, meta, ch):
        path = ch[0]
        return ast.Import(str(path)[1:-1], self._s(path), [self._id(t) for t in ch[1:]], self._s(meta))

    @v_args(meta=True)
    def const_stmt(self, meta, ch):
        return ast.Const(self._id(ch[0]), ch[1], self._s(meta))

    @v_args(meta=True)
    def model_def(self, meta, ch):
        return ast.ModelDef(str(ch[0].children[0]), self._id(ch[1]), ch[2], self._s(meta))

    @v_args(meta=True)
    def time_stmt(self, meta, ch):
        return ast.Block("time", None, ch[0], self._s(meta))

    @v_args(meta=True)
    def task_stmt(self, meta, ch):
        return ast.Block("task", self._id(ch[0]), ch[1], self._s(meta))

    @v_args(meta=True)
    def train_stmt(self, meta, ch):
        return ast.Block("train", self._id(ch[0]), ch[1], self._s(meta))

    def _decl(keyword):
        @v_args(meta=True)
        def f(self, meta, ch):
            name, head, body = ch
            return ast.Declaration(keyword, self._id(name), head, body or [], self._s(meta))

        return f

    input_stmt, population_stmt, output_stmt = _decl("input"), _decl("population"), _decl("output")

    @v_args(meta=True)
    def group_stmt(self, meta, ch):
        return ast.GroupDecl(self._id(ch[0]), ch[1], self._s(meta))

    @v_args(meta=True)
    def endpoint(self, meta, ch):
        node, var = ch
        return ast.Endpoint(self._id(node), self._id(var) if var is not None else None, self._s(meta))

    @v_args(meta=True)
    def project_stmt(self, meta, ch):
        src, dst, body = ch
        return ast.ProjectDecl(src, dst, body or [], self._s(meta))

    def stmts(self, ch):
        return [c for c in ch if c is not None]

    @v_args(meta=True)
    def for_stmt(self, meta, ch):
        *names, items, chain, body = ch
        return ast.ForLoop([self._id(t) for t in names], items, self._id(chain) if chain is not None else None,
                           body, self._s(meta))

    @v_args(meta=True)
    def stage_def(self, meta, ch):
        name, *params, body = ch
        return ast.StageDef(self._id(name), [self._id(t) for t in params if t is not None], body, self._s(meta))

    @v_args(meta=True)
    def use_stmt(self, meta, ch):
        name, args = ch
        call = self.call(meta, [name, args])
        return ast.UseStage(self._id(name), call.args, call.kwargs, self._s(meta))

    def start(self, ch):
        return list(ch)


def _describe_expected(expected: set[str], lark: Lark) -> str:
    words = []
    for t in sorted(expected):
        if t in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[t])
            continue
        try:
            pattern = lark.get_terminal(t).pattern
            if pattern.type == "str":
                words.append(f"`{pattern.value}`")
                continue
        except KeyError:
            pass
        words.append(t.lower())
    words = sorted(set(words))
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words)


def _lines(text: str) -> list[str]:
    """The lines as the lexer counts them: ended by "\n" only (not by form feeds or U+2028)."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]


def _syntax_error(err: UnexpectedInput, file: str, text: str, lark: Lark) -> Diagnostic:
    line, col = getattr(err, "line", 1) or 1, getattr(err, "column", 1) or 1
    if line < 1:  # EOF
        lines = _lines(text)
        line, col = len(lines), len(lines[-1]) + 1
    span = Span(file=file, line=line, col=col, end_line=line, end_col=col + 1)
    hint = None
    if isinstance(err, UnexpectedCharacters):
        ch = _lines(text)[line - 1][col - 1 : col] if line <= len(_lines(text)) else "?"
        msg = f"unexpected character `{ch}`"
        if ch == "'":
            hint = 'strings use double quotes: "hopper"'
        elif ch == "=":
            hint = "comparisons are `>`, `>=`, `<`, `<=`"
        elif ch == '"':
            hint = 'a string is not closed on its line: "hopper"'
    elif isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        msg = "unexpected end of file"
        exp = getattr(err, "expected", None) or getattr(err, "accepts", None) or set()
        if "RBRACE" in exp:
            hint = "a `{` is not closed"
        elif "RPAR" in exp:
            hint = "a `(` is not closed"
        elif "RSQB" in exp:
            hint = "a `[` is not closed"
    else:
        tok = err.token
        span = Span(
            file=file, line=tok.line, col=tok.column, end_line=tok.end_line or tok.line,
            end_col=tok.end_column or tok.column + 1,
        )
        shown = "end of line" if tok.type == "_NL" else f"`{tok}`"
        msg = f"unexpected {shown}"
        exp = set(err.accepts or err.expected or ())
        if exp:
            msg += f"; expected {_describe_expected(exp, lark)}"
        if tok.type == "NAME" and "NAME" not in exp and str(tok) not in _STATEMENT_KEYWORDS:
            from ..diagnostics import suggest

            hint = suggest(str(tok), _STATEMENT_KEYWORDS)
            if hint is None and "_NL" in exp:
                hint = "put each statement on its own line, or separate them with `;`"
        elif tok.type == "_NL" and "RPAR" in exp:
            hint = "a `(` is not closed"
    return Diagnostic("E001", msg, span, hint)


MAX_DEPTH = 200  # nesting of the parse tree; every later stage walks expressions recursively


def _check_depth(tree, file: str) -> None:
    """SpecError E004 at the first place the tree nests deeper than MAX_DEPTH (a chain of 500 `+`
    or unary signs), measured without recursion."""
    todo = [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise SpecError([Diagnostic("E004", f"this expression nests more than {MAX_DEPTH} levels deep",
                                        _span(file, node.meta), "split it into named constants (`const a = ...`)")])
        todo.extend((c, depth + 1) for c in node.children if hasattr(c, "children"))


def parse(text: str, file: str) -> ast.Module:
    """Parse one file; raises SpecError(E001) on a syntax error, E004 on an expression nested too deeply."""
    lark = _lark("start")
    if not text.endswith("\n"):
        text += "\n"
    try:
        tree = lark.parse(text)
    except UnexpectedInput as err:
        raise SpecError([_syntax_error(err, file, text, lark)]) from None
    _check_depth(tree, file)
    return ast.Module(file=file, stmts=_Build(file).transform(tree))


def parse_expr(text: str, file: str = "<command line>") -> ir.Expr:
    """Parse a single expression (used for `--set KEY=VALUE`)."""
    lark = _lark("start")
    try:
        tree = lark.parse(f"const _ = {text}\n")
    except UnexpectedInput as err:
        d = _syntax_error(err, file, text, lark)
        raise SpecError([d]) from None
    _check_depth(tree, file)
    stmts = _Build(file).transform(tree)
    return stmts[0].value
