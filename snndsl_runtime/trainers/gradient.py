"""What STOP and surrogate-gradient BPTT share on classification datasets: the optimizer, the
time-weighted cross-entropy, one sample through time, and the epoch loop with evaluation."""

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import mesh as meshes
from ..activity import activity_metrics, counting_step, spike_count_zeros
from ..errors import RunError
from ..layers import BATCH_AXIS, norm_keys, running_stats
from ..metrics import spike_raster
from ..network import clip_to_bounds, init_parameters, network, raw_bounds, strong
from ..tasks.arrays import frame
from ..tasks.augment import augmentation
from ..tasks.datasets import image_shape, iterate_batches, load_task, test_batches
from .best import BestOnValidation


def make_optimizer(opt, total_steps):
    """optax: adam / adamw / sgd, constant or cosine learning rate, optional global-norm clipping."""
    lr = opt["lr"] if opt["schedule"] == "constant" else optax.cosine_decay_schedule(opt["lr"], max(total_steps, 1))
    if opt["name"] == "adamw":
        tx = optax.adamw(lr, weight_decay=opt["weight_decay"])
    else:
        tx = optax.adam(lr) if opt["name"] == "adam" else optax.sgd(lr, momentum=opt["momentum"] or None)
        if opt["weight_decay"]:
            tx = optax.chain(optax.add_decayed_weights(opt["weight_decay"]), tx)
    if opt.get("grad_clip"):
        tx = optax.chain(optax.clip_by_global_norm(opt["grad_clip"]), tx)
    return tx


def cross_entropy(logits, label):
    return optax.softmax_cross_entropy_with_integer_labels(logits, label)


def loss_weights(loss, steps):
    """Weight of each time step's cross-entropy: per_step averages over time, final uses the last step."""
    return np.full(steps, 1.0 / steps, np.float32) if loss == "per_step" else np.eye(steps, dtype=np.float32)[-1]


def sample_losses(outs, labels, weights):
    """Each sample's time-weighted cross-entropy: outs (B, STEPS, classes), labels (B,) -> (B,)."""
    return jax.vmap(lambda o, y: weights @ jax.vmap(cross_entropy, (0, None))(o, y))(outs, labels)


def run_sequence(model, theta, fixed, image, key, checkpointed=False, count=False):
    """One sample through STEPS time steps; returns the output at every step, shape (STEPS, classes)
    (with count=True also each spiking neuron's spike count, see activity.py).  Batch norm uses its
    running statistics (evaluation); training runs train_batch."""
    return run_network(model, network(model, theta, fixed), image, key, checkpointed, count)


def run_network(model, net, image, key, checkpointed=False, count=False, stats=False):
    """run_sequence with the network (w, bp, bc) built: a static sample is held for every step, a
    temporal one (STEPS, features) gives step t its slice t.  stats=True (a network built with
    train=True, inside jax.vmap(axis_name=BATCH_AXIS)): returns (outputs, batch norm's per-step
    statistics {key: (mean, var)}, each (STEPS, channels))."""
    w, bp, bc = net
    k_init, k_run = jax.random.split(key)
    if count:
        def counting(carry, t):
            x, n = carry
            x, out, k = counting_step(model, w, bp, bc, x, {model.INPUT: frame(image, t)}, jax.random.fold_in(k_run, t))
            return (x, n + k), out

        (_, counts), outs = jax.lax.scan(counting, (model.init_state(k_init, bp), spike_count_zeros(model)),
                                         jnp.arange(model.STEPS))
        return outs, counts

    def body(x, t):
        inputs, k = {model.INPUT: frame(image, t)}, jax.random.fold_in(k_run, t)
        if not stats:
            return model.forward_step(w, bp, bc, x, inputs, k)
        rec = {}
        x, out = model.forward_step(w, bp, bc, x, inputs, k, stats=rec)
        return x, (out, {name: (r["mean"], r["var"]) for name, r in rec.items()})

    if checkpointed:
        body = jax.checkpoint(body)
    _, outs = jax.lax.scan(body, model.init_state(k_init, bp), jnp.arange(model.STEPS))
    return outs


def run_batch(model, theta, fixed, xb, keys, checkpointed=False, count=False):
    """run_sequence over a batch of samples: outputs (B, STEPS, classes) (and counts (B, neurons))."""
    return jax.vmap(lambda image, key: run_sequence(model, theta, fixed, image, key, checkpointed, count))(xb, keys)


def train_batch(model, theta, fixed, xb, keys, checkpointed=False):
    """A batch through time as training runs it: batch norm takes each step's batch statistics (the
    samples are one vmap axis, BATCH_AXIS).  Returns (outputs (B, STEPS, classes), {key: (mean, var)}
    each (STEPS, channels): the statistics of every step, for the running ones)."""
    net = network(model, theta, fixed, train=True)
    track = bool(norm_keys(model))
    run = jax.vmap(lambda image, key: run_network(model, net, image, key, checkpointed, stats=track),
                   axis_name=BATCH_AXIS)(xb, keys)
    if not track:
        return run, {}
    outs, stats = run
    return outs, jax.tree.map(lambda a: a[0], stats)  # the same for every sample


