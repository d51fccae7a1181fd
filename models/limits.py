"""The one place where the engine's names and limits live.

Every check on user input goes through here, so an error always names the field, the value
and what is allowed. The web app builds its schema bounds from these same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .cells import REGISTRY

# The cells and their gates come from the cell registry (models/cells: each cell module's SPECS).
CELLS = tuple(REGISTRY)
# Gate names per cell, in torch's chunk order of weight_ih / weight_hh.
GATES = {name: spec.gate_names for name, spec in REGISTRY.items()}
# Gates that can be clamped to a constant, with their value range (sigmoid or tanh).
CLAMPABLE = {name: spec.clampable for name, spec in REGISTRY.items()}
# Init options that belong to some cells (the LSTM's forget-gate bias): name -> the cells that take it.
KNOBS = {k.name: k for spec in REGISTRY.values() for k in spec.knobs}
KNOB_CELLS = {
    name: tuple(c for c, spec in REGISTRY.items() if name in {k.name for k in spec.knobs}) for name in KNOBS
}
INIT_SCHEMES = ("torch", "xavier", "orthogonal", "identity")
DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "float64")
LOSSES = ("last", "sum", "task")

# Numeric limits of the engine: (min, max), inclusive.
LIMITS: dict[str, tuple[float, float]] = {
    "input_size": (1, 4096),
    "hidden_size": (1, 4096),
    "num_layers": (1, 8),
    "seed": (0, 2**32 - 1),
    "spectral_radius": (0.0, 100.0),
    "seq_len": (1, 100_000),
    "batch": (1, 4096),
    "columns": (1, 64),  # the sequence task's numbers per step (your CSV's columns): its input size
} | {name: (k.low, k.high) for name, k in KNOBS.items()}
# The highway stack over depth (models/highway.py) beside a plain stack of the same width: its own limits.
HIGHWAY_ACTIVATIONS = ("tanh", "relu")
HIGHWAY_LIMITS: dict[str, tuple[float, float]] = {
    "layers": (2, 50),
    "width": (1, 128),
    "carry_bias": (-10.0, 10.0),  # every transform gate's bias b_T at init
    "gain": (0.0, 10.0),  # H's weights are torch.nn.Linear's U(-k, k) times this
    "seed": (0, 2**31 - 1),
}
# Causal self-attention over a sequence (models/attention.py) beside a recurrent cell: its own limits. A
# T x T map of weights per head goes to the page, so T stays where a projector can still show one row.
ATTENTION_POSITIONS = ("learned", "sinusoidal")
ATTENTION_LIMITS: dict[str, tuple[float, float]] = {
    "length": (2, 256),  # steps in the sequence
    "width": (1, 128),
    "inputs": (1, 128),  # numbers per step: the width on the panel's random input, a task's when it trains
    "heads": (1, 4),
    "focus": (0.0, 10.0),  # the query weights W_q are their draw times this: sharper or flatter weights
    "seed": (0, 2**31 - 1),
}
# A training in one request (the side panels' "train both": app/engine.attention_train_json,
# highway_train_json): at most this many seconds as models.attention.training_seconds and
# models.highway.training_seconds estimate them for one thread of this machine (measured: the largest
# trainings they allow take 6-12 s; the attention lesson's 300 steps of 32 sequences at T = 100, E = 32
# beside the tanh RNN: 7.7 s estimated, 4.5 s taken).
TRAIN_REQUEST_SECONDS = 12.0
# Jacobian norms need a (T, B, H, H) sweep; by default they are computed when T*B*H*H stays under this.
JACOBIAN_AUTO_ELEMENTS = 2**22

# Training (models/train.py, models/streams.py): the tasks, the optimizers, and limits that keep one
# trainer's time and memory bounded.
TRAIN_TASKS = ("adding", "copy", "delayed_recall", "text", "sequence", "sine")
OPTIMIZERS = ("adam", "sgd")
LIMITS |= {
    "lr": (1e-7, 10.0),
    "momentum": (0.0, 0.999),
    "clip": (1e-4, 1e4),
    "batch_size": (1, 4096),
    "val_size": (1, 4096),
    "probe_every": (1, 100_000),
    "val_every": (1, 100_000),
    "steps": (1, 100_000),  # one run() call
    "max_seconds": (0.001, 86_400.0),
}
TRAIN_STEPS_MAX = 200_000  # steps in one trainer's life: its history stays a few tens of MB
TRAIN_ELEMENTS_MAX = 2**23  # seq_len * batch * hidden_size * layers * directions of one batch
TRAIN_PARAMS_MAX = 2**24  # parameters of the recurrent module and its readout
CHECKPOINTS_MAX = 32
CHECKPOINT_BYTES_MAX = 256 * 2**20
PROBES_MAX = 512


def jacobian_auto(T: int, B: int, H: int) -> bool:
    """The automatic rule: compute ||dh_T/dh_t|| when the (T, B, H, H) sweep has at most
    JACOBIAN_AUTO_ELEMENTS elements."""
    return T * B * H * H <= JACOBIAN_AUTO_ELEMENTS


def check_choice(field: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{field}: {value!r} is not one of {', '.join(map(repr, allowed)) or 'none'}")
    return value


def check_range(field: str, value: Any, lo: float | None = None, hi: float | None = None, *, integer=False):
    """Return ``value`` if it is a finite number in [lo, hi] (defaults from LIMITS[field])."""
    if lo is None or hi is None:
        lo, hi = LIMITS[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{field}: expected a number in [{lo:g}, {hi:g}], got {value!r}")
    if integer and int(value) != value:
        raise ValueError(f"{field}: expected an integer in [{lo:g}, {hi:g}], got {value!r}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{field}: {value!r} is outside the allowed range [{lo:g}, {hi:g}]")
    return int(value) if integer else float(value)


def check_solver(cell: str, solver: dict[str, float] | None) -> dict[str, float]:
    """A cell's solver options (the CfC's and LTC's timespan, the LTC's ode_unfolds), each checked, with
    the cell's defaults for those not given; {} for a cell that has none."""
    spec = REGISTRY[cell]
    allowed = {k.name: k for k in spec.knobs if k.solver}
    out = spec.solver_defaults
    for name, value in dict(solver or {}).items():
        if name not in allowed:
            names = ", ".join(allowed) or "none"
            raise ValueError(f"solver: {cell} has no solver option {name!r}; its options: {names}")
        out[name] = check_range(name, value, integer=allowed[name].integer)
    return out


def check_clamp(cell: str, clamp: dict[str, float] | None) -> dict[str, float]:
    clamp = dict(clamp or {})
    allowed = CLAMPABLE[cell]
    for gate, value in clamp.items():
        if gate not in allowed:
            names = ", ".join(allowed) or "none (this cell has no gates)"
            raise ValueError(f"clamp: {cell} has no gate {gate!r}; gates that can be clamped: {names}")
        lo, hi = allowed[gate]
        clamp[gate] = check_range(f"clamp.{gate}", value, lo, hi)
    return clamp
