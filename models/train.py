"""Training a recurrent net on a long-range task, instrumented as it learns: ``Trainer``.

    tr = models.Trainer("lstm", task="adding", seq_len=100, hidden_size=64, lr=1e-2, clip=1.0, seed=0)
    tr.run(200)              # 200 steps on fresh batches; returns their StepRecords
    tr.history, tr.probes, tr.checkpoints, tr.baseline
    tr.net.trace(x)          # the current weights as a RecurrentNet

One step, on torch's fused module (nn.RNN / LSTM / GRU) with an nn.Linear readout on the top layer's
output: the task's own loss (its mean over the target steps, tasks' "task" mode), backward, the global
gradient norm before clipping (clipped by torch.nn.utils.clip_grad_norm_ when ``clip`` is set, Pascanu,
Mikolov & Bengio 2013), the optimizer's step (Adam, or SGD with momentum). The weights start exactly as
models.build makes them (every init option), the readout as tasks.make_readout.

Instrumentation runs on one fixed probe sequence (element 0 of the held-out batch), never on the
training batch: every ``probe_every`` steps (and at step 0) a ProbeRecord (models/probe.py) from the
exact trace engine, RecurrentNet.trace with the task's loss through the trained readout. Checkpoints
keep the weights at steps 0, 1, 2, 4, 8, ..., the last step and on demand, at most CHECKPOINTS_MAX.

A step whose loss or gradient norm is not finite (an exploding run) changes neither the weights nor the
optimizer's state: it is recorded (``nonfinite=True``, the loss as it came out, inf or NaN) and run()
stops there, so the weights stay the last finite ones and every view keeps answering. The next run()
goes on with the next batch: lower the learning rate or set a clip first.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from . import limits, streams, tasks
from .cells import REGISTRY
from .net import RecurrentNet, build, from_torch, resolve_device, resolve_dtype
from .probe import ProbeRecord, probe_net


@dataclass(frozen=True, slots=True)
class StepRecord:
    step: int  # 1, 2, ...: the number of batches seen
    loss: float  # the training batch's loss, at the weights before this step
    val_loss: float | None  # held-out loss after this step, every val_every steps (and on a bad step)
    grad_norm: float  # global norm of every parameter's gradient, before clipping
    clipped: bool  # the gradient was scaled down (clip / (grad_norm + 1e-6) < 1, torch's rule)
    nonfinite: bool  # loss or gradient inf or NaN: the step was not taken
    lr: float
    seconds: float  # wall time of training so far (steps, evaluation, probes), summed over run() calls


@dataclass(frozen=True)
class Checkpoint:
    step: int
    kind: str  # "log" (steps 0, 1, 2, 4, ...), "demand" (Trainer.checkpoint()) or "last"
    weights: dict[str, Tensor]  # the recurrent module's state dict, torch's names
    readout: tasks.Readout

    @property
    def nbytes(self) -> int:
        tensors = [*self.weights.values(), self.readout.weight, self.readout.bias]
        return sum(t.numel() * t.element_size() for t in tensors)


def _check_lr(lr) -> float:
    return limits.check_range("lr", lr)


def _check_clip(clip) -> float | None:
    return None if clip is None else limits.check_range("clip", clip)


class Trainer:
    """Train one cell on one task; every option of models.build is the starting point.

    Args: cell, task (limits.TRAIN_TASKS), seq_len (None: 100, or the whole text / values), hidden_size,
    num_layers, bidirectional, batch_size, optimizer ("adam", "sgd"), lr (1e-2: Adam's fastest on the
    adding problem, bench/RESULTS.md), momentum (SGD), clip (None: off), seed, init, spectral_radius,
    forget_bias, update_bias and a cell's other knobs (timespan, ode_unfolds) as models.build,
    probe_every, val_every, val_size (the held-out batch; text and values use the whole sequence), dtype,
    device, and the task's options as keywords
    (streams.TASK_OPTIONS: form, copy_len, n_symbols, text, values, period, noise).
    """

    def __init__(
        self,
        cell: str,
        task: str = "adding",
        seq_len: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_size: int = 64,
        optimizer: str = "adam",
        lr: float = 1e-2,
        momentum: float = 0.9,
        clip: float | None = 1.0,
        seed: int = 0,
        init: str = "torch",
        spectral_radius: float | None = None,
        forget_bias: float | None = None,
        update_bias: float | None = None,
        probe_every: int = 10,
        val_every: int = 10,
        val_size: int = 256,
        dtype: str | torch.dtype = "float32",
        device: str = "cpu",
        **task_options,
    ):
        limits.check_choice("cell", cell, limits.CELLS)
        limits.check_choice("optimizer", optimizer, limits.OPTIMIZERS)
        self.lr, self.clip = _check_lr(lr), _check_clip(clip)
        momentum = limits.check_range("momentum", momentum)
        for name in ("hidden_size", "num_layers", "seed", "batch_size", "val_size"):
            limits.check_range(name, locals()[name], integer=True)
        self.probe_every = limits.check_range("probe_every", probe_every, integer=True)
        self.val_every = limits.check_range("val_every", val_every, integer=True)
        dt, dev = resolve_dtype(dtype), resolve_device(device)
        knobs = {name: task_options.pop(name) for name in list(task_options) if name in limits.KNOBS}
        self.stream = streams.make_stream(task, seq_len, batch_size, val_size, seed, dt, **task_options)
        self.cell, self.task, self.seq_len, self.batch_size = cell, task, self.stream.seq_len, batch_size
        self._check_size(hidden_size, num_layers, 2 if bidirectional else 1)
        net = build(
            cell,
            self.stream.input_size,
            hidden_size,
            num_layers,
            bidirectional,
            seed,
            init,
            spectral_radius,
            forget_bias,
            update_bias,
            device=dev,
            dtype=dt,
            **knobs,
        )
        self.module = net.to_torch()
        start = tasks.make_readout(net.output_size, self.stream.output_size, seed, dev, dt)
        self.readout = torch.nn.Linear(net.output_size, self.stream.output_size, device=dev, dtype=dt)
        with torch.no_grad():
            self.readout.weight.copy_(start.weight)
            self.readout.bias.copy_(start.bias)
        self.parameters = [*self.module.parameters(), *self.readout.parameters()]
        if optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(self.parameters, lr=self.lr)
        else:
            self.optimizer = torch.optim.SGD(self.parameters, lr=self.lr, momentum=momentum)
        self.device, self.dtype = dev, dt
        self.step = 0
        self.history: list[StepRecord] = []
        self.probes: list[ProbeRecord] = []
        self.checkpoints: list[Checkpoint] = []
        self._probe_task = streams.first_element(self.stream.val)
        self._probe_interval = self.probe_every
        self._seconds = 0.0
        self._add_checkpoint("log")
        t0 = time.perf_counter()
        self.probes.append(self._probe(self.module, self.readout, 0, self.evaluate()))
        self._seconds += time.perf_counter() - t0

    def _check_size(self, H: int, L: int, dirs: int) -> None:
        """Bounded time and memory: parameters (with the readout) and elements per batch."""
        D, O = self.stream.input_size, self.stream.output_size
        G = REGISTRY[self.cell].n_gates
        params = dirs * sum(G * H * ((D if layer == 0 else dirs * H) + H + 2) for layer in range(L))
        params += O * (dirs * H + 1)
        if params > limits.TRAIN_PARAMS_MAX:
            raise ValueError(
                f"hidden_size: {H} with {L} layer(s) makes {params} parameters, past the training "
                f"limit {limits.TRAIN_PARAMS_MAX}"
            )
        most, per_step = limits.TRAIN_ELEMENTS_MAX, H * L * dirs
        val_T, val_B = self.stream.val.x.shape[:2]
        whole = {"text": "text", "sequence": "values"}.get(self.task)  # the held-out batch is all of it
        checks = [("batch_size", "seq_len", self.seq_len, self.batch_size)]
        checks.append(("val_size", whole or "seq_len", val_T, val_B))
        for field, length_field, T, B in checks:
            if T * B * per_step <= most:
                continue
            if T * per_step > most:
                raise ValueError(
                    f"{length_field}: {T} steps x hidden_size {H} x {L * dirs} layer-direction(s) = "
                    f"{T * per_step} elements per sequence, past the training limit {most}"
                )
            raise ValueError(
                f"{field}: {B} sequences of {T} steps x hidden_size {H} x {L * dirs} layer-direction(s)"
                f" = {T * B * per_step} elements, past the training limit {most}; "
                f"allowed here: [1, {most // (T * per_step)}]"
            )

    # -- what the trainer shows -----------------------------------------------------------------
    @property
    def baseline(self) -> float:
        return self.stream.baseline

    @property
    def net(self) -> RecurrentNet:
        """The current weights as a RecurrentNet (a copy): ``tr.net.trace(x)``."""
        return from_torch(self.module, cell=self.cell)

    @property
    def diverged(self) -> bool:
        """The last step's loss or gradient was not finite (and run() stopped there)."""
        return bool(self.history) and self.history[-1].nonfinite

    def batch(self, step: int) -> tasks.Task:
        """The training batch of step ``step`` (1, 2, ...)."""
        return self.stream.batch(limits.check_range("step", step, 1, limits.TRAIN_STEPS_MAX, integer=True))

    def evaluate(self) -> float:
        """The held-out batch's task loss at the current weights."""
        return _task_loss(self.module, self.readout, self.stream.val, self.device)

    def set_lr(self, lr: float) -> None:
        """A new learning rate for every parameter group, from the next step on (no reset)."""
        self.lr = _check_lr(lr)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def set_clip(self, clip: float | None) -> None:
        self.clip = _check_clip(clip)

    # -- training -------------------------------------------------------------------------------
    def run(
        self, steps: int, max_seconds: float | None = None, stop_below: float | None = None
    ) -> list[StepRecord]:
        """Train ``steps`` steps; return their records. Stops early at a non-finite step, once
        ``max_seconds`` of wall time have passed, or when a val_loss falls below ``stop_below``."""
        steps = limits.check_range("steps", steps, integer=True)
        room = limits.TRAIN_STEPS_MAX - self.step
        if steps > room:
            raise ValueError(
                f"steps: {steps} more would pass the trainer's limit of {limits.TRAIN_STEPS_MAX} steps "
                f"({self.step} done); allowed here: [{min(1, room)}, {room}]"
            )
        if max_seconds is not None:
            max_seconds = limits.check_range("max_seconds", max_seconds)
        if stop_below is not None:
            stop_below = limits.check_range("stop_below", stop_below, 0.0, math.inf)
        start = time.perf_counter()
        records = []
        for _ in range(steps):
            record = self._step()
            records.append(record)
            if record.nonfinite:
                break
            if stop_below is not None and record.val_loss is not None and record.val_loss < stop_below:
                break
            if max_seconds is not None and time.perf_counter() - start >= max_seconds:
                break
        self._mark_last()
        return records

    def _step(self) -> StepRecord:
        t0 = time.perf_counter()
        k = self.step + 1
        batch = self.stream.batch(k)
        self.optimizer.zero_grad(set_to_none=True)
        out, _ = self.module(batch.x.to(self.device))  # (T, B, dirs*H)
        loss = batch.loss_fn(self.readout, "task")(out)
        loss.backward()
        if self.clip is None:
            norm = torch.nn.utils.get_total_norm([p.grad for p in self.parameters])
        else:
            norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
        loss_value, grad_norm = float(loss.detach()), float(norm)
        nonfinite = not (math.isfinite(loss_value) and math.isfinite(grad_norm))
        if not nonfinite:
            self.optimizer.step()
            constrain = getattr(self.module, "constrain", None)  # a cell's parameter limits (the LTC's)
            if constrain is not None:
                constrain()
        self.step = k
        val_loss = self.evaluate() if k % self.val_every == 0 or nonfinite else None
        if k & (k - 1) == 0:  # a power of two
            self._add_checkpoint("log")
        if k % self._probe_interval == 0:
            self._append_probe(val_loss)
        self._seconds += time.perf_counter() - t0
        record = StepRecord(
            step=k,
            loss=loss_value,
            val_loss=val_loss,
            grad_norm=grad_norm,
            clipped=self.clip is not None and not nonfinite and self.clip / (grad_norm + 1e-6) < 1,
            nonfinite=nonfinite,
            lr=self.lr,
            seconds=self._seconds,
        )
        self.history.append(record)
        return record

    # -- probes ---------------------------------------------------------------------------------
    def probe(self, step: int | None = None) -> ProbeRecord:
        """A ProbeRecord at the current weights, or at a checkpoint's (not added to ``probes``)."""
        if step is None:
            return self._probe(self.module, self.readout, self.step, self.evaluate())
        cp = self._checkpoint_at(step)
        module, readout = self._modules_at(cp)
        return self._probe(
            module, readout, cp.step, _task_loss(module, readout, self.stream.val, self.device)
        )

    def _append_probe(self, val_loss: float | None) -> None:
        if val_loss is None:
            val_loss = self.evaluate()
        self.probes.append(self._probe(self.module, self.readout, self.step, val_loss))
        if len(self.probes) > limits.PROBES_MAX:  # keep every other one, probe half as often
            self.probes = self.probes[::2]
            self._probe_interval *= 2

    def _probe(self, module, readout: torch.nn.Linear, step: int, val_loss: float) -> ProbeRecord:
        return probe_net(
            from_torch(module, cell=self.cell), _readout(readout), self._probe_task, step, val_loss
        )

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """Keep the current weights (kept through thinning, unless on-demand ones alone pass the cap)."""
        return self._add_checkpoint("demand")

    def net_at(self, step: int) -> RecurrentNet:
        """The weights of the checkpoint at ``step`` as a RecurrentNet."""
        cp = self._checkpoint_at(step)
        return RecurrentNet(
            self.cell,
            self.module.input_size,
            self.module.hidden_size,
            self.module.num_layers,
            self.module.bidirectional,
            {name: w.clone() for name, w in cp.weights.items()},
            solver=dict(getattr(self.module, "solver", {})),
        )

    def readout_at(self, step: int) -> tasks.Readout:
        cp = self._checkpoint_at(step)
        return tasks.Readout(cp.readout.weight.clone(), cp.readout.bias.clone())

    def _checkpoint_at(self, step) -> Checkpoint:
        for cp in self.checkpoints:
            if cp.step == step:
                return cp
        steps = ", ".join(str(cp.step) for cp in self.checkpoints)
        raise ValueError(f"step: no checkpoint at {step!r}; checkpoints at steps {steps}")

    def _modules_at(self, cp: Checkpoint) -> tuple[torch.nn.Module, torch.nn.Linear]:
        module = self.net_at(cp.step).to_torch()
        readout = torch.nn.Linear(
            self.readout.in_features, self.readout.out_features, device=self.device, dtype=self.dtype
        )
        with torch.no_grad():
            readout.weight.copy_(cp.readout.weight)
            readout.bias.copy_(cp.readout.bias)
        return module, readout

    def _add_checkpoint(self, kind: str) -> Checkpoint:
        if self.checkpoints and self.checkpoints[-1].step == self.step:
            cp = self.checkpoints[-1]
            if _KEEP[kind] > _KEEP[cp.kind]:
                cp = self.checkpoints[-1] = Checkpoint(cp.step, kind, cp.weights, cp.readout)
            return cp
        weights = {name: w.detach().clone() for name, w in self.module.state_dict().items()}
        cp = Checkpoint(self.step, kind, weights, _readout(self.readout))
        self.checkpoints = [c for c in self.checkpoints if c.kind != "last"] + [cp]
        cap = max(2, min(limits.CHECKPOINTS_MAX, limits.CHECKPOINT_BYTES_MAX // max(cp.nbytes, 1)))
        while len(self.checkpoints) > cap:
            self._thin()
        return cp

    def _mark_last(self) -> None:
        if not self.checkpoints or self.checkpoints[-1].step != self.step:
            self._add_checkpoint("last")

    def _thin(self) -> None:
        """Drop the log-spaced checkpoint whose loss leaves the smallest gap in log(step + 1),
        never step 0 or the newest; when only on-demand ones are left, the oldest of them."""
        cps = self.checkpoints
        inner = [i for i in range(1, len(cps) - 1) if cps[i].kind == "log"]
        if inner:
            i = min(inner, key=lambda i: (math.log1p(cps[i + 1].step) - math.log1p(cps[i - 1].step), i))
        else:
            i = next(i for i in range(1, len(cps) - 1) if cps[i].kind == "demand")
        del cps[i]


_KEEP = {"last": 0, "log": 1, "demand": 2}  # which kind a checkpoint at the same step keeps


def _readout(linear: torch.nn.Linear) -> tasks.Readout:
    return tasks.Readout(linear.weight.detach().clone(), linear.bias.detach().clone())


def _task_loss(module, readout, task: tasks.Task, device) -> float:
    with torch.no_grad():
        out, _ = module(task.x.to(device))
        return float(task.loss_fn(readout, "task")(out))
