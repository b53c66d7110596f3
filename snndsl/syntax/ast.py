"""The syntax tree of one .snn file, as written (nothing resolved).

Statements are small dataclasses; expressions are the IR's expression nodes (snndsl.ir).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Span
from ..ir import Expr


@dataclass
class Ident:
    name: str
    span: Span


# ---- items inside { } bodies


@dataclass
class ParamDecl:
    name: Ident
    value: Expr
    span: Span


@dataclass
class StateDecl:
    name: Ident
    init: Expr
    span: Span


@dataclass
class PortDecl:
    name: Ident
    span: Span


@dataclass
class OdeDecl:
    var: Ident
    rhs: Expr
    span: Span


@dataclass
class SpikeDecl:
    cond: Expr
    span: Span


@dataclass
class Assign:
    var: Ident
    op: str
    value: Expr
    span: Span


@dataclass
class OnSpike:
    assigns: list[Assign]
    span: Span


@dataclass
class StepAssign:
    """`var <- value` in a `step { }` block."""

    var: Ident
    value: Expr
    span: Span


@dataclass
class StepBlock:
    assigns: list[StepAssign]
    span: Span


@dataclass
class Setting:
    key: Ident
    value: Expr
    span: Span
    from_command_line: bool = False


@dataclass
class LearnDecl:
    target: Ident
    per: Ident | None
    body: list  # settings
    span: Span


Item = ParamDecl | StateDecl | PortDecl | OdeDecl | SpikeDecl | OnSpike | StepBlock | Setting | LearnDecl


# ---- statements


@dataclass
class Import:
    path: str
    path_span: Span
    names: list[Ident]
    span: Span


@dataclass
class Const:
    name: Ident
    value: Expr
    span: Span


@dataclass
class ModelDef:
    kind: str  # neuron | encoder | readout
    name: Ident
    items: list
    span: Span


@dataclass
class Block:
    """time { }, task <kind> { }, train <rule> { }."""

    keyword: str
    kind: Ident | None
    items: list
    span: Span


@dataclass
class Declaration:
    """input / population / output: `keyword name = head { items }`."""

    keyword: str
    name: Ident
    head: Expr
    items: list
    span: Span


@dataclass
class GroupDecl:
    name: Ident
    members: Expr
    span: Span


@dataclass
class Endpoint:
    node: Ident
    var: Ident | None
    span: Span


@dataclass
class ProjectDecl:
    source: Endpoint
    target: Endpoint
    items: list
    span: Span


@dataclass
class Module:
    file: str
    stmts: list = field(default_factory=list)


# ---- repetition: expanded away by snndsl/expand/ before elaboration


@dataclass
class ForLoop:
    """`for a, b in items [from start] { statements }`."""

    keyword = "for"  # (a class attribute: how diagnostics name the statement)
    vars: list[Ident]
    items: Expr
    chain: Ident | None  # `from NAME`: the first iteration's `prev`
    body: list
    span: Span


@dataclass
class StageDef:
    """`stage name(param, ...) { statements }`."""

    keyword = "stage"
    name: Ident
    params: list[Ident]
    body: list
    span: Span


@dataclass
class UseStage:
    """`use name(arg, ..., param = arg)`."""

    keyword = "use"
    stage: Ident
    args: list  # Expr
    kwargs: list  # ir.KwArg
    span: Span
