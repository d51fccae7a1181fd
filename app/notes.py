"""Sentences a teacher needs, made from a run's own numbers.

Why a curve grows or is exactly zero (``explain_decay``), what an untrained cell's gates are doing
(``cell_notes``), which settings change nothing (``run_notes``), and why the Jacobian was not
computed (``jacobian_info``). NumPy arrays and the RunConfig in, words out: app/engine.py calls these
and puts the words on the wire; the fit itself is models/decay.py.
"""

from __future__ import annotations

import math

import numpy as np

from . import models
from .schemas import CLAMPABLE, RunConfig

limits = models.limits
SPECS = models.cells.REGISTRY
DecayFit = models.decay.DecayFit

# An untrained gate "sits near 0.5" when its mean is within this of sigma(0) = 0.5.
HALF_OPEN = 0.15


def _g(x: float) -> str:
    """Two significant digits; powers of ten as 2e7 rather than 2e+07."""
    text = f"{x:.2g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


# -- the Jacobian ---------------------------------------------------------------------------------
def jacobian_info(config: RunConfig, T: int, computed: bool) -> dict:
    """{"mode", "computed", "reason"}: the reason in words when the Jacobian norms are missing."""
    mode, H = config.jacobian, config.hidden_size
    reason = None
    if not computed and mode == "off":
        reason = "Turned off in the settings (Jacobian: off)."
    elif not computed:
        size, limit = T * H * H, limits.JACOBIAN_AUTO_ELEMENTS
        reason = (
            f"Not computed automatically: T·H² = {T}·{H}² = {size / 1e6:.1f} million is above the "
            f"automatic limit of {limit / 1e6:.1f} million (the sweep would then take a second or more "
            "for each cell, layer and direction). "
            "Choose 'Compute' to compute it for this run."
        )
    return {"mode": mode, "computed": computed, "reason": reason}


# -- run-level notes ------------------------------------------------------------------------------
def run_notes(config: RunConfig, target_steps: np.ndarray) -> list[dict]:
    """Settings that change nothing here, or that the user must know about.

    target_steps: the input positions that have a target (the task's mask, batch element 0)."""
    notes: list[dict] = []
    T = config.steps
    last = int(target_steps[-1]) if len(target_steps) else T - 1
    if config.loss != "last" and len(target_steps) == 1:
        what = {"sum": "'every step'", "task": "the task's own loss (its mean over target steps)"}
        notes.append(
            {
                "field": "loss",
                "text": f"Only step t = {last} has a target in the {config.task} task, so "
                f"{what[config.loss]} gives exactly the same loss and gradients as 'last step'.",
            }
        )
    if config.bidirectional and (config.loss == "last" or len(target_steps) == 1) and last == T - 1:
        notes.append(
            {
                "field": "bidirectional",
                "text": "The loss reads the top layer's reverse direction only at t = T−1, its first "
                "step, so that direction's gradient is exactly 0 at every other step. A loss on every "
                "step, with a task that has a target at every step, lets it flow back.",
            }
        )
    cells = set(config.cells)
    for name, knob in limits.KNOBS.items():
        owners = limits.KNOB_CELLS[name]
        if getattr(config, name) is not None and not cells & set(owners):
            who = " or ".join(SPECS[c].title for c in owners)
            notes.append(
                {
                    "field": name,
                    "text": f"The {knob.what} applies to the {who} only, "
                    "and this run has none: it changes nothing.",
                }
            )
    for gate, value in config.clamp.items():
        owner = next(cell for cell, gates in CLAMPABLE.items() if gate in gates)
        knob = next((k for k in SPECS[owner].knobs if k.gate == gate), None)
        if owner not in cells:
            notes.append(
                {
                    "field": f"clamp.{gate}",
                    "text": f"Gate {gate} belongs to the "
                    f"{SPECS[owner].title}, which is not in this run: its clamp changes nothing.",
                }
            )
        elif knob is not None and getattr(config, knob.name) is not None:
            notes.append(
                {
                    "field": knob.name,
                    "text": f"The {SPECS[owner].gate(gate).label} is clamped to {value:g}, "
                    "so its bias changes nothing.",
                }
            )
    return notes


