"""The settings of a run, typed, with documented defaults and bounds: the one validator.

Each learning rule has one Pydantic model, and so do the `task` and `time` blocks.  The compiler
checks a spec's settings with these models (snndsl/settings.py adds the spec's source spans), and
the runtime checks `--set` on a model file and the settings read back from a checkpoint with the
same models, so the bounds and the messages are the same everywhere.  A field marked `structural`
changes the generated code; the others are run-time settings.  A field marked with a task kind
means something only for that kind (PPO settings on Brax).  docs/language.md lists them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import difflib

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


MAX_COUNT = 2**31 - 1  # a count or size beyond int32 cannot index a JAX array


def _f(default, doc: str, structural: bool = False, task: str | None = None, **kw):
    """A setting: its default, its documentation, whether it changes the generated code, and the
    task kind ("brax" or "dataset") it is limited to, if any."""
    extra = {"structural": True} if structural else {}
    if task:
        extra["task"] = task
    return Field(default, description=doc, json_schema_extra=extra or None, **kw)


class Surrogate(BaseModel):
    """A surrogate derivative, named by formula.  x = (membrane − threshold).

    fast_sigmoid(slope=k): 1/(1+k|x|)^2          peak 1,   area 2/k   (SuperSpike; Zenke & Ganguli)
    arctan(alpha=a):      (a/2)/(1+(pi*a*x/2)^2) peak a/2, area 1
    sigmoid(slope=k):     k*sig(kx)*(1-sig(kx))  peak k/4, area 1
    triangle(width=w):    max(0, 1-|x|/w)/w      peak 1/w, support |x|<w, area 1
    boxcar(width=w):      1/w for |x| < w/2      peak 1/w, area 1
    """

    model_config = ConfigDict(extra="forbid")
    family: Literal["fast_sigmoid", "arctan", "sigmoid", "triangle", "boxcar"] = "fast_sigmoid"
    scale: float = Field(10.0, gt=0, description="slope, alpha or width, by family")


SURROGATE_PARAM = {
    "fast_sigmoid": ("slope", 10.0),
    "arctan": ("alpha", 2.0),
    "sigmoid": ("slope", 4.0),
    "triangle": ("width", 1.0),
    "boxcar": ("width", 1.0),
}


class Optimizer(BaseModel):
    """An optax optimizer: adam(lr), adamw(lr, weight_decay), sgd(lr, momentum)."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    schedule: Literal["constant", "cosine"] = "constant"
    grad_clip: float | None = Field(None, gt=0, description="clip the global gradient norm")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    devices: int | str = _f(
        "all", "the devices the run is spread over (snndsl_runtime/mesh.py): all of them, or the first N; "
        "the results do not depend on it (EC and ES: the same fitness, gradient rules: within rounding)")

    @field_validator("devices")
    @classmethod
    def _all_or_a_count(cls, v):
        if v != "all" and (isinstance(v, str) or v < 1):
            raise ValueError(f"must be all or a number of devices (1 or more), not {v!r}")
        return v


FITNESS = {"brax": ("completed", "first"), "dataset": ("accuracy", "neg_loss")}  # the first: the default


def fitness_of(train: dict, task_kind: str) -> str:
    """The fitness an evolution run uses: the setting, or the task's default."""
    return train.get("fitness") or FITNESS[task_kind][0]


class _Evolution(_Rule):
    population: int = _f(10240, "population size, evaluation copies included", gt=2)
    eval_copies: int = _f(128, "members that run the deterministic network; not in the gradient", ge=0)
    generations: int = _f(1000, "number of generations", ge=1)
    checkpoint_every: int = _f(50, "write a checkpoint every this many generations", ge=1)
    fitness: Literal["completed", "first", "accuracy", "neg_loss"] | None = _f(
        None,
        "Brax: completed (the default): mean return of the episodes each member completes before every "
        "member has finished one (the EC reference); first: the first episode's return only.  Datasets: "
        "accuracy (the default) or neg_loss (minus the mean loss) on the generation's minibatch",
    )
    reset_pool: Literal["fixed", "rekey"] = _f(
        "fixed",
        "fixed: each member restarts from the same reset state every generation (the reference); "
        "rekey: draw new reset states every generation", task="brax",
    )
    batch_size: int = _f(128, "samples of the minibatch every member is scored on, drawn anew each generation",
                         ge=1, task="dataset")
    loss: Literal["per_step", "final"] = _f(
        "per_step", "per_step: the class is the argmax of the summed outputs, the loss the mean over time of "
        "each step's cross-entropy; final: the last step only", task="dataset",
    )
    obs_std_min: float = _f(1e-6, "running normaliser: floor on each observation's std (Brax's default, the "
                                  "reference's); raise it when an observation barely varies", gt=0, task="brax")
    obs_clip: float | None = _f(None, "running normaliser: clip normalised observations to [-obs_clip, obs_clip]; "
                                      "none: no clipping (the reference)", gt=0, task="brax")

    @model_validator(mode="after")
    def _members_left_to_sample(self):
        if self.population - self.eval_copies < 2:
            raise ValueError(f"eval_copies ({self.eval_copies}) must leave at least 2 of the population "
                             f"({self.population}) to sample; lower eval_copies too")
        return self


