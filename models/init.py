"""Initialisation of fresh nets: torch's default, Xavier, orthogonal, identity (IRNN, Le et al. 2015),
an optional rescale of every recurrent matrix to a chosen spectral radius, and the gate biases
(LSTM forget gate, GRU update gate) that decide how long a fresh net remembers.

Every recurrent matrix here is one gate's H x H block of weight_hh; the spectral radius is its
largest |eigenvalue|.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .cells.base import LayerWeights


def _orthogonal(n: int, gen: torch.Generator) -> Tensor:
    q, r = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).masked_fill(torch.diagonal(r) == 0, 1)


def _xavier(rows: int, cols: int, gen: torch.Generator) -> Tensor:
    bound = math.sqrt(6.0 / (rows + cols))
    return (torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def spectral_radius(matrix: Tensor) -> float:
    return float(torch.linalg.eigvals(matrix.double()).abs().max())


def init_layer(
    scheme: str, n_gates: int, input_size: int, hidden_size: int, gen: torch.Generator
) -> LayerWeights:
    """Float64 weights of one layer-direction, drawn from ``gen``."""
    G, H, D = n_gates, hidden_size, input_size
    if scheme == "torch":  # U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn.RNNBase
        k = 1 / math.sqrt(H)

        def uniform(*shape):
            return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * k

        return LayerWeights(uniform(G * H, D), uniform(G * H, H), uniform(G * H), uniform(G * H))
    if scheme == "xavier":
        w_ih = torch.cat([_xavier(H, D, gen) for _ in range(G)])
        w_hh = torch.cat([_xavier(H, H, gen) for _ in range(G)])
    elif scheme == "orthogonal":
        w_ih = torch.cat([_xavier(H, D, gen) for _ in range(G)])
        w_hh = torch.cat([_orthogonal(H, gen) for _ in range(G)])
    elif scheme == "identity":  # IRNN: W_hh = I, small Gaussian input weights
        w_ih = torch.randn(G * H, D, generator=gen, dtype=torch.float64) * 1e-3
        w_hh = torch.eye(H, dtype=torch.float64).repeat(G, 1)
    else:  # checked by the caller; kept as a guard
        raise ValueError(f"init: unknown scheme {scheme!r}")
    zeros = torch.zeros(G * H, dtype=torch.float64)
    return LayerWeights(w_ih, w_hh, zeros, zeros.clone())


def rescale_spectral_radius(w: LayerWeights, n_gates: int, radius: float) -> LayerWeights:
    """Scale each gate's H x H block of weight_hh so its spectral radius is ``radius``."""
    blocks = []
    for block in w.weight_hh.chunk(n_gates):
        current = spectral_radius(block)
        if current == 0.0:
            raise ValueError("spectral_radius: a recurrent matrix is all zeros and cannot be rescaled")
        blocks.append(block * (radius / current))
    return w._replace(weight_hh=torch.cat(blocks))


def set_gate_bias(w: LayerWeights, gate: int, n_gates: int, value: float) -> LayerWeights:
    """Make the gate's total bias b_ih + b_hh equal ``value`` (all of it in b_ih)."""
    H = w.bias_ih.shape[0] // n_gates
    b_ih, b_hh = w.bias_ih.clone(), w.bias_hh.clone()
    b_ih[gate * H : (gate + 1) * H] = value
    b_hh[gate * H : (gate + 1) * H] = 0.0
    return w._replace(bias_ih=b_ih, bias_hh=b_hh)
