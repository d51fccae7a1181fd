"""Independent references: an unroll of torch.nn.RNNCell / LSTMCell / GRUCell with retain_grad.

Nothing here shares code with models/ beyond reading the net's weights by torch's names.
"""

from __future__ import annotations

import torch

CELL_CLASSES = {"rnn_tanh": torch.nn.RNNCell, "rnn_relu": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell,
                "gru": torch.nn.GRUCell}


def make_cell(net, layer, direction):
    s = f"_l{layer}" + ("_reverse" if direction else "")
    D = net.input_size if layer == 0 else net.output_size
    kwargs = {"nonlinearity": net.cell[4:]} if net.cell.startswith("rnn") else {}
    cell = CELL_CLASSES[net.cell](D, net.hidden_size, **kwargs).to(dtype=net.dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(net.weights[name + s])
    return cell


def unroll(net, x, loss_fn, clamp=None):
    """Unrolled autograd reference. Returns output, h, c, grad_h, grad_c, all (L*dirs, T, B, H)."""
    clamp = clamp or {}
    T, B, _ = x.shape
    H, dirs = net.hidden_size, net.num_directions
    hs, cs = [], []
    layer_input = x
    for layer in range(net.num_layers):
        outs = []
        for d in range(dirs):
            cell = make_cell(net, layer, d)
            h = torch.zeros(B, H, dtype=x.dtype)
            c = torch.zeros(B, H, dtype=x.dtype)
            h_seq, c_seq = [None] * T, [None] * T
            order = range(T - 1, -1, -1) if d else range(T)
            for t in order:
                if net.cell == "lstm":
                    if clamp:
                        gates = layer_input[t] @ cell.weight_ih.t() + cell.bias_ih + h @ cell.weight_hh.t() + cell.bias_hh
                        i, f, g, o = gates.chunk(4, 1)
                        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                        vals = {"i": i, "f": f, "g": g, "o": o}
                        for k, v in clamp.items():
                            vals[k] = torch.full_like(vals[k], v)
                        c = vals["f"] * c + vals["i"] * vals["g"]
                        h = vals["o"] * torch.tanh(c)
                    else:
                        h, c = cell(layer_input[t], (h, c))
                    c.retain_grad()
                    c_seq[t] = c
                else:
                    h = cell(layer_input[t], h)
                h.retain_grad()
                h_seq[t] = h
            hs.append(h_seq)
            cs.append(c_seq)
            outs.append(torch.stack(h_seq))
        layer_input = torch.cat(outs, -1)
    out = layer_input
    loss = loss_fn(out)
    loss.backward()

    def collect(seqs, attr):
        return torch.stack([torch.stack([getattr(v, attr) if attr else v for v in seq]) for seq in seqs]).detach()

    h = collect(hs, None)
    grad_h = collect(hs, "grad")
    c = grad_c = None
    if net.cell == "lstm":
        c, grad_c = collect(cs, None), collect(cs, "grad")
    return out.detach(), h, c, grad_h, grad_c, loss.detach()
