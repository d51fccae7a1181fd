"""The record a trace returns: every state, gate and gradient of one run, as tensors.

Axis order everywhere: (layers*dirs, T, B, H), the first axis in torch's h_n order (layer-major,
direction-minor), time indexed by input position (a reverse direction's last step is t = 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass
class Trace:
    cell: str
    num_layers: int
    num_directions: int
    x: Tensor  # (T, B, D)
    output: Tensor  # (T, B, dirs*H): equal to the torch module's output
    h: Tensor  # (L*dirs, T, B, H)
    c: Tensor | None  # (L*dirs, T, B, H), LSTM only
    gates: dict[str, Tensor]  # name -> (L*dirs, T, B, H)
    h_n: Tensor  # (L*dirs, B, H)
    c_n: Tensor | None  # (L*dirs, B, H)
    loss: Tensor  # scalar
    grad_output: Tensor  # (T, B, dirs*H): dL/d output, the explicit gradient the loss puts on the top layer
    grad_h: Tensor  # (L*dirs, T, B, H): dL/dh_t, total through all later steps and layers above
    grad_c: Tensor | None  # (L*dirs, T, B, H), LSTM only
    grad_h_norm: Tensor  # (L*dirs, T, B): ||dL/dh_t||_2 over units
    grad_c_norm: Tensor | None  # (L*dirs, T, B)
    # dL/dx_t, the loss's gradient with respect to each input (every direction's path summed), and its
    # norm over the D inputs in float64: how much the answer can still learn from an input t steps back
    grad_x: Tensor  # (T, B, D)
    grad_x_norm: Tensor  # (T, B)
    jacobian_norm: Tensor | None  # (L*dirs, T, B): ||dh_T/dh_t||_2 within each layer-direction
    jacobian_norm_c: Tensor | None  # (L*dirs, T, B): ||dc_T/dc_t||_2, LSTM only (c_t reaches h_t too)
    step_jacobian_norm: Tensor | None  # (L*dirs, T, B): ||dh_t/dh_{t-1}||_2 (c_{t-1} held for LSTM)
    nonfinite: dict[str, bool] = field(default_factory=dict)  # field -> holds inf or NaN

    @property
    def finite(self) -> bool:
        return not any(self.nonfinite.values())

    def index(self, layer: int = -1, direction: int = 0) -> int:
        """Position on the first axis of (layer, direction); layer -1 is the top."""
        layer = layer % self.num_layers
        return layer * self.num_directions + direction

    def flag_nonfinite(self) -> None:
        for name in (
            "grad_h_norm",
            "grad_c_norm",
            "output",
            "h",
            "c",
            "loss",
            "grad_h",
            "grad_c",
            "grad_x",
            "grad_x_norm",
            "jacobian_norm",
            "jacobian_norm_c",
            "step_jacobian_norm",
        ):
            value = getattr(self, name)
            if value is not None:
                self.nonfinite[name] = not all_finite(value)
        self.nonfinite["gates"] = not all(all_finite(g) for g in self.gates.values())


def all_finite(values: Tensor) -> bool:
    """NumPy's isfinite on a CPU tensor's memory: a tenth of torch.isfinite(...).all()'s time here."""
    if values.device.type == "cpu":
        return bool(np.isfinite(values.detach().numpy()).all())
    return bool(torch.isfinite(values).all())
