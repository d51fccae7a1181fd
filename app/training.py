"""Train mode: the cells of a run learn side by side (models.Trainer), off the event loop.

``TrainJob`` owns one Trainer per cell, built from the page's RunConfig and TrainSettings: the same
task, seed, init and batches for every cell. Its ``advance`` runs in a worker thread in chunks of about
``train_chunk_seconds`` (the cells in lockstep, a few steps each in turn) and ``delta`` turns what is new
into the wire's TrainUpdate. ``ratelimit.Slots`` caps the trainings running at once on the whole server.
The session (app/session.py) drives a job: one per session, stopped when the socket closes or the
session starts another. No torch here: the engine's trace of a checkpoint is engine.compute_run's.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from typing import Any

from . import models
from .engine import net_options
from .schemas import RunConfig, SweepSettings, TrainSettings, wire_float

# The no-memory baseline of each task, in words, for the loss plot's label (the values are models.streams').
BASELINE_TEXT = {
    "adding-le": "always predict 1, the mean of X₁ + X₂: MSE = Var = 1/6 (Le et al. 2015)",
    "adding-hochreiter": "always predict 0.5: MSE = 1/24 (Hochreiter & Schmidhuber 1997)",
    "copy": "blanks, then a uniform guess of each copied symbol: copy_len · ln 8 / T (Arjovsky et al. 2016)",
    "delayed_recall": "a uniform guess of the symbol: ln 8",
    "text": "the characters' frequencies, no context: the unigram entropy",
    "sequence": "always predict the mean: the variance of the targets",
    "sine": "always predict 0: E[sin²] = 1/2",
}


def baseline_key(config: RunConfig) -> str:
    return f"adding-{config.adding_form}" if config.task == "adding" else config.task


def trainer_kwargs(config: RunConfig, cell: str, train: TrainSettings, seq_len: int | None = None) -> dict:
    """models.Trainer's arguments for one cell of a RunConfig: the run's net (every init option), task
    and seed, trained with ``train``. Text and values train on their whole sequence (the view's T).
    A clamp cannot be trained (torch's fused modules have no clamp): a ValueError naming ``clamp``."""
    if config.clamp:
        gates = ", ".join(f"{g} = {v:g}" for g, v in config.clamp.items())
        raise ValueError(
            f"clamp: a clamped gate ({gates}) cannot be trained: training runs torch's own "
            "nn.LSTM / nn.GRU, which have no clamp; clear the clamp to train"
        )
    if config.weights is not None:
        raise ValueError(
            "weights: training starts from the seed's fresh nets, not from your uploaded model; "
            "choose 'Use fresh nets' to train"
        )
    task_options: dict[str, Any] = {}
    if config.task == "adding":
        task_options["form"] = config.adding_form
    elif config.task == "copy":
        task_options["copy_len"] = config.copy_len
    elif config.task == "text":
        task_options["text"] = config.text
    elif config.task == "sequence":
        task_options |= {"values": config.values, "columns": config.columns}
    elif config.task == "sine":
        task_options |= {"period": config.period, "noise": config.noise}
    whole = config.task in ("text", "sequence")
    return dict(
        cell=cell,
        task=config.task,
        seq_len=None if whole else (seq_len or config.seq_len),
        batch_size=1 if whole else train.batch_size,
        optimizer=train.optimizer,
        lr=train.lr,
        momentum=train.momentum,
        clip=train.clip,
        probe_every=train.probe_every,
        **net_options(config, cell),
        **task_options,
    )


def _floats(values) -> list:
    """A tensor or list of floats for JSON: non-finite values as the wire's strings."""
    return [wire_float(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]


def _nested(values) -> list:
    return [_floats(row) for row in values.tolist()]


def probe_wire(probe: models.ProbeRecord) -> dict:
    """A ProbeRecord as the wire's TrainProbe."""
    sigmoid = probe.saturated_low.keys()
    return {
        "step": probe.step,
        "loss": wire_float(probe.loss),
        "val_loss": wire_float(probe.val_loss),
        "grad_h_norm": _nested(probe.grad_h_norm),
        "grad_c_norm": None if probe.grad_c_norm is None else _nested(probe.grad_c_norm),
        "gate_mean": {g: _floats(v) for g, v in probe.gate_mean.items()},
        "saturated": {g: _floats(probe.saturated_low[g] + probe.saturated_high[g]) for g in sigmoid},
        "spectral_radius": {name: _floats(v) for name, v in probe.spectral_radius.items()},
        "nonfinite": probe.nonfinite,
    }


class TrainJob:
    """One Trainer per cell of ``config``, trained in lockstep. Not thread-safe: the session calls it
    from one worker thread at a time, or from the event loop while no chunk runs."""

    def __init__(self, job_id: int, config: RunConfig, train: TrainSettings):
        self.id, self.config, self.train = job_id, config, train
        self.trainers = [models.Trainer(**trainer_kwargs(config, cell, train)) for cell in config.cells]
        first = self.trainers[0]
        self.task = {
            "name": config.task,
            "T": first.seq_len,
            "loss_name": "cross-entropy (nats)" if first.stream.val.classification else "MSE",
            "baseline": first.baseline,
            "baseline_text": BASELINE_TEXT[baseline_key(config)],
        }
        self._sent_steps = [0] * len(self.trainers)  # history entries already sent, per cell
        self._sent_probe = [-1] * len(self.trainers)  # the step of the last probe sent, per cell
        self._reset_pending = True
        self.retry = False  # give a diverged cell one more try at the next advance
        self._clock: list[tuple[float, int]] = []  # (seconds, step): recent progress for steps/s

    @property
    def step(self) -> int:
        return max(tr.step for tr in self.trainers)

    @property
    def seconds(self) -> float:
        return sum(tr.history[-1].seconds for tr in self.trainers if tr.history)

    def _live(self) -> list[models.Trainer]:
        return [tr for tr in self.trainers if not tr.diverged]

    @property
    def all_diverged(self) -> bool:
        return not self._live()

    def advance(self, target: int, seconds: float) -> int:
        """Train every cell that has not diverged toward step ``target``, a step each in turn, for
        about ``seconds``; return the steps the furthest cell has taken. With ``retry`` set (the session
        sets it when training is resumed), a cell that diverged gets one more step first: the learning
        rate or the clip may have changed since."""
        start = time.perf_counter()
        if self.retry:  # the first chunk since a resume or step: one more try for a diverged cell
            self.retry = False
            for tr in self.trainers:
                if tr.diverged and tr.step < target:
                    tr.run(1)
        while time.perf_counter() - start < seconds:
            live = [tr for tr in self._live() if tr.step < target]
            if not live:
                break
            for tr in live:
                tr.run(1)
        self._clock = [*self._clock[-20:], (time.perf_counter(), self.step)]
        return self.step

    def set_lr(self, lr: float) -> None:
        for tr in self.trainers:
            tr.set_lr(lr)
        self.train = self.train.model_copy(update={"lr": lr})

    def set_clip(self, clip: float | None) -> None:
        for tr in self.trainers:
            tr.set_clip(clip)
        self.train = self.train.model_copy(update={"clip": clip})

    def set_budget(self, steps: int) -> None:
        self.train = self.train.model_copy(update={"steps": steps})

    def keep(self) -> None:
        """Keep the current weights of every cell (where training paused: a teacher opens it later)."""
        for tr in self.trainers:
            tr.checkpoint()

    def checkpoints(self) -> list[int]:
        """Steps at which every cell has weights kept (a cell that diverged stops at its last)."""
        steps = set()
        for tr in self.trainers:
            steps |= {cp.step for cp in tr.checkpoints}
        return sorted(steps)

    def weights_at(self, step: int) -> dict[str, tuple[int, models.RecurrentNet, models.tasks.Readout]]:
        """cell -> (checkpoint step, net, readout): each cell's last checkpoint at or before ``step``."""
        out = {}
        for tr in self.trainers:
            kept = [cp.step for cp in tr.checkpoints if cp.step <= step] or [tr.checkpoints[0].step]
            at = kept[-1]
            out[tr.cell] = (at, tr.net_at(at), tr.readout_at(at))
        return out

    def steps_per_second(self) -> float | None:
        if len(self._clock) < 2:
            return None
        (t0, s0), (t1, s1) = self._clock[0], self._clock[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None

    def delta(self, status: str, message: str | None = None) -> dict:
        """A TrainUpdate with what is new since the previous delta."""
        reset, self._reset_pending = self._reset_pending, False
        return self._update(status, message, reset, self._sent_steps, self._sent_probe)

    def snapshot(self, status: str, message: str | None = None) -> dict:
        """The whole training so far as one TrainUpdate (``reset: true``); the deltas go on as before."""
        n = len(self.trainers)
        return self._update(status, message, True, [0] * n, [-1] * n)

    def _update(
        self, status: str, message: str | None, reset: bool, sent_steps: list, sent_probe: list
    ) -> dict:
        """The TrainUpdate of what follows ``sent_steps`` / ``sent_probe`` (moved on to now, in place)."""
        cells = []
        for i, tr in enumerate(self.trainers):
            new = tr.history[sent_steps[i] :]
            sent_steps[i] = len(tr.history)
            val = [r for r in new if r.val_loss is not None]
            probes = [p for p in tr.probes if p.step > sent_probe[i]]
            if probes:
                sent_probe[i] = probes[-1].step
            cells.append(
                {
                    "cell": tr.cell,
                    "status": "diverged" if tr.diverged else "training",
                    "steps": [r.step for r in new],
                    "loss": [wire_float(r.loss) for r in new],
                    "grad_norm": [wire_float(r.grad_norm) for r in new],
                    "clipped": [r.clipped for r in new],
                    "lr": [r.lr for r in new],
                    "val_steps": [r.step for r in val],
                    "val_loss": [wire_float(r.val_loss) for r in val],
                    "probes": [probe_wire(p) for p in probes],
                }
            )
        return {
            "type": "train",
            "id": self.id,
            "status": status,
            "reset": reset,
            "step": self.step,
            "budget": self.train.steps,
            "seconds": self.seconds,
            "steps_per_second": self.steps_per_second(),
            "config": self.config.model_dump(mode="json"),
            "settings": self.train.model_dump(mode="json"),
            "task": self.task,
            "cells": cells,
            "checkpoints": self.checkpoints(),
            "message": message,
        }

    def divergence_message(self) -> str | None:
        bad = [tr for tr in self.trainers if tr.diverged]
        if not bad:
            return None
        parts = []
        for tr in bad:
            last = tr.history[-1]
            what = "loss" if not math.isfinite(last.loss) else "gradient norm"
            value = last.loss if what == "loss" else last.grad_norm
            parts.append(f"{tr.cell} diverged at step {last.step}: {what} = {wire_float(value)}")
        advice = "lower the learning rate or set a clip, then resume: the weights are the last finite ones"
        return "; ".join(parts) + f" — {advice}"


class SweepJob:
    """A length sweep: for each T, each cell trains ``sweep.steps`` steps from the config's start;
    the point is its held-out loss at the end. Driven like a TrainJob, a chunk at a time."""

    def __init__(self, job_id: int, config: RunConfig, train: TrainSettings, sweep: SweepSettings):
        self.id, self.config, self.train, self.sweep = job_id, config, train, sweep
        if config.task in ("text", "sequence"):
            raise ValueError(
                f"task: a length sweep needs a task whose length can be chosen (adding, copy, "
                f"delayed_recall, sine), not {config.task!r}"
            )
        for T in sweep.lengths:  # every point's size is checked before the first trains
            if config.task == "copy" and 2 * config.copy_len + 1 > T:
                raise ValueError(
                    f"lengths: the copy task needs T >= 2 * copy_len + 1 = {2 * config.copy_len + 1}, got {T}"
                )
        self.queue = [(T, cell) for T in sweep.lengths for cell in config.cells]
        self.points: list[dict] = []
        self.current: models.Trainer | None = None
        self._check_sizes()

    def _check_sizes(self) -> None:
        longest = max(self.sweep.lengths)
        for cell in self.config.cells:  # the largest point: a Trainer checks its own limits
            kwargs = trainer_kwargs(self.config, cell, self.train, seq_len=longest)
            models.Trainer(**kwargs | {"val_size": 1})

    @property
    def done(self) -> bool:
        return not self.queue and self.current is None

    def advance(self, seconds: float) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds and not self.done:
            if self.current is None:
                T, cell = self.queue[0]
                self.current = models.Trainer(**trainer_kwargs(self.config, cell, self.train, seq_len=T))
            tr = self.current
            tr.run(1)
            if tr.step >= self.sweep.steps or tr.diverged:
                T, cell = self.queue.pop(0)
                val = tr.history[-1].loss if tr.diverged else tr.evaluate()
                self.points.append(
                    {
                        "cell": cell,
                        "T": T,
                        "val_loss": wire_float(val),
                        "baseline": tr.baseline,
                        "steps": tr.step,
                        "seconds": tr.history[-1].seconds if tr.history else 0.0,
                    }
                )
                self.current = None

    def update(self, status: str, message: str | None = None) -> dict:
        current = None
        if self.current is not None:
            current = {"cell": self.current.cell, "T": self.current.seq_len, "step": self.current.step}
        elif self.queue and status == "running":
            current = {"cell": self.queue[0][1], "T": self.queue[0][0], "step": 0}
        return {
            "type": "sweep",
            "id": self.id,
            "status": status,
            "config": self.config.model_dump(mode="json"),
            "settings": self.train.model_dump(mode="json"),
            "sweep": self.sweep.model_dump(mode="json"),
            "points": self.points,
            "current": current,
            "message": message,
        }


def lower_priority(niceness: int) -> None:
    """Run the calling thread (a training worker) at a lower CPU priority, where the OS allows it.

    On Linux a thread is a task with its own nice value: at 19 (GATEFLOW_TRAIN_NICENESS) the event
    loop thread, which sends every session's frames, wins the CPU whenever it has work, and training
    takes what is left (bench/server.py --training)."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: training runs at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
