"""The closed-form continuous-time (CfC) cell against ncps' own CfC module (the oracle: written and
published by the CfC's authors), its torch module for training, and what it refuses.

The parametrized engine tests (parity, gradients against autograd through ncps' CfCCell, dL/dx, the
torch-ops path, tiny norms, one training step) cover it too, through tests/reference.py."""

import functools

import pytest
import torch
from ncps.torch import CfC

import models
from models.unrolled import Unrolled
from tests.reference import ncps_module

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


ncps_cfc = functools.partial(ncps_module, "cfc")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ncps_cfc_read_by_from_torch_gives_its_outputs_and_gradients(dtype):
    module = ncps_cfc(4, 6, dtype)
    net = models.from_torch(module)
    assert net.cell == "cfc" and (net.input_size, net.hidden_size, net.num_layers) == (4, 6, 1)
    x = torch.randn(40, 3, 4, dtype=dtype)
    h0 = torch.randn(3, 6, dtype=dtype)  # ncps makes float32 zeros when hx is None: give it the dtype
    tr = net.trace(x, hx=h0.unsqueeze(0), loss="sum")
    xr = x.clone().requires_grad_(True)
    out, h_n = module(xr, h0)
    out.sum().backward()
    tol = TOL[dtype]
    torch.testing.assert_close(tr.output, out.detach(), atol=tol, rtol=0)
    torch.testing.assert_close(tr.h_n[0], h_n.detach(), atol=tol, rtol=0)
    grad_x = tr.grad_x[0] if tr.grad_x.dim() == 4 else tr.grad_x
    torch.testing.assert_close(grad_x, xr.grad, atol=10 * tol, rtol=10 * tol)


def test_the_time_gate_and_the_interpolation_are_the_equations():
    net = models.build("cfc", 3, 5, seed=4, dtype="float64")
    tr = net.trace(torch.randn(12, 2, 3, dtype=torch.float64))
    f1, f2, ta, tb, ti = (tr.gates[k][0] for k in ("f1", "f2", "ta", "tb", "ti"))
    torch.testing.assert_close(ti, torch.sigmoid(ta + tb), atol=1e-15, rtol=0)
    torch.testing.assert_close(tr.h[0], f1 * (1 - ti) + ti * f2, atol=1e-15, rtol=0)
    assert ((f1.abs() <= 1) & (f2.abs() <= 1) & (ti > 0) & (ti < 1)).all()


@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
def test_its_torch_module_is_ncps_cfc_and_reads_back(layers, bidirectional):
    """RecurrentNet.to_torch for the CfC (what training runs) is the step unrolled with autograd; one
    layer of it equals ncps' module on the same weights, and from_torch reads it back unchanged."""
    net = models.build("cfc", 3, 4, layers, bidirectional, seed=2, dtype="float64")
    module = net.to_torch()
    assert isinstance(module, Unrolled) and module.cell == "cfc"
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    out, h_n = module(x)
    torch.testing.assert_close(out.detach(), net.trace(x).output, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n.detach(), net.trace(x).h_n, atol=1e-12, rtol=0)
    back = models.from_torch(module)
    assert back.cell == "cfc" and all(torch.equal(back.weights[k], v) for k, v in net.weights.items())
    if layers == 1:
        oracle = ncps_cfc(3, 4, torch.float64)
        cell = oracle.rnn_cell
        w = torch.cat([net.weights["weight_ih_l0"], net.weights["weight_hh_l0"]], 1)
        b = net.weights["bias_ih_l0"] + net.weights["bias_hh_l0"]
        with torch.no_grad():
            for k, lin in enumerate((cell.ff1, cell.ff2, cell.time_a, cell.time_b)):
                lin.weight.copy_(w[4 * k : 4 * k + 4])
                lin.bias.copy_(b[4 * k : 4 * k + 4])
        expected, _ = oracle(x, torch.zeros(2, 4, dtype=torch.float64))
        torch.testing.assert_close(out.detach(), expected.detach(), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"backbone_layers": 1}, r"backbone_layers=1 \(allowed: 0\)"),
        ({"backbone_layers": 0, "mode": "pure"}, r"mode='pure' \(allowed: 'default'\)"),
        ({"backbone_layers": 0, "mixed_memory": True}, "mixed_memory=True"),
        ({"backbone_layers": 0, "proj_size": 2}, "proj_size"),
    ],
)
def test_a_cfc_with_options_the_cell_does_not_compute_is_refused_by_name(kwargs, says):
    with pytest.raises(ValueError, match=f"module: this ncps CfC has {says}"):
        models.from_torch(CfC(2, 3, batch_first=False, **kwargs))


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match=r"clamp: cfc has no gate 'ti'; gates that can be clamped: none"):
        models.build("cfc", 2, 3, clamp={"ti": 0.5})
    with pytest.raises(ValueError, match="forget_bias: only LSTM takes it, not 'cfc'"):
        models.build("cfc", 2, 3, forget_bias=1.0)
    with pytest.raises(ValueError, match=r"cell: 'lstm' computes torch\.nn\.LSTM\(\), not this CfC"):
        models.from_torch(ncps_cfc(2, 3, torch.float32), cell="lstm")
    with pytest.raises(ValueError, match=r"cell: 'cfc' computes its own module, not this GRU"):
        models.from_torch(torch.nn.GRU(2, 3), cell="cfc")


def test_a_cfc_trainer_learns_the_adding_problem():
    """Training runs on its unrolled torch module; 800 Adam steps take the adding problem's loss well
    under the constant predictor's (the baseline, 1/6 for T = 20; measured: 6% of it after 750 steps,
    where the LSTM is at 1% and the tanh RNN at 50%)."""
    tr = models.Trainer("cfc", task="adding", seq_len=20, hidden_size=16, batch_size=32, seed=0, lr=1e-2)
    tr.run(800)
    assert tr.net.cell == "cfc" and 0 < float(tr.probes[-1].gate_mean["ti"][0]) < 1
    assert tr.evaluate() < 0.25 * tr.baseline
