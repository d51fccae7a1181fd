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
    Rescale,
    Reverse,
    explicit_steps,
    one_step,
    previous,
    quiet,
    scan_linear,
    seed_last_step,
    sigmoid_grad,
    step_blocks,
    step_buffer,
)
from .spec import CellSpec, Gate, Knob


def forward(x: Tensor, h0: Tensor, c0: Tensor, w: LayerWeights) -> Forward:
    """torch's fused LSTM for h_t, every gate recomputed from (x_t, h_{t-1}) at once, c_t rebuilt."""
    T, B, _ = x.shape
    with torch.no_grad():
        h, _, _ = torch._VF.lstm(
            x, (h0.unsqueeze(0), c0.unsqueeze(0)), list(w), True, 1, 0.0, False, False, False
        )
        h_prev = previous(h, h0)
        pre = torch.addmm(w.bias_ih + w.bias_hh, x.flatten(0, 1), w.weight_ih.t())
        pre = pre.addmm_(h_prev.flatten(0, 1), w.weight_hh.t()).view(T, B, -1)  # (T, B, 4H)
        i, f, g, o = pre.chunk(4, 2)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        g = torch.tanh(g)
        c = scan_linear(f, i * g, c0)  # (T, B, H)
        c_prev = previous(c, c0)
        tanh_c = torch.tanh(c)
        coef = {
            "dc_from_dh": (o * (1 - tanh_c * tanh_c)).unsqueeze(2),  # (T, B, 1, H): h_t = o tanh(c_t)
            "forget": f.unsqueeze(2),  # (T, B, 1, H)
            # dL/dpre_{i,f,g} = dL/dc_t * these, (T, B, 1, 3, H)
            "pre_from_dc": torch.stack(
                [g * sigmoid_grad(i), c_prev * sigmoid_grad(f), i * (1 - g * g)], 2
            ).unsqueeze(2),
            "pre_o_from_dh": (tanh_c * sigmoid_grad(o)).unsqueeze(2),  # (T, B, 1, H)
        }
    return Forward(h, h_prev, c, c_prev, {"i": i, "f": f, "g": g, "o": o}, coef)


PRODUCTS_FROM = 48  # below this H, the two products' dispatch costs more than the saved multiply-adds


