"""Elman RNN cell, as torch.nn.RNN defines it (nonlinearity tanh or relu).

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

The one "gate" shown is the pre-activation `pre`. Backward through time:

    dL/dh_{t-1} = e_{t-1} + W_hh^T (act'(pre_t) * dL/dh_t)
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from .base import (
    Forward,
    LayerWeights,
    Ops,
    Rescale,
    Reverse,
    explicit_steps,
    one_step,
    previous,
    quiet,
    seed_last_step,
    step_buffer,
)
from .spec import CellSpec, Gate


def forward(x: Tensor, h0: Tensor, c0: Tensor | None, w: LayerWeights, nonlinearity: str) -> Forward:
    """Input projections for all t in one matmul, then h_t step by step (torch's fused CPU RNN is slower)."""
    T, B, _ = x.shape
    ops = Ops(x)
    with torch.no_grad():
        pre = torch.addmm(w.bias_ih + w.bias_hh, x.flatten(0, 1), w.weight_ih.t()).view(T, B, -1)  # (T, B, H)
        h = torch.empty_like(pre)
        pres, hs, W = ops.steps(pre), ops.steps(h), ops.view(w.weight_hh.t())
        act = ops.tanh if nonlinearity == "tanh" else ops.relu
        prev = ops.view(h0)
        with quiet():
            for t in range(T):
                ops.add(pres[t], ops.matmul(prev, W), out=pres[t])
                act(pres[t], out=hs[t])
                prev = hs[t]
        h_prev = previous(h, h0)
        slope = 1 - h * h if nonlinearity == "tanh" else (pre > 0).to(h.dtype)
    return Forward(h, h_prev, None, None, {"pre": pre}, {"slope": slope.unsqueeze(2)})  # (T, B, 1, H)


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
    K = e.shape[2] if e is not None else seed_h.shape[1]
    ops = Ops(fw.h)
    grad_h = torch.empty(T, B, K, H, dtype=fw.h.dtype, device=fw.h.device)
    slope, W = ops.steps(fw.coef["slope"]), ops.view(w.weight_hh)
    gh, gh2 = ops.steps(grad_h), ops.steps(grad_h.view(T, B * K, H))  # 2-D views for the matmul
    es = explicit_steps(ops, e, T)
    scratch = step_buffer((B, K, H), fw.h)
    dpre, dpre2 = one_step(ops, scratch), one_step(ops, scratch.view(-1, B * K, H))
    scale = Rescale(ops, T, B, e_scale, like=fw.h)
    with quiet():
        seed_last_step(ops, gh[T - 1], es[T - 1], seed_h)
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                scale.enter(t, (gh[t],), es[t])  # + e_t, and back into range
            ops.mul(gh[t], slope[t], out=dpre)
            if t > 0:
                ops.matmul(dpre2, W, out=gh2[t - 1])
    grad_x = (grad_h * fw.coef["slope"]) @ w.weight_ih if store else None  # dL/dpre_t W_ih, every t
    return Reverse(grad_h, None, grad_x, scale.log2(grad_h))


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} = diag(act'(pre_t)) W_hh, (T, B, H, H)."""
    return fw.coef["slope"].squeeze(2).unsqueeze(-1) * w.weight_hh


# the exported script's step (app/script.py), in plain torch
SCRIPT_STEP = '''
def rnn_{act}_step(x, state, w_ih, w_hh, b_ih, b_hh):
    """h_t = {act}(W_ih x_t + b_ih + W_hh h_{{t-1}} + b_hh)"""
    return (torch.{act}(x @ w_ih.T + b_ih + state[0] @ w_hh.T + b_hh),)
'''


# the one "gate": the pre-activation W_ih x + b_ih + W_hh h + b_hh, one chunk of the weights, nothing to clamp
PRE = Gate("pre", "pre-activation", "#777777", activation="none", clampable=False)
TANH_SLOPE = "1 − h_t²"  # tanh's derivative at the step, in the notes' words


def _spec(nonlinearity: str, label: str, title: str, color: str, slope: str, order: int) -> CellSpec:
    return CellSpec(
        name=f"rnn_{nonlinearity}",
        label=label,
        title=title,
        color=color,
        gates=(PRE,),
        forward=partial(forward, nonlinearity=nonlinearity),
        reverse=reverse,
        step_jacobian=step_jacobian,
        torch_module="RNN",
        torch_kwargs={"nonlinearity": nonlinearity},
        order=order,
        train_cost=(50.0, 0.17),
        slope=slope,
        script_step=SCRIPT_STEP.format(act=nonlinearity),
    )


SPECS = (
    _spec("tanh", "RNN (tanh)", "tanh RNN", "#D55E00", TANH_SLOPE, 0),
    _spec(
        "relu", "RNN (ReLU)", "ReLU RNN", "#E69F00", "relu′(pre_t): 1 where the pre-activation is positive", 1
    ),
)
