"""Closed-form continuous-time (CfC) cell, as the ncps package's CfCCell computes it (Hasani et al. 2022,
mode "default", no backbone: ``CfCCell(D, H, backbone_layers=0)``), at a timespan of Δt between every two
steps (the run's ``timespan``, ncps' ``timespans`` all equal; 1 by default, as ncps without them):

    z   = [x_t, h_{t-1}]
    f1  = tanh(W_1 z + b_1)              f2 = tanh(W_2 z + b_2)          two candidate states
    t_a = W_a z + b_a                     t_b = W_b z + b_b               the time gate's slope and offset
    ti  = sigmoid(t_a * Δt + t_b)                                         the time gate after Δt
    h_t = f1 * (1 - ti) + ti * f2

The closed form interpolates, per unit, from one head to the other as time passes; ti is the fraction
of the way the unit has gone in one step, so it is shown as the cell's gate. The four linear layers are
held in torch's layout, one chunk each in order f1, f2, t_a, t_b: weight_ih the columns on x, weight_hh
the columns on h, bias_ih ncps' biases and bias_hh zeros (only their sum counts, as in torch's RNNs).

No term carries h_{t-1} past a tanh, unlike the LSTM's c or the GRU's z h: every path back goes through
a weight matrix, so the gradient fades as the tanh RNN's does (untrained, faster: the cfc-time-gate
lesson). Backward through time:

    dL/dpre_t   = dh * [(1 - ti)(1 - f1^2),  ti (1 - f2^2),  (f2 - f1) ti (1 - ti) Δt,  (f2 - f1) ti (1 - ti)]
    dL/dh_{t-1} = e_{t-1} + W_hh^T dL/dpre_t
"""

from __future__ import annotations

import inspect

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
from .spec import TIMESPAN, CellSpec, Gate


