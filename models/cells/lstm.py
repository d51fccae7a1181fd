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
    Ops,
    Reverse,
    explicit_steps,
    fused_args,
    quiet,
    scan_linear,
    seed_last_step,
    sigmoid_grad,
)

GATES = ("i", "f", "g", "o")
N_GATES = 4


def forward(x: Tensor, h0: Tensor, c0: Tensor, w: LayerWeights) -> Forward:
    """torch's fused LSTM for h_t, every gate recomputed from (x_t, h_{t-1}) at once, c_t rebuilt."""
    T, B, _ = x.shape
    with torch.no_grad():
        h, _, _ = torch._VF.lstm(
            x, (h0.unsqueeze(0), c0.unsqueeze(0)), fused_args(w), True, 1, 0.0, False, False, False
        )
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        pre = torch.addmm(w.bias_ih + w.bias_hh, x.flatten(0, 1), w.weight_ih.t())
        pre = pre.addmm_(h_prev.flatten(0, 1), w.weight_hh.t()).view(T, B, -1)  # (T, B, 4H)
        i, f, g, o = pre.chunk(4, 2)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        g = torch.tanh(g)
        c = scan_linear(f, i * g, c0)  # (T, B, H)
        c_prev = torch.cat([c0.unsqueeze(0), c[:-1]])
        tanh_c = torch.tanh(c)
        dc_from_dh = o * (1 - tanh_c * tanh_c)  # dc_t/dh_t's local part: h_t = o tanh(c_t)
        coef = {
            # repeated for the three gates that read dL/dc_t, (T, 3, B, 1, H), a view without copies
            "dc_from_dh": dc_from_dh[:, None, :, None].expand(T, 3, B, 1, -1),
            "forget": f.unsqueeze(2),  # (T, B, 1, H)
            # dL/dpre_t = [dc, dc, dc, dh] * these, (T, 4, B, 1, H)
            "pre": torch.stack(
                [g * sigmoid_grad(i), c_prev * sigmoid_grad(f), i * (1 - g * g), tanh_c * sigmoid_grad(o)], 1
            ).unsqueeze(3),
        }
    return Forward(h, h_prev, c, c_prev, {"i": i, "f": f, "g": g, "o": o}, coef)


def reverse(
    fw: Forward, w: LayerWeights, e: Tensor | None, seed_h: Tensor | None, seed_c: Tensor | None, store=True
) -> Reverse:
    """e: (T, B, K, H) explicit dL/dh_t or None; seed_h, seed_c: (B, K, H) added at the last step.

    Each step's cotangents live in four slots [dc, dc, dc, dh] (T, 4, B, K, H), so one product with
    [g i', c_{t-1} f', i g', tanh(c) o'] gives dL/dpre_t for all four gates: five ops a step.
    """
    T, B, H = fw.h.shape
    K = e.shape[2] if e is not None else seed_h.shape[1]
    ops = Ops(fw.h)
    W = ops.view(w.weight_hh)  # (4H, H)
    dc_from_dh, forget, pre = (ops.steps(fw.coef[k]) for k in ("dc_from_dh", "forget", "pre"))
    slots = torch.empty(T, 4, B, K, H, dtype=fw.h.dtype, device=fw.h.device)
    v = ops.steps(slots)  # per step (4, B, K, H): dc in 0..2, dh in 3
    es = explicit_steps(ops, e, T)
    full = torch.empty(T if store else 1, B, K, 4, H, dtype=fw.h.dtype, device=fw.h.device)
    dpre = ops.steps(full.view(-1, B, K, 4 * H))
    by_gate = ops.steps(full.permute(0, 3, 1, 2, 4))  # the same memory as (4, B, K, H)
    if not store:
        dpre, by_gate = dpre * T, by_gate * T
    carry = ops.view(torch.empty(B, K, H, dtype=fw.h.dtype, device=fw.h.device))
    with quiet():
        seed_last_step(ops, v[T - 1][3], es[T - 1], seed_h)
        for t in range(T - 1, -1, -1):
            vt = v[t]
            ops.mul(vt[3:], dc_from_dh[t], out=vt[:3])  # dc_t = dh_t o (1 - tanh^2 c_t) ...
            if t < T - 1:
                ops.add(
                    vt[:3], ops.mul(v[t + 1][0], forget[t + 1], out=carry), out=vt[:3]
                )  # + dc_{t+1} f_{t+1}
            elif seed_c is not None:
                ops.add(vt[:3], ops.view(seed_c), out=vt[:3])
            ops.mul(vt, pre[t], out=by_gate[t])
            if t > 0:
                ops.matmul(dpre[t], W, out=v[t - 1][3])  # dh_{t-1} = W_hh^T dpre_t (+ e_{t-1})
                if es[t - 1] is not None:
                    ops.add(v[t - 1][3], es[t - 1], out=v[t - 1][3])
    return Reverse(slots[:, 3], slots[:, 0], full.view(T, B, K, 4 * H) if store else None)


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} with c_{t-1} held, (T, B, H, H): sum over gates of diag(coef) W_hh[gate]."""
    pre = fw.coef["pre"].squeeze(3)  # (T, 4, B, H)
    dc_from_dh = fw.coef["dc_from_dh"][:, 0, :, 0]  # (T, B, H)
    coef = torch.cat([pre[:, :3] * dc_from_dh[:, None], pre[:, 3:]], 1)  # (T, 4, B, H)
    H = coef.shape[-1]
    return torch.einsum("tgbi,gij->tbij", coef, w.weight_hh.view(4, H, H))
