"""Liquid time-constant (LTC) cell, as the ncps package's LTCCell computes it (Hasani et al. 2021): a
fully connected wiring, no input or output mapping, ``ode_unfolds`` steps (6 by default, as ncps) of
ncps' fused semi-implicit Euler solver per input step, epsilon 1e-8, at a timespan of Δt between every two
steps (the run's ``timespan``, ncps' ``timespans`` all equal; 1 by default, as ncps without them). Each
unit is a leaky membrane whose conductances are gated by the others:

    s_ji   = w_ji  sigmoid(sigma_ji (v_i - mu_ji))                 synapse from unit i to unit j
    r_jd   = w'_jd sigmoid(sigma'_jd (x_d - mu'_jd))               sensory synapse from input d
    dv_j/dt = [gleak_j (vleak_j - v_j) + sum_i s_ji (E_ji - v_j) + sum_d r_jd (E'_jd - v_j)] / cm_j

    one unfold (of U, each Δt/U of time, cm_t = cm / (Δt/U)):
    v_j <- (cm_t v_j + gleak vleak + sum_i s_ji E_ji + sum_d r_jd E'_jd)
           / (cm_t + gleak + sum_i s_ji + sum_d r_jd + eps)

Its "gates" are what the views show of that ODE, both derived (no weights of their own):
    tau_j  = cm_j / (gleak_j + sum_i s_ji + sum_d r_jd)            the effective time constant, in steps,
                                                                   at the step's start (the liquid one),
                                                                   in units of time (Δt a step)
    keep_j = prod over the unfolds of cm_t / (cm_t + gleak + ...)  the share of v_(t-1) the solver carries
                                                                   straight through the step

The parameters are held in torch's layout, one H-row chunk each, row j the unit a synapse ends at:
weight_hh = [sigma, mu, w, erev] (H, H) blocks (ncps' (from, to) tables transposed), weight_ih =
[sigma', mu', w', E'] (H, D) blocks, bias_ih = [gleak, vleak, cm, 0] and bias_hh zeros (only the sum
counts). They are the values ncps' forward uses: an ncps module with implicit_param_constraints=True is
read through its softplus (models.from_torch), and training clips them at 0 as ncps does without it.

Backward through time, per unfold (v' = num / den', den' = den + eps, q = dL/dv' / den'):

    dL/dv_i = cm_t q_i + sum_j q_j w_ji sigma_ji sigmoid'(...) (E_ji - v'_j)
    dL/dnum_sensory = sum over unfolds of q,    dL/dden_sensory = - sum over unfolds of q v'

so the step Jacobian is a product of U dense H x H matrices: unlike the chunked cells' diag(slope) W_hh,
every synapse's slope depends on both ends' voltages.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .base import (
    Forward,
    LayerWeights,
    Ops,
    Rescale,
    Reverse,
    explicit_steps,
    previous,
    quiet,
    seed_last_step,
)
from .spec import TIMESPAN, CellSpec, Gate, Knob

UNFOLDS = 6  # ncps' ode_unfolds by default
EPSILON = 1e-8  # ncps' epsilon
ODE_UNFOLDS = Knob(
    "ode_unfolds",
    "LTC solver unfolds per step",
    "number of solver unfolds per step",
    1,
    64,
    solver=True,
    integer=True,
    default=UNFOLDS,
)


class Params(NamedTuple):
    sigma: Tensor  # (H, H) [to j, from i]
    mu: Tensor
    w: Tensor
    erev: Tensor
    s_sigma: Tensor  # (H, D) [to j, input d]
    s_mu: Tensor
    s_w: Tensor
    s_erev: Tensor
    gleak: Tensor  # (H,)
    vleak: Tensor
    cm: Tensor


def params(w: LayerWeights) -> Params:
    H = w.weight_hh.shape[1]
    b = (w.bias_ih + w.bias_hh).reshape(4, H)
    return Params(*w.weight_hh.reshape(4, H, H), *w.weight_ih.reshape(4, H, -1), b[0], b[1], b[2])


class _Arrays:
    """div and sum over the last axis, writing into ``out``, for NumPy views or tensors (see Ops)."""

    def __init__(self, ops: Ops):
        if ops.numpy:
            self.div, self.bmm = np.divide, np.matmul
            self.sum = lambda a, out: np.sum(a, axis=-1, out=out)
        else:
            self.div, self.bmm = torch.div, torch.matmul
            self.sum = lambda a, out: torch.sum(a, dim=-1, out=out)


def forward(
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w: LayerWeights,
    timespan: float = 1.0,
    ode_unfolds: int = UNFOLDS,
) -> Forward:
    """The sensory synapses for all t at once (they do not depend on v), then the unfolds step by step,
    keeping v at every unfold and each unfold's denominator, which the sweeps recompute the rest from.
    ``ode_unfolds`` solver steps of ``timespan / ode_unfolds`` each make one input step."""
    U = int(ode_unfolds)
    T, B, _ = x.shape
    H = h0.shape[-1]
    ops = Ops(x)
    arr = _Arrays(ops)
    p = params(w)
    with torch.no_grad():
        s_act = torch.sigmoid(p.s_sigma * (x.unsqueeze(2) - p.s_mu))  # (T, B, H, D)
        syn = p.s_w * s_act
        num_s, den_s = (syn * p.s_erev).sum(-1), syn.sum(-1)  # (T, B, H)
        cm_t = p.cm / (timespan / U)  # ncps: cm / (elapsed_time / ode_unfolds)
        leak, base = p.gleak * p.vleak, cm_t + p.gleak
        V = torch.empty(T, B, U + 1, H, dtype=x.dtype, device=x.device)  # v at each unfold's start, v_t
        den = torch.empty(T, B, U, H, dtype=x.dtype, device=x.device)
        first = torch.empty(T, B, H, dtype=x.dtype, device=x.device)  # sum_i s_ji at the step's start
        Vs, dens, firsts, nums_s, dens_s = (ops.steps(a) for a in (V, den, first, num_s, den_s))
        sigma, mu, wt, erev = (ops.view(a) for a in (p.sigma, p.mu, p.w, p.erev))
        cm_t_, leak_, base_ = ops.view(cm_t), ops.view(leak), ops.view(base)
        act = ops.view(torch.empty(B, H, H, dtype=x.dtype, device=x.device))
        rev = ops.view(torch.empty(B, H, H, dtype=x.dtype, device=x.device))
        s_sum, num = (ops.view(torch.empty(B, H, dtype=x.dtype, device=x.device)) for _ in range(2))
        prev = ops.view(h0)
        with quiet():
            for t in range(T):
                Vt, dt = Vs[t], dens[t]
                ops.copy(Vt[:, 0], prev)
                for u in range(U):
                    v = Vt[:, u]
                    ops.sub(v[:, None, :], mu, out=act)  # v_i - mu_ji
                    ops.mul(act, sigma, out=act)
                    ops.sigmoid(act, out=act)
                    ops.mul(act, wt, out=act)  # s_ji
                    ops.mul(act, erev, out=rev)
                    arr.sum(act, out=firsts[t] if u == 0 else s_sum)
                    arr.sum(rev, out=num)
                    ops.add(num, nums_s[t], out=num)  # sum_i s E + sum_d r E'
                    kept = ops.mul(cm_t_, v, out=Vt[:, u + 1])  # scratch until the division below
                    ops.add(ops.add(kept, leak_, out=kept), num, out=num)
                    ops.add(firsts[t] if u == 0 else s_sum, dens_s[t], out=dt[:, u])
                    ops.add(ops.add(base_, dt[:, u], out=dt[:, u]), EPSILON, out=dt[:, u])
                    arr.div(num, dt[:, u], out=Vt[:, u + 1])
                prev = Vt[:, U]
        h = V[:, :, U].contiguous()
        tau = p.cm / (p.gleak + (first + den_s))
        keep = (cm_t / den).prod(2)
        coef = {"v": V, "den": den, "sensory": s_act, "cm_t": cm_t}
    return Forward(h, previous(h, h0), None, None, {"tau": tau, "keep": keep}, coef)


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
    the last step. Each step back runs the solver's unfolds backwards, recomputing their synapses' slopes
    from the stored voltages; with ``store`` the sensory cotangents are summed for dL/dx_t."""
    V, den = fw.coef["v"], fw.coef["den"]
    T, B, H = fw.h.shape
    U = den.shape[2]
    K = e.shape[2] if e is not None else seed_h.shape[1]
    ops = Ops(fw.h)
    arr = _Arrays(ops)
    p = params(w)
    like = dict(dtype=fw.h.dtype, device=fw.h.device)
    grad_h = torch.empty(T, B, K, H, **like)
    q_sum = torch.zeros(T, B, K, H, **like) if store else None  # sum over unfolds of q
    qv_sum = torch.zeros(T, B, K, H, **like) if store else None  # sum over unfolds of q v'
    gh, Vs, dens = ops.steps(grad_h), ops.steps(V), ops.steps(den)
    qs, qvs = (ops.steps(a) if store else None for a in (q_sum, qv_sum))
    sigma, mu, erev = (ops.view(a) for a in (p.sigma, p.mu, p.erev))
    wsig, cm_t = ops.view(p.w * p.sigma), ops.view(fw.coef["cm_t"])
    act, slope = (ops.view(torch.empty(B, H, H, **like)) for _ in range(2))
    cur, q, qv = (ops.view(torch.empty(B, K, H, **like)) for _ in range(3))
    es = explicit_steps(ops, e, T)
    # one step is U divisions by den' (up to cm_t + H + D): at H = 128 a step can shrink 1e-10, so the
    # carried cotangents are brought back into range at every step, not every 8
    scale = Rescale(ops, T, B, e_scale, like=fw.h, every=1)
    with quiet():
        seed_last_step(ops, gh[T - 1], es[T - 1], seed_h)
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                scale.enter(t, (gh[t],), es[t])  # + e_t, and back into range
            ops.copy(cur, gh[t])
            Vt, dt = Vs[t], dens[t]
            for u in range(U - 1, -1, -1):
                v, v_next = Vt[:, u], Vt[:, u + 1]
                arr.div(cur, dt[:, u][:, None, :], out=q)  # dL/dnum
                if store:
                    ops.add(qs[t], q, out=qs[t])
                    ops.add(qvs[t], ops.mul(q, v_next[:, None, :], out=qv), out=qvs[t])
                ops.sub(v[:, None, :], mu, out=act)
                ops.mul(act, sigma, out=act)
                ops.sigmoid(act, out=act)
                ops.mul(act, act, out=slope)
                ops.sub(act, slope, out=slope)  # sigmoid'
                ops.mul(slope, wsig, out=slope)  # ds_ji / dv_i
                ops.sub(erev, v_next[:, :, None], out=act)  # E_ji - v'_j
                ops.mul(slope, act, out=slope)
                arr.bmm(q, slope, out=cur)  # sum_j q_j (ds_ji/dv_i)(E_ji - v'_j)
                ops.add(cur, ops.mul(q, cm_t, out=q), out=cur)  # + cm_t q_i
            if t > 0:
                ops.copy(gh[t - 1], cur)
    if not store:
        return Reverse(grad_h, None, None, scale.log2(grad_h))
    s_act = fw.coef["sensory"]  # (T, B, H, D)
    d_syn = p.s_w * p.s_sigma * s_act * (1 - s_act)  # dr_jd / dx_d
    grad_x = q_sum @ (d_syn * p.s_erev) - qv_sum @ d_syn  # (T, B, K, D)
    return Reverse(grad_h, None, grad_x, scale.log2(grad_h))


