"""GRU cell, as torch.nn.GRU defines it (gate order r, z, n):

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     # r multiplies the hidden projection AND b_hn
    h_t = (1 - z) * n + z * h_{t-1}

Backward through time, with hh = W_hh h_{t-1} + b_hh and e_t the explicit dL/dh_t:

    dL/dhh_t    = dh * [(1 - z)(1 - n^2) hh_n r',  (h_{t-1} - n) z',  (1 - z)(1 - n^2) r]
    dL/dh_{t-1} = e_{t-1} + dh * z + W_hh^T dL/dhh_t

z is the gate that protects memory: with z = 1 the state and its gradient pass unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Forward, LayerWeights, Reverse, batched_weight, cotangent_buffers, fused_args, sigmoid_grad

GATES = ("r", "z", "n")
N_GATES = 3


def forward(x: Tensor, h0: Tensor, c0: Tensor | None, w: LayerWeights) -> Forward:
    T, B, _ = x.shape
    with torch.no_grad():
        h, _ = torch._VF.gru(x, h0.unsqueeze(0), fused_args(w), True, 1, 0.0, False, False, False)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        ih = torch.addmm(w.bias_ih, x.flatten(0, 1), w.weight_ih.t()).view(T, B, 3, -1)
        hh = torch.addmm(w.bias_hh, h_prev.flatten(0, 1), w.weight_hh.t()).view(T, B, 3, -1)
        rz = torch.sigmoid(ih[:, :, :2] + hh[:, :, :2])
        r, z = rz[:, :, 0], rz[:, :, 1]
        hh_n = hh[:, :, 2]
        n = torch.tanh(torch.addcmul(ih[:, :, 2], r, hh_n))
        dn = (1 - z) * (1 - n * n)  # dh_t/d(pre_n)
        coef = {
            # dL/dhh_t = dL/dh_t * these, (T, B, 1, 3, H)
            "hh_from_dh": torch.stack([dn * hh_n * sigmoid_grad(r), (h_prev - n) * sigmoid_grad(z), dn * r], 2)
            .unsqueeze(2),
            "keep": z.unsqueeze(2),  # (T, B, 1, H)
            "pre_n_from_dh": dn.unsqueeze(2),
        }
    return Forward(h, h_prev, None, None, {"r": r, "z": z, "n": n}, coef)


def reverse(fw: Forward, w: LayerWeights, e: Tensor, gh_T: Tensor | None, gc_T=None, store=True) -> Reverse:
    T, B, K, H = e.shape
    W = batched_weight(w.weight_hh, B)  # (B, 3H, H)
    hh_from_dh = fw.coef["hh_from_dh"].unbind(0)
    keep = fw.coef["keep"].unbind(0)
    grad_h = torch.empty_like(e)
    gh, es = grad_h.unbind(0), e.unbind(0)
    dhh = cotangent_buffers(T, B, K, 3 * H, e, store)
    dhh3 = [d.view(B, K, 3, H) for d in dhh]
    if gh_T is None:
        gh[T - 1].copy_(es[T - 1])
    else:
        torch.add(es[T - 1], gh_T, out=gh[T - 1])
    for t in range(T - 1, 0, -1):
        torch.mul(gh[t].unsqueeze(2), hh_from_dh[t], out=dhh3[t])
        torch.baddbmm(torch.addcmul(es[t - 1], gh[t], keep[t]), dhh[t], W, out=gh[t - 1])
    if not store:
        return Reverse(grad_h, None, None)
    torch.mul(gh[0].unsqueeze(2), hh_from_dh[0], out=dhh3[0])
    pre_ih = torch.stack(dhh)  # (T, B, K, 3H): r and z as in hh; n without the factor r
    pre_ih[..., 2 * H :] = grad_h * fw.coef["pre_n_from_dh"]
    return Reverse(grad_h, None, pre_ih)


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} = diag(z) + sum over gates of diag(coef) W_hh[gate], (T, B, H, H)."""
    coef = fw.coef["hh_from_dh"].squeeze(2)  # (T, B, 3, H)
    H = coef.shape[-1]
    jac = torch.einsum("tbgi,gij->tbij", coef, w.weight_hh.view(3, H, H))
    return jac + torch.diag_embed(fw.coef["keep"].squeeze(2))
