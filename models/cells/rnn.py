"""Elman RNN cell, as torch.nn.RNN defines it (nonlinearity tanh or relu).

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

The one "gate" shown is the pre-activation `pre`. Backward through time:

    dL/dh_{t-1} = e_{t-1} + W_hh^T (act'(pre_t) * dL/dh_t)
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Forward, LayerWeights, Reverse, batched_weight, cotangent_buffers, fused_args

GATES = ("pre",)
N_GATES = 1


def _fused(nonlinearity: str):
    return torch._VF.rnn_tanh if nonlinearity == "tanh" else torch._VF.rnn_relu


def forward(x: Tensor, h0: Tensor, c0: Tensor | None, w: LayerWeights, nonlinearity: str) -> Forward:
    with torch.no_grad():
        h, _ = _fused(nonlinearity)(x, h0.unsqueeze(0), fused_args(w), True, 1, 0.0, False, False, False)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])  # (T, B, H)
        pre = torch.addmm(w.bias_ih + w.bias_hh, x.flatten(0, 1), w.weight_ih.t())
        pre = pre.view(*x.shape[:2], -1).baddbmm_(h_prev, batched_weight(w.weight_hh.t(), x.shape[0]))
        if nonlinearity == "tanh":
            slope = 1 - h * h
        else:
            slope = (pre > 0).to(h.dtype)
    return Forward(h, h_prev, None, None, {"pre": pre}, {"slope": slope.unsqueeze(2)})  # (T, B, 1, H)


def reverse(fw: Forward, w: LayerWeights, e: Tensor, gh_T: Tensor | None, gc_T=None, store=True) -> Reverse:
    """e: (T, B, K, H) explicit dL/dh_t; gh_T: (B, K, H) added at the last step (Jacobian seeds)."""
    T, B, K, H = e.shape
    slope = fw.coef["slope"].unbind(0)
    W = batched_weight(w.weight_hh, B)  # (B, H, H)
    grad_h = torch.empty_like(e)
    gh = grad_h.unbind(0)
    dpre = cotangent_buffers(T, B, K, H, e, store)
    es = e.unbind(0)
    torch.add(es[T - 1], gh_T, out=gh[T - 1]) if gh_T is not None else gh[T - 1].copy_(es[T - 1])
    for t in range(T - 1, 0, -1):
        torch.mul(gh[t], slope[t], out=dpre[t])
        torch.baddbmm(es[t - 1], dpre[t], W, out=gh[t - 1])
    torch.mul(gh[0], slope[0], out=dpre[0])
    return Reverse(grad_h, None, torch.stack(dpre) if store else None)


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} = diag(act'(pre_t)) W_hh, (T, B, H, H)."""
    return fw.coef["slope"].squeeze(2).unsqueeze(-1) * w.weight_hh
