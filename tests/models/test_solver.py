"""The continuous-time cells' solver options, against ncps' own cells run with the same settings (the
oracle): the CfC's and the LTC's ``timespan`` (ncps' ``timespans``, here one Δt for every step) and the
LTC's ``ode_unfolds``. Outputs, every layer's states, dL/dh_t, dL/dx_t and the Jacobian norms, float32 and
float64; two exact identities that say what Δt is; ncps' modules read with their settings; training;
and bad values named."""

import pytest
import torch
from ncps.torch import LTC, CfC

import models
from models.cells.ltc import UNFOLDS
from models.unrolled import Unrolled
from tests.reference import NcpsStack, jacobian_last_wrt, unroll

pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = [
    ("cfc", {"timespan": 0.25}),
    ("cfc", {"timespan": 3.5}),
    ("ltc", {"timespan": 0.4}),
    ("ltc", {"timespan": 2.5, "ode_unfolds": 2}),
    ("ltc", {"ode_unfolds": 1}),
    ("ltc", {"timespan": 1.0, "ode_unfolds": 13}),
]
TOL = {torch.float32: 2e-5, torch.float64: 1e-11}


def ids(setting):
    cell, solver = setting
    return cell + "-" + "-".join(f"{k}={v:g}" for k, v in solver.items())


@pytest.mark.parametrize("setting", SETTINGS, ids=ids)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_state_matches_ncps_cells_with_the_same_settings(setting, dtype):
    cell, solver = setting
    net = models.build(cell, 3, 5, num_layers=2, bidirectional=True, seed=1, dtype=dtype, **solver)
    assert net.solver == net.spec.solver_defaults | solver
    x = torch.randn(9, 2, 3, dtype=dtype)
    tr = net.trace(x)
    out, h_n = NcpsStack(net)(x)
    tol = TOL[dtype]
    torch.testing.assert_close(tr.output, out.detach(), atol=tol, rtol=tol)
    torch.testing.assert_close(tr.h_n, h_n.detach(), atol=tol, rtol=tol)
    _, h, *_ = unroll(net, x)
    torch.testing.assert_close(tr.h, h, atol=tol, rtol=tol)


@pytest.mark.parametrize("setting", SETTINGS, ids=ids)
def test_gradients_and_jacobian_norms_match_autograd_through_ncps(setting):
    cell, solver = setting
    net = models.build(cell, 3, 4, num_layers=2, bidirectional=True, seed=2, dtype="float64", **solver)
    x = torch.randn(8, 2, 3, dtype=torch.float64)
    loss = lambda out: 0.5 * (out**2).sum() + out[2].sum()  # noqa: E731
    tr = net.trace(x, loss=loss)
    _, _, _, grad_h, _, ref_loss = unroll(net, x, loss)
    torch.testing.assert_close(tr.loss, ref_loss, atol=1e-11, rtol=0)
    torch.testing.assert_close(tr.grad_h, grad_h, atol=1e-10, rtol=1e-9)
    xr = x.clone().requires_grad_(True)
    loss(NcpsStack(net)(xr)[0]).backward()
    torch.testing.assert_close(tr.grad_x, xr.grad, atol=1e-10, rtol=1e-9)

    one = models.build(cell, 3, 4, seed=3, dtype="float64", **solver)
    x1 = torch.randn(7, 2, 3, dtype=torch.float64)
    tr1 = one.trace(x1, jacobian=True)
    for t in (0, 3, 6):
        jac = jacobian_last_wrt(one, x1, 0, t)
        for b in range(2):
            expected = torch.linalg.matrix_norm(jac[b, :, b, :], ord=2)
            error = abs(float(tr1.jacobian_norm[0, t, b]) - float(expected))
            assert error < 1e-10 * max(1.0, float(expected))


def test_a_cfc_timespan_is_its_time_slope_scaled():
    """ti = sigmoid(t_a Δt + t_b): a CfC at timespan Δt is the same CfC at timespan 1 with the t_a
    chunk's weights and bias times Δt (an exact identity, float64)."""
    net = models.build("cfc", 3, 6, seed=4, dtype="float64", timespan=2.75)
    ones = models.build("cfc", 3, 6, seed=4, dtype="float64")
    H = 6
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        ones.weights[name][2 * H : 3 * H] *= 2.75
    x = torch.randn(20, 2, 3, dtype=torch.float64)
    a, b = net.trace(x, jacobian=True), ones.trace(x, jacobian=True)
    torch.testing.assert_close(a.h, b.h, atol=1e-13, rtol=0)
    torch.testing.assert_close(a.gates["ti"], b.gates["ti"], atol=1e-13, rtol=0)
    torch.testing.assert_close(a.grad_h, b.grad_h, atol=1e-13, rtol=1e-12)
    torch.testing.assert_close(a.jacobian_norm, b.jacobian_norm, atol=1e-13, rtol=1e-12)


