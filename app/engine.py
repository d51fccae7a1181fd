"""The bridge between the web app and the engine: the only module of app/ that imports torch.

``get_run(config)`` turns a RunConfig into a ``Run``: every cell built from the same seed, run on the
same task input, traced, and converted once into wire data (float32 frames and bulk for binary
messages, JSON with non-finite values as strings, CSV). Runs are cached by config (LRU), and a
config being computed is computed once however many sessions ask for it at the same time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import ctypes
import ctypes.util
import dataclasses
import hashlib
import io
import math
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import orjson
import torch

from . import models, notes
from .schemas import (
    BINARY_HEADER,
    CELL_TITLE,
    GATES,
    KIND_BULK,
    KIND_FRAME,
    AttentionConfig,
    AttentionTraining,
    HighwayConfig,
    HighwayTraining,
    RunConfig,
    wire_float,
)
from .settings import Settings

NORMS = ("grad_h_norm", "grad_c_norm", "jacobian_norm", "jacobian_norm_c")
# Engine field names that differ from RunConfig's.
_FIELD_ALIASES = {"form": "adding_form", "input_size": "task", "batch": "seq_len"}


Cancelled = models.cancel.Cancelled  # a computation whose asker went away (get_run's ``cancel``)


class EngineError(ValueError):
    """A run the engine refused; ``field`` is the RunConfig field it is about."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


def devices() -> tuple[str, ...]:
    """The RunConfig.device choices this machine can run: "cuda" only where torch sees a CUDA GPU."""
    return ("cpu", "cuda", "auto") if torch.cuda.is_available() else ("cpu", "auto")


