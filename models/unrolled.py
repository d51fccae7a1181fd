"""A cell with no torch.nn module of its own (the CfC) as a torch module: its spec's ``torch_step``
unrolled over time with autograd, in torch.nn.RNN's layout and parameter names.

    module = Unrolled("cfc", input_size=3, hidden_size=16, num_layers=2, bidirectional=True)
    output, h_n = module(x)       # x (T, B, D) time-major; output (T, B, dirs*H); h_n (layers*dirs, B, H)

It is what RecurrentNet.to_torch gives for such a cell, so training (models/train.py) runs on it as on
torch.nn.LSTM, and models.from_torch reads it back. It is slower than the engine's sweeps (one autograd
node per op and step) and exists for training and for readers of the weights, not for traces.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import limits
from .cells import REGISTRY
from .cells.base import LayerWeights, param_suffix


class Unrolled(torch.nn.Module):
    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        solver: dict[str, float] | None = None,
    ):
        super().__init__()
        spec = REGISTRY[cell]
        if spec.torch_step is None:
            raise ValueError(f"cell: {cell!r} has no torch step to unroll")
        self.cell, self.step, self.states = cell, spec.torch_step, 2 if spec.has_cell_state else 1
        self.spec = spec
        self.solver = limits.check_solver(cell, solver)  # the cell's timespan, ode_unfolds: its defaults
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional = num_layers, bidirectional
        G, H, dirs = spec.n_gates, hidden_size, 2 if bidirectional else 1
        bound = 1 / math.sqrt(H)  # torch.nn.RNN's default: U(-1/sqrt(H), 1/sqrt(H)) for every tensor
        for layer in range(num_layers):
            D = input_size if layer == 0 else dirs * H
            for d in range(dirs):
                shapes = ((G * H, D), (G * H, H), (G * H,), (G * H,))
                drawn = [torch.empty(s, device=device, dtype=dtype).uniform_(-bound, bound) for s in shapes]
                if spec.init is not None:  # a cell that draws its own (the LTC, ncps' ranges): torch's RNG
                    own = spec.init(D, H, torch.default_generator)
                    drawn = [p.to(device=device, dtype=q.dtype) for p, q in zip(own, drawn, strict=True)]
                for name, p in zip(LayerWeights._fields, drawn, strict=True):
                    self.register_parameter(name + param_suffix(layer, d), torch.nn.Parameter(p))

    def constrain(self) -> None:
        """The cell's limits on its parameters, in place (the LTC's conductances clipped at 0); training
        calls it after every optimizer step. Nothing for a cell without any."""
        if self.spec.constrain is None:
            return
        dirs = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            for d in range(dirs):
                s = param_suffix(layer, d)
                self.spec.constrain(*(getattr(self, n + s) for n in LayerWeights._fields))

    def forward(self, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None):
        """x (T, B, D); hx (layers*dirs, B, H), or (h0, c0) for a cell with a cell state. Returns the top
        layer's output (T, B, dirs*H) and the last states in torch's h_n layout."""
        T, B, _ = x.shape
        dirs, H = 2 if self.bidirectional else 1, self.hidden_size
        if hx is None:
            zeros = x.new_zeros(self.num_layers * dirs, B, H)
            hx = (zeros,) * self.states
        elif self.states == 1:
            hx = (hx,)
        last = []
        inputs = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                s = param_suffix(layer, d)
                params = [getattr(self, n + s) for n in LayerWeights._fields]
                state = tuple(h[layer * dirs + d] for h in hx)
                seq = [None] * T
                for t in range(T - 1, -1, -1) if d else range(T):
                    state = self.step(inputs[t], state, *params, **self.solver)
                    seq[t] = state[0]
                outs.append(torch.stack(seq))
                last.append(state)
            inputs = torch.cat(outs, -1)
        h_n = tuple(torch.stack([s[k] for s in last]) for k in range(self.states))
        return inputs, (h_n[0] if self.states == 1 else h_n)
