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

from .base import (
    Forward,
    LayerWeights,
    Ops,
    Reverse,
    chunk_sweep,
    previous,
    quiet,
    sigmoid_grad,
)
from .spec import CellSpec, Gate, Knob


def forward(x: Tensor, h0: Tensor, c0: Tensor | None, w: LayerWeights) -> Forward:
    """Input projections for all t in one matmul, then the recurrence step by step (torch's CPU GRU
    is several times slower than this loop), keeping r, z, n and W_hh h + b_hh as it goes."""
    T, B, _ = x.shape
    H = h0.shape[-1]
    ops = Ops(x)
    with torch.no_grad():
        ih = torch.addmm(w.bias_ih, x.flatten(0, 1), w.weight_ih.t()).view(T, B, 3 * H)
        hh = torch.empty_like(ih)  # W_hh h_{t-1} + b_hh
        rz = torch.empty(T, B, 2 * H, dtype=x.dtype, device=x.device)
        n = torch.empty(T, B, H, dtype=x.dtype, device=x.device)
        h = torch.empty_like(n)
        ih_rz, ih_n = ops.steps(ih[:, :, : 2 * H]), ops.steps(ih[:, :, 2 * H :])
        hh_all, hh_rz, hh_n = ops.steps(hh), ops.steps(hh[:, :, : 2 * H]), ops.steps(hh[:, :, 2 * H :])
        rzs, rs, zs = ops.steps(rz), ops.steps(rz[:, :, :H]), ops.steps(rz[:, :, H:])
        ns, hs = ops.steps(n), ops.steps(h)
        W, b_hh = ops.view(w.weight_hh.t()), ops.view(w.bias_hh)
        prev = ops.view(h0)
        with quiet():
            for t in range(T):
                ops.add(ops.matmul(prev, W), b_hh, out=hh_all[t])
                ops.sigmoid(ops.add(ih_rz[t], hh_rz[t], out=rzs[t]), out=rzs[t])
                ops.mul(rs[t], hh_n[t], out=ns[t])
                ops.tanh(ops.add(ns[t], ih_n[t], out=ns[t]), out=ns[t])
                ops.sub(prev, ns[t], out=hs[t])  # h = n + z * (h_prev - n)
                ops.mul(hs[t], zs[t], out=hs[t])
                ops.add(hs[t], ns[t], out=hs[t])
                prev = hs[t]
        h_prev = previous(h, h0)
        r, z = rz[:, :, :H], rz[:, :, H:]
        hh_n_all = hh[:, :, 2 * H :]
        dn = (1 - z) * (1 - n * n)  # dh_t/d(pre_n)
        coef = {
            # dL/dhh_t = dL/dh_t * the first three, (T, B, 1, 4, H); the fourth, z, is the direct path
            # h_t = ... + z h_{t-1}, which an identity block under W_hh adds in the same matmul
            "hh_from_dh": torch.stack(
                [dn * hh_n_all * sigmoid_grad(r), (h_prev - n) * sigmoid_grad(z), dn * r, z], 2
            ).unsqueeze(2),
            "pre_n_from_dh": dn.unsqueeze(2),
        }
    return Forward(h, h_prev, None, None, {"r": r, "z": z, "n": n}, coef)


def reverse(
    fw: Forward,
    w: LayerWeights,
    e: Tensor | None,
    seed_h: Tensor | None,
    seed_c=None,
    store=True,
    e_scale: Tensor | None = None,
) -> Reverse:
    """e: (T, B, K, H) explicit dL/dh_t (times 2**-e_scale (T, B)) or None; seed_h: (B, K, H) added at
    the last step."""
    T, B, H = fw.h.shape
    eye = torch.eye(H, dtype=fw.h.dtype, device=fw.h.device)
    W = torch.cat([w.weight_hh, eye])  # (4H, H): [W_hr; W_hz; W_hn; I], dh_{t-1} = W^T dL/dhh_t + z dh_t
    grad_h, log2 = chunk_sweep(fw, W, fw.coef["hh_from_dh"], e, seed_h, e_scale)
    K = grad_h.shape[2]
    if not store:
        return Reverse(grad_h, None, None, log2)
    full = grad_h.unsqueeze(3) * fw.coef["hh_from_dh"]  # dL/dhh_t for every t, as the sweep made it
    pre_ih = full[..., :3, :].reshape(T, B, K, 3 * H)  # r and z as in hh; n without the factor r
    pre_ih[..., 2 * H :] = grad_h * fw.coef["pre_n_from_dh"]
    return Reverse(grad_h, None, pre_ih @ w.weight_ih, log2)


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} = diag(z) + sum over gates of diag(coef) W_hh[gate], (T, B, H, H)."""
    coef = fw.coef["hh_from_dh"].squeeze(2)  # (T, B, 4, H)
    H = coef.shape[-1]
    jac = torch.einsum("tbgi,gij->tbij", coef[:, :, :3], w.weight_hh.view(3, H, H))
    return jac + torch.diag_embed(coef[:, :, 3])


# -- the page's notes in words (app/notes.py) --------------------------------------------------------
def _untrained_note(z: float, over: str) -> str:
    return (
        f"Untrained, this GRU's update gate sits near σ(0) = 0.5 (mean z = {z:.2f} here, over "
        f"{over}): each step keeps only about half of h_(t−1), so its memory fades within a "
        "few steps. An update-gate bias of 2 to 3 (the gru-update-gate lesson), or training, "
        "keeps more of the past."
    )


def _growth_note(quantity: str, z: float, clamped: float | None, rate: str) -> str:
    return (
        f"∂h_t/∂h_(t−1) = diag(z) + terms through the recurrent weights (via r, z and n). With mean "
        f"z = {z:.2f} the diagonal alone would shrink it, and those terms tip the product of these "
        f"steps above 1: here it grows {rate}."
    )


# the exported script's step (app/script.py), in plain torch
SCRIPT_STEP = '''def gru_step(x, state, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.GRU, gate order r, z, n; the reset gate multiplies W_hn h + b_hn:
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h_t = (1 - z) n + z h_{t-1}."""
    (h,) = state
    xr, xz, xn = (x @ w_ih.T + b_ih).chunk(3, -1)
    hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, -1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return ((1 - z) * n + z * h,)
'''

SPECS = (
    CellSpec(
        name="gru",
        label="GRU",
        title="GRU",
        color="#009E73",
        gates=(
            Gate("r", "reset gate r", "#D55E00"),
            Gate("z", "update gate z", "#56B4E9"),
            Gate("n", "candidate n", "#CC79A7", activation="tanh"),
        ),
        forward=forward,
        reverse=reverse,
        step_jacobian=step_jacobian,
        torch_module="GRU",
        knobs=(Knob("update_bias", "GRU update-gate bias", "update-gate bias", -10.0, 10.0, gate="z"),),
        order=3,
        train_cost=(120.0, 0.41),
        memory_gate="z",
        script_step=SCRIPT_STEP,
        untrained_note=_untrained_note,
        growth_note=_growth_note,
    ),
)