def configure(settings: Settings) -> None:
    """Apply the settings that belong to torch and to the cache (called once at startup)."""
    if settings.device not in devices():
        raise RuntimeError(
            f"GATEFLOW_DEVICE={settings.device}: this machine has no CUDA GPU; allowed here: "
            + ", ".join(devices())
        )
    torch.set_num_threads(settings.torch_threads)
    set_cell_threads(settings.cell_threads)
    _cache.resize(settings.cache_size, settings.memory_budget_mb * 2**20 // 4)


# -- numbers on the wire --------------------------------------------------------------------------
def json_safe(values: np.ndarray):
    """A float array for orjson (OPT_SERIALIZE_NUMPY): the array itself (float64 stays float64, the
    norms; anything else float32) when every value is finite, else nested lists where NaN, inf, -inf
    are the strings "NaN", "Infinity", "-Infinity" (orjson would write them as null)."""
    values = np.ascontiguousarray(values, dtype=np.float64 if values.dtype == np.float64 else np.float32)
    finite = np.isfinite(values)
    if finite.all():
        return values
    out = values.astype(object)
    out[np.isnan(values)] = "NaN"
    out[values == np.inf] = "Infinity"
    out[values == -np.inf] = "-Infinity"
    return out.tolist()


def dumps(obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def decay_wire(fit: models.decay.DecayFit, explanation: str | None = None) -> dict:
    """A fit as the wire's Decay (see schemas.Decay)."""
    return {
        "steps_per_decade": fit.steps_per_decade,
        "direction": fit.direction,
        "span": fit.span,
        "factor": fit.factor if fit.factor is not None and math.isfinite(fit.factor) else None,
        "text": fit.text,
        "explanation": explanation if explanation is not None else fit.explanation,
    }


def input_gradient(norm: np.ndarray) -> dict:
    """||dL/dx_t|| (T,) float64 and its fit going back from the last step, as the wire's InputGradient."""
    return {"norm": norm, "decay": fit_decay(norm)}


def fit_decay(norm: np.ndarray) -> dict:
    """models.decay.fit_decay on one curve (processing order), as the wire's Decay."""
    return decay_wire(models.decay.fit_decay(norm))


# -- the highway stack over depth ------------------------------------------------------------------
def highway_json(config: HighwayConfig) -> bytes:
    """Both stacks of models/highway.py on the config's input, batch item 0, as the wire's HighwayResponse."""
    highway = models.highway
    try:
        w = highway.init(config.width, config.layers, config.carry_bias, config.gain, config.seed)
        x = highway.draw_input(config.width, 1, config.seed)
        run = highway.trace(w, x, config.activation, models.resolve_dtype(config.dtype))
    except ValueError as err:
        raise engine_error(err) from err
    return dumps(_highway_body(config, run))


def _highway_body(config: HighwayConfig, run) -> dict:
    """The wire's HighwayResponse from a models.highway trace, batch item 0."""
    stacks = []
    for kind in models.highway.STACKS:
        stack = run.stack(kind)
        norm = stack.grad_norm[:, 0].numpy()
        stacks.append(
            {
                "name": kind,
                "y": json_safe(stack.y[:, 0].numpy()),
                "h": json_safe(stack.h[:, 0].numpy()),
                "gate": None if stack.gate is None else json_safe(stack.gate[:, 0].numpy()),
                "grad_norm": json_safe(norm),
                "y_norm": json_safe(stack.y_norm[:, 0].numpy()),
                "loss": wire_float(float(stack.loss)),
                "decay": decay_wire(models.decay.fit_decay(norm, unit="layer")),
            }
        )
    carry_mean = run.highway.carry[:, 0].double().mean(dim=-1).numpy()
    return {"config": config.model_dump(), "stacks": stacks, "carry_mean": json_safe(carry_mean)}


def _too_long(seconds: float, steps: int, what: str) -> None:
    """An EngineError on training.steps when a training's estimated seconds pass the request's bound."""
    most = models.limits.TRAIN_REQUEST_SECONDS
    if seconds > most:
        fits = max(1, int(steps * most / seconds))
        raise EngineError(
            "training.steps",
            f"training.steps: {steps} steps of {what} would train for about {seconds:.0f} s; one request "
            f"trains for at most {most:g} s: at this size at most {fits} steps",
        )


def highway_train_json(config: HighwayConfig, training: HighwayTraining) -> bytes:
    """Both stacks trained on models.highway.Teacher's task (y* = tanh(A x)) on the same batches, each its
    own weights, then traced on the config's input as the untrained ones are: the wire's HighwayTrained."""
    highway = models.highway
    try:  # the stacks' own settings first
        highway.check(config.activation, width=config.width, layers=config.layers)
    except ValueError as err:
        raise engine_error(err) from err
    seconds = highway.training_seconds(config.layers, config.width, training.batch_size, training.steps)
    what = f"{training.batch_size} inputs through {config.layers} layers of width {config.width}"
    _too_long(seconds, training.steps, what)
    dtype = models.resolve_dtype(config.dtype)
    start = time.perf_counter()
    try:
        w = highway.init(config.width, config.layers, config.carry_bias, config.gain, config.seed)
        teacher = highway.Teacher(config.width, config.seed)
        # both train in float32, as Train mode does; the trace is in the config's dtype
        trainer = highway.HighwayTrainer(w, teacher, config.activation, training.lr, training.batch_size)
        trainer.run(training.steps)
        val, plain_val = trainer.evaluate()
        trained, plain = trainer.weights
        x = highway.draw_input(config.width, 1, config.seed)
        run = highway.trace(trained, x, config.activation, dtype, plain=plain)
    except ValueError as err:
        raise engine_error(err) from err
    body = _highway_body(config, run)
    body["training"] = {
        "settings": training.model_dump(),
        "task": "teacher",
        "baseline": teacher.baseline,
        "losses": json_safe(np.array(trainer.losses, dtype=np.float64)),
        "val_loss": wire_float(val),
        "plain_losses": json_safe(np.array(trainer.plain_losses, dtype=np.float64)),
        "plain_val_loss": wire_float(plain_val),
        "seconds": time.perf_counter() - start,
    }
    return dumps(body)


# -- causal self-attention beside a recurrent cell ----------------------------------------------------
def attention_json(config: AttentionConfig) -> bytes:
    """models/attention.py's layer and the config's recurrent cell (models.build, untrained, H = width) on
    the same x and the same loss r · y_(T−1), batch item 0, as the wire's AttentionResponse."""
    attention = models.attention
    dtype = models.resolve_dtype(config.dtype)
    try:
        w = attention.init(
            config.width, config.length, config.heads, config.positions, config.focus, config.seed
        )
        x, r = attention.draw_task(config.length, config.width, 1, config.seed)
        run = attention.trace(w, x, r, config.heads, config.residual, config.layer_norm, dtype)
        net = models.build(config.compare, config.width, config.width, seed=config.seed, dtype=dtype)
        readout = r.to(dtype)
        other = net.trace(x.to(dtype), loss=lambda out: (out[-1] @ readout).sum(), jacobian=False)
    except ValueError as err:
        raise engine_error(err) from err
    return dumps(_attention_body(config, run, other))


def _attention_body(config: AttentionConfig, run, other) -> dict:
    """The wire's AttentionResponse from an attention trace and the compared cell's, batch item 0."""
    norm = run.grad_x_norm[:, 0].numpy()
    weights = run.weights[0].numpy()
    other_norm = other.grad_x_norm[:, 0].numpy()
    T, E = run.output.shape[0], run.output.shape[2]
    return {
        "config": config.model_dump(),
        # row t holds a_t0 .. a_tt: what lies right of the diagonal is 0 by the mask, not sent
        "weights": [[json_safe(row[: t + 1]) for t, row in enumerate(head)] for head in weights],
        "values": json_safe(run.v[0].permute(1, 0, 2).reshape(T, E).numpy()),
        "attended": json_safe(run.attended[:, 0].numpy()),
        "output": json_safe(run.output[:, 0].numpy()),
        "grad_x_norm": json_safe(norm),
        "loss": wire_float(float(run.loss)),
        "decay": fit_decay(norm[:-1]),
        "compared": {
            "cell": config.compare,
            "grad_x_norm": json_safe(other_norm),
            "loss": wire_float(float(other.loss)),
            "decay": fit_decay(other_norm[:-1]),
        },
    }


HELD_OUT = 256  # sequences in an attention training's held-out batch (both models' val_loss)


def attention_train_json(config: AttentionConfig, training: AttentionTraining) -> bytes:
    """The attention layer and the config's recurrent cell trained side by side on the adding problem
    (Le et al. 2015, T = the config's length) on the same batches (models.streams, seeded), then both
    traced on one held-out sequence with their trained readouts: the wire's AttentionTrained."""
    try:  # the layer's own settings first: heads that do not divide the width are named as such
        models.attention.check(width=config.width, heads=config.heads)
    except ValueError as err:
        raise engine_error(err) from err
    size = (config.length, config.width, config.heads, training.batch_size)
    cost = models.cells.REGISTRY[config.compare].train_cost
    seconds = models.attention.training_seconds(*size, training.steps, cost, HELD_OUT)
    what = f"{training.batch_size} sequences of {config.length} steps at width {config.width}"
    _too_long(seconds, training.steps, what)
    attention = models.attention
    dtype = models.resolve_dtype(config.dtype)  # the traces'; both train in float32, as Train mode does
    start = time.perf_counter()
    try:
        batch, seed = training.batch_size, config.seed
        stream = models.streams.make_stream("adding", config.length, batch, HELD_OUT, seed, torch.float32)
        w = attention.init(
            config.width,
            config.length,
            config.heads,
            config.positions,
            config.focus,
            config.seed,
            inputs=stream.input_size,
        )
        at = attention.AttentionTrainer(
            w,
            stream,
            config.heads,
            config.positions,
            config.residual,
            config.layer_norm,
            training.lr,
            seed=config.seed,
        )
        at.run(training.steps)
        rnn = models.Trainer(
            config.compare,
            "adding",
            seq_len=config.length,
            hidden_size=config.width,
            batch_size=training.batch_size,
            lr=training.lr,
            seed=config.seed,
            probe_every=training.steps,
            val_every=training.steps,
            val_size=HELD_OUT,
        )
        records = rnn.run(training.steps)
        probe = models.streams.first_element(stream.val)
        x = probe.x.to(dtype)
        r, b = (p.detach()[0].to(dtype) for p in (at.readout.weight, at.readout.bias))
        run = attention.trace(at.weights, x, r, config.heads, config.residual, config.layer_norm, dtype)
        net = rnn.net.to(dtype=dtype)
        other_r, other_b = (p.detach()[0].to(dtype) for p in (rnn.readout.weight, rnn.readout.bias))
        other = net.trace(x, loss=lambda out: (out[-1] @ other_r).sum(), jacobian=False)
        said = float(run.output[-1, 0] @ r + b)
        other_said = float(other.output[-1, 0] @ other_r + other_b)
        val, other_val = at.evaluate(), rnn.evaluate()
    except ValueError as err:
        raise engine_error(err) from err
    body = _attention_body(config, run, other)
    markers = torch.nonzero(probe.x[:, 0, 1] > 0.5).flatten().tolist()
    body["training"] = {
        "settings": training.model_dump(),
        "task": "adding",
        "baseline": stream.baseline,
        "losses": json_safe(np.array(at.losses, dtype=np.float64)),
        "val_loss": wire_float(val),
        "compared_losses": json_safe(np.array([r.loss for r in records], dtype=np.float64)),
        "compared_val_loss": wire_float(other_val),
        "markers": markers,
        "target": float(probe.target[-1, 0, 0]),
        "prediction": wire_float(said),
        "compared_prediction": wire_float(other_said),
        "seconds": time.perf_counter() - start,
    }
    return dumps(body)


# -- a run ----------------------------------------------------------------------------------------
@dataclass
class CellRun:
    """One cell's trace, batch element 0, numpy: per-unit fields float32 (L*dirs, T, H), norms float64
    (L*dirs, T): the frames carry them as float32, the ready message, JSON and CSV exactly."""

    cell: str
    loss: float
    output: np.ndarray  # (T, dirs*H)
    h: np.ndarray
    c: np.ndarray | None
    gates: dict[str, np.ndarray]
    grad_h: np.ndarray
    grad_c: np.ndarray | None
    norms: dict[str, np.ndarray | None]  # NORMS -> (L*dirs, T) float64 or None
    grad_x: np.ndarray  # (T, D) float32: dL/dx_t
    input_grad: dict  # InputGradient: ||dL/dx_t|| (T,) float64 and its decay
    decay: dict  # the top layer's forward direction: {"grad_h", "jacobian"}
    decays: list[dict]  # per layer-direction: {"grad_h", "grad_c", "jacobian", "jacobian_c"}
    notes: list[str]
    nonfinite: dict[str, bool]

    def input_grad_wire(self) -> dict:
        """The wire's InputGradient: ||dL/dx_t|| as JSON numbers (non-finite ones as strings), its fit."""
        return {"norm": json_safe(self.input_grad["norm"]), "decay": self.input_grad["decay"]}

    def per_unit(self) -> list[tuple[str, np.ndarray]]:
        """The (L*dirs, T, H) fields in frame and bulk order: h, c, each gate, grad_h, grad_c."""
        fields = [
            ("h", self.h),
            ("c", self.c),
            *self.gates.items(),
            ("grad_h", self.grad_h),
            ("grad_c", self.grad_c),
        ]
        return [(name, v) for name, v in fields if v is not None]


@dataclass
class Run:
    run_id: str
    config: RunConfig
    T: int
    x: np.ndarray  # (T, D)
    input: dict
    cells: list[CellRun]
    compute_ms: float
    jacobian: dict = field(default_factory=dict)  # {"mode", "computed", "reason"}
    notes: list[dict] = field(default_factory=list)  # [{"field", "text"}]
    trained: dict | None = None  # the wire's Trained: checkpoint weights, not the config's untrained ones
    # cell -> cell_key of the config's untrained cells (none for trained or uploaded weights): what
    # RunCache.cell_run matches
    cell_keys: dict[str, str] = field(default_factory=dict)
    frame_layout: list[dict] = field(default_factory=list)
    bulk_layout: list[dict] = field(default_factory=list)
    frames: np.ndarray = field(default=None)  # (T, F) little-endian float32, frame_layout order
    bulk_payload: bytes = b""
    ready_json: bytes = b""
    nbytes: int = 0  # what this run holds in memory (arrays, frames, bulk, ready), counted by memory_in_use

    def frame_bytes(self, t: int, sent_ms: float | None = None) -> bytes:
        sent_ms = time.time() * 1000.0 if sent_ms is None else sent_ms
        return BINARY_HEADER.pack(KIND_FRAME, t, sent_ms) + self.frames[t].tobytes()

    def bulk_bytes(self, sent_ms: float | None = None) -> bytes:
        sent_ms = time.time() * 1000.0 if sent_ms is None else sent_ms
        return BINARY_HEADER.pack(KIND_BULK, 0, sent_ms) + self.bulk_payload


def _numpy(tensor: torch.Tensor | None, batch_axis: int, dtype=torch.float32) -> np.ndarray | None:
    if tensor is None:
        return None
    return tensor.detach().select(batch_axis, 0).to("cpu", dtype).numpy()


def _make_task(config: RunConfig):
    tasks = models.tasks
    if config.task == "text":
        return tasks.text(config.text)
    if config.task == "sequence":
        return tasks.sequence(config.values, config.columns)
    if config.task == "sine":
        return tasks.sine(config.seq_len, period=config.period, noise=config.noise, seed=config.seed)
    if config.task == "copy":
        return tasks.copy(config.seq_len, copy_len=config.copy_len, seed=config.seed)
    if config.task == "delayed_recall":
        return tasks.delayed_recall(config.seq_len, seed=config.seed)
    return tasks.adding(config.seq_len, seed=config.seed, form=config.adding_form)


def net_options(config: RunConfig, cell: str) -> dict:
    """The options of one cell's net that a RunConfig sets, for models.build and models.Trainer alike:
    a cell's own knobs (the LSTM's forget_bias) only, as its spec lists them."""
    knobs = {k.name: getattr(config, k.name) for k in models.cells.REGISTRY[cell].knobs}
    return knobs | dict(
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        seed=config.seed,
        init=config.init,
        spectral_radius=config.spectral_radius,
        device=config.device,
    )


def build_net(config: RunConfig, cell: str, input_size: int):
    """The net of one cell, with its own gates' clamps."""
    return models.build(
        cell, input_size=input_size, clamp=config.clamp_for(cell), **net_options(config, cell)
    )


@dataclass
class Trained:
    """The weights a run shows instead of the config's untrained ones (Train mode's checkpoints)."""

    train_id: int
    step: int  # the step asked for
    cells: dict  # cell -> (checkpoint step, models.RecurrentNet, models.tasks.Readout)

    def wire(self) -> dict:
        return {
            "train_id": self.train_id,
            "step": self.step,
            "steps": {cell: at for cell, (at, _, _) in self.cells.items()},
        }

    def to_bytes(self) -> bytes:
        """The weights as bytes (a room's students get them through the broker): torch's format, of
        tensors, numbers and strings only, so ``from_bytes`` reads it without unpickling any object."""
        cells = {}
        for cell, (at, net, readout) in self.cells.items():
            cells[cell] = {
                "at": at,
                "cell": net.cell,
                "input_size": net.input_size,
                "hidden_size": net.hidden_size,
                "num_layers": net.num_layers,
                "bidirectional": net.bidirectional,
                "weights": {name: w.detach().cpu() for name, w in net.weights.items()},
                "clamp": dict(net.clamp),
                "solver": dict(net.solver),
                "readout": [readout.weight.detach().cpu(), readout.bias.detach().cpu()],
            }
        out = io.BytesIO()
        torch.save({"train_id": self.train_id, "step": self.step, "cells": cells}, out)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Trained:
        saved = torch.load(io.BytesIO(data), weights_only=True)
        cells = {}
        for cell, c in saved["cells"].items():
            net = models.RecurrentNet(
                c["cell"], c["input_size"], c["hidden_size"], c["num_layers"], c["bidirectional"],
                c["weights"], c["clamp"], c.get("solver", {}),
            )  # fmt: skip
            cells[cell] = (int(c["at"]), net, models.tasks.Readout(*c["readout"]))
        return cls(int(saved["train_id"]), int(saved["step"]), cells)


# -- your own trained model (POST /api/weights) ---------------------------------------------------
# the built-in tasks' input sizes; text: its alphabet's size, sequence: its columns (any size fits)
TASK_INPUTS = {"adding": 2, "copy": 10, "delayed_recall": 9, "sine": 1}


@dataclass
class Uploaded:
    """A user's trained torch.nn.RNN / LSTM / GRU, read from the file they uploaded."""

    digest: str  # RunConfig.weights
    filename: str
    found: models.weights.Found

    def info(self) -> dict:
        net, f = self.found.net, self.found
        return {
            "weights": self.digest,
            "filename": self.filename,
            "cell": net.cell,
            "input_size": net.input_size,
            "hidden_size": net.hidden_size,
            "num_layers": net.num_layers,
            "bidirectional": net.bidirectional,
            "dtype": f.dtype,
            "prefix": f.prefix,
            "readout": None
            if f.readout is None
            else {"names": list(f.readout_names), "outputs": int(f.readout.weight.shape[0])},
            "ignored": f.ignored[:20],
            "tasks": [t for t, d in TASK_INPUTS.items() if d == net.input_size] + ["sequence"],
        }


class WeightStore:
    """The uploaded models of this process by digest, the least recently used dropped past ``size``."""

    def __init__(self, size: int = 16):
        self.size = size
        self._items: OrderedDict[str, Uploaded] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, item: Uploaded) -> None:
        with self._lock:
            self._items[item.digest] = item
            self._items.move_to_end(item.digest)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, digest: str) -> Uploaded | None:
        with self._lock:
            item = self._items.get(digest)
            if item is not None:
                self._items.move_to_end(digest)
            return item


