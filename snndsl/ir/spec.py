"""The IR's spec nodes: models (neuron, encoder, readout), the network (populations, groups,
inputs, outputs, projections), time, task and learning rule, with their invariants as field bounds.

One `Spec` describes a whole training job.  Every node keeps its source span.
`Spec.model_dump_json()` / `Spec.model_validate_json()` round-trip.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from snndsl_runtime import settings as runtime_settings

from ..settings import TrainSettings
from .expr import Bin, Call, Dims, Expr, Name, Neg, Node, Num


# --------------------------------------------------------------------------- models


class Param(Node):
    name: str
    value: float
    dims: Dims = (0, 0, 0)


class StateVar(Node):
    name: str
    init: Expr  # constant or uniform(a, b) / normal(m, s), over params
    dims: Dims = (0, 0, 0)


class Port(Node):
    """A neuron input: the sum of the projections into it, recomputed every step."""

    name: str
    dims: Dims = (0, 0, 0)


class LinearForm(Node):
    """rhs = (a * x + b) / d with a, b, d free of x (d may be 1)."""

    a: Expr
    b: Expr
    d: Expr


METHODS = ("exact", "exponential_euler", "euler", "rk2", "rk4")
Method = Literal["exact", "exponential_euler", "euler", "rk2", "rk4"]


class ODE(Node):
    var: str
    rhs: Expr
    method: Method  # the model's method (all its ODEs are integrated together)
    linear: LinearForm | None = None  # rhs as (a*var + b)/d, if it is linear in its own variable


class LinearSystem(Node):
    """A model's ODEs as dx/dt = A x + b, linear in the states with coefficients A over parameters,
    constants and dt; b is the drive (the right sides with the ODE states at 0): parameters, inputs,
    states without an equation.  `coupled`: some equation has another ODE state in it."""

    states: list[str]
    a: list[list[Expr]]
    b: list[Expr]
    coupled: bool


class StepUpdate(Node):
    """`var <- value` in a `step { }` block: discrete-time updates, run in the written order."""

    var: str
    value: Expr


class Integration(Node):
    """How a model's state advances by one step, and why (what `snndsl check` prints)."""

    method: Literal["exact", "exponential_euler", "euler", "rk2", "rk4", "step", "none"]
    reason: str
    system: LinearSystem | None = None


class ResetStmt(Node):
    var: str
    op: Literal["=", "+=", "-="]
    value: Expr


class SpikeCondition(Node):
    op: Literal[">", ">=", "<", "<="]
    left: Expr
    right: Expr


class NeuronModel(Node):
    name: str
    file: str
    params: list[Param] = Field(default_factory=list)
    states: list[StateVar] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)
    odes: list[ODE] = Field(default_factory=list)
    steps: list[StepUpdate] = Field(default_factory=list)  # a discrete-time model (no ODEs)
    integration: Integration = Integration(method="none", reason="no equations")
    spike: SpikeCondition | None = None
    reset: list[ResetStmt] = Field(default_factory=list)
    refractory: float = 0.0  # ms

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def state(self, name: str) -> StateVar | None:
        return next((s for s in self.states if s.name == name), None)

    def port(self, name: str) -> Port | None:
        return next((p for p in self.ports if p.name == name), None)

    def ode(self, var: str) -> ODE | None:
        return next((o for o in self.odes if o.var == var), None)

    @property
    def spiking(self) -> bool:
        return self.spike is not None

    @property
    def membrane(self) -> str | None:
        """The state variable tested by the spike condition."""
        if self.spike is None:
            return self.states[0].name if self.states else None
        for side in (self.spike.left, self.spike.right):
            if isinstance(side, Name) and side.ref == "state":
                return side.id
        return None

    @property
    def threshold(self) -> str | None:
        """The parameter the membrane is compared against, if the condition is `v > v_th`."""
        if self.spike is None:
            return None
        for side in (self.spike.right, self.spike.left):
            if isinstance(side, Name) and side.ref == "param":
                return side.id
        return None

    @property
    def soft_reset(self) -> bool:
        """True if every reset subtracts (or adds) rather than assigns."""
        return bool(self.reset) and all(r.op != "=" for r in self.reset)