def predict(outs, loss):
    """The class: argmax of the summed outputs (per_step loss) or of the last step's (final)."""
    return jnp.argmax(outs.sum(-2) if loss == "per_step" else outs[..., -1, :], axis=-1)


class DatasetEvaluation:
    """What every trainer on a classification dataset shares (gradient rules, EC and ES): the data
    split, validation and test loss and accuracy of the deterministic network, the
    best-on-validation parameters kept beside the last ones, and the evaluation of a run.

    Needs self.model, self.cfg, self.seed, self.state ({"theta", "fixed", ...}), self.deterministic(state),
    self.loss_weights, self.predict(outs) and self.batch."""

    def setup_evaluation(self, theta):
        model, weights = self.model, jnp.asarray(self.loss_weights)
        self.x_test, self.y_test = self.data["test"]  # what `snndsl sim RUN --sample K` reads
        self.best = BestOnValidation(theta) if self.data["validation"] is not None else None

        def score(state, xb, yb, key):
            net = self.deterministic(state)
            outs, counts = jax.vmap(lambda img, k: run_network(model, net, img, k, count=True))(
                xb, jax.random.split(key, xb.shape[0]))
            return self.predict(outs), sample_losses(outs, yb, weights), counts

        self._score = jax.jit(score, out_shardings=meshes.replicated(self.mesh))
        self.activity = {}  # rate/<population>, silent/<population> on the test set, at the last evaluation
        shape = image_shape(self.cfg["task"])
        self._augment = augmentation(self.cfg["task"], shape) if shape else None

    def augmented(self, xb, key):
        """A training batch (on the device) as the step trains on it: cropped and flipped with a key
        drawn from the batch's key when the task asks for it, else xb itself."""
        return xb if self._augment is None else self._augment(xb, key)

    # ---- checkpointed state: the training state, and the best-on-validation parameters beside it
    def snapshot(self):
        return self.state if self.best is None else {**self.state, "best": self.best.theta}

    def restore(self, state, meta):
        state = dict(state)
        best = state.pop("best", None)
        self.state = meshes.replicate(strong(state), self.mesh)
        if self.best is not None:
            self.best.restore(best, meta)

    def meta(self):
        return {} if self.best is None else self.best.meta()

    def use_best(self):
        """Evaluate the best-on-validation parameters from now on (snndsl eval --best)."""
        self.state = {**self.state, "theta": meshes.replicate(self.best.theta, self.mesh)}

    # ---- held-out metrics
    def held_out_metrics(self, step):
        """validation_* (when the task holds a split) and test_* loss and accuracy of the current
        parameters; offers them to the best-on-validation record."""
        row = {}
        if self.data["validation"] is not None:
            loss, acc = self.score_split(*self.data["validation"], jax.random.PRNGKey(self.seed + 2))
            row.update(validation_loss=loss, validation_accuracy=acc)
            self.best.offer(step, self.state["theta"], acc, loss)
        row["test_loss"], row["test_accuracy"] = self.score_split(*self.data["test"], activity=True)
        return {**row, **self.activity}

    def score_split(self, x, y, key=None, activity=False):
        """(mean loss, accuracy) of the current deterministic network on every sample of (x, y); with
        activity, its firing rates and silent fractions there become self.activity."""
        key = jax.random.PRNGKey(self.seed + 1) if key is None else key
        correct, total, counts = 0, 0.0, 0.0
        for i, (xb, yb, mask) in enumerate(test_batches(x, y, self.batch)):
            pred, losses, n = meshes.to_host(self._score(self.state, *self.place_batch((xb, yb)),
                                                         np.asarray(jax.random.fold_in(key, i))))
            correct += int(np.sum((pred == yb) & mask))
            total += float(np.sum(losses * mask))
            counts = counts + n[mask].sum(0)
        if activity:
            self.activity = activity_metrics(self.model, counts, len(x), self.model.STEPS)
        return total / len(x), correct / len(x)

    def place_batch(self, batch):
        """A batch of host samples on the mesh: split over the devices when it divides evenly, else
        on every device."""
        split = len(batch[0]) % meshes.size(self.mesh) == 0
        return (meshes.shard if split else meshes.replicate)(batch, self.mesh)

    def evaluate_run(self, net, out_dir, seed=0, sample=0):
        """Test loss and accuracy of the trained network, its activity, and a spike raster of test sample
        `sample` with its label and the predicted class (RunError E871 outside the test set)."""
        model, (w, bp, bc) = self.model, net
        x_test, y_test = self.data["test"]
        if not 0 <= sample < len(x_test):
            raise RunError("E871", f"--sample {sample} is not a test sample: the test set has {len(x_test)} "
                                   f"(0 to {len(x_test) - 1})", "give a sample number in that range")
        key = jax.random.PRNGKey(seed)
        image = jnp.asarray(x_test[sample])

        def body(x, t):
            x, out, spikes = model.forward_step(w, bp, bc, x, {model.INPUT: frame(image, t)},
                                                jax.random.fold_in(key, t), record=True)
            return x, (out, spikes)

        _, (outs, spikes) = jax.jit(lambda: jax.lax.scan(body, model.init_state(key, bp), jnp.arange(model.STEPS)))()
        spikes = np.asarray(spikes).reshape(model.STEPS * model.SUBSTEPS, -1)
        loss, acc = self.score_split(x_test, y_test, activity=True)
        out = {"test_accuracy": acc, "test_loss": loss, **self.activity, "sample": sample,
               "label": int(y_test[sample]), "predicted": int(self.predict(outs))}
        raster = spike_raster(os.path.join(out_dir, "raster.png"), spikes,
                              f"{model.SPEC_NAME}: test sample {sample}, label {out['label']}, "
                              f"predicted {out['predicted']}", model.DT)
        if raster:
            out["raster"] = raster
        return out


