"""Forward parity with torch.nn.RNN / LSTM / GRU (ncps' CfC): outputs, every layer's states, h_n and c_n."""

import pytest
import torch

import models
from models.cells import REGISTRY
from tests.reference import NcpsStack, ncps_module, unroll


def oracle(cell, D, H, dtype=torch.float64, **kwargs):
    """The net and the module it must match: torch.nn's module the cell declares it computes (e.g.
    torch.nn.RNN(nonlinearity="tanh")) read by from_torch, or for the CfC a net drawn by build and its
    layers run as ncps CfCCells (ncps' own CfC module, one layer, is read by from_torch in test_cfc.py)."""
    spec = REGISTRY[cell]
    if spec.torch_module is None:
        net = models.build(cell, D, H, seed=0, dtype=dtype, **kwargs)
        return net, NcpsStack(net)
    module = getattr(torch.nn, spec.torch_module)(D, H, **spec.torch_kwargs, **kwargs).to(dtype)
    return models.from_torch(module, cell=cell), module


TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


@pytest.mark.parametrize("cell", models.limits.CELLS)
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (1, True), (2, False), (2, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_module(cell, num_layers, bidirectional, dtype):
    torch.manual_seed(0)
    net, module = oracle(cell, 5, 8, dtype, num_layers=num_layers, bidirectional=bidirectional)
    assert net.cell == cell
    x = torch.randn(13, 3, 5, dtype=dtype)
    tr = net.trace(x)
    out, hx = module(x)
    tol = TOL[dtype]
    torch.testing.assert_close(tr.output, out.detach(), atol=tol, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(tr.h_n, hx[0].detach(), atol=tol, rtol=0)
        torch.testing.assert_close(tr.c_n, hx[1].detach(), atol=tol, rtol=0)
    else:
        torch.testing.assert_close(tr.h_n, hx.detach(), atol=tol, rtol=0)
    # every layer's h and c against an unroll of torch.nn.*Cell
    _, h, c, *_ = unroll(net, x)
    torch.testing.assert_close(tr.h, h, atol=tol, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(tr.c, c, atol=tol, rtol=0)
    assert tr.finite


@pytest.mark.parametrize("cell", models.limits.CELLS)
def test_initial_state_and_2d_input(cell):
    torch.manual_seed(1)
    net, module = oracle(cell, 3, 4, num_layers=2, bidirectional=True)
    h0 = torch.randn(4, 1, 4, dtype=torch.float64)
    hx = (h0, torch.randn_like(h0)) if cell == "lstm" else h0
    x = torch.randn(7, 3, dtype=torch.float64)
    tr = net.trace(x, hx=hx)
    out, _ = module(x.unsqueeze(1), hx)
    torch.testing.assert_close(tr.output, out.detach(), atol=1e-10, rtol=0)


def test_gates_recomputed_exactly():
    """The LSTM's recorded gates rebuild c_t and h_t by the textbook equations."""
    net = models.build("lstm", 3, 5, seed=2, dtype="float64")
    tr = net.trace(torch.randn(9, 2, 3, dtype=torch.float64))
    i, f, g, o = (tr.gates[k][0] for k in "ifgo")
    c_prev = torch.cat([torch.zeros_like(tr.c[0, :1]), tr.c[0, :-1]])
    torch.testing.assert_close(tr.c[0], f * c_prev + i * g, atol=1e-12, rtol=0)
    torch.testing.assert_close(tr.h[0], o * torch.tanh(tr.c[0]), atol=1e-12, rtol=0)


def test_gru_reset_gate_multiplies_hidden_bias():
    """n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): b_hn is inside the reset gate's product."""
    net = models.build("gru", 2, 4, seed=3, dtype="float64")
    H = 4
    net.weights["bias_hh_l0"][2 * H :] = 5.0  # a large b_hn makes the placement visible
    x = torch.randn(6, 1, 2, dtype=torch.float64)
    tr = net.trace(x)
    module = net.to_torch()
    torch.testing.assert_close(tr.output, module(x)[0].detach(), atol=1e-12, rtol=0)
    h_prev = torch.cat([torch.zeros(1, 1, H, dtype=torch.float64), tr.h[0, :-1]])
    w_ih, w_hh = net.weights["weight_ih_l0"], net.weights["weight_hh_l0"]
    b_ih, b_hh = net.weights["bias_ih_l0"], net.weights["bias_hh_l0"]
    ih = x @ w_ih.t() + b_ih
    hh = h_prev @ w_hh.t() + b_hh
    n = torch.tanh(ih[..., 2 * H :] + tr.gates["r"][0] * hh[..., 2 * H :])
    torch.testing.assert_close(tr.gates["n"][0], n, atol=1e-12, rtol=0)


def test_from_torch_without_bias_and_round_trip():
    module = torch.nn.GRU(3, 4, bias=False).double()
    net = models.from_torch(module)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(net.trace(x).output, module(x)[0].detach(), atol=1e-12, rtol=0)
    again = net.to_torch()
    torch.testing.assert_close(again(x)[0], module(x)[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("cell", ["cfc", "ltc"])
def test_nan_and_inf_are_carried_as_ncps_carries_them(cell):
    module = ncps_module(cell, 2, 3, torch.float64, seed=5)
    net = models.from_torch(module)
    x = torch.randn(8, 1, 2, dtype=torch.float64)
    x[2, 0, 0], x[5, 0, 1] = float("inf"), float("-inf")
    expected, _ = module(x, torch.zeros(1, 3, dtype=torch.float64))
    tr = net.trace(x)
    torch.testing.assert_close(tr.output, expected.detach(), atol=1e-12, rtol=0, equal_nan=True)
    x[4, 0, 1] = float("nan")
    tr = net.trace(x)
    assert torch.isnan(tr.h[0, 4:]).all() and torch.isfinite(tr.h[0, :4]).all()
