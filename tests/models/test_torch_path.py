"""The loops' torch code path (the one a GPU runs) on the CPU: same numbers as the NumPy path."""

import pytest
import torch

import models
from models.cells.base import Ops
from tests.reference import unroll


@pytest.fixture
def torch_ops(monkeypatch):
    monkeypatch.setattr(Ops, "numpy_on_cpu", False)


@pytest.mark.parametrize("cell", models.limits.CELLS)
def test_torch_path_matches_autograd(torch_ops, monkeypatch, cell):
    net = models.build(cell, 3, 5, num_layers=2, bidirectional=True, seed=11, dtype="float64")
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    loss = lambda out: (out**2).sum()  # noqa: E731
    assert not Ops(x).numpy
    tr = net.trace(x, loss=loss, jacobian=True)
    out, _, _, grad_h, grad_c, _ = unroll(net, x, loss)
    torch.testing.assert_close(tr.output, out, atol=1e-12, rtol=0)
    torch.testing.assert_close(tr.grad_h, grad_h, atol=1e-10, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(tr.grad_c, grad_c, atol=1e-10, rtol=0)
    monkeypatch.setattr(Ops, "numpy_on_cpu", True)
    again = net.trace(x, loss=loss, jacobian=True)
    torch.testing.assert_close(tr.jacobian_norm, again.jacobian_norm, atol=1e-10, rtol=0)