_UPLOADS = WeightStore()


def uploads() -> WeightStore:
    return _UPLOADS


def upload_weights(data: bytes, filename: str, nonlinearity: str, settings: Settings) -> dict:
    """Read a trained model from the bytes of a safetensors or torch.save file (never unpickling any
    object) and keep it under its digest. Raises EngineError naming the field."""
    try:
        state = models.weights.read_state(data)
        found = models.weights.from_state(
            state, nonlinearity, max_hidden=settings.max_hidden_size, max_layers=settings.max_layers
        )
    except ValueError as err:
        raise engine_error(err) from err
    # the nonlinearity is part of a plain RNN's model (its weights cannot tell it), not a gated cell's
    salt = nonlinearity if "nonlinearity" in found.net.spec.torch_kwargs else ""
    digest = hashlib.sha256(salt.encode() + b"\0" + data).hexdigest()
    item = Uploaded(digest, filename, found)
    _UPLOADS.put(item)
    return item.info()


def uploaded_for(config: RunConfig, input_size: int) -> Uploaded:
    """The config's uploaded model, checked against the config and the task. Raises EngineError."""
    item = _UPLOADS.get(config.weights)
    if item is None:
        raise EngineError(
            "weights",
            "weights: this model is no longer on the server (it restarted, or keeps newer uploads); "
            "upload the file again",
        )
    net = item.found.net
    if config.cells != [net.cell]:
        raise EngineError(
            "cells", f"cells: the uploaded model is a {net.cell}; with it, cells must be [{net.cell!r}]"
        )
    for name in ("hidden_size", "num_layers", "bidirectional"):
        if getattr(config, name) != getattr(net, name):
            mine, yours = getattr(net, name), getattr(config, name)
            raise EngineError(name, f"{name}: the uploaded model has {name} = {mine}, the run {yours}")
    if input_size != net.input_size:
        fits = [t for t, d in TASK_INPUTS.items() if d == net.input_size]
        D = net.input_size
        fits.append(f"sequence with columns = {D}")
        hint = f"tasks with {D} inputs: {', '.join(fits)}; or a text of {D} distinct characters"
        raise EngineError(
            "task",
            f"task: the uploaded {CELL_TITLE[net.cell]} takes {D} inputs, "
            f"the {config.task} task {input_size} ({hint})",
        )
    return item


