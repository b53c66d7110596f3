"""Lower the IR to a network plan: the arrays the generated code keeps and the order it updates them.

- A *block* is one state array: a group (its populations side by side) or an ungrouped population.
  Parameters that agree across a block's populations stay scalars; the rest become per-neuron
  vectors.
- Blocks update in feed-forward (topological) order.  A projection whose source updates at or after
  its target in that order delivers the previous step's spikes (`delayed`): recurrent loops
  always have a one-step delay, feed-forward paths none.  A `delay` of d >= 2 steps reads a buffer
  of the source's past spikes (`history` rows: row 0 the spikes of 2 steps back).
- A *port* (a neuron `input`) is zero unless projections drive it this step.

No JAX here: the code generators (codegen/) render this plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import ir


@dataclass
class Member:
    pop: ir.Population
    start: int
    stop: int


@dataclass
class Block:
    name: str
    model: ir.NeuronModel
    members: list[Member]
    size: int
    # param -> scalar, or a list of (value, count) runs over the block's neurons
    params: dict[str, float | list[tuple[float, int]]]
    sign: int | list[tuple[int, int]]
    drawn: set[str] = field(default_factory=set)  # params some member draws per neuron (ir.Population.draws)
    history: int = 0  # rows of past spikes kept for delays of 2 steps or more (the longest delay from it - 1)


@dataclass
class Endpoint:
    """Where a projection starts or ends: an input, a block slice, or an output."""

    kind: str  # input | block | output
    name: str  # input/output name, or block name
    start: int = 0
    stop: int = 0
    whole: bool = True  # covers the whole block


@dataclass
class Projection:
    ir: ir.Projection
    index: int
    source: Endpoint
    target: Endpoint
    var: str | None
    delayed: bool  # carries spikes of an earlier step (`steps` back; 1 where a loop needs it)
    steps: int = 0  # network steps from a spike to its delivery: 0 this step's, 1 the previous, d >= 2 buffered

    @property
    def key(self) -> str:
        return f"w{self.index}"


@dataclass
class Output:
    ir: ir.Output
    readout: ir.ReadoutModel
    block: str
    start: int
    stop: int
    projections: list[Projection] = field(default_factory=list)


@dataclass
class Plan:
    spec: ir.Spec
    blocks: list[Block]
    inputs: list[ir.Input]
    outputs: list[Output]
    projections: list[Projection]

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    def into(self, block: str, var: str) -> list[Projection]:
        return [p for p in self.projections if p.target.kind == "block" and p.target.name == block and p.var == var]


def _make_block(spec: ir.Spec, name: str, pops: list[ir.Population]) -> Block:
    model = spec.neuron(pops[0].model)
    members, start = [], 0
    for p in pops:
        members.append(Member(p, start, start + p.size))
        start += p.size
    params: dict = {}
    for prm in model.params:
        vals = [p.params[prm.name] for p in pops]
        params[prm.name] = vals[0] if len(set(vals)) == 1 else [(v, p.size) for v, p in zip(vals, pops)]
    signs = [p.sign for p in pops]
    sign = signs[0] if len(set(signs)) == 1 else [(s, p.size) for s, p in zip(signs, pops)]
    drawn = {k for p in pops for k in p.draws}
    return Block(name=name, model=model, members=members, size=start, params=params, sign=sign, drawn=drawn)


def lower(spec: ir.Spec) -> Plan:
    blocks: list[Block] = []
    where: dict[str, tuple[str, int, int, bool]] = {}  # node -> (block, start, stop, whole)
    for g in spec.groups:
        b = _make_block(spec, g.name, [spec.population(m) for m in g.members])
        blocks.append(b)
        where[g.name] = (b.name, 0, b.size, True)
        for m in b.members:
            where[m.pop.name] = (b.name, m.start, m.stop, len(b.members) == 1)
    for p in spec.populations:
        if p.group is None:
            b = _make_block(spec, p.name, [p])
            blocks.append(b)
            where[p.name] = (b.name, 0, b.size, True)

    def endpoint(node: str) -> Endpoint:
        kind = spec.kind_of(node)
        if kind in ("input", "output"):
            return Endpoint(kind, node)
        b, s, e, whole = where[node]
        return Endpoint("block", b, s, e, whole)

    raw = [(pr, endpoint(pr.source), endpoint(pr.target)) for pr in spec.projections]
    order = _topological([b.name for b in blocks], [(s.name, t.name) for pr, s, t in raw
                                                    if s.kind == "block" and t.kind == "block" and not pr.delay])
    rank = {n: i for i, n in enumerate(order)}
    blocks.sort(key=lambda b: rank[b.name])
    projections = []
    for i, (pr, s, t) in enumerate(raw):
        delayed = s.kind == "block" and t.kind == "block" and (bool(pr.delay) or rank[s.name] >= rank[t.name])
        steps = (pr.delay or 1) if delayed else 0
        projections.append(Projection(pr, i, s, t, pr.target_var, delayed, steps))
        if steps >= 2:
            src = next(b for b in blocks if b.name == s.name)
            src.history = max(src.history, steps - 1)
    outputs = []
    for o in spec.outputs:
        b, s, e, _ = where[o.source]
        outputs.append(Output(o, spec.readout(o.readout), b, s, e,
                              [p for p in projections if p.target.kind == "output" and p.target.name == o.name]))
    return Plan(spec, blocks, list(spec.inputs), outputs, projections)


def _topological(nodes: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Declaration order, except that a block comes after the blocks feeding it.  Cycles are cut
    at the earliest-declared block still waiting."""
    preds = {n: {s for s, t in edges if t == n and s != n} for n in nodes}
    done: list[str] = []
    remaining = list(nodes)
    while remaining:
        ready = [n for n in remaining if preds[n] <= set(done)]
        pick = ready[0] if ready else remaining[0]
        done.append(pick)
        remaining.remove(pick)
    return done