def step_jacobian(fw: Forward, w: LayerWeights) -> Tensor:
    """dh_t/dh_{t-1}: the product of the unfolds' Jacobians, each
    diag(cm_t / den') + diag(1 / den') [w sigma sigmoid' (E - v')], (T, B, H, H)."""
    V, den, cm_t = fw.coef["v"], fw.coef["den"], fw.coef["cm_t"]
    p = params(w)
    jac = None
    for u in range(den.shape[2]):
        v, v_next, d = V[:, :, u], V[:, :, u + 1], den[:, :, u]
        s = torch.sigmoid(p.sigma * (v.unsqueeze(-2) - p.mu))
        unfold = p.w * p.sigma * s * (1 - s) * (p.erev - v_next.unsqueeze(-1)) / d.unsqueeze(-1)
        unfold = unfold + torch.diag_embed(cm_t / d)
        jac = unfold if jac is None else unfold @ jac
    return jac


def ltc_step(x, state, w_ih, w_hh, b_ih, b_hh, timespan=1.0, ode_unfolds=6):
    """ncps' LTCCell, fully connected, no input or output mapping, ``timespan`` Δt since the last step:
    ``ode_unfolds`` steps of its fused semi-implicit Euler solver, each Δt / ode_unfolds long. The
    weights hold ncps' tables as H-row chunks, row j the receiving unit:
    w_hh = [sigma, mu, w, erev], w_ih = the sensory ones, b_ih + b_hh = [gleak, vleak, cm, unused]."""
    (v,) = state
    H = w_hh.shape[1]
    sigma, mu, w, erev = w_hh.reshape(4, H, H)
    s_sigma, s_mu, s_w, s_erev = w_ih.reshape(4, H, -1)
    gleak, vleak, cm, _ = (b_ih + b_hh).reshape(4, H)
    r = s_w * torch.sigmoid(s_sigma * (x.unsqueeze(-2) - s_mu))  # (B, H, D): input d to unit j
    num_s, den_s = (r * s_erev).sum(-1), r.sum(-1)
    cm_t = cm / (timespan / ode_unfolds)
    for _ in range(int(ode_unfolds)):
        s = w * torch.sigmoid(sigma * (v.unsqueeze(-2) - mu))  # (B, H, H): unit i to unit j
        num = cm_t * v + gleak * vleak + ((s * erev).sum(-1) + num_s)
        v = num / (cm_t + gleak + (s.sum(-1) + den_s) + 1e-8)
    return (v,)