def test_an_ltc_timespan_is_its_capacitance_divided():
    """cm_t = cm U / Δt: an LTC at timespan Δt is the same LTC at timespan 1 with cm / Δt, so a longer
    time between inputs is a smaller capacitance (a faster membrane) and keeps less of v (exact, float64);
    tau, in units of time, is cm / conductance of the cell's own cm."""
    net = models.build("ltc", 2, 5, seed=5, dtype="float64", timespan=4.0, ode_unfolds=3)
    ones = models.build("ltc", 2, 5, seed=5, dtype="float64", ode_unfolds=3)
    ones.weights["bias_ih_l0"][10:15] /= 4.0  # the cm chunk
    x = torch.randn(15, 1, 2, dtype=torch.float64)
    a, b = net.trace(x), ones.trace(x)
    torch.testing.assert_close(a.h, b.h, atol=1e-13, rtol=0)
    torch.testing.assert_close(a.gates["keep"], b.gates["keep"], atol=1e-13, rtol=0)
    torch.testing.assert_close(a.gates["tau"], 4.0 * b.gates["tau"], atol=1e-13, rtol=1e-12)
    slow = models.build("ltc", 2, 5, seed=5, dtype="float64", ode_unfolds=3).trace(x)
    assert float(a.gates["keep"].mean()) < float(slow.gates["keep"].mean())


def test_ncps_modules_are_read_with_their_unfolds_and_run_with_timespans():
    """ncps' LTC(ode_unfolds=3) is read with its unfolds; given timespans Δt at every step, ncps' LTC and
    CfC give what the net with ``timespan`` Δt gives, gradients too."""
    torch.manual_seed(6)
    ltc = LTC(2, 4, batch_first=False, ode_unfolds=3).double()
    net = models.from_torch(ltc)
    assert net.solver == {"timespan": 1.0, "ode_unfolds": 3}
    torch.manual_seed(7)
    cfc = CfC(2, 4, backbone_layers=0, batch_first=False).double()
    for module, read in ((ltc, net), (cfc, models.from_torch(cfc))):
        x = torch.randn(12, 1, 2, dtype=torch.float64)  # ncps' LTC broadcasts timespans over one sequence
        timespans = torch.full((12, 1), 0.6, dtype=torch.float64)
        run = models.RecurrentNet(
            read.cell, 2, 4, weights=read.weights, solver=read.solver | {"timespan": 0.6}
        )
        tr = run.trace(x, loss="sum")
        xr = x.clone().requires_grad_(True)
        out, _ = module(xr, torch.zeros(1, 4, dtype=torch.float64), timespans=timespans)
        out.sum().backward()
        torch.testing.assert_close(tr.output, out.detach(), atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(tr.grad_x, xr.grad, atol=1e-11, rtol=1e-9)


def test_the_torch_module_and_training_keep_the_settings():
    net = models.build("ltc", 2, 3, seed=8, dtype="float64", timespan=0.5, ode_unfolds=4)
    module = net.to_torch()
    assert isinstance(module, Unrolled) and module.solver == net.solver
    x = torch.randn(6, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(module(x)[0], net.trace(x).output, atol=1e-12, rtol=0)
    assert models.from_torch(module).solver == net.solver
    trainer = models.Trainer(
        "cfc", "adding", seq_len=10, hidden_size=4, batch_size=4, val_size=8, timespan=2.0
    )
    assert trainer.module.solver == {"timespan": 2.0}
    trainer.run(2)
    assert trainer.net_at(2).solver == {"timespan": 2.0}


@pytest.mark.parametrize(
    ("cell", "options", "says"),
    [
        ("ltc", {"timespan": 0.0}, r"timespan: 0.0 is outside the allowed range \[0.01, 100\]"),
        ("cfc", {"timespan": float("nan")}, r"timespan: nan is outside the allowed range"),
        ("ltc", {"ode_unfolds": 2.5}, r"ode_unfolds: expected an integer in \[1, 64\], got 2.5"),
        ("ltc", {"ode_unfolds": 65}, r"ode_unfolds: 65 is outside the allowed range \[1, 64\]"),
        ("lstm", {"timespan": 2.0}, r"timespan: only CfC, LTC takes it, not 'lstm'"),
        ("cfc", {"ode_unfolds": 3}, r"ode_unfolds: only LTC takes it, not 'cfc'"),
    ],
)
def test_bad_settings_name_the_field(cell, options, says):
    with pytest.raises(ValueError, match=says):
        models.build(cell, 2, 3, **options)


def test_the_default_is_ncps_default():
    assert models.build("ltc", 2, 3).solver == {"timespan": 1.0, "ode_unfolds": UNFOLDS}
    with pytest.raises(ValueError, match="solver: gru has no solver option 'timespan'"):
        models.RecurrentNet("gru", 2, 3, weights=models.build("gru", 2, 3).weights, solver={"timespan": 2.0})