class GradientTrainer(DatasetEvaluation):
    """Epochs over the dataset; `batch_gradients` (from the rule) gives each batch's gradients."""

    UNIT = "epoch"
    CURVE = ("train_accuracy", "validation_accuracy", "test_accuracy")
    FINITE = ("train_loss", "param_norm")

    def __init__(self, model, cfg, seed):
        self.model, self.cfg, self.seed = model, cfg, seed
        self.report = lambda row: None
        tr = cfg["train"]
        self.loss_name = tr["loss"]
        self.loss_weights = loss_weights(tr["loss"], model.STEPS)
        self.total, self.every = tr["epochs"], tr["checkpoint_every"]
        self.data = load_task(model, cfg["task"], seed)
        self.x_train, self.y_train = self.data["train"]
        self.batch = min(tr["batch_size"], len(self.x_train))
        self.batches = len(self.x_train) // self.batch
        self.mesh = meshes.mesh_of(cfg)  # data parallel: each device a share of every batch
        meshes.check_divisible(self.batch, self.mesh, "train.batch_size", "samples")
        self.optimizer = make_optimizer(tr["optimizer"], self.total * self.batches * self.updates_per_batch())
        key_init, self.key_train = jax.random.split(jax.random.PRNGKey(seed))
        theta, fixed = init_parameters(model, key_init)
        self.state = meshes.replicate(strong({"theta": theta, "fixed": fixed, "opt": self.optimizer.init(theta)}),
                                      self.mesh)
        self.bounds = raw_bounds(model)
        same = meshes.replicated(self.mesh)  # parameters and optimizer state: replicated, gradients all-reduced
        self._train_step = jax.jit(self.train_step, donate_argnums=0, out_shardings=(same, same))
        self.setup_evaluation(theta)

    def updates_per_batch(self):
        """Optimizer steps per batch (sizes the learning-rate schedule)."""
        return 1

    def predict(self, outs):
        return predict(outs, self.loss_name)

    # ---- training
    def apply(self, state, grads):
        updates, opt = self.optimizer.update(grads, state["opt"], state["theta"])
        theta = clip_to_bounds(optax.apply_updates(state["theta"], updates), self.bounds)
        return {**state, "theta": theta, "opt": opt}

    def train_step(self, state, xb, yb, key):
        grads, loss, outs, stats = self.batch_gradients(state["theta"], state["fixed"], xb, yb, key)
        state = self.update_running(self.apply(state, grads), stats, xb.shape[0])
        return strong(state), {"loss": loss, "correct": jnp.sum(self.predict(outs) == yb)}

    def update_running(self, state, stats, batch):
        """Batch norm's running statistics in state["fixed"] moved towards this batch's (checkpointed
        with the state, so a resumed run goes on exactly)."""
        return {**state, "fixed": running_stats(self.model, state["fixed"], stats, batch)} if stats else state

    def step(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        key = jax.random.fold_in(self.key_train, epoch)
        t, losses, correct = time.time(), [], []
        for i, (xb, yb) in enumerate(iterate_batches(self.x_train, self.y_train, self.batch, rng)):
            k = np.asarray(jax.random.fold_in(key, i))
            xb, yb = meshes.shard((xb, yb), self.mesh)
            self.state, m = self._train_step(self.state, self.augmented(xb, k), yb, k)
            losses.append(m["loss"])
            correct.append(m["correct"])
            if i % 20 == 0:
                self.report({"phase": f"epoch {epoch}: batch {i + 1}/{self.batches}", "total": self.total})
        jax.block_until_ready(self.state)  # the steps run asynchronously: time them done
        seen = self.batches * self.batch
        rate = seen / max(time.time() - t, 1e-9)
        theta = self.state["theta"]
        row = {"train_loss": float(np.mean(meshes.to_host(losses))),
               "train_accuracy": float(np.sum(meshes.to_host(correct))) / seen}
        row.update(self.held_out_metrics(epoch))
        row["samples_per_s"] = rate
        row["param_norm"] = float(jnp.sqrt(sum(jnp.sum(v ** 2) for v in theta.values())))
        return row

    def deterministic(self, state):
        return network(self.model, state["theta"], state["fixed"])