def ltc_init(inputs, hidden, gen):
    """ncps' initialisation (LTCCell._init_ranges), drawn from ``gen`` in float64: every parameter uniform
    in its range, each synapse's reversal potential +1 or -1 (excitatory two times in three, as ncps'
    wirings draw them). Returns [w_ih, w_hh, b_ih, b_hh] in the cell's layout."""
    H, D = hidden, inputs

    def uniform(low, high, *shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64) * (high - low) + low

    def polarity(*shape):
        return torch.where(torch.randint(0, 3, shape, generator=gen) == 0, -1.0, 1.0).to(torch.float64)

    # sigma in (3, 8), mu in (0.3, 0.8), w in (0.001, 1), then the reversal potentials
    w_hh = torch.cat([uniform(3, 8, H, H), uniform(0.3, 0.8, H, H), uniform(0.001, 1, H, H), polarity(H, H)])
    w_ih = torch.cat([uniform(3, 8, H, D), uniform(0.3, 0.8, H, D), uniform(0.001, 1, H, D), polarity(H, D)])
    gleak, vleak, cm = uniform(0.001, 1, H), uniform(-0.2, 0.2, H), uniform(0.4, 0.6, H)
    b_ih = torch.cat([gleak, vleak, cm, torch.zeros(H, dtype=torch.float64)])
    return [w_ih, w_hh, b_ih, torch.zeros(4 * H, dtype=torch.float64)]


