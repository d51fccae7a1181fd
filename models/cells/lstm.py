"""LSTM cell, as torch.nn.LSTM defines it (gate order i, f, g, o):

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).chunk(4)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward through time, with e_t the explicit dL/dh_t (from the loss or the layer above):

    dL/dc_t     = dL/dh_t * o_t * (1 - tanh^2 c_t) + dL/dc_{t+1} * f_{t+1}
    dL/dpre_t   = [dc * g * i', dc * c_{t-1} * f', dc * i * g', dh * tanh(c_t) * o']
    dL/dh_{t-1} = e_{t-1} + W_hh^T dL/dpre_t

The c path is multiplied by f alone: with f = 1 and i = 0 the gradient passes unchanged
(Hochreiter & Schmidhuber 1997's constant error carousel).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import (
    Forward,
    LayerWeights,
    Reverse,
    batched_weight,
    cotangent_buffers,
    fused_args,
    scan_linear,
    sigmoid_grad,
)

GATES = ("i", "f", "g", "o")
N_GATES = 4


def forward(x: Tensor, h0: Tensor, c0: Tensor, w: LayerWeights) -> Forward:
    T, B, _ = x.shape
    with torch.no_grad():
        h, _, _ = torch._VF.lstm(
            x, (h0.unsqueeze(0), c0.unsqueeze(0)), fused_args(w), True, 1, 0.0, False, False, False
        )
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        pre = torch.addmm(w.bias_ih + w.bias_hh, x.flatten(0, 1), w.weight_ih.t()).view(T, B, -1)
        pre.baddbmm_(h_prev, batched_weight(w.weight_hh.t(), T))  # (T, B, 4H)
        i, f, g, o = pre.chunk(4, 2)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        g = torch.tanh(g)
        c = scan_linear(f, i * g, c0)  # (T, B, H)
        c_prev = torch.cat([c0.unsqueeze(0), c[:-1]])
        tanh_c = torch.tanh(c)
        coef = {
            "dc_from_dh": (o * (1 - tanh_c * tanh_c)).unsqueeze(2),  # (T, B, 1, H)
            "forget": f.unsqueeze(2),
            # dL/dpre_{i,f,g} = dL/dc_t * these, stacked (T, B, 1, 3, H)
            "pre_from_dc": torch.stack([g * sigmoid_grad(i), c_prev * sigmoid_grad(f), i * (1 - g * g)], 2)
            .unsqueeze(2),
            "pre_o_from_dh": (tanh_c * sigmoid_grad(o)).unsqueeze(2),  # (T, B, 1, H)
        }
    return Forward(h, h_prev, c, c_prev, {"i": i, "f": f, "g": g, "o": o}, coef)


def reverse(
    fw: Forward, w: LayerWeights, e: Tensor, gh_T: Tensor | None, gc_T: Tensor | None, store=True
) -> Reverse:
    """e: (T, B, K, H) explicit dL/dh_t; gh_T, gc_T: (B, K, H) seeds at the last step."""
    T, B, K, H = e.shape
    W = batched_weight(w.weight_hh, B)  # (B, 4H, H)
    dc_from_dh = fw.coef["dc_from_dh"].unbind(0)
    forget = fw.coef["forget"].unbind(0)
    pre_from_dc = fw.coef["pre_from_dc"].unbind(0)
    pre_o_from_dh = fw.coef["pre_o_from_dh"].unbind(0)
    grad_h, grad_c = torch.empty_like(e), torch.empty_like(e)
    gh, gc, es = grad_h.unbind(0), grad_c.unbind(0), e.unbind(0)
    dpre = cotangent_buffers(T, B, K, 4 * H, e, store)
    dpre_ifg = [d.view(B, K, 4, H)[:, :, :3] for d in dpre]
    dpre_o = [d[:, :, 3 * H :] for d in dpre]
    if gh_T is None:
        gh[T - 1].copy_(es[T - 1])
    else:
        torch.add(es[T - 1], gh_T, out=gh[T - 1])
    for t in range(T - 1, -1, -1):
        if t == T - 1:
            torch.mul(gh[t], dc_from_dh[t], out=gc[t])
            if gc_T is not None:
                gc[t].add_(gc_T)
        else:
            torch.addcmul(gh[t] * dc_from_dh[t], gc[t + 1], forget[t + 1], out=gc[t])
        torch.mul(gc[t].unsqueeze(2), pre_from_dc[t], out=dpre_ifg[t])
        torch.mul(gh[t], pre_o_from_dh[t], out=dpre_o[t])
        if t > 0:
            torch.baddbmm(es[t - 1], dpre[t], W, out=gh[t - 1])
    return Reverse(grad_h, grad_c, torch.stack(dpre) if store else None)


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} with c_{t-1} held, (T, B, H, H): sum over gates of diag(coef) W_hh[gate]."""
    coef = torch.cat(
        [fw.coef["dc_from_dh"].squeeze(2).unsqueeze(2) * fw.coef["pre_from_dc"].squeeze(2),
         fw.coef["pre_o_from_dh"].squeeze(2).unsqueeze(2)], 2
    )  # (T, B, 4, H)
    H = coef.shape[-1]
    return torch.einsum("tbgi,gij->tbij", coef, w.weight_hh.view(4, H, H))