def check_uploaded(config: RunConfig) -> Uploaded:
    """``uploaded_for`` with the config's own task, as a run checks it, without the run (gateflow
    script --weights). Raises EngineError naming the field."""
    try:
        return _task_and_upload(config)[1]
    except EngineError:
        raise
    except ValueError as err:
        raise engine_error(err) from err


def uploaded_file(digest: str) -> bytes:
    """GET /api/weights/{digest}: the uploaded model as the exported script loads it (a torch.save'd
    state dict, see models.weights.to_bytes). Raises EngineError on ``weights`` when it is not here."""
    item = _UPLOADS.get(digest)
    if item is None:
        raise EngineError(
            "weights",
            f"weights: no uploaded model {digest} on this server (it restarted, or keeps newer uploads); "
            "upload the file again",
        )
    return models.weights.to_bytes(item.found)


def _uploaded_readout(item: Uploaded, config: RunConfig, output_size: int):
    """The file's own linear layer when it fits the task's outputs, else the config's seeded readout."""
    readout = item.found.readout
    if readout is not None and readout.weight.shape[0] == output_size:
        return readout
    return models.tasks.make_readout(item.found.net.output_size, output_size, seed=config.seed)


def _uploaded_note(item: Uploaded, config: RunConfig, output_size: int) -> dict:
    net, f = item.found.net, item.found
    what = f"Your {CELL_TITLE[net.cell]} from {item.filename}"
    if f.readout is not None and f.readout.weight.shape[0] == output_size:
        names = " / ".join(f.readout_names)
        text = f"{what}: the loss reads its output through the file's own {names}."
    else:
        why = (
            f"the file's {f.readout_names[0]} has {f.readout.weight.shape[0]} outputs, the task {output_size}"
            if f.readout is not None
            else "the file has no linear layer on the net's output"
        )
        text = f"{what}: {why}, so a seeded random readout gives the loss (the gradients are of that loss)."
    return {"field": "weights", "text": text}


_JACOBIAN = {"auto": None, "on": True, "off": False}  # RunConfig.jacobian -> RecurrentNet.trace's jacobian


def _task_and_upload(config: RunConfig, trained: Trained | None = None) -> tuple:
    """The config's task and, on a run of an uploaded model (not a training's checkpoint), that model
    checked against it. Raises ValueError (EngineError naming the field)."""
    with torch.no_grad():
        task = _make_task(config)
    if config.weights is None or trained is not None:
        return task, None
    return task, uploaded_for(config, task.input_size)


