"""Independent references: an unroll of torch.nn.RNNCell / LSTMCell / GRUCell (ncps' CfCCell for the
CfC, its LTCCell for the LTC) with retain_grad; torch.nn.MultiheadAttention for models.attention.

Nothing here shares code with models/ beyond reading the net's weights by torch's names and which
torch module a cell declares it computes. Clamped
gates are written out by hand (a constant in place of the gate's activation).
"""

from __future__ import annotations

import torch
from ncps.torch import LTC, CfC, CfCCell, LTCCell
from ncps.wirings import FullyConnected

from models.attention import AttentionWeights
from models.cells import REGISTRY


class NcpsCfC(torch.nn.Module):
    """ncps' CfCCell (mode "default", no backbone) as a one-step cell(x, h) -> h after ``timespan``, its
    four linear layers over [x, h] set from the net's chunks f1, f2, t_a, t_b."""

    def __init__(self, D, H, weights, dtype, timespan=1.0):
        super().__init__()
        self.timespan = timespan
        self.cell = CfCCell(D, H, mode="default", backbone_layers=0).to(dtype=dtype)
        w = torch.cat([weights["weight_ih"], weights["weight_hh"]], 1)
        b = weights["bias_ih"] + weights["bias_hh"]
        with torch.no_grad():
            for k, lin in enumerate((self.cell.ff1, self.cell.ff2, self.cell.time_a, self.cell.time_b)):
                lin.weight.copy_(w[k * H : (k + 1) * H])
                lin.bias.copy_(b[k * H : (k + 1) * H])

    def forward(self, x, h):
        return self.cell(x, h, self.timespan)[0]

    def layout_grads(self):
        """Its parameters' .grad in torch's layout: weight_ih, weight_hh (the columns on x and on h),
        bias_ih and bias_hh (both the one bias's: only their sum enters)."""
        linears = (self.cell.ff1, self.cell.ff2, self.cell.time_a, self.cell.time_b)
        w = torch.cat([lin.weight.grad for lin in linears])
        b = torch.cat([lin.bias.grad for lin in linears])
        D = self.cell.input_size
        return {"weight_ih": w[:, :D], "weight_hh": w[:, D:], "bias_ih": b, "bias_hh": b}


class NcpsLTC(torch.nn.Module):
    """ncps' LTCCell (fully connected, no input or output mapping, ``ode_unfolds`` unfolds, parameters used
    as they are) as a one-step cell(x, h) -> h after ``timespan``, its tables set from the net's chunks
    (row j of a chunk is column j of ncps' (from, to) table)."""

    def __init__(self, D, H, weights, dtype, timespan=1.0, ode_unfolds=6):
        super().__init__()
        self.timespan = timespan
        self.cell = LTCCell(
            FullyConnected(H), in_features=D, input_mapping=None, output_mapping=None, ode_unfolds=ode_unfolds
        )
        self.cell = self.cell.to(dtype=dtype)
        self.D, self.H = D, H
        b = weights["bias_ih"] + weights["bias_hh"]
        with torch.no_grad():
            for k, name in enumerate(("sigma", "mu", "w", "erev")):
                getattr(self.cell, name).copy_(weights["weight_hh"][k * H : (k + 1) * H].T)
                getattr(self.cell, "sensory_" + name).copy_(weights["weight_ih"][k * H : (k + 1) * H].T)
            for k, name in enumerate(("gleak", "vleak", "cm")):
                getattr(self.cell, name).copy_(b[k * H : (k + 1) * H])

    def forward(self, x, h):
        return self.cell(x, h, self.timespan)[1]

    def layout_grads(self):
        """Its parameters' .grad in the net's layout (the fourth bias chunk is unused: 0)."""
        c = self.cell
        w_hh = torch.cat([getattr(c, n).grad.T for n in ("sigma", "mu", "w", "erev")])
        w_ih = torch.cat([getattr(c, "sensory_" + n).grad.T for n in ("sigma", "mu", "w", "erev")])
        b = torch.cat([c.gleak.grad, c.vleak.grad, c.cm.grad, torch.zeros_like(c.cm.grad)])
        return {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b, "bias_hh": b}


NCPS_CELLS = {"cfc": NcpsCfC, "ltc": NcpsLTC}


def ncps_module(cell: str, D: int, H: int, dtype: torch.dtype, seed: int = 0, **kw) -> torch.nn.Module:
    """ncps' own sequence module for a cell of ours, drawn from ``seed``: CfC with no backbone (the cell
    we compute), LTC with its defaults."""
    torch.manual_seed(seed)
    if cell == "cfc":
        return CfC(D, H, backbone_layers=0, batch_first=False, **kw).to(dtype)
    return LTC(D, H, batch_first=False, **kw).to(dtype)


