"""The wire format, in one place: the run config, WebSocket messages both ways, REST responses.

docs/protocol.md says the same in words. Bounds that depend on the server's settings (hidden size,
layers, sequence length, run size) are checked in validators whose errors name the field and the
allowed range; every other bound is a ``Field(ge=..., le=...)``.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from . import models
from .settings import Settings, get_settings

# The engine's names, from its cell registry (models/cells: one spec per cell); nothing here copies them.
CELL_SPECS = models.cells.REGISTRY
CELLS: tuple[str, ...] = models.limits.CELLS
CellName = Literal[CELLS]  # type: ignore[valid-type]
GATES: dict[str, tuple[str, ...]] = models.limits.GATES
CLAMPABLE: dict[str, dict[str, tuple[float, float]]] = models.limits.CLAMPABLE
KNOBS = models.limits.KNOBS  # a cell's options (the LSTM's forget_bias, the LTC's timespan): RunConfig fields
CELL_TITLE = {name: spec.title for name, spec in CELL_SPECS.items()}  # a cell's name in sentences
TORCH_CLASS = {name: spec.torch_module for name, spec in CELL_SPECS.items()}  # torch.nn's module


INITS = ("torch", "xavier", "orthogonal", "identity")
TASKS = ("text", "sequence", "sine", "adding", "copy", "delayed_recall")
LOSSES = ("last", "sum", "task")
DEVICES = ("cpu", "cuda", "auto")
JACOBIAN_MODES = ("auto", "on", "off")
ADDING_FORMS = ("le", "hochreiter")
SEED_MAX = 2**31 - 1
MAX_COLUMNS = 64  # models.limits.LIMITS["columns"]
FLOAT32_MAX = 3.4028234663852886e38  # a larger |value| becomes inf in the float32 engine

# Binary messages: uint32 kind, uint32 t, float64 sent_ms, then little-endian float32 values.
BINARY_HEADER = struct.Struct("<IId")
KIND_FRAME = 1
KIND_BULK = 2

# A JSON number that may be non-finite: finite floats as numbers, the others as these strings.
NonFinite = Literal["NaN", "Infinity", "-Infinity"]
WireFloat = float | NonFinite


def _integral(value: Any) -> Any:
    """23.0 is the integer 23 in JSON (and in JSON Schema's "integer"); 23.5, "23" and true are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The messages are validated strictly ("yes" is no bool, false no number); an integer field takes an
# integral JSON number such as 23.0, as the OpenAPI spec's "integer" promises.
Int = Annotated[int, BeforeValidator(_integral)]

# Every model a client sends: no unknown fields, no NaN or Infinity, no coercion.
INBOUND = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

Sigmoid = Annotated[float, Field(ge=0.0, le=1.0)]
Tanh = Annotated[float, Field(ge=-1.0, le=1.0)]


class Clamp(TypedDict, total=False):
    """Gate -> constant: LSTM i f g o, GRU r z n; sigmoid gates 0..1, g and n -1..1."""

    __pydantic_config__ = INBOUND  # type: ignore[misc]
    i: Sigmoid
    f: Sigmoid
    g: Tanh
    o: Sigmoid
    r: Sigmoid
    z: Sigmoid
    n: Tanh


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _range_error(field: str, value: Any, lo: float, hi: float) -> ValueError:
    return ValueError(f"{field}: {value!r} is outside the allowed range {_num(lo)} .. {_num(hi)}")


# The cells' options (spec knobs such as the LSTM's forget_bias, the LTC's ode_unfolds), each a RunConfig
# field: an init option's null leaves the drawn weights, a solver option's null is the cell's default.
def _bounded(kind: type, low: float, high: float) -> Any:
    """A number in [low, high] inside a union with null (an integer: an integral JSON number, as Int)."""
    if kind is int:
        return Annotated[int, Field(ge=low, le=high), BeforeValidator(_integral)]
    return Annotated[float, Field(ge=low, le=high)]


def _knob_description(k) -> str:
    return f"{k.label}; null: " + (f"{k.default:g}, ncps' default" if k.solver else "as initialised")


CellKnobs = create_model(
    "CellKnobs",
    **{
        k.name: (
            _bounded(int if k.integer else float, k.low, k.high) | None,
            Field(None, description=_knob_description(k)),
        )
        for k in KNOBS.values()
    },
)


class RunConfig(CellKnobs):
    """One run: the same seed, input and loss for every cell, compared side by side."""

    model_config = INBOUND

    cells: list[CellName] = Field(
        default_factory=lambda: ["rnn_tanh", "lstm"],
        min_length=1,
        max_length=3,
        json_schema_extra={"uniqueItems": True},
    )
    hidden_size: Int = Field(32, ge=1, le=4096)
    num_layers: Int = Field(1, ge=1, le=8)
    bidirectional: bool = False
    seq_len: Int = Field(60, ge=2, le=100_000)
    seed: Int = Field(0, ge=0, le=SEED_MAX)
    init: Literal["torch", "xavier", "orthogonal", "identity"] = "torch"
    spectral_radius: float | None = Field(None, ge=0.0, le=10.0)
    clamp: Clamp = Field(default_factory=dict)
    task: Literal["text", "sequence", "sine", "adding", "copy", "delayed_recall"] = "adding"
    text: str = Field("hello world", min_length=2, max_length=100_001)
    values: list[float] = Field(
        default_factory=lambda: [0.0, 1.0, 0.0, -1.0, 0.0],
        min_length=2,
        max_length=100_001,
        json_schema_extra={"items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}},
    )
    # the sequence task's numbers per step: ``values`` is read row by row (your CSV's columns)
    columns: Int = Field(1, ge=1, le=MAX_COLUMNS)
    period: float = Field(20.0, ge=2.0, le=1000.0)
    noise: float = Field(0.0, ge=0.0, le=1.0)
    adding_form: Literal["le", "hochreiter"] = "le"
    copy_len: Int = Field(5, ge=1, le=20)
    loss: Literal["last", "sum", "task"] = "last"
    device: Literal["cpu", "cuda", "auto"] = Field(default_factory=lambda: get_settings().device)
    # ||dh_T/dh_t||: "auto" computes it when T * H^2 <= models.limits.JACOBIAN_AUTO_ELEMENTS
    jacobian: Literal["auto", "on", "off"] = "auto"
    # your own trained model: the digest POST /api/weights answered; its cell and sizes must be the run's
    weights: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("cells")
    @classmethod
    def _unique_cells(cls, cells: list[str]) -> list[str]:
        if len(set(cells)) != len(cells):
            raise ValueError(f"cells: each cell at most once, got {cells}")
        return cells

    @field_validator("hidden_size", "num_layers", "seq_len")
    @classmethod
    def _within_settings(cls, value: int, info) -> int:
        lo, hi = settings_limits(get_settings())[info.field_name]
        if not lo <= value <= hi:
            raise _range_error(info.field_name, value, lo, hi)
        return value

    @field_validator("text", "values")
    @classmethod
    def _sequence_length(cls, value, info):
        lo, hi = settings_limits(get_settings())[info.field_name]
        if not lo <= len(value) <= hi:
            allowed = _length_range(info.field_name, lo, hi)
            raise ValueError(f"{info.field_name}: length {len(value)} is outside {allowed}")
        return value

    @field_validator("values")
    @classmethod
    def _fits_float32(cls, values: list[float]) -> list[float]:
        for i, v in enumerate(values):
            if abs(v) > FLOAT32_MAX:
                raise ValueError(
                    f"values: values[{i}] = {v:g} is outside the allowed range -3.4028235e38 .. "
                    "3.4028235e38 (the largest float32; the engine computes in float32)"
                )
        return values

    def clamp_for(self, cell: str) -> dict[str, float]:
        """The clamps that apply to ``cell``: those of its own gates."""
        return {g: v for g, v in self.clamp.items() if g in CLAMPABLE[cell]}

    def solver_for(self, cell: str) -> dict[str, float]:
        """How ``cell`` computes (a continuous-time cell's timespan, ode_unfolds): the values this run
        sets, the cell's defaults for the rest; {} for a cell with no solver options."""
        given = {k.name: getattr(self, k.name) for k in CELL_SPECS[cell].knobs if k.solver}
        return models.limits.check_solver(cell, {k: v for k, v in given.items() if v is not None})

    @property
    def steps(self) -> int:
        """T, the number of input steps: text and sequence tasks take one less than their length."""
        if self.task == "text":
            return len(self.text) - 1
        if self.task == "sequence":
            return len(self.values) // self.columns - 1
        return self.seq_len

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @model_validator(mode="after")
    def _fits(self) -> RunConfig:
        settings = get_settings()
        if self.task == "copy" and self.seq_len < 2 * self.copy_len + 1:
            _raise(
                "seq_len",
                self.seq_len,
                f"seq_len: the copy task needs seq_len >= 2 * copy_len + 1 = "
                f"{2 * self.copy_len + 1}, got {self.seq_len}",
            )
        if self.task == "sequence":
            rows, hi = len(self.values) / self.columns, settings.max_seq_len + 1
            if rows != int(rows):
                _raise(
                    "values",
                    len(self.values),
                    f"values: {len(self.values)} numbers do not fill rows of columns = {self.columns}",
                )
            if not 2 <= rows <= hi:
                _raise(
                    "values",
                    len(self.values),
                    f"values: {int(rows)} rows is outside the allowed range 2 .. {hi}",
                )
        T = self.steps
        size = T * self.hidden_size * self.num_layers * self.num_directions
        if size > settings.max_run_elements:
            where = {"text": "len(text) - 1", "sequence": "rows - 1"}.get(self.task, "seq_len")
            _raise(
                "seq_len",
                T,
                f"seq_len: the run is too large: {where} * hidden_size * num_layers * directions"
                f" = {T} * {self.hidden_size} * {self.num_layers} * {self.num_directions} = {size}, "
                f"allowed at most {settings.max_run_elements}",
            )
        return self


def _raise(field: str, value: Any, message: str) -> None:
    error = PydanticCustomError("value_error", "{message}", {"message": message})
    raise ValidationError.from_exception_data(
        "RunConfig", [InitErrorDetails(type=error, loc=(field,), input=value)]
    )


def settings_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    """Every numeric field's allowed range (min, max), with the settings applied."""
    return {
        "cells": (1, 3),
        "hidden_size": (1, settings.max_hidden_size),
        "num_layers": (1, settings.max_layers),
        "seq_len": (2, settings.max_seq_len),
        "seed": (0, SEED_MAX),
        "spectral_radius": (0.0, 10.0),
        **{name: (k.low, k.high) for name, k in KNOBS.items()},
        "text": (2, settings.max_seq_len + 1),
        "values": (2, (settings.max_seq_len + 1) * MAX_COLUMNS),  # and 2 .. max_seq_len + 1 rows
        "columns": (1, MAX_COLUMNS),
        "period": (2.0, 1000.0),
        "noise": (0.0, 1.0),
        "copy_len": (1, 20),
        "rate": (0.5, settings.max_play_rate),
        # training (TrainSettings, SweepSettings, train_set)
        "lr": (1e-7, 10.0),
        "clip": (1e-4, 1e4),
        "train.lr": (1e-7, 10.0),
        "train.momentum": (0.0, 0.999),
        "train.batch_size": (1, settings.max_train_batch),
        "train.clip": (1e-4, 1e4),
        "train.steps": (1, settings.max_train_steps),
        "train.probe_every": (1, 1000),
        "sweep.lengths": (1, SWEEP_LENGTHS_MAX),
        "sweep.steps": (1, settings.max_train_steps),
    } | {f"clamp.{g}": lim for gates in CLAMPABLE.values() for g, lim in gates.items()}


_NUMBER_BOUNDS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
_LENGTH_BOUNDS = {"too_short", "too_long", "string_too_short", "string_too_long"}
_BOUND_ERRORS = _NUMBER_BOUNDS | _LENGTH_BOUNDS | {"finite_number"}  # pydantic's errors past a bound
MAX_NESTING = 32  # deeper JSON is no message of ours (RunConfig's deepest field, clamp.f, is 3 down)
_ECHO_CHARS = 200  # an echoed string or bytes input is cut to this many characters


def nesting(value: Any, limit: int = MAX_NESTING) -> int:
    """How deep lists and dicts nest in ``value`` (a scalar is 0), counted without recursion and
    only up to ``limit + 1``: a 1000-deep ``[[[...]]]`` costs no stack."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        todo.extend((child, depth + 1) for child in children)
    return deepest


def wire_float(value: float) -> float | str:
    """A float as the wire writes it: finite as a number, NaN / inf / -inf as "NaN" / "Infinity" /
    "-Infinity" (JSON has no literal for them)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def wire_input(value: Any, depth: int = 0) -> Any:
    """An error's ``input`` made safe to echo as JSON: non-finite floats as "NaN" / "Infinity" /
    "-Infinity" (the wire's convention), lone surrogates escaped, bytes decoded and cut, nesting past
    MAX_NESTING dropped (null)."""
    if isinstance(value, float):
        return wire_float(value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value[: _ECHO_CHARS * 4]).decode("utf-8", "replace")[:_ECHO_CHARS]
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if value is None or isinstance(value, (bool, int)):
        return value
    if depth >= MAX_NESTING:
        return None
    if isinstance(value, dict):
        return {wire_input(str(k), depth + 1): wire_input(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_input(v, depth + 1) for v in value]
    return wire_input(str(value), depth + 1)


def _length_range(field: str, lo: float, hi: float) -> str:
    """values holds rows of ``columns`` numbers: its bound is said in rows, then in numbers."""
    if field == "values":
        rows = _num(hi // MAX_COLUMNS)
        return f"the allowed range {_num(lo)} .. {rows} rows of `columns` numbers (up to {_num(hi)})"
    return f"the allowed range {_num(lo)} .. {_num(hi)}"


def _bound_message(field: str, err: dict, lo: float, hi: float) -> str | None:
    """The message of an error past a bound, with only the range the settings allow (pydantic's own
    would name the hard bound, e.g. "less than or equal to 4096", next to an allowed 1 .. 128)."""
    kind, value = err.get("type"), err.get("input")
    allowed = f"the allowed range {_num(lo)} .. {_num(hi)}"
    if kind in _NUMBER_BOUNDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{field}: {_num(value)} is outside {allowed}"
    if kind in _LENGTH_BOUNDS and hasattr(value, "__len__"):
        return f"{field}: length {len(value)} is outside {_length_range(field, lo, hi)}"
    if kind == "finite_number":
        return f"{field}: must be a finite number in {allowed}"
    return None


def describe_errors(errors: list[dict], strip: int = 0) -> list[dict]:
    """Pydantic errors with ``field`` (dotted, list indices dropped) and a message that names the field
    and, for a bound, the allowed range; ``input`` safe to send as JSON (wire_input). ``strip`` leading
    loc parts (e.g. "body") are not the field. The highway's and the attention's form fields (layers, width,
    carry_bias, gain; length, heads, focus) are named nowhere else; their seed has the run's range."""
    limits = models.limits.HIGHWAY_LIMITS | models.limits.ATTENTION_LIMITS | settings_limits(get_settings())
    out = []
    for err in errors:
        loc = tuple(err.get("loc", ()))[strip:]
        field = ".".join(str(p) for p in loc if not isinstance(p, int)) or None
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if field and not msg.startswith(f"{field}:"):
            msg = f"{field}: {msg}"
        if field in limits and err.get("type") in _BOUND_ERRORS:
            lo, hi = limits[field]
            msg = _bound_message(field, err, lo, hi) or f"{msg} (allowed: {_num(lo)} .. {_num(hi)})"
        out.append(
            {
                "type": err.get("type"),
                "loc": [wire_input(p) for p in err.get("loc", ())],
                "msg": wire_input(msg),
                "field": wire_input(field),
                "input": wire_input(err.get("input")),
            }
        )
    return out


# -- WebSocket: client -> server -------------------------------------------------------------------
class _Message(BaseModel):
    model_config = INBOUND


class Configure(_Message):
    type: Literal["configure"]
    config: RunConfig


class Step(_Message):
    type: Literal["step"]
    delta: Int = Field(1, ge=-100_000, le=100_000)


class Seek(_Message):
    type: Literal["seek"]
    t: Int = Field(0, ge=0, le=100_000)


class Play(_Message):
    type: Literal["play"]
    rate: float = Field(10.0, ge=0.5, le=1000.0)
    direction: Literal[1, -1] = 1

    @field_validator("rate")
    @classmethod
    def _max_rate(cls, rate: float) -> float:
        hi = get_settings().max_play_rate
        if rate > hi:
            raise _range_error("rate", rate, 0.5, hi)
        return rate


class Pause(_Message):
    type: Literal["pause"]


class Reset(_Message):
    type: Literal["reset"]


# -- the side panels' settings (the highway's, the attention's): their requests, links and rooms ----
HIGHWAY_LIMITS = models.limits.HIGHWAY_LIMITS
HighwayActivation = Literal[models.limits.HIGHWAY_ACTIVATIONS]  # type: ignore[valid-type]
Dtype = Literal[models.limits.DTYPES]  # type: ignore[valid-type]


def _highway_field(name: str, default: float, what: str) -> Any:
    lo, hi = HIGHWAY_LIMITS[name]
    return Field(default, ge=lo, le=hi, description=what)


class HighwayConfig(BaseModel):
    """A highway stack over depth beside a plain stack of the same width and H weights (models/highway.py):
    y_l = H(y_(l-1))·T(y_(l-1)) + y_(l-1)·(1 − T(y_(l-1))) against y_l = H(y_(l-1))."""

    model_config = INBOUND

    layers: Int = _highway_field("layers", 30, "layers in each stack")
    width: Int = _highway_field("width", 32, "units per layer, the input's size too")
    carry_bias: float = _highway_field("carry_bias", -3.0, "every transform gate's bias b_T at init")
    gain: float = _highway_field("gain", 1.0, "H's weights are torch.nn.Linear's U(-k, k) times this")
    activation: HighwayActivation = "tanh"
    seed: Int = _highway_field("seed", 0, "draws the weights and, from seed + 1, the input")
    dtype: Dtype = "float32"


ATTENTION_LIMITS = models.limits.ATTENTION_LIMITS
AttentionPositions = Literal[models.limits.ATTENTION_POSITIONS]  # type: ignore[valid-type]


def _attention_field(name: str, default: float, what: str) -> Any:
    lo, hi = ATTENTION_LIMITS[name]
    return Field(default, ge=lo, le=hi, description=what)


class AttentionConfig(BaseModel):
    """One layer of causal self-attention (models/attention.py) and a recurrent cell of the same width on
    the same input x and the same loss r · y_(T−1): ||dL/dx_t|| of both against the lag."""

    model_config = INBOUND

    length: Int = _attention_field("length", 120, "steps in the sequence, T")
    width: Int = _attention_field("width", 32, "the input's size, the attention's width and the cell's H")
    heads: Int = _attention_field("heads", 2, "attention heads; they must divide the width")
    positions: AttentionPositions = "sinusoidal"
    residual: bool = True
    layer_norm: bool = True
    focus: float = _attention_field("focus", 1.0, "W_q is its draw times this: sharper (> 1) or flatter rows")
    compare: CellName = "rnn_tanh"
    seed: Int = _attention_field("seed", 0, "draws both models' weights and, from seed + 1, x and r")
    dtype: Dtype = "float32"


# -- classroom rooms (app/rooms.py; docs/protocol.md, Rooms) ------------------------------------------
VIEW_FIELDS = ("h", "c", "gates", "grad_h", "grad_c")


class RoomView(BaseModel):
    """What the teacher's page shows besides the run and the cursor; each field optional (only those
    the teacher's client knows). Followers' pages apply it as it is."""

    model_config = ConfigDict(**INBOUND, populate_by_name=True)
    sel: Int | None = Field(None, ge=0, le=16, description="the selected cell")
    layer: Int | None = Field(None, ge=-1, le=8, description="-1: the top layer")
    dir: Literal[0, 1] | None = None
    unit: Int | None = Field(None, ge=-1, le=4096, description="-1: the mean over units")
    pass_: Literal["forward", "backward"] | None = Field(None, alias="pass")
    fields: list[Literal["h", "c", "gates", "grad_h", "grad_c"]] | None = Field(None, max_length=5)
    scale: Literal["shared", "local"] | None = None
    gscale: Literal["log", "linear"] | None = None
    hide: list[Annotated[str, Field(pattern="^[a-z]{1,32}$")]] | None = Field(None, max_length=16)
    mode: Literal["explore", "train"] | None = None
    preset: Annotated[str, Field(pattern="^[a-z0-9-]{0,64}$")] | None = None  # the lesson shown, "" none
    large: bool | None = None
    highway: HighwayConfig | None = None  # the highway panel's settings
    attention: AttentionConfig | None = None  # the attention panel's settings


class RoomViewMessage(_Message):
    """The teacher's cursor and view: every follower gets it as a ``room`` message."""

    type: Literal["room_view"]
    t: Int = Field(0, ge=0, le=100_000)
    playing: bool = False
    direction: Literal[1, -1] = 1
    rate: float = Field(10.0, ge=0.5, le=1000.0)
    view: RoomView = Field(default_factory=RoomView)


class RoomEnd(_Message):
    type: Literal["room_end"]


class RoomDetach(_Message):
    """A student explores alone: room states stop coming, the session's own controls work."""

    type: Literal["room_detach"]


class RoomFollow(_Message):
    """A student follows the teacher again: the room's current run and state come at once."""

    type: Literal["room_follow"]


# -- training (app/training.py) ---------------------------------------------------------------------
OPTIMIZERS = ("adam", "sgd")
SWEEP_LENGTHS_MAX = 8


def _within(field: str, value: int, hi: int) -> int:
    if value > hi:
        raise _range_error(field, value, 1, hi)
    return value


def _budget(value: int) -> int:
    return _within("steps", value, get_settings().max_train_steps)


def _batch(value: int) -> int:
    return _within("batch_size", value, get_settings().max_train_batch)


# Training settings' types, shared by TrainSettings, SweepSettings and train_set (bounds: models.limits)
LearningRate = Annotated[float, Field(ge=1e-7, le=10.0)]
ClipNorm = Annotated[float, Field(ge=1e-4, le=1e4)]  # the global gradient norm's cap
Budget = Annotated[Int, Field(ge=1), AfterValidator(_budget)]  # steps, at most GATEFLOW_MAX_TRAIN_STEPS


class TrainSettings(BaseModel):
    """How the cells of a RunConfig learn (models.Trainer): every cell on the same batches from the
    config's seed, the task's own loss, a fresh batch each step and a fixed held-out batch."""

    model_config = INBOUND

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: LearningRate = 1e-2
    momentum: float = Field(0.9, ge=0.0, le=0.999)  # SGD's
    batch_size: Annotated[Int, Field(ge=1), AfterValidator(_batch)] = 64  # at most GATEFLOW_MAX_TRAIN_BATCH
    clip: ClipNorm | None = 1.0  # null: off
    steps: Budget = 1000  # the budget: training pauses when it is reached
    probe_every: Int = Field(10, ge=1, le=1000)  # a gradient-flow record every so many steps


class SweepSettings(BaseModel):
    """A length sweep: each cell trains ``steps`` steps at each T of ``lengths`` (from the same start)."""

    model_config = INBOUND

    lengths: list[Int] = Field(
        default_factory=lambda: [10, 25, 50, 100], min_length=1, max_length=SWEEP_LENGTHS_MAX
    )
    steps: Budget = 300

    @field_validator("lengths")
    @classmethod
    def _lengths(cls, lengths: list[int]) -> list[int]:
        hi = get_settings().max_seq_len
        for i, T in enumerate(lengths):
            if not 2 <= T <= hi:
                raise ValueError(f"lengths: lengths[{i}] = {T} is outside the allowed range 2 .. {hi}")
        return sorted(set(lengths))


class TrainStart(_Message):
    """A new training of the config's cells (the previous one of this session is dropped)."""

    type: Literal["train_start"]
    config: RunConfig
    train: TrainSettings = Field(default_factory=TrainSettings)
    now: Int | None = Field(None, ge=1, le=200_000)  # steps to take now, then pause; null: to the budget


class TrainPause(_Message):
    type: Literal["train_pause"]


class TrainResume(_Message):
    type: Literal["train_resume"]


class TrainStep(_Message):
    type: Literal["train_step"]
    steps: Int = Field(1, ge=1, le=1000)


class TrainReset(_Message):
    type: Literal["train_reset"]


class TrainSet(_Message):
    """Changed live, from the next step on: only the fields sent (``"clip": null`` turns clipping off)."""

    type: Literal["train_set"]
    lr: LearningRate | None = None
    clip: ClipNorm | None = None
    steps: Budget | None = None  # the budget


class TrainOpen(_Message):
    """Show the weights of the checkpoint at ``step`` (or the last one before it) in every view."""

    type: Literal["train_open"]
    step: Int = Field(ge=0, le=200_000)


class SweepStart(_Message):
    type: Literal["sweep_start"]
    config: RunConfig
    train: TrainSettings = Field(default_factory=TrainSettings)
    sweep: SweepSettings = Field(default_factory=SweepSettings)


ClientMessage = Annotated[
    Configure
    | Step
    | Seek
    | Play
    | Pause
    | Reset
    | RoomViewMessage
    | RoomEnd
    | RoomDetach
    | RoomFollow
    | TrainStart
    | TrainPause
    | TrainResume
    | TrainStep
    | TrainReset
    | TrainSet
    | TrainOpen
    | SweepStart,
    Field(discriminator="type"),
]
CLIENT_MESSAGE = TypeAdapter(ClientMessage)
CLIENT_TYPES = (
    "configure",
    "step",
    "seek",
    "play",
    "pause",
    "reset",
    "room_view",
    "room_end",
    "room_detach",
    "room_follow",
    "train_start",
    "train_pause",
    "train_resume",
    "train_step",
    "train_reset",
    "train_set",
    "train_open",
    "sweep_start",
)


# -- WebSocket: server -> client -------------------------------------------------------------------
class Progress(BaseModel):
    type: Literal["progress"] = "progress"
    stage: Literal["computing"] = "computing"
    fraction: float = Field(0.0, ge=0.0, le=1.0)


class State(BaseModel):
    type: Literal["state"] = "state"
    t: int
    playing: bool
    rate: float
    direction: Literal[1, -1]


ErrorCode = Literal[
    "invalid_config",
    "bad_json",
    "unknown_type",
    "invalid_message",
    "too_large",
    "not_configured",
    "not_training",  # a training message with no training in this session
    "busy",  # the server's trainings are all taken (GATEFLOW_MAX_TRAININGS)
    "rate_limited",  # too many computations asked for (GATEFLOW_COMPUTE_RATE, GATEFLOW_COMPUTE_BURST)
    "unknown_room",  # /ws?room=: no such room open (the socket is closed, code 4404)
    "wrong_token",  # /ws?room=&token=: not the teacher's token (closed, 4403)
    "room_full",  # the room has GATEFLOW_MAX_ROOM_STUDENTS students (closed, 4429)
    "room_follower",  # a control message from a student who follows the teacher: room_detach first
    "not_teacher",  # room_view / room_end from a student
    "not_in_room",  # a room message on a socket that is in no room
    "internal",
]


class Error(BaseModel):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    field: str | None = None


class RoomState(BaseModel):
    """To every follower, on joining and whenever the teacher's cursor, run or view changes (the run
    itself comes as ``ready`` and the bulk block first, when it is new to the follower)."""

    type: Literal["room"] = "room"
    room: str
    seq: int  # grows with every change of the room
    t: int
    run_id: str | None  # the run ``t`` is a step of; null until the teacher's first run
    playing: bool
    direction: Literal[1, -1]
    rate: float
    view: RoomView


class RoomStatus(BaseModel):
    """On joining (and to the teacher whenever the number of students changes)."""

    type: Literal["room_status"] = "room_status"
    room: str
    role: Literal["teacher", "student"]
    following: bool  # a student: following the teacher (false once detached); the teacher: true
    followers: int  # students in the room, on every worker
    join_url: str


class RoomEnded(BaseModel):
    """The room is over (the teacher ended it, or it was idle too long); the socket stays open, alone."""

    type: Literal["room_end"] = "room_end"
    room: str
    reason: str


class Decay(BaseModel):
    """How a norm changes going back in time (models/decay.py): a fit of log10(norm) on the step.

    direction "zero": exactly 0 at every step but at most one, nothing flows back. factor: the fitted
    norm at the earliest fitted step over the latest (1e-8 vanishing, > 1 growing); span: steps fitted.
    """

    steps_per_decade: float | None
    direction: Literal["decays", "grows", "flat", "zero"]
    span: int
    factor: float | None
    text: str
    explanation: str | None = None


class InputInfo(BaseModel):
    task: str
    labels: list[str]
    target_labels: list[str]
    input_size: int


class Curves(BaseModel):
    """Per-step norms, (L*dirs, T) each; null where the cell does not have it."""

    grad_h_norm: list[list[WireFloat]]
    grad_c_norm: list[list[WireFloat]] | None = None
    jacobian_norm: list[list[WireFloat]] | None = None
    jacobian_norm_c: list[list[WireFloat]] | None = None


class CellDecay(BaseModel):
    """The top layer's forward direction (kept for older pages; ``decays`` has every layer)."""

    grad_h: Decay
    jacobian: Decay | None


class LayerDecay(BaseModel):
    """One layer-direction's fits, in the order of the curves' first axis (torch's h_n order)."""

    grad_h: Decay
    grad_c: Decay | None = None
    jacobian: Decay | None = None
    jacobian_c: Decay | None = None


class JacobianInfo(BaseModel):
    """Whether ||dh_T/dh_t|| was computed for this run, and if not, why, in words."""

    mode: Literal["auto", "on", "off"]
    computed: bool
    reason: str | None = None


class RunNote(BaseModel):
    """A setting that changes nothing, or that the user must know about; ``field`` is RunConfig's."""

    field: str | None = None
    text: str


class InputGradient(BaseModel):
    """||dL/dx_t|| for every input position t (batch element 0, every direction's path summed, float64
    on the wire), the one curve every architecture has: how much the answer can still learn from the
    input t steps back, and its fitted decay going back from the last step."""

    norm: list[WireFloat]  # (T,)
    decay: Decay


class ReadyCell(BaseModel):
    cell: CellName
    gates: list[str]
    has_cell_state: bool
    loss: WireFloat
    curves: Curves
    input_grad: InputGradient
    decay: CellDecay
    decays: list[LayerDecay]  # one per layer-direction, (L*dirs,)
    notes: list[str]
    nonfinite: dict[str, bool]


class FrameEntry(BaseModel):
    cell: int | None
    field: str
    count: int


class BulkEntry(BaseModel):
    cell: int
    field: str
    shape: list[int]


class Trained(BaseModel):
    """A run that shows trained weights: the checkpoint of each cell (train_open)."""

    train_id: int
    step: int  # the step asked for
    steps: dict[str, int]  # cell -> the step of the checkpoint shown (the last one at or before ``step``)


class Ready(BaseModel):
    type: Literal["ready"] = "ready"
    run_id: str
    config: RunConfig
    T: int
    hidden_size: int
    num_layers: int
    num_directions: int
    compute_ms: float
    input: InputInfo
    cells: list[ReadyCell]
    jacobian: JacobianInfo
    notes: list[RunNote]
    frame_layout: list[FrameEntry]
    bulk_layout: list[BulkEntry]
    trained: Trained | None = None  # null: the untrained nets of ``config``


class TrainTask(BaseModel):
    name: str
    T: int
    loss_name: str  # "MSE" or "cross-entropy (nats)"
    baseline: float  # the no-memory loss (models.streams)
    baseline_text: str  # where it comes from, in words, for the plot's label


class TrainProbe(BaseModel):
    """models.ProbeRecord on the wire: axis 0 of every list is the layer-direction (h_n order)."""

    step: int
    loss: WireFloat
    val_loss: WireFloat
    grad_h_norm: list[list[WireFloat]]  # (L*dirs, T): ||dL/dh_t|| on the probe sequence
    grad_c_norm: list[list[WireFloat]] | None
    gate_mean: dict[str, list[WireFloat]]
    saturated: dict[str, list[WireFloat]]  # sigmoid gate -> fraction of (t, unit) below 0.1 or above 0.9
    spectral_radius: dict[str, list[WireFloat]]
    nonfinite: bool


class TrainCell(BaseModel):
    """What is new for one cell since the previous message: parallel per-step lists, then probes."""

    cell: CellName
    status: Literal["training", "diverged"]
    steps: list[int]
    loss: list[WireFloat]  # the training batch's loss at each step
    grad_norm: list[WireFloat]  # global gradient norm before clipping
    clipped: list[bool]
    lr: list[float]  # the learning rate each step used (train_set changes it live)
    val_steps: list[int]
    val_loss: list[WireFloat]
    probes: list[TrainProbe]


class TrainUpdate(BaseModel):
    type: Literal["train"] = "train"
    id: int  # this session's training number: a new one starts with reset true
    status: Literal["running", "paused", "done", "diverged", "reset"]
    reset: bool  # drop what was shown before: a new training (or none, status "reset")
    step: int  # steps done
    budget: int
    seconds: float  # wall time spent training
    steps_per_second: float | None
    config: RunConfig | None
    settings: TrainSettings | None
    task: TrainTask | None
    cells: list[TrainCell]
    checkpoints: list[int]  # steps with weights kept, for train_open
    message: str | None = None


class SweepPoint(BaseModel):
    cell: CellName
    T: int
    val_loss: WireFloat  # held-out loss after the sweep's steps
    baseline: float
    steps: int
    seconds: float


class SweepUpdate(BaseModel):
    type: Literal["sweep"] = "sweep"
    id: int
    status: Literal["running", "done", "stopped"]
    config: RunConfig
    settings: TrainSettings
    sweep: SweepSettings
    points: list[SweepPoint]  # every run finished so far
    current: dict[str, Any] | None  # {"cell", "T", "step"} of the run in progress
    message: str | None = None


# -- REST ------------------------------------------------------------------------------------------
class ErrorItem(BaseModel):
    """One error of a 4xx answer: pydantic's fields, plus ``field`` (dotted) that the message names."""

    type: str
    loc: list[str | int]
    msg: str
    field: str | None = None
    input: Any = None


class HTTPError(BaseModel):
    detail: list[ErrorItem]


def http_error(kind: str, msg: str, loc: list[str], field: str | None = None, value: Any = None) -> dict:
    """The body of every REST error the app itself writes (HTTPError): one item, ``input`` made safe."""
    item = {"type": kind, "loc": loc, "msg": wire_input(msg), "field": field, "input": wire_input(value)}
    return {"detail": [item]}


# The errors a REST operation may answer with besides its own (openapi_spec lists them in the spec):
# every operation can meet the Host check; one with parameters, validation; one with a body (POST
# /api/trace, which computes) the body limits, the rate limit and the memory budget too.
ERROR_RESPONSES: dict[int, str] = {
    400: "The Host header names no address of this server (GATEFLOW_ALLOWED_HOSTS)",
    413: "The body is larger than GATEFLOW_MAX_BODY_BYTES; it was not read",
    415: "The body is not JSON (Content-Type: application/json)",
    422: "A field is invalid: the message names it and the allowed range",
    429: "Too many computations from this address; Retry-After says when to try again",
    503: "The server's memory budget for runs is spent; Retry-After says when to try again",
}


def openapi_spec(spec: dict, settings: Settings, devices: tuple[str, ...]) -> dict:
    """FastAPI's spec made true for this server: RunConfig's bounds are the settings' (not the model's
    hard bounds), ``device`` offers only what the machine has, and every operation lists the errors it
    can answer with."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    props = schemas.get("RunConfig", {}).get("properties", {})
    for name, (lo, hi) in settings_limits(settings).items():
        prop = props.get(name)
        if prop is None or prop.get("type") not in ("integer", "number", "string", "array"):
            continue
        kind = {"string": "Length", "array": "Items"}.get(prop["type"])
        prop[f"min{kind}" if kind else "minimum"] = lo
        prop[f"max{kind}" if kind else "maximum"] = hi
    if "device" in props:
        props["device"] = {"type": "string", "enum": list(devices), "default": settings.device}
    error = HTTPError.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in error.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas["HTTPError"] = error
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            codes = [400]
            if operation.get("parameters") or "requestBody" in operation:
                codes.append(422)
            if "requestBody" in operation:
                codes += [413, 415, 429, 503]
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses[str(code)] = {"description": ERROR_RESPONSES[code], "content": content}
    return spec


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    device: str


class CreatedRoom(BaseModel):
    """POST /api/rooms: the room's code, the teacher's token (kept only in the teacher's link), the
    link students open."""

    room: str
    teacher_token: str
    join_url: str


class RoomInfo(BaseModel):
    """GET /api/rooms/{code}: an open room."""

    room: str
    followers: int
    join_url: str
    qr_url: str  # an SVG QR code of join_url


class UploadedReadout(BaseModel):
    names: list[str]  # the file's linear layer read as the readout: [weight, bias]
    outputs: int


class UploadedWeights(BaseModel):
    """POST /api/weights: the model read from the file. ``weights`` goes into RunConfig.weights, with
    cells = [cell] and the sizes below; ``tasks`` are the built-in tasks whose input size fits."""

    weights: str
    filename: str
    cell: CellName
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    dtype: str
    prefix: str  # the recurrent module's name in the file ("" for a bare state dict)
    readout: UploadedReadout | None
    ignored: list[str]  # tensors in the file that are neither the net nor its readout (first 20)
    tasks: list[str]


class DataTable(BaseModel):
    """POST /api/data: your table as the sequence task's ``values`` (row-major) and ``columns``."""

    values: list[float]
    columns: int
    rows: int
    names: list[str] | None  # the header's column names, when the first row is one


class Share(BaseModel):
    """GET /api/share: the addresses other machines on the network can open."""

    host: str  # what the server is bound to (GATEFLOW_HOST)
    port: int
    urls: list[str]
    reachable: bool  # false when bound to loopback only
    hint: str


class GateInfo(BaseModel):
    name: str
    label: str  # "forget gate f"
    color: str
    activation: Literal["sigmoid", "tanh", "none"]
    clamp: tuple[float, float] | None  # the values a clamp may hold it at; null: it cannot be clamped


class CellInfo(BaseModel):
    """A cell of the registry (models/cells), as the settings form and the views need it."""

    name: CellName
    label: str  # "RNN (tanh)"
    title: str  # its name in sentences, "tanh RNN"
    color: str
    gates: list[str]  # in torch's chunk order
    gate_info: list[GateInfo]
    clampable: dict[str, tuple[float, float]]
    has_cell_state: bool
    knobs: list[str]  # the RunConfig init options it takes ("forget_bias")
    torch_module: str | None  # the torch.nn module it mirrors exactly, or null


def cell_infos() -> list[CellInfo]:
    return [
        CellInfo(
            name=name,
            label=c.label,
            title=c.title,
            color=c.color,
            gates=list(c.gate_names),
            gate_info=[
                GateInfo(
                    name=g.name, label=g.label, color=g.color, activation=g.activation, clamp=g.clamp_range
                )
                for g in c.gates
            ],
            clampable=c.clampable,
            has_cell_state=c.has_cell_state,
            knobs=[k.name for k in c.knobs],
            torch_module=c.torch_module,
        )
        for name, c in CELL_SPECS.items()
    ]


# -- the highway stack over depth ----------------------------------------------------------------------
HighwayStackName = Literal[models.highway.STACKS]  # type: ignore[valid-type]


class HighwayStack(BaseModel):
    """One stack's run on the input (batch item 0); layer l = 0 is the input x, l = L the top."""

    name: HighwayStackName
    y: list[list[WireFloat]]  # (L+1, W): y_0 = x, ..., y_L
    h: list[list[WireFloat]]  # (L, W): H_l(y_(l-1)), layer l's at l - 1
    gate: list[list[WireFloat]] | None  # (L, W): the transform gate T_l (the highway's); carry = 1 − T
    grad_norm: list[WireFloat]  # (L+1,): ||dL/dy_l||, float64 whatever the run's dtype; [0] is ||dL/dx||
    y_norm: list[WireFloat]  # (L+1,): ||y_l||
    loss: WireFloat  # the sum of y_L's entries
    decay: Decay  # ||dL/dy_l|| going down from the top, "10x smaller every k layers back"


class HighwayResponse(BaseModel):
    config: HighwayConfig
    stacks: list[HighwayStack]  # the highway, then the plain stack
    carry_mean: list[WireFloat]  # (L,): mean of 1 − T_l over units, per layer


class PanelTraining(BaseModel):
    """A side panel's "train both": Adam on both models, the global gradient norm clipped at 1, the same
    seeded batches; each panel's own defaults below."""

    model_config = INBOUND

    steps: Int = Field(300, ge=1, le=2000, description="training steps, each on a fresh batch")
    lr: float = Field(3e-3, ge=1e-5, le=1.0, description="Adam's learning rate, both models")


class HighwayTraining(PanelTraining):
    """How both stacks train before they are traced, on models.highway.Teacher's task (y* = tanh(A x))."""

    batch_size: Int = Field(64, ge=1, le=256, description="inputs per step")


class HighwayTrainRequest(BaseModel):
    model_config = INBOUND

    config: HighwayConfig = Field(default_factory=HighwayConfig)
    training: HighwayTraining = Field(default_factory=HighwayTraining)


class HighwayTrainingResult(BaseModel):
    """What the training did; the rest of HighwayTrained is both trained stacks on the config's input."""

    settings: HighwayTraining
    task: Literal["teacher"]
    baseline: float  # the held-out loss of guessing each output's mean: what learning nothing gets
    losses: list[WireFloat]  # the highway's training loss at each step, before the step
    val_loss: WireFloat  # the highway's held-out loss after training
    plain_losses: list[WireFloat]  # the plain stack's
    plain_val_loss: WireFloat
    seconds: float  # the request's training and tracing time


class HighwayTrained(HighwayResponse):
    training: HighwayTrainingResult


class HighwayLesson(BaseModel):
    """A ready-made highway setting and what it shows, in sentences a teacher can read aloud; every
    claim is checked on the runs it produces, for the seeds a class may pick (tests/app)."""

    name: str
    title: str
    description: str
    config: HighwayConfig
    training: HighwayTraining | None = None  # set: the lesson trains both stacks first


# -- causal self-attention beside a recurrent cell ---------------------------------------------------
class AttentionCompared(BaseModel):
    """The recurrent cell on the same x and loss: models.build(compare, width, width, seed) untrained."""

    cell: CellName
    grad_x_norm: list[WireFloat]  # (T,): ||dL/dx_t||, float64 whatever the run's dtype
    loss: WireFloat
    decay: Decay  # going back from the step before the last


class AttentionResponse(BaseModel):
    config: AttentionConfig
    weights: list[list[list[WireFloat]]]  # heads x T rows: row t is a_t0 .. a_tt (the rest is 0 by the mask)
    values: list[list[WireFloat]]  # (T, E): v_t, the heads' d units side by side
    attended: list[list[WireFloat]]  # (T, E): o_t = Σ_j a_tj v_j
    output: list[list[WireFloat]]  # (T, E): y_t after the residual and the layer norm where on
    grad_x_norm: list[WireFloat]  # (T,): ||dL/dx_t||, float64 whatever the run's dtype
    loss: WireFloat  # r · y_(T−1)
    decay: Decay  # ||dL/dx_t|| going back from the step before the last (the last has the direct path)
    compared: AttentionCompared


class AttentionTraining(PanelTraining):
    """How the attention and the compared cell train side by side on the adding problem (Le et al. 2015)
    before they are traced."""

    batch_size: Int = Field(32, ge=1, le=256, description="sequences per step")


class AttentionTrainRequest(BaseModel):
    model_config = INBOUND

    config: AttentionConfig = Field(default_factory=AttentionConfig)
    training: AttentionTraining = Field(default_factory=AttentionTraining)


class AttentionTrainingResult(BaseModel):
    """What the training did; the rest of AttentionTrained is both trained models on one held-out
    sequence of the task (its two marked steps in ``markers``), each with its own trained readout."""

    settings: AttentionTraining
    task: Literal["adding"]
    baseline: float  # the loss of guessing the mean sum, 1/6: what a model that remembers nothing gets
    losses: list[WireFloat]  # the attention's training loss at each step, before the step
    val_loss: WireFloat  # the attention's held-out loss after training
    compared_losses: list[WireFloat]  # the compared cell's
    compared_val_loss: WireFloat
    markers: list[int]  # the held-out sequence's marked steps
    target: float  # the sum of their numbers: the answer at the last step
    prediction: WireFloat  # the attention's answer
    compared_prediction: WireFloat  # the compared cell's
    seconds: float  # the request's training and tracing time


class AttentionTrained(AttentionResponse):
    training: AttentionTrainingResult


class AttentionLesson(BaseModel):
    """A ready-made attention setting and what it shows, in sentences a teacher can read aloud; every
    claim is checked on the runs it produces, for the seeds a class may pick (tests/app)."""

    name: str
    title: str
    description: str
    config: AttentionConfig
    training: AttentionTraining | None = None  # set: the lesson trains both models first


# -- the views' description ----------------------------------------------------------------------
VIEW_SPEC_FILE = Path(__file__).resolve().parents[1] / "static" / "js" / "views.json"


def _training_spec(model: type[BaseModel]) -> dict:
    """A side panel's training settings for its form: defaults and each field's range."""
    fields = model.model_json_schema()["properties"]
    limits = {name: {"min": f["minimum"], "max": f["maximum"]} for name, f in fields.items()}
    return {"defaults": model().model_dump(), "limits": limits}


def _view_spec() -> dict:
    """The views' description the page and gateflow.figures read (static/js/views.json: scales,
    plot titles, captions) with the registry's cells (as GET /api/cells gives them), gates and knobs
    added; the page gets it as /static/js/spec.json."""
    spec = json.loads(VIEW_SPEC_FILE.read_text(encoding="utf-8"))
    cells = cell_infos()
    spec["cells"] = {
        c.name: c.model_dump(mode="json", exclude={"name", "gate_info", "torch_module"}) for c in cells
    }
    spec["gates"] = {}
    for g in (g for c in cells for g in c.gate_info):
        entry = {
            "label": g.label,
            "color": g.color,
            "sigmoid": g.activation == "sigmoid",
            "activation": g.activation,
        }
        if spec["gates"].setdefault(g.name, entry) != entry:
            raise RuntimeError(f"gate {g.name}: two cells describe it differently")
    spec["knobs"] = {
        k.name: {"label": k.label, "min": k.low, "max": k.high, "integer": k.integer, "default": k.default}
        for k in KNOBS.values()
    }
    spec["highway"]["limits"] = {name: {"min": lo, "max": hi} for name, (lo, hi) in HIGHWAY_LIMITS.items()}
    spec["highway"]["activations"] = list(models.limits.HIGHWAY_ACTIVATIONS)
    spec["highway"]["defaults"] = HighwayConfig().model_dump()
    spec["highway"]["training"] = _training_spec(HighwayTraining)
    spec["attention"]["limits"] = {n: {"min": lo, "max": hi} for n, (lo, hi) in ATTENTION_LIMITS.items()}
    spec["attention"]["positions"] = list(models.limits.ATTENTION_POSITIONS)
    spec["attention"]["defaults"] = AttentionConfig().model_dump()
    spec["attention"]["training"] = _training_spec(AttentionTraining)
    return spec


VIEW_SPEC = _view_spec()
VIEW_SPEC_JSON = json.dumps(VIEW_SPEC, ensure_ascii=False, indent=1).encode()


class Limit(BaseModel):
    min: float
    max: float


class CellsResponse(BaseModel):
    cells: list[CellInfo]
    options: dict[str, list[str]]
    limits: dict[str, Limit]  # RunConfig's fields, "rate", and Train mode's ("train.lr", "lr", ...)
    defaults: RunConfig
    train_defaults: TrainSettings


class Preset(BaseModel):
    name: str
    title: str
    description: str
    config: RunConfig
    train: TrainSettings | None = None  # a training lesson: the page opens in Train mode with these
    sweep: SweepSettings | None = None  # a length-sweep lesson


Nested = list[list[list[WireFloat]]]  # (L*dirs, T, H)


class TraceCell(BaseModel):
    cell: CellName
    loss: WireFloat
    output: list[list[WireFloat]]  # (T, dirs*H)
    h: Nested
    c: Nested | None
    gates: dict[str, Nested]
    grad_h: Nested
    grad_c: Nested | None
    grad_h_norm: list[list[WireFloat]]  # (L*dirs, T)
    grad_c_norm: list[list[WireFloat]] | None
    jacobian_norm: list[list[WireFloat]] | None
    jacobian_norm_c: list[list[WireFloat]] | None
    grad_x: list[list[WireFloat]]  # (T, D): dL/dx_t
    input_grad: InputGradient
    decay: CellDecay
    decays: list[LayerDecay]
    notes: list[str]
    nonfinite: dict[str, bool]


class TraceInput(InputInfo):
    x: list[list[WireFloat]]  # (T, D)


class TraceResponse(BaseModel):
    config: RunConfig
    T: int
    input: TraceInput
    cells: list[TraceCell]
    jacobian: JacobianInfo
    notes: list[RunNote]