# -- per-cell notes -------------------------------------------------------------------------------
def cell_notes(
    cell: str,
    config: RunConfig,
    gates: dict[str, np.ndarray],
    loss: float,
    h: np.ndarray,
    grad_h_norm: np.ndarray,
    target_steps: np.ndarray,
    trained: bool = False,
) -> list[str]:
    """What an untrained cell's gates do in this run (nothing for trained weights: their gates are
    what training made them), and a loss that overflowed.

    gates, h: name -> (L*dirs, T, H); grad_h_norm: (L*dirs, T)."""
    layers = {
        (False, False): "all steps",
        (True, False): "all layers and steps",
        (False, True): "both directions and all steps",
        (True, True): "all layers, both directions and all steps",
    }[(config.num_layers > 1, config.bidirectional)]
    notes = []
    if not np.isfinite(loss):
        finite_h = np.abs(h[np.isfinite(h)])
        peak = float(finite_h.max()) if finite_h.size else math.inf
        text = (
            f"The loss is {'NaN' if np.isnan(loss) else 'inf'}: it overflows float32 (largest number 3.4e38)"
        )
        # an untrained tanh or gated cell keeps |h| <= 1: far above that, the forward pass has exploded
        text += f" (the forward pass explodes too: |h| reaches {_g(peak)})." if peak > 1e6 else "."
        at_loss = float(grad_h_norm[-config.num_directions, int(target_steps[-1])])
        if np.isfinite(at_loss):
            text += f" The gradient at the loss's step is still finite, ‖∂L/∂h‖ = {_g(at_loss)} there."
        notes.append(text)
    spec = SPECS[cell]
    gate = spec.memory_gate
    if spec.untrained_note is not None and not trained and gate not in config.clamp_for(cell):
        mean = float(np.mean(gates[gate], dtype=np.float64))
        applies = spec.untrained_when or (lambda m: abs(m - 0.5) <= HALF_OPEN)
        if applies(mean):
            notes.append(spec.untrained_note(mean, layers))
    return notes


# -- why a curve grows or is zero -----------------------------------------------------------------
def _rate(fit: DecayFit) -> str:
    """The fitted change per step back, and over the span, in words."""
    steps = max(fit.width, 1)
    per_step = 10.0 ** (-(fit.slope or 0.0))
    return f"{per_step:.3g}x per step back ({_g(fit.factor)}x over {steps} steps)"


def explain_decay(
    fit: DecayFit,
    *,
    quantity: str,
    cell: str,
    config: RunConfig,
    layer: int,
    direction: int,
    T: int,
    target_steps: np.ndarray,
    gates: dict[str, np.ndarray],
    step_norm: np.ndarray | None,
    weight_hh_norm: float,
) -> str | None:
    """One sentence of why, for a curve that grows or is exactly zero; None when the text says it all.

    gates: this layer-direction's gates, name -> (T, H); step_norm: its ||dh_t/dh_(t-1)||, (T,)."""
    if fit.direction == "zero":
        return _explain_zero(quantity, cell, config, layer, direction, T, target_steps, fit)
    if fit.direction != "grows":
        return None
    top = layer == config.num_layers - 1
    reads = 1 if config.loss == "last" else int(np.asarray(target_steps).size)
    if quantity.startswith("grad") and not (top and reads == 1):
        # ||dL/dh_t|| is one gradient carried back through the steps only when it enters at one step
        # of the top layer; otherwise it is a sum of gradients entering at many steps
        return _explain_injected(fit, cell, layer, direction, top, reads, target_steps, step_norm)
    spec = SPECS[cell]
    if spec.slope is not None:  # the step Jacobian is diag(slope) W_hh
        step = np.asarray(step_norm, dtype=np.float64) if step_norm is not None else None
        step = None if step is None else step[1:][np.isfinite(step[1:]) & (step[1:] > 0)]
        if step is not None and step.size:
            size = f"{_g(float(np.exp(np.log(step).mean())))} here (geometric mean over the steps)"
        else:
            size = f"at most {_g(weight_hh_norm)} here (W_hh's largest singular value)"
        return (
            f"Each step back multiplies this by the step Jacobian ∂h_t/∂h_(t−1) = diag({spec.slope})·W_hh, "
            f"whose norm, the most one step can multiply by, is {size}. Above 1 the product can grow, "
            f"and here it grows {_rate(fit)}."
        )
    if spec.growth_note is None:
        return None
    gate = spec.memory_gate  # None: a cell with no gate that keeps the past (the CfC)
    mean = float(np.mean(gates[gate], dtype=np.float64)) if gate is not None else math.nan
    return spec.growth_note(quantity, mean, config.clamp_for(cell).get(gate), _rate(fit))