class NcpsStack(torch.nn.Module):
    """The net's layers and directions as ncps cells (CfCCell, LTCCell), run as torch.nn.RNN runs its
    layers: output (T, B, dirs*H) and h_n (layers*dirs, B, H). ncps' own modules have one layer and one
    direction."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.cells = torch.nn.ModuleList(
            make_cell(net, layer, d) for layer in range(net.num_layers) for d in range(net.num_directions)
        )

    def forward(self, x, hx=None):
        T, B, _ = x.shape
        dirs, H = self.net.num_directions, self.net.hidden_size
        inputs, last = x, []
        for layer in range(self.net.num_layers):
            outs = []
            for d in range(dirs):
                idx = layer * dirs + d
                h = torch.zeros(B, H, dtype=x.dtype) if hx is None else hx[idx]
                seq = [None] * T
                for t in range(T - 1, -1, -1) if d else range(T):
                    h = seq[t] = self.cells[idx](inputs[t], h)
                outs.append(torch.stack(seq))
                last.append(h)
            inputs = torch.cat(outs, -1)
        return inputs, torch.stack(last)


def make_cell(net, layer, direction):
    """torch's one-step cell of the module the net's cell declares it computes (RNN -> RNNCell); for the
    CfC, ncps' CfCCell."""
    s = f"_l{layer}" + ("_reverse" if direction else "")
    D = net.input_size if layer == 0 else net.output_size
    spec = REGISTRY[net.cell]
    if net.cell in NCPS_CELLS:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        weights = {n: net.weights[n + s] for n in names}
        return NCPS_CELLS[net.cell](D, net.hidden_size, weights, net.dtype, **net.solver)
    cell_class = getattr(torch.nn, spec.torch_module + "Cell")
    cell = cell_class(D, net.hidden_size, **spec.torch_kwargs).to(dtype=net.dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(net.weights[name + s])
    return cell


def default_loss(net):
    """The engine's default loss, written out: each direction's final output, summed."""
    H = net.hidden_size

    def loss(out):
        value = out[-1, :, :H].sum()
        return value + out[0, :, H:].sum() if net.bidirectional else value

    return loss


def _lstm_clamped(cell, x, h, c, clamp, c_offset=None):
    i, f, g, o = (x @ cell.weight_ih.t() + cell.bias_ih + h @ cell.weight_hh.t() + cell.bias_hh).chunk(4, 1)
    gates = {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}
    for name, value in clamp.items():
        gates[name] = torch.full_like(gates[name], value)
    c = gates["f"] * c + gates["i"] * gates["g"]
    if c_offset is not None:  # a perturbation of c_t itself, before h_t reads it
        c = c + c_offset
    return gates["o"] * torch.tanh(c), c


def _gru_clamped(cell, x, h, clamp):
    H = h.shape[-1]
    ih = x @ cell.weight_ih.t() + cell.bias_ih
    hh = h @ cell.weight_hh.t() + cell.bias_hh
    r = torch.sigmoid(ih[:, :H] + hh[:, :H])
    z = torch.sigmoid(ih[:, H : 2 * H] + hh[:, H : 2 * H])
    r = torch.full_like(r, clamp["r"]) if "r" in clamp else r
    z = torch.full_like(z, clamp["z"]) if "z" in clamp else z
    n = torch.tanh(ih[:, 2 * H :] + r * hh[:, 2 * H :])
    n = torch.full_like(n, clamp["n"]) if "n" in clamp else n
    return (1 - z) * n + z * h


def unroll(net, x, loss_fn=None, clamp=None, perturb=None, hx=None):
    """Unrolled autograd reference: output, h, c, grad_h, grad_c ((L*dirs, T, B, H)) and the loss.

    perturb = (kind, index, t, delta): adds delta (B, H) to h_t (kind "h") or c_t (kind "c", before h_t
    reads it) of layer-direction ``index`` at step t, for finite differences of the total derivative.
    """
    clamp = dict(net.clamp) if clamp is None else clamp
    loss_fn = loss_fn or default_loss(net)
    T, B, _ = x.shape
    H, dirs = net.hidden_size, net.num_directions
    hs, cs = [], []
    layer_input = x
    for layer in range(net.num_layers):
        outs = []
        for d in range(dirs):
            idx = layer * dirs + d
            cell = make_cell(net, layer, d)
            h = torch.zeros(B, H, dtype=x.dtype) if hx is None else hx[0][idx].clone()
            c = torch.zeros(B, H, dtype=x.dtype) if hx is None else hx[1][idx].clone()
            h_seq, c_seq = [None] * T, [None] * T
            for t in range(T - 1, -1, -1) if d else range(T):
                hit = perturb is not None and perturb[1:3] == (idx, t)
                if net.cell == "lstm" and hit and perturb[0] == "c":
                    h, c = _lstm_clamped(cell, layer_input[t], h, c, clamp, c_offset=perturb[3])
                elif net.cell == "lstm":
                    h, c = (
                        _lstm_clamped(cell, layer_input[t], h, c, clamp)
                        if clamp
                        else cell(layer_input[t], (h, c))
                    )
                elif net.cell == "gru" and clamp:
                    h = _gru_clamped(cell, layer_input[t], h, clamp)
                else:
                    h = cell(layer_input[t], h)
                if hit and perturb[0] == "h":
                    h = h + perturb[3]
                h.retain_grad()
                h_seq[t] = h
                if net.cell == "lstm":
                    c.retain_grad()
                    c_seq[t] = c
            hs.append(h_seq)
            cs.append(c_seq)
            outs.append(torch.stack(h_seq))
        layer_input = torch.cat(outs, -1)
    out = layer_input
    loss = loss_fn(out)
    loss.backward()

    def collect(seqs, attr=None):
        return torch.stack(
            [torch.stack([getattr(v, attr) if attr else v for v in seq]) for seq in seqs]
        ).detach()

    c = grad_c = None
    if net.cell == "lstm":
        c, grad_c = collect(cs), collect(cs, "grad")
    return out.detach(), collect(hs), c, collect(hs, "grad"), grad_c, loss.detach()


def jacobian_last_wrt(net, x, index, t, kind_out="h", kind_in="h"):
    """d(state_T)/d(state_t) of one layer-direction by autograd on a single-layer re-run from step t.

    A change of c_t reaches h_t = o_t tanh(c_t) of the same step; a change of h_t leaves c_t as it is.

    Only for single-layer nets (the Jacobian is within one layer-direction's recurrence)."""
    assert net.num_layers == 1
    d = index % net.num_directions
    cell = make_cell(net, 0, d)
    _, h, c, *_ = unroll(net, x)
    seq = list(range(x.shape[0] - 1, -1, -1)) if d else list(range(x.shape[0]))
    pos = seq.index(t)
    h_t, c_t = h[index, t], (c[index, t] if c is not None else None)
    if kind_in == "c":  # c_t is read by h_t = o_t * tanh(c_t) in the same step: o_t from (x_t, h_{t-1})
        h_before = h[index, seq[pos - 1]] if pos > 0 else torch.zeros_like(h_t)
        H = net.hidden_size
        pre_o = x[t] @ cell.weight_ih[3 * H :].t() + cell.bias_ih[3 * H :]
        o_t = torch.sigmoid(pre_o + h_before @ cell.weight_hh[3 * H :].t() + cell.bias_hh[3 * H :])

    def run(state):
        hh, cc = (state, c_t) if kind_in == "h" else (o_t * torch.tanh(state), state)
        for s in seq[pos + 1 :]:
            if net.cell == "lstm":
                hh, cc = _lstm_clamped(cell, x[s], hh, cc, net.clamp) if net.clamp else cell(x[s], (hh, cc))
            elif net.cell == "gru" and net.clamp:
                hh = _gru_clamped(cell, x[s], hh, net.clamp)
            else:
                hh = cell(x[s], hh)
        return hh if kind_out == "h" else cc

    start = h_t if kind_in == "h" else c_t
    return torch.autograd.functional.jacobian(run, start)  # (B, H, B, H)


def attention_oracle(w: AttentionWeights, x, r, heads, residual, layer_norm, dtype):
    """models.attention's layer from torch's own modules: torch.nn.Linear (the input layer), then
    torch.nn.MultiheadAttention on (u, u, u) with
    the causal mask torch.nn.Transformer makes, the residual, torch.nn.LayerNorm, the loss r · y_(T-1),
    and the gradient by autograd: (y, weights (B, n, T, T), loss, grad_x)."""
    T, E, D = x.shape[0], w.width, w.inputs
    embed = torch.nn.Linear(D, E, dtype=dtype)
    embed.load_state_dict({"weight": w.embed_weight.to(dtype), "bias": w.embed_bias.to(dtype)})
    mha = torch.nn.MultiheadAttention(E, heads, dtype=dtype)
    mha.load_state_dict({k: v.to(dtype) for k, v in w.mha_state().items()})
    norm = torch.nn.LayerNorm(E, dtype=dtype)
    norm.load_state_dict({"weight": w.norm_weight.to(dtype), "bias": w.norm_bias.to(dtype)})
    x = x.detach().to(dtype).requires_grad_(True)
    u = embed(x) + w.positions[:T].to(dtype).unsqueeze(1)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype)
    z, a = mha(u, u, u, attn_mask=mask, need_weights=True, average_attn_weights=False)
    y = u + z if residual else z
    if layer_norm:
        y = norm(y)
    loss = (y[-1] @ r.to(dtype)).sum()
    (g,) = torch.autograd.grad(loss, x)
    return y.detach(), a.detach(), loss.detach(), g