def traces(config: RunConfig) -> dict[str, models.Trace]:
    """The run of ``config`` as the page shows it, as each cell's Trace (gateflow.traces: a notebook's
    figures of exactly what the page draws). Raises EngineError naming the field."""
    try:
        task, upload = _task_and_upload(config)
        return {cell: trace_cell(config, cell, task, None, upload)[1] for cell in config.cells}
    except EngineError:
        raise
    except ValueError as err:
        raise engine_error(err) from err


def trace_cell(
    config: RunConfig, cell: str, task, trained: Trained | None = None, upload: Uploaded | None = None
):
    """(net, trace) of one cell on the task, with the config's readout and loss (or the trained net
    and its trained readout, or the user's uploaded net and its readout)."""
    if upload is not None:  # the user's net, with the config's clamps (a trained forget gate held at 1, say)
        net = upload.found.net.with_clamp(config.clamp_for(cell))
        net = dataclasses.replace(net, solver=config.solver_for(cell))  # how it computes: the run's
        readout = _uploaded_readout(upload, config, task.output_size)
    elif trained is None:
        net = build_net(config, cell, task.input_size)
        readout = models.tasks.make_readout(
            net.output_size, task.output_size, seed=config.seed, device=net.device
        )
    else:
        _, net, readout = trained.cells[cell]
    # the step Jacobians' norms are shown nowhere: _decays asks for them where a note quotes them
    return net, net.trace(
        task.x,
        loss=task.loss_fn(readout, config.loss),
        jacobian=_JACOBIAN[config.jacobian],
        step_jacobian=False,
    )


def engine_error(err: ValueError) -> EngineError:
    message = str(err)
    match = re.match(r"^([A-Za-z_][\w.]*):", message)
    name = match.group(1) if match else None
    name = _FIELD_ALIASES.get(name, name)
    return EngineError(name, message)


# Decay fits per layer-direction: wire name -> the norm curve it fits.
_DECAY_CURVES = {
    "grad_h": "grad_h_norm",
    "grad_c": "grad_c_norm",
    "jacobian": "jacobian_norm",
    "jacobian_c": "jacobian_norm_c",
}


def _decays(config: RunConfig, net, cell: str, norms: dict, gates: dict, task) -> list[dict]:
    """The fits of every layer-direction's curves, each in its own processing order (a reverse
    direction's curve flipped, so "back" is toward higher t), with a sentence of why where needed."""
    dirs, T = config.num_directions, norms["grad_h_norm"].shape[1]
    target_steps = np.flatnonzero(task.mask[:, 0].numpy())
    step_norms: dict[int, np.ndarray] = {}  # ||dh_t/dh_(t-1)|| (T,) of a layer-direction, on demand

    def step_norm(ld: int, fit) -> np.ndarray | None:
        """For a growing curve's note (the RNN's and the GRU's: a cell state's h-to-h step bounds
        nothing), when Jacobians are on (else the note quotes W_hh's bound)."""
        if fit.direction != "grows" or norms["jacobian_norm"] is None or net.spec.has_cell_state:
            return None
        if ld not in step_norms:
            layer, direction = divmod(ld, dirs)
            step_norms[ld] = _numpy(net.step_jacobian_norm(task.x, layer, direction), 1, torch.float64)
        return step_norms[ld]

    out = []
    for ld in range(config.num_layers * dirs):
        layer, direction = divmod(ld, dirs)
        w_hh = net.layer_weights(layer, direction).weight_hh.to(torch.float64)
        # the RNN's growth is explained by W_hh's largest singular value when no step Jacobian was computed
        plain = net.spec.slope is not None  # its step Jacobian is diag(slope) W_hh
        w_hh_norm = float(torch.linalg.matrix_norm(w_hh, ord=2)) if plain else math.nan
        context = dict(
            cell=cell,
            config=config,
            layer=layer,
            direction=direction,
            T=T,
            target_steps=target_steps,
            gates={g: v[ld] for g, v in gates.items()},
            weight_hh_norm=w_hh_norm,
        )
        entry = {}
        for name, curve in _DECAY_CURVES.items():
            values = norms[curve]
            if values is None:
                entry[name] = None
                continue
            fit = models.decay.fit_decay_by_t(values[ld], reverse=bool(direction))
            why = notes.explain_decay(fit, quantity=name, step_norm=step_norm(ld, fit), **context)
            entry[name] = decay_wire(fit, why)
        out.append(entry)
    return out


def compute_run(config: RunConfig, trained: Trained | None = None, reuse=None) -> Run:
    """Compute every cell's trace and its wire forms, of the config's untrained nets or of ``trained``
    weights. ``reuse(cell, key)``: a CellRun already computed with that cell_key, or None (the
    cache's cell_run). The cells are independent: up to ``cell_threads`` of them are computed side
    by side when no other run is being computed and the memory budget has room (see _cells). Raises
    EngineError naming the field."""
    start = time.perf_counter()
    try:
        task, upload = _task_and_upload(config, trained)
        target_steps = np.flatnonzero(task.mask[:, 0].numpy())
        untrained = trained is None and upload is None
        cell_keys = {cell: cell_key(config, cell) for cell in config.cells} if untrained else {}
        # a cached run's trace of a cell, where only other cells' options differ (a slider of the
        # LSTM's forget-gate bias recomputes the LSTM alone)
        reused = {
            cell: reuse(cell, cell_keys[cell]) if reuse and untrained else None for cell in config.cells
        }
        with _computing():
            computed = _cells(
                [cell for cell in config.cells if reused[cell] is None],
                lambda cell: _cell_run(config, cell, task, trained, upload, target_steps),
                working_bytes(config),
            )
        cells = [computed[cell] if reused[cell] is None else reused[cell] for cell in config.cells]
    except EngineError:
        raise
    except ValueError as err:
        raise engine_error(err) from err
    x = task.x[:, 0].to(torch.float32).numpy()  # (T, D)
    key = config.model_dump_json()
    if trained is not None:
        key += f"/train {trained.train_id} @ {trained.step}"
    run = Run(
        run_id=hashlib.sha1(key.encode()).hexdigest()[:12],
        config=config,
        T=int(x.shape[0]),
        x=x,
        input={
            "task": config.task,
            "labels": list(task.input_labels),
            "target_labels": list(task.target_labels),
            "input_size": int(x.shape[1]),
        },
        cells=cells,
        compute_ms=(time.perf_counter() - start) * 1000.0,
        jacobian=notes.jacobian_info(
            config, int(x.shape[0]), computed=cells[0].norms["jacobian_norm"] is not None
        ),
        notes=notes.run_notes(config, target_steps)
        + ([] if upload is None else [_uploaded_note(upload, config, task.output_size)]),
        trained=None if trained is None else trained.wire(),
        cell_keys=cell_keys,
    )
    _pack(run)
    return run


