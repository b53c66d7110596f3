"""Checks that the learning rule suits the task and can learn what the spec marks learnable."""

from __future__ import annotations

from snndsl_runtime.settings import FITNESS

from .. import ir
from ..diagnostics import Diagnostic
from ..lower import Plan
from .registry import check


def _learnables(spec: ir.Spec):
    for pr in spec.projections:
        if pr.connectivity.learn:
            yield pr, ("p" if pr.connectivity.kind == "bernoulli" else "w"), pr.span
    for pop in spec.populations:
        for ln in pop.learn:
            yield pop, ln.param, ln.span


@check("E601", "the learning rule suits the task")
def rule_suits_task(spec: ir.Spec, plan: Plan):
    if not spec.trainable:  # nothing to train: a spec to simulate
        return
    rule, task = spec.train.rule, spec.task
    if rule == "stop" and not isinstance(task, ir.DatasetTask):
        yield Diagnostic("E601", "`stop` trains on a classification dataset, not on a Brax task", spec.train.span,
                         "use `train ec`, `train es` or `train surrogate` (PPO) on Brax")


@check("E611", "an evolution rule's fitness suits the task")
def fitness_suits_task(spec: ir.Spec, plan: Plan):
    if not spec.trainable or spec.train.rule not in ("ec", "es") or spec.train.fitness is None:
        return
    kind = "brax" if isinstance(spec.task, ir.BraxTask) else "dataset"
    if spec.train.fitness not in FITNESS[kind]:
        what = "a Brax task" if kind == "brax" else "a classification dataset"
        yield Diagnostic("E611", f"fitness `{spec.train.fitness}` does not apply to {what}", spec.train.span,
                         f"on {what} the fitness is {' or '.join(FITNESS[kind])} (default {FITNESS[kind][0]})")


@check("E602", "EC evolves at least one Bernoulli projection")
def ec_has_bernoulli(spec: ir.Spec, plan: Plan):
    if not spec.trainable:  # nothing to train: a spec to simulate
        return
    if spec.train.rule != "ec":
        return
    if not any(p.connectivity.kind == "bernoulli" and p.connectivity.learn for p in spec.projections):
        yield Diagnostic("E602", "EC evolves connection probabilities, but no projection has `learn p`",
                         spec.train.span,
                         "give a projection `weights = bernoulli(p = 0.5)` and `learn p`")


@check("E603", "the learning rule can learn what is marked learnable")
def rule_can_learn(spec: ir.Spec, plan: Plan):
    if not spec.trainable:  # nothing to train: a spec to simulate
        return
    rule = spec.train.rule
    items = list(_learnables(spec))
    for node, what, span in items:
        if rule == "ec" and what != "p":
            yield Diagnostic("E603", f"EC evolves connection probabilities only; it cannot learn `{what}`", span,
                             "use `train es` to evolve real values, or `stop`/`surrogate` to learn them by gradient")
        if rule != "ec" and what == "p":
            yield Diagnostic("E603", f"`{rule}` cannot learn Bernoulli probabilities (`learn p`)", span,
                             "that is EC's job (`train ec`); for real weights use `weights = dense(...)` and `learn w`")
    if rule != "ec" and not items:
        yield Diagnostic("E603", f"`{rule}` has nothing to learn", spec.train.span,
                         "mark something learnable: `learn w` in a projection, or `learn v_th` in a population")