def reverse(
    fw: Forward,
    w: LayerWeights,
    e: Tensor | None,
    seed_h: Tensor | None,
    seed_c: Tensor | None,
    store=True,
    e_scale: Tensor | None = None,
) -> Reverse:
    """e: (T, B, K, H) explicit dL/dh_t (times 2**-e_scale (T, B)) or None; seed_h, seed_c: (B, K, H)
    added at the last step.

    Six NumPy ops a step, all but one on operands of one shape (broadcasting costs a NumPy op twice).
    With K >= H cotangents (the Jacobians dh_T/dh_t, dc_T/dc_t) from H = PRODUCTS_FROM, the step back
    through W_hh is taken as two H x H matrices instead of the four gates' 4H x H (base.step_blocks),

        dh_{t-1} = dc_t M_t + dh_t N_t,   M_t = sum over i, f, g of diag(dpre/dc) W_hh[gate],
                                          N_t = diag(dpre_o/dh) W_hh[o],

    half the multiply-adds of dpre_t W_hh, the sums in another order (equal to rounding).
    """
    T, B, H = fw.h.shape
    K = e.shape[2] if e is not None else seed_h.shape[1]
    ops = Ops(fw.h)
    W = ops.view(w.weight_hh)  # (4H, H)
    dc_from_dh, forget = ops.steps(fw.coef["dc_from_dh"]), ops.steps(fw.coef["forget"])
    pre_from_dc, pre_o_from_dh = ops.steps(fw.coef["pre_from_dc"]), ops.steps(fw.coef["pre_o_from_dh"])
    grad_h = torch.empty(T, B, K, H, dtype=fw.h.dtype, device=fw.h.device)
    grad_c = torch.empty_like(grad_h)
    gh, gc = ops.steps(grad_h), ops.steps(grad_c)
    gh2 = ops.steps(grad_h.view(T, B * K, H))  # 2-D views for the matmul
    gc3 = ops.steps(grad_c.unsqueeze(3))  # (B, K, 1, H): dc for the three gates that read it
    es = explicit_steps(ops, e, T)
    scratch = step_buffer((B, K, 4, H), fw.h)
    dpre2 = one_step(ops, scratch.view(-1, B * K, 4 * H))
    dpre_ifg, dpre_o = one_step(ops, scratch[:, :, :, :3]), one_step(ops, scratch[:, :, :, 3])
    carry = ops.view(torch.empty(B, K, H, dtype=fw.h.dtype, device=fw.h.device))
    blocks = K >= H >= PRODUCTS_FROM
    if blocks:
        W4 = w.weight_hh.reshape(4, H, H)
        through_c = step_blocks(ops, fw.coef["pre_from_dc"][:, :, 0], W4[:3])  # M_t
        through_o = step_blocks(ops, fw.coef["pre_o_from_dh"], W4[3:])  # N_t: (T, B, 1, H), one chunk
    scale = Rescale(ops, T, B, e_scale, like=fw.h)
    with quiet():
        seed_last_step(ops, gh[T - 1], es[T - 1], seed_h)
        for t in range(T - 1, -1, -1):
            # dc_t = dh_t o (1 - tanh^2 c_t) + dc_{t+1} f_{t+1}
            if t < T - 1:
                ops.mul(gc[t + 1], forget[t + 1], out=carry)
                scale.enter(t, (gh[t], carry), es[t])  # + e_t, and back into range
                ops.mul(gh[t], dc_from_dh[t], out=gc[t])
                ops.add(gc[t], carry, out=gc[t])
            else:
                ops.mul(gh[t], dc_from_dh[t], out=gc[t])
                if seed_c is not None:
                    ops.add(gc[t], ops.view(seed_c), out=gc[t])
            if t == 0:
                break
            if blocks:  # carry is free again: the scratch for dh_t N_t
                ops.bmm(gc[t], next(through_c), out=gh[t - 1])
                ops.bmm(gh[t], next(through_o), out=carry)
                ops.add(gh[t - 1], carry, out=gh[t - 1])
            else:
                ops.mul(gc3[t], pre_from_dc[t], out=dpre_ifg)
                ops.mul(gh[t], pre_o_from_dh[t], out=dpre_o)
                ops.matmul(dpre2, W, out=gh2[t - 1])  # dh_{t-1} = W_hh^T dpre_t
    log2 = scale.log2(grad_h)
    if not store:
        return Reverse(grad_h, grad_c, None, log2)
    dpre = torch.cat(  # dL/dpre_t for every t, as the sweep made it step by step
        [grad_c.unsqueeze(3) * fw.coef["pre_from_dc"], (grad_h * fw.coef["pre_o_from_dh"]).unsqueeze(3)], 3
    )
    return Reverse(grad_h, grad_c, dpre.view(T, B, K, 4 * H) @ w.weight_ih, log2)


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} with c_{t-1} held, (T, B, H, H): sum over gates of diag(coef) W_hh[gate]."""
    coef = torch.cat(
        [fw.coef["dc_from_dh"] * fw.coef["pre_from_dc"].squeeze(2), fw.coef["pre_o_from_dh"]], 2
    )  # (T, B, 4, H)
    H = coef.shape[-1]
    return torch.einsum("tbgi,gij->tbij", coef, w.weight_hh.view(4, H, H))


# -- the page's notes in words (app/notes.py) --------------------------------------------------------
def _untrained_note(f: float, over: str) -> str:
    return (
        f"Untrained, this LSTM's forget gate sits near σ(0) = 0.5 (mean f = {f:.2f} here, over "
        f"{over}): its cell state loses about half of itself every step, so it forgets almost "
        "as fast as the RNN. A forget-gate bias of 1 or more (the rnn-vs-lstm and forget-bias "
        "lessons), or training, opens it."
    )


def _growth_note(quantity: str, f: float, clamped: float | None, rate: str) -> str:
    through = "Going back, this flows through the cell state. " if quantity != "jacobian_c" else ""
    if clamped == 1.0:
        diagonal = "With f clamped to 1 the diagonal alone is the identity and would keep the size exactly"
    elif f >= 0.9:
        diagonal = f"With f near 1 (mean f = {f:.2f}) the diagonal alone would shrink it only slowly"
    else:
        diagonal = f"The diagonal alone (mean f = {f:.2f}) would shrink it"
    return (
        f"{through}∂c_t/∂c_(t−1) = diag(f) + feedback: c_(t−1) also reaches c_t through h_(t−1) = "
        f"o·tanh(c_(t−1)) and the recurrent weights into i and g. {diagonal}; the feedback tips the "
        f"product of these steps above 1, and here it grows {rate}. With the recurrent weights "
        "at 0 there is no feedback and it would not grow."
    )


def _zero_note(clamp: dict) -> str | None:
    if clamp.get("o") != 0.0:
        return None
    return (
        "The output gate is clamped to 0, so h_t = o·tanh(c_t) is 0 whatever the cell state: "
        "nothing flows back through h."
    )


# the exported script's step (app/script.py), in plain torch
SCRIPT_STEP = '''def lstm_step(x, state, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.LSTM, gate order i, f, g, o: c_t = f c_{t-1} + i g, h_t = o tanh(c_t)."""
    h, c = state
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, -1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c
'''

SPECS = (
    CellSpec(
        name="lstm",
        label="LSTM",
        title="LSTM",
        color="#0072B2",
        gates=(
            Gate("i", "input gate i", "#009E73"),
            Gate("f", "forget gate f", "#0072B2"),
            Gate("g", "candidate g", "#CC79A7", activation="tanh"),
            Gate("o", "output gate o", "#E69F00"),
        ),
        forward=forward,
        reverse=reverse,
        step_jacobian=step_jacobian,
        has_cell_state=True,
        torch_module="LSTM",
        knobs=(Knob("forget_bias", "LSTM forget-gate bias", "forget-gate bias", -10.0, 10.0, gate="f"),),
        order=2,
        train_cost=(50.0, 0.42),
        memory_gate="f",
        script_step=SCRIPT_STEP,
        untrained_note=_untrained_note,
        growth_note=_growth_note,
        zero_note=_zero_note,
    ),
)