def _cell_run(config: RunConfig, cell: str, task, trained: Trained | None, upload, target_steps) -> CellRun:
    """One cell's trace, decay fits and notes."""
    models.cancel.check()
    net, tr = trace_cell(config, cell, task, trained, upload)
    # float64 whatever the run's dtype: a norm of 1e-63 is data (issue 10)
    norms = {name: _numpy(getattr(tr, name), 2, torch.float64) for name in NORMS}
    gates = {g: _numpy(v, 2) for g, v in tr.gates.items()}
    decays = _decays(config, net, cell, norms, gates, task)
    top = tr.index(-1, 0)
    h = _numpy(tr.h, 2)
    cell_notes = notes.cell_notes(
        cell, config, gates, float(tr.loss), h, norms["grad_h_norm"], target_steps, trained is not None
    )
    return CellRun(
        cell=cell,
        loss=float(tr.loss),
        output=_numpy(tr.output, 1),
        h=h,
        c=_numpy(tr.c, 2),
        gates=gates,
        grad_h=_numpy(tr.grad_h, 2),
        grad_c=_numpy(tr.grad_c, 2),
        norms=norms,
        grad_x=_numpy(tr.grad_x, 1),
        input_grad=input_gradient(_numpy(tr.grad_x_norm, 1, torch.float64)),
        decay={"grad_h": decays[top]["grad_h"], "jacobian": decays[top]["jacobian"]},
        decays=decays,
        notes=cell_notes,
        nonfinite=dict(tr.nonfinite),
    )


# One run's cells side by side: the thread that computes the run takes the first cell and hands the
# others to this pool (cell_threads - 1 threads, shared by every run); a cell no pool thread has
# started when the run's thread is free is taken back and computed there, so a run never waits on a
# pool busy with other runs. NumPy, LAPACK and torch let go of the GIL in their work, so on an idle
# machine the largest run's cells take about 0.75x the time of one after another (bench/jacobian.py),
# for about 1.3x the CPU time (two cores share one cache): so only a run computed alone on the server
# does it, under load every run keeps to one thread as before, and each cell beside the first holds
# its own working memory under the budget (none left: one after another).
_cell_threads = 1
_cell_pool: ThreadPoolExecutor | None = None
_cell_pool_lock = threading.Lock()
_runs_computing = 0  # compute_run calls in their cells now, on every thread
_budget = threading.local()  # .bytes: the memory budget of the run this thread computes (within_budget)


@contextlib.contextmanager
def _computing():
    global _runs_computing
    with _cell_pool_lock:
        _runs_computing += 1
    try:
        yield
    finally:
        with _cell_pool_lock:
            _runs_computing -= 1


def within_budget(budget_bytes: int, job):
    """``job`` to run in a compute thread for a run admitted under ``budget_bytes``: what the run
    computes on top of its reservation (cells side by side) is held to the same budget."""

    def scoped():
        before, _budget.bytes = getattr(_budget, "bytes", None), budget_bytes
        try:
            return job()
        finally:
            _budget.bytes = before

    return scoped


def _reserve_extra(nbytes: int) -> Reservation | None:
    """Room for ``nbytes`` more under this thread's budget, or None where there is none (cached runs are
    not dropped for it). With no budget (compute_run called directly) the room is counted, never refused."""
    global _reserved
    budget = getattr(_budget, "bytes", None)
    with _reserved_lock:
        if budget is not None and memory_in_use() + nbytes > budget:
            return None
        _reserved += nbytes
    return Reservation(nbytes)


def set_cell_threads(n: int) -> None:
    """How many cells of one run may be computed at once (1: one after another), at most the cores this
    process may use (a second thread on one core gains nothing)."""
    global _cell_threads, _cell_pool
    with _cell_pool_lock:
        old, _cell_pool, _cell_threads = _cell_pool, None, max(1, min(int(n), usable_cores()))
    if old is not None:
        old.shutdown(wait=False)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. taskset; else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cells(names: list[str], compute, cell_bytes: int = 0) -> dict:
    """compute(name) for every name: up to _cell_threads at once while this is the one run being
    computed and the budget has room for ``cell_bytes`` of working memory per extra cell, else one
    after another; each in the cancel scope of the calling thread. A cell that raises stops the rest
    (those not started are dropped, those started stop at their next check) before it is raised."""
    global _cell_pool
    with _cell_pool_lock:
        width = min(_cell_threads, len(names))
        alone = _runs_computing <= 1
        if width > 1 and alone and _cell_pool is None:
            _cell_pool = ThreadPoolExecutor(_cell_threads - 1, thread_name_prefix="gateflow-cell")
        pool = _cell_pool
    extra = _reserve_extra((width - 1) * cell_bytes) if width > 1 and alone else None
    if extra is None:
        return {name: compute(name) for name in names}
    stop = models.cancel.Linked(models.cancel.current())  # set: this run's pool cells stop

    def scoped(name):
        with models.cancel.scope(stop):
            return compute(name)

    futures: dict = {}
    try:
        for name in names[1:]:
            try:
                futures[name] = pool.submit(scoped, name)
            except RuntimeError:  # the pool was replaced (set_cell_threads): computed here
                break
        out = {names[0]: compute(names[0])}
        for name in names[1:]:
            future = futures.get(name)
            if future is None or future.cancel():  # not started: computed here, before any wait
                out[name] = compute(name)
        return {name: out[name] if name in out else futures[name].result() for name in names}
    finally:
        stop.set()
        for future in futures.values():
            if not future.cancel():
                concurrent.futures.wait([future])  # started: it stops at its next check
        extra.release()  # once no cell of this run holds working memory


def _pack(run: Run) -> None:
    """Frames (T, F), the bulk block and the ready message, computed once per run. A frame holds step
    t's input and per-step norms; every unit's values of every step are in the bulk block, sent once
    (the page draws from it), so a frame is a few dozen bytes however large the net."""
    LD = run.config.num_layers * run.config.num_directions
    columns = [run.x]
    layout = [{"cell": None, "field": "x", "count": int(run.x.shape[1])}]
    bulk, bulk_layout = [], []
    for i, cr in enumerate(run.cells):
        for name, values in cr.per_unit():  # (LD, T, H), whole-run
            bulk.append(values.reshape(-1))
            bulk_layout.append({"cell": i, "field": name, "shape": list(values.shape)})
        for name in NORMS:
            if cr.norms[name] is not None:
                columns.append(cr.norms[name].T)  # (T, LD)
                layout.append({"cell": i, "field": name, "count": LD})
    with np.errstate(over="ignore"):  # a float64 norm past float32's range is inf in the float32 frames
        run.frames = np.ascontiguousarray(np.concatenate(columns, axis=1), dtype="<f4")
    run.frame_layout, run.bulk_layout = layout, bulk_layout
    run.bulk_payload = np.concatenate(bulk).astype("<f4").tobytes()
    run.ready_json = dumps(ready_message(run))
    arrays = [run.x, run.frames]
    for cr in run.cells:
        arrays += [cr.output, cr.grad_x, cr.input_grad["norm"], *(v for _, v in cr.per_unit())]
        arrays += [v for v in cr.norms.values() if v is not None]
    run.nbytes = sum(a.nbytes for a in arrays) + len(run.bulk_payload) + len(run.ready_json)
    _live[id(run)] = run


