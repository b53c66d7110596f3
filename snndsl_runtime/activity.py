"""Network activity in the metrics: each population's firing rate (Hz) and fraction of silent
neurons, from spike counts that the trainers' evaluation passes accumulate as they run (no second
pass).  Rows carry them as `rate/<population>` and `silent/<population>`."""

import jax.numpy as jnp
import numpy as np


def counting_step(model, w, bp, bc, x, inputs, key):
    """forward_step that also returns this step's spike count per spiking neuron (every substep's
    spikes, in the order of SPIKING_BLOCKS)."""
    x, out, spikes = model.forward_step(w, bp, bc, x, inputs, key, record=True)
    return x, out, jnp.sum(jnp.abs(spikes), axis=0)


def population_slices(model) -> dict:
    """population -> (start, stop) of its neurons in the side-by-side spikes of SPIKING_BLOCKS."""
    offsets, at = {}, 0
    for b in getattr(model, "SPIKING_BLOCKS", ()):
        offsets[b] = at
        at += model.BLOCKS[b]["size"]
    return {pop: (offsets[p["block"]] + p["slice"][0], offsets[p["block"]] + p["slice"][1])
            for pop, p in model.POPULATIONS.items() if p["block"] in offsets}


def activity_metrics(model, counts, runs, steps) -> dict:
    """{"rate/<pop>": mean rate in Hz, "silent/<pop>": fraction of neurons without a spike} from
    spike counts per neuron summed over `runs` samples or episodes of `steps` model steps each
    (forward steps: SUBSTEPS network steps of DT ms)."""
    counts = np.asarray(counts, np.float64)
    seconds = runs * steps * model.SUBSTEPS * model.DT / 1000.0
    out = {}
    for pop, (start, stop) in population_slices(model).items():
        c = counts[start:stop]
        if not c.size or seconds <= 0:
            continue
        out[f"rate/{pop}"] = float(c.sum() / c.size / seconds)
        out[f"silent/{pop}"] = float(np.mean(c == 0))
    return out


def spike_count_zeros(model):
    """Zero spike counts, one per spiking neuron (the start of a counting scan)."""
    return jnp.zeros(sum(model.BLOCKS[b]["size"] for b in getattr(model, "SPIKING_BLOCKS", ())))
