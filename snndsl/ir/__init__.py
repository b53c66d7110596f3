"""The intermediate representation: typed, serialisable, free of JAX.

expr.py holds the expression nodes and their walkers, spec.py the spec nodes (with their
invariants as field bounds), tables.py the task tables.  Every stage uses the nodes as `ir.X`.
"""

from .expr import (Bin, Call, Compare, Dims, Dotted, Expr, KwArg, ListExpr, Name, Neg, Node, Num, Str,
                   children, map_children, names_in, strip_spans)
from .spec import (ODE, Bernoulli, BraxTask, Connectivity, Conv2d, Norm, Pool, DatasetTask, Dense, EncoderModel, Group, Init, Input,
                   Learnable, LinearForm, NeuronModel, Output, Param, Population, Port, Projection, ReadoutModel,
                   ResetStmt, Spec, SpikeCondition, Sparse, StateVar, Task, Time, time_constant_params,
                   METHODS, MAX_DELAY_STEPS, Integration, LinearSystem, StepUpdate, step_decay_param)

__all__ = [
    "Bin", "Call", "Compare", "Dims", "Dotted", "Expr", "KwArg", "ListExpr", "Name", "Neg", "Node", "Num", "Str",
    "children", "map_children", "names_in", "strip_spans",
    "ODE", "Bernoulli", "BraxTask", "Connectivity", "Conv2d", "Norm", "Pool", "DatasetTask", "Dense", "EncoderModel", "Group", "Init", "Input",
    "Learnable", "LinearForm", "NeuronModel", "Output", "Param", "Population", "Port", "Projection", "ReadoutModel",
    "ResetStmt", "Spec", "SpikeCondition", "Sparse", "StateVar", "Task", "Time", "time_constant_params",
    "METHODS", "MAX_DELAY_STEPS", "Integration", "LinearSystem", "StepUpdate", "step_decay_param",
]