def ready_message(run: Run) -> dict:
    config = run.config
    return {
        "type": "ready",
        "run_id": run.run_id,
        "config": config.model_dump(mode="json"),
        "T": run.T,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "num_directions": config.num_directions,
        "compute_ms": run.compute_ms,
        "input": run.input,
        "cells": [
            {
                "cell": cr.cell,
                "gates": list(GATES[cr.cell]),
                "has_cell_state": cr.c is not None,
                "loss": wire_float(cr.loss),
                "curves": {name: None if v is None else json_safe(v) for name, v in cr.norms.items()},
                "input_grad": cr.input_grad_wire(),
                "decay": cr.decay,
                "decays": cr.decays,
                "notes": cr.notes,
                "nonfinite": cr.nonfinite,
            }
            for cr in run.cells
        ],
        "jacobian": run.jacobian,
        "notes": run.notes,
        "frame_layout": run.frame_layout,
        "bulk_layout": run.bulk_layout,
        "trained": run.trained,
    }


def trace_json(run: Run) -> bytes:
    """POST /api/trace: the whole run as JSON (see TraceResponse)."""

    def opt(v):
        return None if v is None else json_safe(v)

    return dumps(
        {
            "config": run.config.model_dump(mode="json"),
            "T": run.T,
            "input": {**run.input, "x": json_safe(run.x)},
            "cells": [
                {
                    "cell": cr.cell,
                    "loss": wire_float(cr.loss),
                    "output": json_safe(cr.output),
                    "h": json_safe(cr.h),
                    "c": opt(cr.c),
                    "gates": {g: json_safe(v) for g, v in cr.gates.items()},
                    "grad_h": json_safe(cr.grad_h),
                    "grad_c": opt(cr.grad_c),
                    **{name: opt(v) for name, v in cr.norms.items()},
                    "grad_x": json_safe(cr.grad_x),
                    "input_grad": cr.input_grad_wire(),
                    "decay": cr.decay,
                    "decays": cr.decays,
                    "notes": cr.notes,
                    "nonfinite": cr.nonfinite,
                }
                for cr in run.cells
            ],
            "jacobian": run.jacobian,
            "notes": run.notes,
        }
    )


CSV_COLUMNS = ("cell", "layer", "direction", "t", "unit", "quantity", "value")


def _csv_value(v: float, digits: int = 9) -> str:
    """9 significant digits round-trip a float32, 17 a float64 (the norms)."""
    if math.isfinite(v):
        return f"{v:.{digits}g}"
    return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")