def time_constant_params(model: NeuronModel | ReadoutModel) -> dict[str, str]:
    """Parameters that are a state's decay time constant: param -> state.  As in `dv/dt = (... - v) / tau_m`
    (exactly integrated), or `v <- exp(-dt / tau_m) * v + ...` in a `step` block."""
    out = {}
    for ode in model.odes:
        lf = ode.linear
        if lf is not None and ode.method == "exact" and isinstance(lf.d, Name) and lf.d.ref == "param" \
                and isinstance(lf.a, Num) and lf.a.value < 0:
            out[lf.d.id] = ode.var
    for st in getattr(model, "steps", []):
        tau = step_decay_param(st)
        if tau is not None:
            out[tau] = st.var
    return out


def step_decay_param(st: StepUpdate) -> str | None:
    """The parameter P of a step update `x <- exp(-dt / P) * x + ...`, if it has that form."""
    def decay(e):
        if isinstance(e, Call) and e.func == "exp" and len(e.args) == 1:
            arg = e.args[0]
            neg = isinstance(arg, Neg)
            inner = arg.operand if neg else arg
            if isinstance(inner, Bin) and inner.op == "/":
                top, bottom = inner.left, inner.right
                if isinstance(top, Neg):
                    neg, top = not neg, top.operand
                if neg and isinstance(top, Name) and top.id == "dt" and isinstance(bottom, Name) \
                        and bottom.ref == "param":
                    return bottom.id
        return None

    e = st.value
    terms = [e.left, e.right] if isinstance(e, Bin) and e.op in "+-" else [e]
    for t in terms:
        if isinstance(t, Bin) and t.op == "*":
            for f, other in ((t.left, t.right), (t.right, t.left)):
                if isinstance(other, Name) and other.id == st.var and decay(f):
                    return decay(f)
    return None


class EncoderModel(Node):
    name: str
    file: str
    params: list[Param] = Field(default_factory=list)
    value: Expr  # over the builtin `x` (task input) and params
    size_factor: int = 1  # output size = size_factor * input size (concat doubles it)


class ReadoutModel(Node):
    name: str
    file: str
    params: list[Param] = Field(default_factory=list)
    states: list[StateVar] = Field(default_factory=list)
    odes: list[ODE] = Field(default_factory=list)
    integration: Integration = Integration(method="none", reason="no equations")
    value: Expr  # over `s` (signed spikes this step), the source's states, readout states, params

    def ode(self, var: str) -> ODE | None:
        return next((o for o in self.odes if o.var == var), None)


# --------------------------------------------------------------------------- network


class Init(Node):
    """Values drawn once per run: a projection's initial weights (normal(mean, std), uniform(low, high),
    kaiming, lecun, a constant) or a population's per-neuron parameter (uniform, normal), or
    `file(path, key)`: the array `key` of an .npz file (path resolved against the spec's folder;
    its SHA-256 is part of the generated model, so of the network's hash).  Numbers in base units."""

    dist: Literal["normal", "uniform", "kaiming", "lecun", "constant", "file"]
    a: float = 0.0
    b: float = 1.0
    path: str | None = None  # file: the .npz, absolute
    key: str | None = None  # file: the array's name in it
    sha256: str | None = None  # file: of the array's bytes (float32), checked when the model loads it
    low: float | None = None  # draws below this are clipped to it (a time constant drawn from normal())


class Learnable(Node):
    """A neuron parameter learned by gradient (stop/surrogate) or evolution (es)."""

    param: str
    # channel: one value per channel of a shaped population, shared over its positions
    sharing: Literal["neuron", "channel", "population"] = "population"
    role: Literal["threshold", "time_constant", "other"] = "other"
    bounds: tuple[float, float] | None = None


class Population(Node):
    name: str
    model: str
    size: int = Field(ge=1)
    # (channels, height, width) of a shaped population (`LIF([8, 8, 8])`), size their product; the
    # runtime holds it flat, channels last (snndsl_runtime/layers.py)
    shape: tuple[int, int, int] | None = None
    sign: Literal[1, -1] = 1
    params: dict[str, float] = Field(default_factory=dict)  # every model param, overrides applied
    # params drawn per neuron (uniform, normal or file), once per run; `params` holds their mean
    draws: dict[str, Init] = Field(default_factory=dict)
    inits: dict[str, Expr] = Field(default_factory=dict)  # every state's init, overrides applied
    learn: list[Learnable] = Field(default_factory=list)
    group: str | None = None