def _explain_injected(fit, cell, layer, direction, top, reads, target_steps, step_norm) -> str:
    """Why a gradient that enters at many steps (from the layer above, or a loss on several steps)
    rises going back. For the RNN and the GRU, whose step Jacobian ||dh_t/dh_(t-1)|| is the whole
    state's, the bound ||J_1...J_k|| <= ||J_1||...||J_k|| decides between the two causes: a rise faster
    than the steps' geometric mean cannot come from the recurrence alone; a slower one may."""
    per_step = 10.0 ** (-(fit.slope or 0.0))
    steps = np.asarray(target_steps)
    if top:
        text = (
            f"The loss reads the output at {reads} steps, so gradient enters at each of them and this "
            "curve is their sum, not one gradient carried back."
        )
    else:
        near = f", near the loss at t = {int(steps[-1])}" if steps.size else ""
        text = (
            f"Layer {layer + 1} gets its gradient from the layer above at every step, not only back "
            f"through its own recurrence, so it is largest where the layer above's is{near}."
        )
        if direction:
            text += (
                " This direction reads the sequence from the end, so going back in its own order (toward "
                "higher t) runs toward that end, where the gradient comes in."
            )
    # a cell state's h-to-h step holds c fixed: it bounds nothing about the whole state
    step = (
        None if step_norm is None or SPECS[cell].has_cell_state else np.asarray(step_norm, dtype=np.float64)
    )
    if step is None:
        return text
    step = step[np.isfinite(step) & (step > 0)]
    mean = float(np.exp(np.log(step).mean())) if step.size else math.nan
    if not math.isfinite(mean):
        return text
    if per_step > mean:
        return text + (
            f" One step of its own recurrence multiplies by {mean:.3g} here (geometric mean of "
            f"‖∂h_t/∂h_(t−1)‖), less than the {per_step:.3g}x per step the curve shows: the rise comes "
            "from where the gradient enters, not from steps multiplying it up."
        )
    return text + (
        f" Each step back can also multiply it by up to {mean:.3g} here (geometric mean of "
        f"‖∂h_t/∂h_(t−1)‖), so the recurrence may add to the {per_step:.3g}x per step the curve shows."
    )


def _explain_zero(quantity, cell, config, layer, direction, T, target_steps, fit) -> str:
    top = layer == config.num_layers - 1
    first_read = int(target_steps[0]) if config.loss != "last" else int(target_steps[-1])
    if quantity.startswith("grad") and top and direction == 1 and first_read == T - 1:
        return (
            f"The loss reads this reverse direction only at t = T−1 = {T - 1}, which is its first step; "
            "its states at t < T−1 come later in its processing and never reach the loss, so the "
            "gradient is exactly 0 there."
        )
    zero = SPECS[cell].zero_note
    text = zero(config.clamp_for(cell)) if zero is not None else None
    if text:
        return text
    what = "the loss" if quantity.startswith("grad") else ("c_T" if quantity == "jacobian_c" else "h_T")
    return (
        f"Exactly 0 at {fit.zeros} of {T} steps: to first order {what} does not change with the states "
        "there, because something on every path back passes nothing (a tanh at exactly ±1, a ReLU "
        "that is off, a gate at 0)."
    )