def trace_csv(run: Run) -> str:
    """Long format: one row per value; ``unit`` is empty for the per-step norms."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    dirs = run.config.num_directions
    for cr in run.cells:
        for name, values in cr.per_unit():
            LD, T, _ = values.shape
            for ld in range(LD):
                layer, direction = divmod(ld, dirs)
                rows = values[ld].tolist()
                for t in range(T):
                    writer.writerows(
                        [cr.cell, layer, direction, t, u, name, _csv_value(v)] for u, v in enumerate(rows[t])
                    )
        for name, values in cr.norms.items():
            if values is None:
                continue
            for ld in range(values.shape[0]):
                layer, direction = divmod(ld, dirs)
                writer.writerows(
                    [cr.cell, layer, direction, t, "", name, _csv_value(v, 17)]
                    for t, v in enumerate(values[ld].tolist())
                )
        # the input's gradient has no layer or direction: the input feeds the bottom layer's every one
        for t, row in enumerate(cr.grad_x.tolist()):
            writer.writerows([cr.cell, "", "", t, d, "grad_x", _csv_value(v)] for d, v in enumerate(row))
        writer.writerows(
            [cr.cell, "", "", t, "", "grad_x_norm", _csv_value(v, 17)]
            for t, v in enumerate(cr.input_grad["norm"].tolist())
        )
    return out.getvalue()


# -- memory --------------------------------------------------------------------------------------
_live: weakref.WeakValueDictionary[int, Run] = weakref.WeakValueDictionary()  # every run still held


def _libc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_malloc_trim = _libc_trim()


def release_memory() -> None:
    """Give freed memory back to the operating system (glibc keeps freed heap pages for reuse: a
    closed session's run would otherwise leave the process as large as before)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


_reserved = 0  # bytes promised to runs being computed (Reservation), not yet alive in _live
_reserved_lock = threading.Lock()


def memory_in_use() -> int:
    """Bytes held by every run still alive (in the cache, on a session's display, being sent) and
    promised to the runs being computed."""
    return sum(run.nbytes for run in list(_live.values())) + _reserved


def estimate_bytes(config: RunConfig) -> int:
    """About what a run of ``config`` will hold: each per-unit field (h, c, gates, grad_h, grad_c) as a
    float32 array and again in the bulk block; each norm curve as a float64 array, a float32 frame
    column and about 22 characters of JSON."""
    has_c = {cell: models.cells.REGISTRY[cell].has_cell_state for cell in config.cells}
    fields = sum(2 + len(GATES[cell]) + (2 if has_c[cell] else 0) for cell in config.cells)
    curves = sum(4 if has_c[cell] else 2 for cell in config.cells)
    per_curve = config.steps * config.num_layers * config.num_directions
    per_field = per_curve * config.hidden_size
    return int(1.1 * (2 * 4 * fields * per_field + 34 * curves * per_curve))  # measured: within 10%


def working_bytes(config: RunConfig) -> int:
    """About the most a compute of ``config`` needs besides the run it makes: with Jacobian norms, one
    layer-direction's (T, K, H) sweep seeded with the identity (K = 2H for the LSTM's h and c, else H)
    and its copies for the spectral norms (measured: 130-150 MB for T = 256, H = 128, the LSTM). Cells
    computed side by side reserve one more of these each, where the budget has room (_cells)."""
    T, H = config.steps, config.hidden_size
    jacobian = _JACOBIAN[config.jacobian]
    if not (models.limits.jacobian_auto(T, 1, H) if jacobian is None else jacobian):
        return 0
    K = 2 * H if any(models.cells.REGISTRY[c].has_cell_state for c in config.cells) else H
    return 4 * T * K * H * 4


class MemoryFull(Exception):
    """The runs held would pass the server's memory budget even with the cache emptied."""


class Reservation:
    """Room promised to one run while it is computed: counted by memory_in_use until ``release`` (or
    the end of a ``with`` block), when the run is alive and counts itself, or was never made."""

    def __init__(self, nbytes: int):
        self.nbytes = nbytes

    def release(self) -> None:
        global _reserved
        with _reserved_lock:
            _reserved -= self.nbytes
            self.nbytes = 0

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def reserve(config: RunConfig, budget_bytes: int) -> Reservation:
    """Room for a run of ``config`` and for its compute's working memory under ``budget_bytes``, held
    until the Reservation is released:
    cached runs no session shows are dropped first, least recently used first; MemoryFull if the
    runs that sessions hold or are computing leave no room."""
    global _reserved
    need = estimate_bytes(config) + working_bytes(config)
    with _reserved_lock:
        if memory_in_use() + need > budget_bytes:
            _cache.shrink_until(lambda: memory_in_use() + need <= budget_bytes)
        held = memory_in_use()
        if held + need > budget_bytes:
            raise MemoryFull(
                f"the server's memory budget is full: runs on display or being computed hold "
                f"{held / 2**20:.0f} MB of {budget_bytes / 2**20:.0f} MB (GATEFLOW_MEMORY_BUDGET_MB) and "
                f"this run needs about {need / 2**20:.0f} MB; try a smaller run, or again when others have "
                "closed their pages"
            )
        _reserved += need
    return Reservation(need)


def computing_bytes() -> int:
    """Bytes promised to the runs being computed now (their runs and working memory)."""
    return _reserved


async def admit(
    config: RunConfig, budget_bytes: int, poll_seconds: float = 0.02, max_wait_seconds: float = 60.0
) -> Reservation:
    """``reserve``, waiting (at most ``max_wait_seconds``) while runs being computed hold room they will
    give back (their working memory); MemoryFull when the runs held leave no room even so. Cancelling
    the awaiting task stops the wait."""
    deadline = time.monotonic() + max_wait_seconds
    while True:
        try:
            return reserve(config, budget_bytes)
        except MemoryFull:
            if computing_bytes() == 0 or time.monotonic() > deadline:
                raise
        await asyncio.sleep(poll_seconds)


async def admitted_run(
    config: RunConfig, budget_bytes: int, executor=None, trained: Trained | None = None
) -> Run:
    """``get_run`` (``trained_run`` with ``trained``) in ``executor`` once ``admit`` has made room for it
    (a REST trace, a room's run)."""
    job = partial(trained_run, config, trained) if trained is not None else partial(get_run, config)
    return await run_admitted(config, budget_bytes, executor, job)


async def run_admitted(config: RunConfig, budget_bytes: int, executor, job) -> Run:
    """``job()`` making a run of ``config`` in ``executor`` once ``admit`` has made room for it, and
    what it computes beside its reservation held to the same budget (within_budget)."""
    with await admit(config, budget_bytes):  # released once the run counts itself
        return await asyncio.get_running_loop().run_in_executor(executor, within_budget(budget_bytes, job))


# -- the cache ------------------------------------------------------------------------------------
def cell_key(config: RunConfig, cell: str) -> str:
    """What one cell's trace in a run of ``config`` depends on: the config less the other cells (which
    cells run beside it, their own options and their gates' clamps). Two configs with the same key for
    a cell show the same numbers for it."""
    others = {name: None for name, owners in models.limits.KNOB_CELLS.items() if cell not in owners}
    update = {"cells": [cell], "clamp": config.clamp_for(cell), **others}
    return config.model_copy(update=update).model_dump_json()


class RunCache:
    """LRU of runs by config, bounded in count and in bytes (a quarter of the memory budget: the rest
    is for the runs sessions show); concurrent requests for one config wait for a single compute."""

    def __init__(self, size: int, max_bytes: int | None = None):
        self.size, self.max_bytes = size, max_bytes  # max_bytes: None, no bound by bytes
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._pending: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.computed = 0  # how many runs were actually computed (for tests and benchmarks)
        self.cells_reused = 0  # cells whose trace a computed run took from a cached one (cell_run)

    def resize(self, size: int, max_bytes: int | None = None) -> None:
        with self._lock:
            self.size, self.max_bytes = size, max_bytes
            self._trim()

    def _trim(self) -> None:
        """Least recently used out until within the count and the bytes (the newest always stays)."""
        while len(self._runs) > max(self.size, 0):
            self._runs.popitem(last=False)
        if self.max_bytes is not None:
            while len(self._runs) > 1 and sum(r.nbytes for r in self._runs.values()) > self.max_bytes:
                self._runs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()

    def shrink_until(self, enough) -> None:
        """Drop runs, least recently used first, until ``enough()`` or the cache is empty (a run a
        session still shows stays alive there; the others are freed at once)."""
        while not enough():
            with self._lock:
                if not self._runs:
                    return
                self._runs.popitem(last=False)

    def cell_run(self, cell: str, key: str) -> CellRun | None:
        """``cell``'s trace from the most recently used cached run that computed it with cell_key
        ``key``, or None (runs of trained or uploaded weights have no keys: their readout is theirs)."""
        with self._lock:
            for run in reversed(self._runs.values()):
                if run.cell_keys.get(cell) == key:
                    self.cells_reused += 1
                    return next(c for c in run.cells if c.cell == cell)
        return None

    def get(self, config: RunConfig) -> Run:
        key = config.model_dump_json()
        with self._lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return self._runs[key]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if key in self._runs:
                    return self._runs[key]
            try:
                run = _compute(config, reuse=self.cell_run)
            except BaseException:
                with self._lock:
                    self._pending.pop(key, None)
                raise
            with self._lock:  # stored before the pending entry goes, so no one computes it twice
                self.computed += 1
                if self.size > 0:
                    self._runs[key] = run
                    self._trim()
                self._pending.pop(key, None)
            return run


_cache = RunCache(32)


def get_run(config: RunConfig, cancel: threading.Event | None = None) -> Run:
    """The run of ``config``, from the cache or computed; raises models.cancel.Cancelled soon after
    ``cancel`` is set (the asker went away or asked for something else)."""
    with models.cancel.scope(cancel):
        return _cache.get(config)


def trained_run(config: RunConfig, trained: Trained, cancel: threading.Event | None = None) -> Run:
    """The run of ``config`` with checkpoint weights (never cached: the weights are a training's)."""
    with models.cancel.scope(cancel):
        return _compute(config, trained)


def _compute(config: RunConfig, trained: Trained | None = None, reuse=None) -> Run:
    """compute_run, then its working memory (autograd, Jacobians) given back to the system; a cache hit
    computes nothing and trims nothing."""
    try:
        return compute_run(config, trained, reuse)
    finally:
        release_memory()


def cache() -> RunCache:
    return _cache
