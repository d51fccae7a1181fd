"""dL/dh_t, dL/dc_t and the Jacobian norms against plain autograd and float64 finite differences."""

import pytest
import torch

import models
from tests.reference import jacobian_last_wrt, unroll

LOSSES = {
    "default": None,
    "sum": "sum",
    "squares": lambda out: 0.5 * (out**2).sum() + out[2].sum(),
}


def _reference_loss(net, loss):
    if loss == "sum":
        return lambda out: out.sum()
    return loss


@pytest.mark.parametrize("cell", models.limits.CELLS)
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, True), (3, False)])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_grad_matches_autograd_float64(cell, num_layers, bidirectional, loss):
    torch.manual_seed(0)
    net = models.build(
        cell, 4, 6, num_layers=num_layers, bidirectional=bidirectional, seed=1, dtype="float64"
    )
    x = torch.randn(11, 2, 4, dtype=torch.float64)
    tr = net.trace(x, loss=LOSSES[loss])
    _, _, _, grad_h, grad_c, ref_loss = unroll(net, x, _reference_loss(net, LOSSES[loss]))
    torch.testing.assert_close(tr.loss, ref_loss, atol=1e-10, rtol=0)
    torch.testing.assert_close(tr.grad_h, grad_h, atol=1e-10, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(tr.grad_c, grad_c, atol=1e-10, rtol=0)
    torch.testing.assert_close(tr.grad_h_norm, grad_h.norm(dim=-1), atol=1e-10, rtol=0)


@pytest.mark.parametrize("cell", models.limits.CELLS)
def test_grad_matches_autograd_float32(cell):
    torch.manual_seed(0)
    net = models.build(cell, 4, 16, num_layers=2, bidirectional=True, seed=2)
    x = torch.randn(40, 3, 4)
    loss = LOSSES["squares"]
    tr = net.trace(x, loss=loss)
    _, _, _, grad_h, grad_c, _ = unroll(net, x, loss)
    torch.testing.assert_close(tr.grad_h, grad_h, atol=1e-5, rtol=1e-4)
    if cell == "lstm":
        torch.testing.assert_close(tr.grad_c, grad_c, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("cell", "kind"),
    [(cell, "h") for cell in models.limits.CELLS] + [("lstm", "c")],  # only an LSTM has c
)
def test_grad_matches_finite_differences(cell, kind):
    """Central differences in float64 of L with a perturbation added to h_t (or c_t) mid-recurrence."""
    torch.manual_seed(3)
    net = models.build(cell, 3, 5, num_layers=2, bidirectional=True, seed=4, dtype="float64")
    x = torch.randn(8, 2, 3, dtype=torch.float64)
    loss = LOSSES["squares"]
    tr = net.trace(x, loss=loss)
    grad = tr.grad_h if kind == "h" else tr.grad_c
    eps = 1e-6
    gen = torch.Generator().manual_seed(5)
    for _ in range(6):
        idx = int(torch.randint(0, 4, (1,), generator=gen))
        t = int(torch.randint(0, 8, (1,), generator=gen))
        b = int(torch.randint(0, 2, (1,), generator=gen))
        k = int(torch.randint(0, 5, (1,), generator=gen))
        delta = torch.zeros(2, 5, dtype=torch.float64)
        delta[b, k] = eps
        plus = unroll(net, x, loss, perturb=(kind, idx, t, delta))[-1]
        minus = unroll(net, x, loss, perturb=(kind, idx, t, -delta))[-1]
        fd = (plus - minus) / (2 * eps)
        assert abs(float(fd) - float(grad[idx, t, b, k])) < 1e-6, (idx, t, b, k)


@pytest.mark.parametrize("cell", models.limits.CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_jacobian_norms_match_autograd(cell, bidirectional):
    torch.manual_seed(6)
    net = models.build(cell, 3, 5, bidirectional=bidirectional, seed=7, dtype="float64")
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    tr = net.trace(x, jacobian=True)
    for idx in range(net.num_directions):
        for t in (0, 3, 6):
            jac = jacobian_last_wrt(net, x, idx, t)  # (B, H, B, H)
            for b in range(2):
                expected = torch.linalg.matrix_norm(jac[b, :, b, :], ord=2)
                assert abs(float(tr.jacobian_norm[idx, t, b]) - float(expected)) < 1e-10
                if cell == "lstm":
                    jc = jacobian_last_wrt(net, x, idx, t, "c", "c")
                    expected_c = torch.linalg.matrix_norm(jc[b, :, b, :], ord=2)
                    assert abs(float(tr.jacobian_norm_c[idx, t, b]) - float(expected_c)) < 1e-10


@pytest.mark.parametrize("cell", models.limits.CELLS)
def test_step_jacobian_norm_matches_autograd(cell):
    torch.manual_seed(8)
    net = models.build(cell, 3, 4, seed=9, dtype="float64")
    x = torch.randn(6, 1, 3, dtype=torch.float64)
    tr = net.trace(x, jacobian=True)
    _, h, c, *_ = unroll(net, x)
    cellmod = __import__("tests.reference", fromlist=["make_cell"]).make_cell(net, 0, 0)
    for t in range(1, 6):
        if cell == "lstm":
            jac = torch.autograd.functional.jacobian(
                lambda hp, t=t: cellmod(x[t], (hp, c[0, t - 1]))[0], h[0, t - 1]
            )
        else:
            jac = torch.autograd.functional.jacobian(lambda hp, t=t: cellmod(x[t], hp), h[0, t - 1])
        expected = torch.linalg.matrix_norm(jac[0, :, 0, :], ord=2)
        assert abs(float(tr.step_jacobian_norm[0, t, 0]) - float(expected)) < 1e-10


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_clamped_gates_match_hand_written_reference(cell):
    clamp = {"f": 1.0, "i": 0.3} if cell == "lstm" else {"z": 0.8, "r": 0.0}
    net = models.build(cell, 3, 5, num_layers=2, bidirectional=True, seed=10, clamp=clamp, dtype="float64")
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    loss = LOSSES["squares"]
    tr = net.trace(x, loss=loss)
    out, _, _, grad_h, grad_c, _ = unroll(net, x, loss)
    torch.testing.assert_close(tr.output, out, atol=1e-12, rtol=0)
    torch.testing.assert_close(tr.grad_h, grad_h, atol=1e-10, rtol=0)
    for gate, value in clamp.items():
        torch.testing.assert_close(tr.gates[gate], torch.full_like(tr.gates[gate], value), atol=1e-15, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(tr.grad_c, grad_c, atol=1e-10, rtol=0)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_step_jacobian_norms_alone_are_the_traces(cell):
    """The step Jacobians' norms asked for alone (what a run's notes do) are the full trace's, in input
    order for a reverse direction too; a trace can leave them out and keep the rest."""
    net = models.build(cell, 3, 5, num_layers=2, bidirectional=True, seed=4, dtype="float64")
    x = torch.randn(7, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    full = net.trace(x, jacobian=True)
    assert torch.equal(net.step_jacobian_norms(x), full.step_jacobian_norm)
    for layer, direction in ((0, 1), (1, 0), (1, 1)):
        one = net.step_jacobian_norm(x, layer, direction)
        assert torch.equal(one, full.step_jacobian_norm[2 * layer + direction])
    with pytest.raises(ValueError, match=r"^layer: 2 is outside the allowed range \[0, 1\]"):
        net.step_jacobian_norm(x, 2)
    without = net.trace(x, jacobian=True, step_jacobian=False)
    assert without.step_jacobian_norm is None and torch.equal(without.jacobian_norm, full.jacobian_norm)
    assert net.trace(x, jacobian=False, step_jacobian=True).step_jacobian_norm.shape == (4, 7, 2)
