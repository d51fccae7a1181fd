"""The fused-input RNN (the "fully recurrent network" form): the tanh RNN with one matmul a step.

    h_t = tanh([x_t, 1, h_{t-1}] @ [W_ih, b_ih + b_hh, W_hh]^T)

The same function as torch.nn.RNN(nonlinearity="tanh") and the same weights (torch's names), so its
numbers equal the tanh RNN's up to the rounding of a different summation order; what changes is the
work a step: one matmul on the concatenated input (the bias rides in as a constant 1) and one tanh,
where the tanh RNN here does one batched input projection before the loop and a matmul, an add and a
tanh a step, and the textbook form does two matmuls, two adds and a tanh a step.
bench/fused_input.py measures the three (bench/RESULTS.md, "Engine: the fused-input RNN").

The sequence [x_t, 1, h_{t-1}] lives in one (T + 1, B, D + 1 + H) buffer: step t reads row t and writes
h_t straight into row t + 1's state columns, so there is no concatenation inside the loop, and h_t and
h_{t-1} are views of that buffer afterwards. The backward sweep is the tanh RNN's (the same Jacobian).
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import rnn
from .base import Forward, LayerWeights, Ops, quiet
from .spec import CellSpec


def fused_weight(w: LayerWeights) -> Tensor:
    """[W_ih, b_ih + b_hh, W_hh]^T, (D + 1 + H, H): one matrix for the concatenated step input."""
    bias = (w.bias_ih + w.bias_hh).unsqueeze(1)
    return torch.cat([w.weight_ih, bias, w.weight_hh], 1).t().contiguous()


def forward(x: Tensor, h0: Tensor, c0: Tensor | None, w: LayerWeights) -> Forward:
    T, B, D = x.shape
    H = h0.shape[-1]
    ops = Ops(x)
    with torch.no_grad():
        z = torch.empty(T + 1, B, D + 1 + H, dtype=x.dtype, device=x.device)  # row t: [x_t, 1, h_{t-1}]
        z[:T, :, :D] = x
        z[T, :, :D] = 0  # the last row only holds h_{T-1}
        z[:, :, D] = 1
        z[0, :, D + 1 :] = h0
        pre = torch.empty(T, B, H, dtype=x.dtype, device=x.device)
        zs, pres, W = ops.steps(z), ops.steps(pre), ops.view(fused_weight(w))
        states = [row[:, D + 1 :] for row in zs]  # where each step's h lands
        with quiet():
            for t in range(T):
                ops.matmul(zs[t], W, out=pres[t])
                ops.tanh(pres[t], out=states[t + 1])
        h = z[1:, :, D + 1 :].contiguous()
        h_prev = z[:T, :, D + 1 :].contiguous()
        slope = 1 - h * h
    return Forward(h, h_prev, None, None, {"pre": pre}, {"slope": slope.unsqueeze(2)})  # (T, B, 1, H)


SCRIPT_STEP = '''
def rnn_fused_step(x, state, w_ih, w_hh, b_ih, b_hh):
    """h_t = tanh([x_t, h_{t-1}] @ [W_ih, W_hh]^T + b_ih + b_hh): one matmul on the joined input"""
    return (torch.tanh(torch.cat([x, state[0]], -1) @ torch.cat([w_ih, w_hh], 1).T + b_ih + b_hh),)
'''

SPECS = (
    CellSpec(
        name="rnn_fused",
        label="RNN (fused input)",
        title="fused-input RNN",
        color="#CC79A7",
        gates=(rnn.PRE,),  # the pre-activation: here the one matmul's result
        forward=forward,
        reverse=rnn.reverse,
        step_jacobian=rnn.step_jacobian,
        # torch.nn.RNN(tanh) computes it too; a torch module read back is the tanh RNN (first in order)
        torch_module="RNN",
        torch_kwargs={"nonlinearity": "tanh"},
        order=4,
        train_cost=(50.0, 0.17),
        slope=rnn.TANH_SLOPE,
        script_step=SCRIPT_STEP,
    ),
)
