"""What a net does on one probe sequence, in a few numbers per layer-direction: ``ProbeRecord``.

    record = probe_net(net, readout, task, step=0, val_loss=float("nan"))

The gradient norms ||dL/dh_t|| come from the exact trace engine (RecurrentNet.trace with the task's
own loss through the readout); the gate statistics from the same trace: the mean of each gate, and
the fraction of (step, unit) where a sigmoid gate is saturated, below 0.1 or above 0.9 (Karpathy,
Johnson & Fei-Fei 2015); the spectral radius (largest |eigenvalue|) of each gate's H x H block of
weight_hh. models/train.py records one every probe_every steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from . import tasks
from .net import RecurrentNet, param_suffix

SATURATED_LOW, SATURATED_HIGH = 0.1, 0.9


@dataclass(frozen=True)
class ProbeRecord:
    """One probe at one step. Axis 0 of every tensor: layer-direction, torch's h_n order."""

    step: int
    num_directions: int
    loss: float  # the probe sequence's task loss
    val_loss: float  # the held-out batch's loss at the same weights
    grad_h_norm: Tensor  # (L*dirs, T): ||dL/dh_t||_2
    grad_c_norm: Tensor | None  # (L*dirs, T): ||dL/dc_t||_2, LSTM
    gate_mean: dict[str, Tensor]  # gate -> (L*dirs,): mean over steps and units (RNN: none)
    saturated_low: dict[str, Tensor]  # sigmoid gate -> (L*dirs,): fraction of (t, unit) below 0.1
    saturated_high: dict[str, Tensor]  # sigmoid gate -> (L*dirs,): fraction above 0.9
    spectral_radius: dict[str, Tensor]  # "W_hf" (the forget gate's block) ... -> (L*dirs,)
    nonfinite: bool  # the trace holds inf or NaN
    seconds: float  # what this probe cost

    def top(self, values: dict[str, Tensor]) -> dict[str, float]:
        """The top layer's value of a per-layer-direction field, averaged over its directions."""
        return {name: float(v[-self.num_directions :].mean()) for name, v in values.items()}


def probe_net(
    net: RecurrentNet, readout: tasks.Readout, task: tasks.Task, step: int, val_loss: float
) -> ProbeRecord:
    """Probe ``net`` on element 0 of ``task`` with the task's loss through ``readout``."""
    t0 = time.perf_counter()
    x = task.x[:, :1]
    tr = net.trace(x, loss=task.loss_fn(readout, "task"), jacobian=False)
    means, low, high = {}, {}, {}
    for gate in net.spec.gates:  # the squashed gates (a derived one too); sigmoid ones range (0, 1)
        if gate.value_range is None:
            continue
        values = tr.gates[gate.name][:, :, 0].double().cpu()  # (L*dirs, T, H)
        means[gate.name] = values.mean((1, 2))
        if gate.activation == "sigmoid":
            low[gate.name] = (values < SATURATED_LOW).double().mean((1, 2))
            high[gate.name] = (values > SATURATED_HIGH).double().mean((1, 2))
    return ProbeRecord(
        step=step,
        num_directions=net.num_directions,
        loss=float(tr.loss),
        val_loss=val_loss,
        grad_h_norm=tr.grad_h_norm[:, :, 0].cpu().clone(),
        grad_c_norm=None if tr.grad_c_norm is None else tr.grad_c_norm[:, :, 0].cpu().clone(),
        gate_mean=means,
        saturated_low=low,
        saturated_high=high,
        spectral_radius=recurrent_spectral_radii(net),
        nonfinite=not tr.finite,
        seconds=time.perf_counter() - t0,
    )


def recurrent_spectral_radii(net: RecurrentNet) -> dict[str, Tensor]:
    """Largest |eigenvalue| of each gate's H x H block of weight_hh, per layer-direction:
    "W_hi", "W_hf", "W_hg", "W_ho" (LSTM), "W_hr", "W_hz", "W_hn" (GRU), "W_hh" (RNN). NaN where a
    block is not finite."""
    if net.spec.chunks is not None:  # its chunks are no recurrent matrices (the LTC's synapse tables)
        return {}
    gates = net.gate_names[: net.n_gates] if net.n_gates > 1 else ("h",)  # the chunks (derived gates last)
    radii: dict[str, list[float]] = {f"W_h{g}": [] for g in gates}
    for layer in range(net.num_layers):
        for d in range(net.num_directions):
            blocks = (
                net.weights[f"weight_hh{param_suffix(layer, d)}"].detach().double().cpu().chunk(len(gates))
            )
            for g, block in zip(gates, blocks, strict=True):
                finite = bool(torch.isfinite(block).all())
                value = float(torch.linalg.eigvals(block).abs().max()) if finite else math.nan
                radii[f"W_h{g}"].append(value)
    return {name: torch.tensor(values, dtype=torch.float64) for name, values in radii.items()}