def constrain(w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> None:
    """ncps' apply_weight_constraints, in place: w, the sensory w, gleak and cm clipped at 0 (the
    biases' sum, what the cell uses)."""
    H = w_hh.shape[1]
    with torch.no_grad():
        w_hh[2 * H : 3 * H].clamp_(min=0)
        w_ih[2 * H : 3 * H].clamp_(min=0)
        for chunk in (0, 2):  # gleak, cm
            rows = slice(chunk * H, (chunk + 1) * H)
            torch.maximum(b_ih[rows], -b_hh[rows], out=b_ih[rows])


def read_ncps(module: torch.nn.Module) -> dict | None:
    """The parameters of an ncps ``LTC`` (or ``LTCCell``) in this cell's layout, with its sizes; None when
    the module is no ncps LTC. The values are those ncps' forward uses: softplus applied where the module
    has implicit_param_constraints, the sparsity masks multiplied in. An affine input mapping
    (x * input_w + input_b) is folded into the sensory sigma and mu (exact up to rounding); an output
    mapping must be the identity it starts as. Options this cell does not compute are refused by name."""
    kind = type(module).__name__
    if not type(module).__module__.startswith("ncps.") or kind not in ("LTC", "LTCCell"):
        return None
    cell = module if kind == "LTCCell" else getattr(module, "rnn_cell", None)
    prm = dict(cell.named_parameters())
    refused = []
    if kind == "LTC" and getattr(module, "use_mixed", False):
        refused.append("mixed_memory=True")
    if cell.motor_size != cell.state_size:
        refused.append(f"a wiring with {cell.motor_size} motor neurons of {cell.state_size}")
    unfolds = cell._ode_unfolds
    if not (isinstance(unfolds, int) and ODE_UNFOLDS.low <= unfolds <= ODE_UNFOLDS.high):
        refused.append(f"ode_unfolds={unfolds!r} (allowed: {ODE_UNFOLDS.low:g} to {ODE_UNFOLDS.high:g})")
    if cell._epsilon != EPSILON:
        refused.append(f"epsilon={cell._epsilon} (allowed: {EPSILON})")
    ow, ob = prm.get("output_w"), prm.get("output_b")
    if (ow is not None and not bool((ow == 1).all())) or (ob is not None and not bool((ob == 0).all())):
        refused.append("an output mapping other than the identity")
    iw = prm.get("input_w")
    if iw is not None and not bool((iw != 0).all()):
        refused.append("an input mapping with a zero weight")
    if refused:
        raise ValueError(f"module: this ncps LTC has {', '.join(refused)}; the ltc cell computes none of it")
    positive = cell.make_positive_fn

    def value(name, transform=None):
        v = prm[name].detach()
        return transform(v) if transform is not None else v.clone()

    mask, s_mask = cell.sparsity_mask.detach(), cell.sensory_sparsity_mask.detach()
    s_sigma, s_mu = value("sensory_sigma"), value("sensory_mu")
    if iw is not None:  # sigma' (x w + b - mu') = (sigma' w) (x - (mu' - b) / w)
        iw, ib = iw.detach(), prm["input_b"].detach() if "input_b" in prm else torch.zeros_like(iw)
        s_sigma, s_mu = s_sigma * iw[:, None], (s_mu - ib[:, None]) / iw[:, None]
    weight_hh = torch.cat(
        [value("sigma").T, value("mu").T, (positive(prm["w"].detach()) * mask).T, value("erev").T]
    )
    weight_ih = torch.cat(
        [s_sigma.T, s_mu.T, (positive(prm["sensory_w"].detach()) * s_mask).T, value("sensory_erev").T]
    )
    gleak, cm = positive(prm["gleak"].detach()), positive(prm["cm"].detach())
    bias = torch.cat([gleak, value("vleak"), cm, torch.zeros_like(gleak)])
    state = {
        "weight_ih_l0": weight_ih.contiguous(),
        "weight_hh_l0": weight_hh.contiguous(),
        "bias_ih_l0": bias,
        "bias_hh_l0": torch.zeros_like(bias),
    }
    D, H = cell.sensory_size, cell.state_size
    sizes = {"input_size": D, "hidden_size": H, "num_layers": 1, "bidirectional": False}
    return sizes | {"state": state, "solver": {"ode_unfolds": unfolds}}


# -- the page's notes in words (app/notes.py) --------------------------------------------------------
def _untrained_note(keep: float, over: str) -> str:
    return (
        f"Untrained, this LTC keeps a share {keep:.2g} of its voltage from one step to the next (mean "
        f"keep, over {over}): ncps' initial conductances (up to 1 for each of its synapses, from every "
        "unit and every input) outweigh its capacitance, so each unit's time constant τ is a fraction of "
        "a step and the membrane settles where its synapses drive it within the step. Little of h_(t−1) "
        "survives, and the gradient through h fades fast; training raises keep."
    )


def _growth_note(quantity: str, mean: float, clamped: float | None, rate: str) -> str:
    return (
        "∂h_t/∂h_(t−1) is the product of the solver's unfolds, each diag(cm_t/den) plus the synapses' "
        "slopes w·σ·sigmoid′·(E − v)/den, which are steep (σ between 3 and 8 untrained). When they "
        f"outweigh the leak, the product grows above 1 a step and the curve grows going back, here {rate}."
    )


SPECS = (
    CellSpec(
        name="ltc",
        label="LTC",
        title="LTC cell",
        color="#000000",
        gates=(
            Gate("tau", "time constant τ = cm / conductance", "#CC79A7", activation="none", chunk=False),
            Gate("keep", "kept v share Π cm_t / den", "#0072B2", chunk=False),
        ),
        forward=forward,
        reverse=reverse,
        step_jacobian=step_jacobian,
        torch_step=ltc_step,
        read_module=read_ncps,
        knobs=(TIMESPAN, ODE_UNFOLDS),
        order=6,
        train_cost=(1000.0, 41.0),
        memory_gate="keep",
        untrained_note=_untrained_note,
        untrained_when=lambda keep: keep < 0.1,
        growth_note=_growth_note,
        script_step=inspect.getsource(ltc_step),
        chunks=4,
        init=lambda inputs, hidden, gen: LayerWeights(*ltc_init(inputs, hidden, gen)),
        script_init=inspect.getsource(ltc_init),
        constrain=constrain,
    ),
)