class ECSettings(_Evolution):
    """Evolving Connectivity: natural evolution strategies over Bernoulli connection probabilities."""

    rule: Literal["ec"] = "ec"
    lr: float = _f(0.15, "Adam step size on the probabilities", gt=0)
    eps: float = _f(1e-3, "probabilities are clipped to [eps, 1 - eps] after each step", gt=0, lt=0.5)
    weight_decay: float = _f(0.0, "decay that pulls probabilities toward 0 (sparsity)", ge=0)
    eval_threshold: float = _f(0.5, "the deterministic network keeps connections with p > this", gt=0, lt=1)
    matmul: Literal["auto", "bitpack", "int8", "float32"] = _f(
        "auto",
        "how spikes meet the sampled boolean masks: bitpack (32 connections per uint32 word, AND + "
        "popcount), int8 x int8 with int32 accumulation, or float32; auto = bitpack (same results)",
    )


class ESSettings(_Evolution):
    """OpenAI-style evolution strategies on real weights (antithetic pairs, centered ranks, AdamW)."""

    rule: Literal["es"] = "es"
    lr: float = _f(0.15, "AdamW step size", gt=0)
    sigma: float = _f(0.3, "standard deviation of the weight perturbations", gt=0)
    weight_decay: float = _f(0.1, "AdamW weight decay", ge=0)


class _Gradient(_Rule):
    epochs: int = _f(20, "passes over the training set", ge=1, task="dataset")
    batch_size: int = _f(128, "samples per batch", ge=1, task="dataset")
    loss: Literal["per_step", "final"] = _f(
        "per_step", "per_step: mean over time of the cross-entropy of each step's output; final: last step only",
        task="dataset",
    )
    surrogate: Surrogate = _f(Surrogate(), "surrogate derivative of the spike", structural=True)
    optimizer: Optimizer = _f(Optimizer(), "optax optimizer")
    checkpoint_every: int = _f(1, "write a checkpoint every this many epochs", ge=1)


class StopSettings(_Gradient):
    """STOP: forward-in-time traces for weights, thresholds and leaks; memory constant in T."""

    rule: Literal["stop"] = "stop"
    update: Literal["accumulate", "online"] = _f(
        "accumulate", "accumulate: one optimizer step per sequence; online: one per time step", structural=True
    )


class SurrogateSettings(_Gradient):
    """Surrogate-gradient BPTT (classification), or PPO with truncated BPTT (Brax)."""

    rule: Literal["surrogate"] = "surrogate"
    detach_reset: bool = _f(True, "treat the reset as a constant in the backward pass", structural=True)
    remat: bool = _f(False, "jax.checkpoint the scan body: less memory, some recomputation", structural=True)
    # PPO (Brax tasks): gamma, gae_lambda, clip, value_coef, entropy_coef and the 16-step unroll are
    # the EC paper's SG-RSNN settings (ec.md §3.2); minibatches and update_epochs are ours
    iterations: int = _f(200, "PPO: number of collect-and-update iterations", ge=1, task="brax")
    num_envs: int = _f(2048, "PPO: parallel environments (the batch)", ge=1, task="brax")
    unroll_length: int = _f(16, "PPO: steps per rollout and truncated-BPTT length", ge=1, task="brax")
    minibatches: int = _f(8, "PPO: minibatches per update epoch", ge=1, task="brax")
    update_epochs: int = _f(4, "PPO: passes over each rollout", ge=1, task="brax")
    gamma: float = _f(0.99, "PPO: discount", gt=0, le=1, task="brax")
    gae_lambda: float = _f(0.95, "PPO: GAE lambda", ge=0, le=1, task="brax")
    clip: float = _f(0.2, "PPO: ratio clip", gt=0, task="brax")
    value_coef: float = _f(1.0, "PPO: value loss coefficient", ge=0, task="brax")
    entropy_coef: float = _f(1e-3, "PPO: entropy bonus", ge=0, task="brax")
    eval_episodes: int = _f(16, "PPO: deterministic episodes run for eval_fitness", ge=1, task="brax")
    obs_std_min: float = _f(1e-6, "PPO: running normaliser's floor on each observation's std (Brax's default)",
                            gt=0, task="brax")
    obs_clip: float | None = _f(None, "PPO: clip normalised observations to [-obs_clip, obs_clip]; none: no clipping",
                                gt=0, task="brax")


RULES: dict[str, type[_Rule]] = {
    "ec": ECSettings,
    "es": ESSettings,
    "stop": StopSettings,
    "surrogate": SurrogateSettings,
}


# settings that mean the same under two rules of one family (EC and ES both step their parameters by `lr`)
_SAME_MEANING = {frozenset(("ec", "es")): {"lr"}}


