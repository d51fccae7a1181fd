"""What a cell declares about itself: the one description every table in the project is built from.

A cell module (rnn.py, lstm.py, gru.py, ...) ends with ``SPECS = (CellSpec(...), ...)``; the registry in
``models.cells`` finds every module's SPECS, so a new cell is its module (plus its test and its
diagram and equations entries on the page) and nothing else. From the specs come the engine's limits
(models.limits), the wire schema's names and options (app.schemas), GET /api/cells, the page's cell
checkboxes, colours, gate names and clamp ranges, and gateflow.figures' names and colours.

This module is plain data (no torch), so the specs can be read without running anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTIVATIONS = ("sigmoid", "tanh", "none")
_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


@dataclass(frozen=True)
class Gate:
    """One gate as the views show it: a chunk of weight_ih / weight_hh (in torch's order), or with
    ``chunk=False`` a value the cell computes from its chunks (a continuous-time cell's time gate), shown
    like a gate but with no weights of its own, so it cannot be clamped or biased."""

    name: str
    label: str  # "forget gate f"
    color: str  # its identity colour on the page (Okabe-Ito)
    activation: str = "sigmoid"  # what squashes it: its values' range, and the bias that clamps it
    clampable: bool = True
    chunk: bool = True  # H rows of weight_ih / weight_hh / the biases; False: derived from the chunks

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"gate {self.name}: activation {self.activation!r} is not one of {ACTIVATIONS}")

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The range its activation squashes it into (sigmoid (0, 1), tanh (-1, 1)); None: unbounded."""
        return _RANGE.get(self.activation)

    @property
    def clamp_range(self) -> tuple[float, float] | None:
        """The values a clamp may hold it at (the activation's range); None: it cannot be clamped."""
        return self.value_range if self.clampable and self.chunk else None

    def bias_for(self, value: float) -> float:
        """The pre-activation whose activation is ``value``: the bias that clamps the gate there."""
        if self.activation == "tanh":
            return math.atanh(value) if abs(value) < 1 else math.copysign(math.inf, value)
        if value <= 0 or value >= 1:
            return math.inf if value >= 1 else -math.inf
        return math.log(value / (1 - value))


@dataclass(frozen=True)
class Knob:
    """An option of a cell: a number a run config and ``models.build`` take, bounded. An init option
    (the LSTM's forget-gate bias) sets weights when the net is drawn; a solver option (``solver=True``,
    a continuous-time cell's timespan) is how the cell computes, kept with the net (RecurrentNet.solver)
    and passed to its forward and torch step as a keyword."""

    name: str  # the RunConfig field and build() keyword, e.g. "forget_bias"
    label: str  # the settings form's label, "LSTM forget-gate bias"
    what: str  # in a sentence, "forget-gate bias"
    low: float
    high: float
    gate: str | None = None  # set every unit's bias of this gate (b_ih; b_hh zeroed) to the value
    solver: bool = False  # how the cell computes, not how it is drawn
    integer: bool = False
    default: float | None = None  # a solver option's value when none is given (ncps' own default)


# The continuous-time cells' time between two inputs (ncps' ``timespans``, here one for every step):
# one shared option, so a run with both cells sets both.
TIMESPAN = Knob(
    "timespan",
    "Timespan Δt between steps (CfC, LTC)",
    "timespan Δt between steps",
    0.01,
    100.0,
    solver=True,
    default=1.0,
)


@dataclass(frozen=True)
class CellSpec:
    """A recurrent cell: names, gates, state, its torch reference and the functions the engine runs.

    forward(x, h0, c0, w) -> Forward, reverse(fw, w, e, seed_h, seed_c, store, e_scale) -> Reverse and
    step_jacobian(fw, w) -> (T, B, H, H) are described in models/cells/base.py.
    """

    name: str  # the wire name, e.g. "lstm"
    label: str  # a legend's name, "RNN (tanh)"
    title: str  # a sentence's name, "tanh RNN"
    color: str  # its colour in every plot
    gates: tuple[Gate, ...]
    forward: Callable[..., Any]
    reverse: Callable[..., Any]
    step_jacobian: Callable[..., Any]
    has_cell_state: bool = False  # a second state c_t beside h_t (the LSTM's)
    torch_module: str | None = None  # torch.nn's class it mirrors exactly, e.g. "LSTM"
    torch_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {"nonlinearity": "relu"}
    # a cell with no torch.nn module: its step in plain torch, ``(x, state, w_ih, w_hh, b_ih, b_hh) ->
    # state`` with state (h,) or (h, c); models.unrolled.Unrolled runs it as a torch module (training,
    # RecurrentNet.to_torch)
    torch_step: Callable[..., Any] | None = None
    # read_module(module) -> {"input_size", "hidden_size", "num_layers", "bidirectional", "state"} with the
    # state in torch's names (and "solver", the solver options the module holds: an LTC's ode_unfolds),
    # for another package's module that computes this cell (ncps' CfC); None: not such a module.
    # models.from_torch asks it.
    read_module: Callable[..., Any] | None = None
    knobs: tuple[Knob, ...] = ()
    order: int = 100  # where it stands in lists (the checkboxes, the legend)
    # the exported script's step, plain torch: ``def <name>_step(x, state, w_ih, w_hh, b_ih, b_hh)``
    # returning the new state tuple ((h,) or (h, c)); None: the cell cannot be exported as a script
    script_step: str | None = None
    # the gate that decides how much of the past each step keeps (the LSTM's f, the GRU's z)
    memory_gate: str | None = None
    # Words for the page's notes, from the run's numbers (app/notes.py calls them):
    # the unit's slope where the step Jacobian is diag(slope) W_hh ("1 − h_t²")
    slope: str | None = None
    # untrained_note(mean of the memory gate, "all layers and steps") -> why an untrained cell forgets,
    # said when that gate is not clamped and its mean sits near sigma(0) = 0.5
    untrained_note: Callable[..., str] | None = None
    # untrained_when(mean of the memory gate) -> whether that note is said; None: when the mean sits
    # near sigma(0) = 0.5 (app/notes.py's HALF_OPEN), a gate that neither keeps nor forgets
    untrained_when: Callable[[float], bool] | None = None
    # growth_note(quantity, mean of the memory gate, its clamp or None, "1.1x per step back (...)")
    # -> why a curve grows going back
    growth_note: Callable[..., str] | None = None
    # zero_note(clamp) -> why a gradient is exactly 0 everywhere, when a clamp says so
    zero_note: Callable[..., str | None] | None = None
    # A cell whose weights are not one H-row chunk per gate (the LTC's synapse tables): how many H-row
    # chunks its weight_ih / weight_hh / biases hold; None: one per chunk gate
    chunks: int | None = None
    # init(input_size, hidden_size, gen) -> float64 LayerWeights: a cell whose parameters are not weight
    # matrices draws them itself (the LTC from ncps' ranges), whatever the run's init scheme and
    # spectral radius, which are about matrices it does not have; None: models.init's schemes
    init: Callable[..., Any] | None = None
    # the exported script's copy of it, plain torch: ``def <name>_init(inputs, hidden, gen)`` returning
    # [w_ih, w_hh, b_ih, b_hh] in float64, the same draws from gen
    script_init: str | None = None
    # constrain(w_ih, w_hh, b_ih, b_hh), in place, after every optimizer step: the parameters a cell
    # needs positive (the LTC's conductances and capacitance) clipped, as ncps does when training
    constrain: Callable[..., None] | None = None
    # What one training step costs on one CPU thread (models.Trainer, forward and backward), for the
    # bounds of a training in one request (models.attention.training_seconds): microseconds per time
    # step, plus nanoseconds per B * H^2 of each time step (B sequences, H units); measured on this
    # machine (bench/RESULTS.md, "Attention")
    train_cost: tuple[float, float] = (120.0, 0.5)

    def __post_init__(self) -> None:
        chunks = [g.chunk for g in self.gates]
        if chunks != sorted(chunks, reverse=True):
            raise ValueError(f"cell {self.name}: a derived gate (chunk=False) must come after every chunk")
        if self.chunks is not None and any(g.chunk for g in self.gates):
            raise ValueError(f"cell {self.name}: chunks is for cells whose gates are all derived")
        if self.torch_module is not None and self.torch_step is not None:
            raise ValueError(f"cell {self.name}: a torch_step is for cells with no torch.nn module")
        for knob in self.knobs:
            if knob.solver and (knob.gate is not None or knob.default is None):
                raise ValueError(f"cell {self.name}: solver option {knob.name} needs a default and no gate")
            if knob.gate is not None and not self.gate(knob.gate).chunk:
                raise ValueError(
                    f"cell {self.name}: knob {knob.name} sets the bias of derived gate {knob.gate}"
                )

    @property
    def gate_names(self) -> tuple[str, ...]:
        """Every gate the views show: the chunks in weight order, then the derived ones."""
        return tuple(g.name for g in self.gates)

    @property
    def solver_defaults(self) -> dict[str, float]:
        """Its solver options' values when a run gives none (ncps' defaults: timespan 1, 6 unfolds)."""
        return {k.name: k.default for k in self.knobs if k.solver}

    @property
    def n_gates(self) -> int:
        """Chunks of weight_ih / weight_hh (torch's gate count); derived gates have no rows."""
        return self.chunks if self.chunks is not None else sum(g.chunk for g in self.gates)

    @property
    def clampable(self) -> dict[str, tuple[float, float]]:
        return {g.name: g.clamp_range for g in self.gates if g.clamp_range is not None}

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)
