"""One trainer per learning rule.  A trainer is built from (model, cfg, seed) and provides:
UNIT ("generation", "epoch", "iteration"), CURVE (metrics plotted), FINITE (metrics that must stay
finite), total, every (checkpoint interval), step(i) -> metrics row, snapshot()/restore(state, meta)/
meta() for checkpoints, deterministic(state) -> the network to evaluate, evaluate_run(...), and
report (set by the loop: progress messages during long steps)."""


def trainer_class(rule: str, task_kind: str):
    """The trainer of a (rule, task kind) pair."""
    if rule == "ec" and task_kind == "dataset":
        from .evolution_data import ECDatasetTrainer as cls
    elif rule == "es" and task_kind == "dataset":
        from .evolution_data import ESDatasetTrainer as cls
    elif rule == "ec":
        from .ec import ECTrainer as cls
    elif rule == "es":
        from .es import ESTrainer as cls
    elif rule == "stop":
        from .stop import STOPTrainer as cls
    elif rule == "surrogate" and task_kind == "brax":
        from .ppo import PPOTrainer as cls
    elif rule == "surrogate":
        from .bptt import BPTTTrainer as cls
    else:
        raise ValueError(f"no trainer for rule {rule!r} on a {task_kind} task")
    return cls
