"""The Jacobian sweeps that step back through one H x H matrix a step (cells.base.step_blocks: the
GRU's and the CfC's chunk sweep with K >= H cotangents, the LSTM's two blocks from H = PRODUCTS_FROM)
against plain autograd's dh_T/dh_t at every t, on both code paths and with a batch, and against
float64 where float32 carries the products far below its range."""

import pytest
import torch

import models
from models.cells import base, lstm
from models.cells.base import Ops
from tests.reference import jacobian_last_wrt

pytestmark = pytest.mark.usefixtures("one_thread")

H = lstm.PRODUCTS_FROM  # the smallest size the LSTM's block sweep runs at
CELLS = ["lstm", "gru", "cfc"]


def _products(net, x):
    """The sweep seeded with I (rows of h_T and, LSTM, of c_T): true values, (T, B, K, H) each."""
    fws, ws, _ = net._forward_all(x, *net._initial_state(None, x.shape[1]))
    B = x.shape[1]
    eye = torch.eye(H, dtype=x.dtype).expand(B, H, H)
    if net.spec.has_cell_state:
        zero = torch.zeros_like(eye)
        rev = net.spec.reverse(
            fws[0][0], ws[0][0], None, torch.cat([eye, zero], 1), torch.cat([zero, eye], 1), store=False
        )
    else:
        rev = net.spec.reverse(fws[0][0], ws[0][0], None, eye, None, store=False)
    scale = 1.0 if rev.log2_scale is None else torch.exp2(rev.log2_scale)[..., None, None]
    return rev.grad_h * scale, (None if rev.grad_c is None else rev.grad_c * scale)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("numpy_path", [True, False])
def test_block_sweeps_match_autograd(monkeypatch, cell, batch, numpy_path):
    monkeypatch.setattr(Ops, "numpy_on_cpu", numpy_path)
    monkeypatch.setattr(base, "BLOCK_STEPS", 3)  # several blocks of steps in a short sequence
    net = models.build(cell, 3, H, seed=5, dtype="float64")
    x = torch.randn(8, batch, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    grad_h, grad_c = _products(net, x)
    for t in range(8):
        jac = jacobian_last_wrt(net, x, 0, t)  # (B, H, B, H): d h_T / d h_t
        for b in range(batch):
            torch.testing.assert_close(grad_h[t, b, :H], jac[b, :, b, :], atol=1e-12, rtol=1e-10)
            if cell == "lstm":
                jc = jacobian_last_wrt(net, x, 0, t, "c", "c")
                torch.testing.assert_close(grad_c[t, b, H:], jc[b, :, b, :], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("batch", "numpy_path"), [(1, True), (2, True), (2, False)])
def test_block_sweeps_carry_float32_below_its_range(monkeypatch, cell, batch, numpy_path):
    """A fast-forgetting net: dh_T/dh_t falls far below 1e-38 going back (the sweep rescales every
    few steps, each batch item at its own scale); the float32 norms still match float64's on the
    same weights."""
    monkeypatch.setattr(Ops, "numpy_on_cpu", numpy_path)
    kw = {"forget_bias": -4.0} if cell == "lstm" else {"update_bias": -4.0}
    net = models.build(cell, 2, H, seed=3, init="orthogonal", spectral_radius=0.3, **kw)
    x = torch.randn(200, batch, 2, generator=torch.Generator().manual_seed(3))
    tr = net.trace(x, jacobian=True)
    tr64 = net.to(dtype="float64").trace(x.double(), jacobian=True)
    assert float(tr64.jacobian_norm.min()) < 1e-40  # below float32's range, or the test proves nothing
    assert (tr.jacobian_norm > 0).all()
    torch.testing.assert_close(tr.jacobian_norm, tr64.jacobian_norm, rtol=1e-3, atol=0)
    if cell == "lstm":
        torch.testing.assert_close(tr.jacobian_norm_c, tr64.jacobian_norm_c, rtol=1e-3, atol=0)
