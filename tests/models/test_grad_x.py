"""tr.grad_x and tr.grad_x_norm: dL/dx_t of every input, against torch's own module and autograd, in
every cell, layer count and direction, and down to 1e-300 in a float32 run."""

from __future__ import annotations

import pytest
import torch

import models
from models import limits

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("cell", limits.CELLS)
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
@pytest.mark.parametrize("loss", ["last", "sum"])
def test_grad_x_is_autograd_s_through_the_torch_module(cell, layers, bidirectional, loss):
    net = models.build(cell, 3, 5, layers, bidirectional, seed=2, dtype="float64")
    x = torch.randn(17, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    tr = net.trace(x, loss=loss, jacobian=False)
    xr = x.clone().requires_grad_(True)
    out, _ = net.to_torch()(xr)
    H = net.hidden_size
    if loss == "last":
        value = out[-1, :, :H].sum() + (out[0, :, H:].sum() if bidirectional else 0)
    else:
        value = out.sum()
    value.backward()
    assert tr.grad_x.shape == x.shape and tr.grad_x_norm.shape == (17, 2)
    torch.testing.assert_close(tr.grad_x, xr.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(tr.grad_x_norm, xr.grad.norm(dim=-1), rtol=1e-10, atol=1e-12)
    assert tr.grad_x_norm.dtype == torch.float64


@pytest.mark.parametrize("cell", limits.CELLS)
def test_grad_x_in_float32_is_float64_s(cell):
    net = models.build(cell, 2, 8, seed=0)
    x = models.tasks.adding(40, seed=1).x[:, :1]
    tr32, tr64 = net.trace(x), net.to(dtype="float64").trace(x)
    assert tr32.grad_x.dtype == torch.float32
    torch.testing.assert_close(tr32.grad_x_norm, tr64.grad_x_norm, rtol=2e-4, atol=0)


def test_tiny_input_gradients_are_carried_in_float32():
    """A tanh RNN at the origin with W_hh = 0.5 P (P a cyclic permutation) and W_ih a column of ones:
    dL/dh_(T-1) is all ones, each step back halves and permutes it, exactly in binary floating point,
    so dL/dx_t = H 0.5^(T-1-t) exactly: 2^-996 = 1.5e-300 at t = 0 of T = 1000, in a float32 run."""
    H, T = 8, 1000
    perm = torch.roll(torch.eye(H, dtype=torch.float64), 1, 0)
    weights = {
        "weight_ih_l0": torch.ones(H, 1, dtype=torch.float64),
        "weight_hh_l0": 0.5 * perm,
        "bias_ih_l0": torch.zeros(H, dtype=torch.float64),
        "bias_hh_l0": torch.zeros(H, dtype=torch.float64),
    }
    net = models.RecurrentNet("rnn_tanh", 1, H, weights=weights).to(dtype="float32")
    tr = net.trace(torch.zeros(T, 1, 1), jacobian=False)
    exact = H * 0.5 ** torch.arange(T - 1, -1, -1, dtype=torch.float64)
    assert float(exact[0]) == 2.0**-996
    torch.testing.assert_close(tr.grad_x_norm[:, 0], exact, rtol=1e-12, atol=0)