class Group(Node):
    name: str
    members: list[str]


class Input(Node):
    name: str
    encoder: str
    params: dict[str, float] = Field(default_factory=dict)
    in_size: int = Field(ge=1)
    size: int
    normalize: Literal["none", "running"] = "none"
    shape: tuple[int, int, int] | None = None  # (C, H, W) of an image task's input (ir/tables.DATASET_SHAPES)


class Output(Node):
    name: str
    readout: str
    source: str  # population or group
    params: dict[str, float] = Field(default_factory=dict)
    size: int = Field(ge=1)
    clip: tuple[float, float] | None = None


class Bernoulli(Node):
    kind: Literal["bernoulli"] = "bernoulli"
    p: float = Field(ge=0, le=1)
    learn: bool = False


class Dense(Node):
    kind: Literal["dense"] = "dense"
    init: Init
    learn: bool = False
    bounds: tuple[float, float] | None = None


class Sparse(Node):
    """A fixed random mask with probability p, times real weights."""

    kind: Literal["sparse"] = "sparse"
    p: float = Field(ge=0, le=1)
    init: Init
    learn: bool = False
    bounds: tuple[float, float] | None = None


class Conv2d(Node):
    """A 2-d convolution of a shaped source: one kernel (kernel x kernel x C_in x C_out) shared over
    the positions; padding (top/left, bottom/right) per spatial axis, in pixels."""

    kind: Literal["conv2d"] = "conv2d"
    kernel: int = Field(ge=1)
    stride: int = Field(ge=1)
    padding_rule: Literal["same", "valid"] | int = "valid"  # as written
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))  # in pixels, for the source's shape
    init: Init
    learn: bool = False
    bounds: tuple[float, float] | None = None


class Pool(Node):
    """Pooling of a shaped source, per channel, over size x size windows (stride = size); no weights.
    global_avg_pool averages each channel over the whole image (size 0 here)."""

    kind: Literal["pool"] = "pool"
    op: Literal["avg_pool", "sum_pool", "max_pool", "global_avg_pool"]
    size: int = Field(ge=0)
    learn: Literal[False] = False


class Norm(Node):
    """`norm = batch` on a projection: its op's output batch-normalised per output channel (a flat
    target: per neuron) before the gain; PyTorch's momentum and eps."""

    kind: Literal["batch"] = "batch"
    momentum: float = 0.1
    eps: float = 1e-5


Connectivity = Annotated[Union[Bernoulli, Dense, Sparse, Conv2d, Pool], Field(discriminator="kind")]


MAX_DELAY_STEPS = 10_000  # each step of delay keeps one more row of the source's spikes per sample


class Projection(Node):
    name: str  # e.g. "obs->hidden.i_in"
    source: str
    target: str
    target_var: str | None = None  # None when the target is an output
    connectivity: Connectivity
    gain: float
    gain_rule: str = "constant"  # constant | auto (how `gain` was obtained)
    n_in: int = Field(ge=1)
    n_out: int = Field(ge=1)
    # network steps from a spike to its delivery; None: 0 feed-forward, 1 where a loop needs it;
    # 2 or more: kept in a buffer of the source's past spikes
    delay: int | None = Field(None, ge=0, le=MAX_DELAY_STEPS)
    # (C, H, W) of a shaped source, and of what a convolution or pooling makes of it
    in_shape: tuple[int, int, int] | None = None
    out_shape: tuple[int, int, int] | None = None
    # `pool = avg_pool(2)`: the source is pooled before the weights (no neurons in between); in_shape
    # is then the pooled shape the weights see and source_shape the source's own
    pool: Pool | None = None
    source_shape: tuple[int, int, int] | None = None
    norm: Norm | None = None

    @property
    def norm_channels(self) -> tuple[int, int]:
        """(channels, positions) batch norm works over: a convolution's or pooling's output channels
        and H * W; else one channel per target neuron."""
        if self.out_shape is not None:
            c, h, w = self.out_shape
            return c, h * w
        return self.n_out, 1

    @property
    def learnable(self) -> bool:
        return self.connectivity.learn

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """The weight array: (inputs, outputs); a convolution's kernel (k, k, C_in, C_out); none for pooling."""
        c = self.connectivity
        if c.kind == "conv2d":
            return (c.kernel, c.kernel, self.in_shape[0], self.out_shape[0])
        if c.kind == "pool":
            return (0,)
        if self.pool is not None:  # a dense map of the pooled source
            return (self.in_shape[0] * self.in_shape[1] * self.in_shape[2], self.n_out)
        return (self.n_in, self.n_out)

    @property
    def n_weights(self) -> int:
        n = 1
        for d in self.weight_shape:
            n *= d
        return n


