"""Norms far below float32's range, in float32 runs: the sweeps carry their scale as a power of two
(cells.base.Rescale), so ||dL/dh_t|| = 1e-63 is shown as 1e-63, not 0 (issue 10).

References: float64 autograd on the same weights (tests.reference.unroll) and exact identities."""

import math

import pytest
import torch

import models
from tests.reference import unroll

pytestmark = pytest.mark.usefixtures("one_thread")


def _norm(v):
    """||v||_2 over the last axis, scaled first: a plain float64 sum of squares underflows below 1e-154."""
    scale = v.abs().amax(-1, keepdim=True)
    return (v / scale.where(scale > 0, 1)).norm(dim=-1) * scale[..., 0]


def _nonzero_close(actual, expected, rtol):
    """actual within rtol of expected wherever expected is a positive float64, and never 0 there."""
    held = expected > 0
    assert held.any()
    assert (actual[held] > 0).all(), "a norm float64 can hold came out as 0"
    torch.testing.assert_close(actual[held], expected[held], rtol=rtol, atol=0)


def test_the_issue_run_keeps_its_tail_in_float32():
    """Issue 10's run: tanh RNN, H = 64, orthogonal W_hh at spectral radius 0.8, T = 400. float32 held
    grad_h_norm at t = 0, 50, 100 as exactly 0.0; float64 gives about 1e-63, 1e-55, 1e-47."""
    torch.manual_seed(0)
    net = models.build("rnn_tanh", 3, 64, seed=0, init="orthogonal", spectral_radius=0.8)
    x = torch.randn(400, 1, 3)
    tr = net.trace(x, jacobian=True)
    net64 = net.to(dtype="float64")
    _, _, _, grad_h, _, _ = unroll(net64, x.double())
    expected = _norm(grad_h)
    assert float(expected[0, 0, 0]) < 1e-50  # the tail the float32 run used to lose
    _nonzero_close(tr.grad_h_norm, expected, rtol=1e-3)
    tr64 = net64.trace(x.double(), jacobian=True)
    _nonzero_close(tr.jacobian_norm, tr64.jacobian_norm, rtol=1e-3)
    assert float(tr.jacobian_norm[0, 0, 0]) < 1e-30


def test_rho_power_identity_down_to_1e_minus_301_in_float32():
    """tanh RNN at the origin, W_hh = 0.5 Q, T = 1000: ||dh_T/dh_t|| = 0.5^(T-1-t) exactly, the last
    value 0.5^999 = 1.9e-301, in a float32 run (float32's smallest normal number is 1.2e-38)."""
    T, H, rho = 1000, 16, 0.5
    net = models.build("rnn_tanh", 1, H, seed=0, init="orthogonal", spectral_radius=rho)
    tr = net.trace(torch.zeros(T, 1, 1), jacobian=True)
    exact = torch.tensor([rho ** (T - 1 - t) for t in range(T)], dtype=torch.float64)
    assert float(exact[0]) < 2e-301
    torch.testing.assert_close(tr.jacobian_norm[0, :, 0], exact, rtol=1e-4, atol=0)
    torch.testing.assert_close(tr.grad_h_norm[0, :, 0], exact * math.sqrt(H), rtol=1e-4, atol=0)
    step = tr.step_jacobian_norm[0, 1:, 0]
    torch.testing.assert_close(step, torch.full((T - 1,), rho, dtype=torch.float64), rtol=1e-5, atol=0)
    # the stored float32 gradient itself is the true value where float32 can hold it, 0 below
    g = tr.grad_h[0, :, 0].double().norm(dim=-1)
    shown = exact * math.sqrt(H) > 1e-36
    torch.testing.assert_close(g[shown], tr.grad_h_norm[0, shown, 0], rtol=1e-4, atol=0)
    assert (g[exact < 1e-46] == 0).all()


@pytest.mark.parametrize("cell", models.limits.CELLS)
@pytest.mark.parametrize("loss", [None, "sum"])
def test_stacked_bidirectional_tiny_norms_match_float64(cell, loss):
    """Two layers, both directions, a fast-forgetting init: the top layer's gradient decays to ~1e-60
    and reaches the layer below as its explicit gradient at every step, at its own scale."""
    torch.manual_seed(1)
    kw = {"forget_bias": -4.0} if cell == "lstm" else {"update_bias": -4.0} if cell == "gru" else {}
    net = models.build(
        cell, 2, 8, num_layers=2, bidirectional=True, seed=3, init="orthogonal", spectral_radius=0.3, **kw
    )
    x = torch.randn(160, 2, 2)
    fn = None if loss is None else (lambda out: out.sum())
    tr = net.trace(x, loss=loss, jacobian=True)
    net64 = net.to(dtype="float64")
    _, _, _, grad_h, grad_c, _ = unroll(net64, x.double(), fn)
    expected = _norm(grad_h)
    if loss is None:
        assert float(expected.min()) < 1e-40  # below float32's range, or the test proves nothing
    _nonzero_close(tr.grad_h_norm, expected, rtol=1e-3)
    if cell == "lstm":
        _nonzero_close(tr.grad_c_norm, _norm(grad_c), rtol=1e-3)
    tr64 = net64.trace(x.double(), loss=loss, jacobian=True)
    _nonzero_close(tr.jacobian_norm, tr64.jacobian_norm, rtol=1e-3)
    if cell == "lstm":
        _nonzero_close(tr.jacobian_norm_c, tr64.jacobian_norm_c, rtol=1e-3)
    # the float32 gradients themselves agree with float64 autograd where float32 holds them
    held = expected > 1e-30
    error = (tr.grad_h.double() - grad_h).norm(dim=-1)
    assert (error[held] <= 1e-3 * expected[held]).all()
