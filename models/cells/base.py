"""What every cell shares: its weights for one layer-direction and its forward record.

A cell module (rnn.py, lstm.py, gru.py) provides four functions over a whole sequence, all in
processing order (a reverse direction is flipped before and after by the net):

    forward(x, h0, c0, w)            -> Forward      fused torch forward, then every gate recomputed
    reverse(fw, w, e, gh_T, gc_T)    -> Reverse      the hand-written backward sweep through time
    step_jacobian(fw, w)             -> (T, B, H, H) dh_t/dh_{t-1}
    input_grad(rev, w)               -> (T, B, D)    dL/dx_t, the explicit gradient of the layer below

Sweeps carry a K axis of cotangents: K = 1 for dL/dh_t, K = H for the Jacobian dh_T/dh_t.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class LayerWeights(NamedTuple):
    """One layer-direction's parameters, torch's names and gate order (biases are never None here)."""

    weight_ih: Tensor  # (G*H, D)
    weight_hh: Tensor  # (G*H, H)
    bias_ih: Tensor  # (G*H,)
    bias_hh: Tensor  # (G*H,)


class Forward(NamedTuple):
    h: Tensor  # (T, B, H)   h_t
    h_prev: Tensor  # (T, B, H)   h_{t-1}
    c: Tensor | None  # (T, B, H)   c_t (LSTM)
    c_prev: Tensor | None  # (T, B, H)   c_{t-1} (LSTM)
    gates: dict[str, Tensor]  # name -> (T, B, H)
    coef: dict[str, Tensor]  # local derivatives the sweeps need, cell-specific


class Reverse(NamedTuple):
    grad_h: Tensor  # (T, B, K, H)  dL/dh_t, total through all later steps
    grad_c: Tensor | None  # (T, B, K, H)  dL/dc_t (LSTM)
    grad_pre_ih: Tensor | None  # (T, B, K, G*H) dL/d(W_ih x_t + b_ih), for the layer below


def fused_args(w: LayerWeights) -> list[Tensor]:
    return [w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh]


def sigmoid_grad(s: Tensor) -> Tensor:
    return s * (1 - s)


def cotangent_buffers(T: int, B: int, K: int, width: int, like: Tensor, store: bool) -> list[Tensor]:
    """Per-step output buffers of a sweep: one per step when kept, else one reused buffer."""
    if store:
        return list(torch.empty(T, B, K, width, dtype=like.dtype, device=like.device).unbind(0))
    return [torch.empty(B, K, width, dtype=like.dtype, device=like.device)] * T


def batched_weight(weight_hh: Tensor, B: int) -> Tensor:
    """weight_hh as a (B, G*H, H) batch for baddbmm, without a copy."""
    return weight_hh.unsqueeze(0).expand(B, *weight_hh.shape)


def scan_linear(a: Tensor, u: Tensor, y0: Tensor) -> Tensor:
    """y_t = a_t * y_{t-1} + u_t over the leading axis, y_{-1} = y0. One fused op per step."""
    out = torch.empty_like(u)
    ys = out.unbind(0)
    prev = y0
    for a_t, u_t, y_t in zip(a.unbind(0), u.unbind(0), ys, strict=True):
        torch.addcmul(u_t, a_t, prev, out=y_t)
        prev = y_t
    return out