# the task and time blocks: their settings and bounds are the runtime's (one validator)
class Time(runtime_settings.TimeSettings, Node):
    pass


class BraxTask(runtime_settings.BraxTaskSettings, Node):
    pass


class DatasetTask(runtime_settings.DatasetTaskSettings, Node):
    pass


Task = Annotated[Union[BraxTask, DatasetTask], Field(discriminator="kind")]


class Spec(Node):
    file: str
    name: str
    overrides: list[str] = Field(default_factory=list)  # the `--set KEY=VALUE` list it was built with
    imports: list[str] = Field(default_factory=list)
    neurons: list[NeuronModel] = Field(default_factory=list)
    encoders: list[EncoderModel] = Field(default_factory=list)
    readouts: list[ReadoutModel] = Field(default_factory=list)
    consts: dict[str, float] = Field(default_factory=dict)
    populations: list[Population] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    inputs: list[Input] = Field(default_factory=list)
    outputs: list[Output] = Field(default_factory=list)
    projections: list[Projection] = Field(default_factory=list)
    time: Time = Field(default_factory=Time)
    # both None (or one of them) in a spec that can be simulated but not trained (`snndsl sim`)
    task: Task | None = None
    train: TrainSettings | None = None

    # ---- lookups used by every later stage
    def neuron(self, name: str) -> NeuronModel:
        return next(m for m in self.neurons if m.name == name)

    def encoder(self, name: str) -> EncoderModel:
        return next(m for m in self.encoders if m.name == name)

    def readout(self, name: str) -> ReadoutModel:
        return next(m for m in self.readouts if m.name == name)

    def population(self, name: str) -> Population:
        return next(p for p in self.populations if p.name == name)

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def members(self, name: str) -> list[Population]:
        """The populations a population-or-group name stands for."""
        g = self.group(name)
        if g is not None:
            return [self.population(m) for m in g.members]
        return [self.population(name)]

    def size_of(self, name: str) -> int:
        for coll in (self.inputs, self.outputs):
            for n in coll:
                if n.name == name:
                    return n.size
        return sum(p.size for p in self.members(name))

    def kind_of(self, name: str) -> str | None:
        if any(i.name == name for i in self.inputs):
            return "input"
        if any(o.name == name for o in self.outputs):
            return "output"
        if any(g.name == name for g in self.groups):
            return "group"
        if any(p.name == name for p in self.populations):
            return "population"
        return None

    @property
    def trainable(self) -> bool:
        """Whether the spec has what training needs: a `task` and a `train` block."""
        return self.task is not None and self.train is not None

    def parameter_counts(self) -> dict[str, int]:
        """Learned scalars by kind: connection probabilities, weights, neuron parameters, batch norm's."""
        counts = {"probabilities": 0, "weights": 0, "neuron": 0, "norm": 0}
        for pr in self.projections:
            if pr.norm is not None:  # a scale and a shift per channel, learned with or without `learn w`
                counts["norm"] += 2 * pr.norm_channels[0]
            if not pr.connectivity.learn:
                continue
            key = "probabilities" if pr.connectivity.kind == "bernoulli" else "weights"
            counts[key] += pr.n_weights
        for pop in self.populations:
            for ln in pop.learn:
                counts["neuron"] += {"neuron": pop.size, "channel": pop.shape[0] if pop.shape else 1}.get(ln.sharing, 1)
        return counts