def forward(x: Tensor, h0: Tensor, c0: Tensor | None, w: LayerWeights, timespan: float = 1.0) -> Forward:
    """Input projections for all t in one matmul, then the recurrence step by step, keeping the four
    pre-activations, both heads and the time gate after ``timespan``."""
    T, B, _ = x.shape
    H = h0.shape[-1]
    ops = Ops(x)
    with torch.no_grad():
        pre = torch.addmm(w.bias_ih + w.bias_hh, x.flatten(0, 1), w.weight_ih.t()).view(T, B, 4 * H)
        heads = torch.empty(T, B, 2 * H, dtype=x.dtype, device=x.device)  # tanh(f1), tanh(f2)
        ti = torch.empty(T, B, H, dtype=x.dtype, device=x.device)
        h = torch.empty_like(ti)
        pres, ta, tb = ops.steps(pre), ops.steps(pre[:, :, 2 * H : 3 * H]), ops.steps(pre[:, :, 3 * H :])
        pre_heads, hds = ops.steps(pre[:, :, : 2 * H]), ops.steps(heads)
        f1, f2 = ops.steps(heads[:, :, :H]), ops.steps(heads[:, :, H:])
        tis, hs, W = ops.steps(ti), ops.steps(h), ops.view(w.weight_hh.t())
        prev = ops.view(h0)
        with quiet():
            for t in range(T):
                ops.add(pres[t], ops.matmul(prev, W), out=pres[t])
                ops.tanh(pre_heads[t], out=hds[t])
                ops.mul(ta[t], timespan, out=tis[t])
                ops.sigmoid(ops.add(tis[t], tb[t], out=tis[t]), out=tis[t])  # t_a * Δt + t_b
                ops.sub(f2[t], f1[t], out=hs[t])  # h = f1 + ti (f2 - f1)
                ops.mul(hs[t], tis[t], out=hs[t])
                ops.add(hs[t], f1[t], out=hs[t])
                prev = hs[t]
        h_prev = previous(h, h0)
        head1, head2 = heads[:, :, :H], heads[:, :, H:]
        time = (head2 - head1) * sigmoid_grad(ti)  # dh/dt_b; dh/dt_a = Δt dh/dt_b
        slopes = [(1 - ti) * (1 - head1 * head1), ti * (1 - head2 * head2), time * timespan, time]
        coef = {"pre_from_dh": torch.stack(slopes, 2).unsqueeze(2)}  # dL/dpre_t = dL/dh_t * these
        gates = {"f1": head1, "f2": head2, "ta": pre[:, :, 2 * H : 3 * H], "tb": pre[:, :, 3 * H :], "ti": ti}
    return Forward(h, h_prev, None, None, gates, coef)


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
    the last step. dh_{t-1} = W_hh^T dL/dpre_t, the four chunks' blocks in one matmul."""
    grad_h, log2 = chunk_sweep(fw, w.weight_hh, fw.coef["pre_from_dh"], e, seed_h, e_scale)
    T, B, K, H = grad_h.shape
    if not store:
        return Reverse(grad_h, None, None, log2)
    dpre = (grad_h.unsqueeze(3) * fw.coef["pre_from_dh"]).reshape(T, B, K, 4 * H)
    return Reverse(grad_h, None, dpre @ w.weight_ih, log2)


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1} = sum over the four chunks of diag(coef) W_hh[chunk], (T, B, H, H)."""
    coef = fw.coef["pre_from_dh"].squeeze(2)  # (T, B, 4, H)
    H = coef.shape[-1]
    return torch.einsum("tbgi,gij->tbij", coef, w.weight_hh.view(4, H, H))


def cfc_step(x, state, w_ih, w_hh, b_ih, b_hh, timespan=1.0):
    """ncps' CfCCell, mode "default", no backbone, ``timespan`` Δt since the last step: two tanh heads
    over [x, h] and a time gate ti = sigmoid(t_a * Δt + t_b) between them: h_t = f1 (1 - ti) + ti f2."""
    (h,) = state
    f1, f2, t_a, t_b = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, -1)
    ti = torch.sigmoid(t_a * timespan + t_b)
    return (torch.tanh(f1) * (1.0 - ti) + ti * torch.tanh(f2),)


def read_ncps(module: torch.nn.Module) -> dict | None:
    """The weights of an ncps ``CfC`` (or ``CfCCell``) in torch's layout, with its sizes; None when the
    module is no ncps CfC. A CfC with an option this cell does not compute is refused by name."""
    kind = type(module).__name__
    if not type(module).__module__.startswith("ncps.") or kind not in ("CfC", "CfCCell"):
        return None
    cell = module if kind == "CfCCell" else getattr(module, "rnn_cell", None)
    refused = []
    if kind == "CfC" and not getattr(module, "wired_false", False):
        refused.append("a wiring (WiredCfCCell)")
    if kind == "CfC" and getattr(module, "use_mixed", False):
        refused.append("mixed_memory=True")
    if kind == "CfC" and not isinstance(getattr(module, "fc", None), torch.nn.Identity):
        refused.append("proj_size")
    if getattr(cell, "backbone_layers", None) != 0:
        refused.append(f"backbone_layers={getattr(cell, 'backbone_layers', '?')} (allowed: 0)")
    if getattr(cell, "mode", None) != "default":
        refused.append(f"mode={getattr(cell, 'mode', '?')!r} (allowed: 'default')")
    if getattr(cell, "sparsity_mask", None) is not None:
        refused.append("a sparsity mask")
    if refused:
        raise ValueError(f"module: this ncps CfC has {', '.join(refused)}; the cfc cell computes none of it")
    D, H = cell.input_size, cell.hidden_size
    linears = (cell.ff1, cell.ff2, cell.time_a, cell.time_b)
    weight = torch.cat([lin.weight.detach() for lin in linears])  # (4H, D + H) on [x, h]
    bias = torch.cat([lin.bias.detach() for lin in linears])
    state = {
        "weight_ih_l0": weight[:, :D].clone(),
        "weight_hh_l0": weight[:, D:].clone(),
        "bias_ih_l0": bias.clone(),
        "bias_hh_l0": torch.zeros_like(bias),
    }
    return {"input_size": D, "hidden_size": H, "num_layers": 1, "bidirectional": False, "state": state}


# -- the page's notes in words (app/notes.py) --------------------------------------------------------
def _growth_note(quantity: str, mean: float, clamped: float | None, rate: str) -> str:
    return (
        "∂h_t/∂h_(t−1) = Σ diag(slope)·W_hh over the CfC's four chunks (both heads and the time gate's "
        "t_a and t_b). No term carries h_(t−1) past them unchanged, as the LSTM's c or the GRU's z·h_(t−1) "
        f"does, so these products alone decide: above 1 a step, the curve grows, here {rate}."
    )


SPECS = (
    CellSpec(
        name="cfc",
        label="CfC",
        title="CfC cell",
        color="#56B4E9",
        gates=(
            Gate("f1", "head f1 = tanh(·)", "#E69F00", activation="tanh", clampable=False),
            Gate("f2", "head f2 = tanh(·)", "#009E73", activation="tanh", clampable=False),
            Gate("ta", "time slope t_a", "#999999", activation="none", clampable=False),
            Gate("tb", "time offset t_b", "#555555", activation="none", clampable=False),
            Gate("ti", "time gate σ(t_a·Δt + t_b)", "#0072B2", chunk=False),
        ),
        forward=forward,
        reverse=reverse,
        step_jacobian=step_jacobian,
        torch_step=cfc_step,
        read_module=read_ncps,
        knobs=(TIMESPAN,),
        order=5,
        train_cost=(160.0, 0.5),
        growth_note=_growth_note,
        script_step=inspect.getsource(cfc_step),
    ),
)