def carried_settings(old: str, new: str) -> set[str]:
    """The settings of rule `old` that keep their meaning under rule `new` (a rule switch, `--set
    train=new`, keeps these and resets the rest to the new rule's defaults): the ones the two
    rules' models inherit from one family (epochs, batch_size, optimizer, ... for STOP and
    surrogate; population, generations, ... for EC and ES), plus a few with the same meaning."""
    a, b = RULES[old], RULES[new]
    shared = set()
    for base in (_Evolution, _Gradient):
        if issubclass(a, base) and issubclass(b, base):
            shared |= set(base.model_fields)
    return (shared | _SAME_MEANING.get(frozenset((old, new)), set())) - {"rule"} if old != new else \
        set(a.model_fields) - {"rule"}


def _extra(model: type[BaseModel], key: str) -> dict:
    f = model.model_fields.get(key)
    return (f.json_schema_extra or {}) if f else {}


def is_structural(model: type[BaseModel], key: str) -> bool:
    return bool(_extra(model, key).get("structural"))


def applies_to(model: type[BaseModel], key: str, task_kind: str) -> bool:
    """Whether a setting means anything for this kind of task (PPO settings only on Brax, ...)."""
    return _extra(model, key).get("task", task_kind) == task_kind


# ---------------------------------------------------------------- the task and time blocks

BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "nmnist", "dvs_gesture", "cifar10_dvs",
            "arrays")  # arrays: a user's .npz


class TimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dt: float = Field(1.0, gt=0)  # ms
    substeps: int = Field(1, ge=1)
    steps: int = Field(1, ge=1)  # time steps per sample (classification)
    precision: Literal["float32", "float64"] = "float32"  # float64: for validation runs


class BraxTaskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["brax"] = "brax"
    env: str
    backend: Literal[BRAX_BACKENDS] = "generalized"
    episode_length: int = Field(1000, ge=1)
    action_repeat: int = Field(1, ge=1)
    obs: int = Field(ge=1)
    action: int = Field(ge=1)


_Dim = Annotated[int, Field(ge=1)]  # one size of an image shape


class DatasetTaskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["dataset"] = "dataset"
    dataset: Literal[DATASETS]
    path: str | None = None
    features: int = Field(ge=1)
    classes: int = Field(ge=1)
    test_fraction: float = Field(0.25, gt=0, lt=1)  # digits only: the held-out split
    frames: int | None = Field(None, ge=1)  # arrays only: time steps of temporal data (None: static)
    # a fraction of the training set held out (drawn from the run's seed) to choose the best epoch
    validation: float = Field(0.0, ge=0, lt=1)
    labels: Literal["fine", "coarse"] = "fine"  # cifar100: 100 fine or 20 coarse classes
    size: int | None = Field(None, ge=1)  # event datasets: frames downsampled to size x size (None: the sensor's)
    # arrays only: the (C, H, W) of a sample's image (None: flat samples), and the file's axis order
    shape: tuple[_Dim, _Dim, _Dim] | None = None
    layout: Literal["channels_first", "channels_last"] = "channels_first"
    # train-time augmentation of shaped datasets, per training batch: a random crop of the image
    # zero-padded by `crop` pixels on each side (0: none), and a horizontal flip of half the samples
    crop: int = Field(0, ge=0)
    flip: bool = False


TASKS = {"brax": BraxTaskSettings, "dataset": DatasetTaskSettings}


# ---------------------------------------------------------------- validation, with one wording


def problems(e: ValidationError, prefix: str = "") -> list[tuple[str | None, str, str, str | None]]:
    """(dotted key or None for a rule across settings, code, message, hint) for each error of a
    settings model: `train.lr: must be greater than 0` is E401, a value outside its choices E404."""
    out = []
    for er in e.errors():
        loc = ".".join(str(x) for x in er["loc"] if not isinstance(x, int))
        msg = er["msg"].replace("Input should be", "must be").replace("Value error, ", "")
        hint = None
        if er["type"] == "literal_error":
            choices = [c.strip(" '\"") for c in er["ctx"]["expected"].replace(" or ", ", ").split(",")]
            close = difflib.get_close_matches(str(er["input"]), choices, n=1)
            hint = f"did you mean `{close[0]}`?" if close else None
        code = "E404" if er["type"] == "literal_error" else "E401"
        out.append((prefix + loc if loc else None, code, f"{prefix}{loc}: {msg}" if loc else msg, hint))
    return out


def validate_config(rule: str, task_kind: str, config: dict) -> list[tuple[str | None, str, str, str | None]]:
    """Every problem of a run's settings ({"train", "task", "time"}), checked by the models above."""
    out = []
    checks = (("train", RULES[rule], {"rule": rule}), ("task", TASKS[task_kind], {"kind": task_kind}),
              ("time", TimeSettings, {}))
    for block, model, fixed in checks:
        try:
            model.model_validate({**config.get(block, {}), **fixed})
        except ValidationError as e:
            found = problems(e, block + ".")
            out += [(key, code, msg if key else f"{block}: {msg}", hint) for key, code, msg, hint in found]
    return out


def field_annotation(rule: str, task_kind: str, key: str):
    """The type a dotted setting key holds (`train.optimizer.lr` -> float), None if unknown."""
    block, _, rest = key.partition(".")
    model = {"train": RULES[rule], "task": TASKS[task_kind], "time": TimeSettings}.get(block)
    ann = None
    for part in rest.split("."):
        f = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if f is None:
            return None
        ann = model = f.annotation
    return ann
