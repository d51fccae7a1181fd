"""The fused-input RNN: one matmul on [x_t, 1, h_{t-1}] a step, the tanh RNN's function.

Its parity with torch.nn.RNN, its gradients against autograd, its input gradient and its torch-ops path
are in the parametrized tests (test_parity, test_gradients, test_grad_x, test_torch_path); here are the
fused form itself, reading a torch module as it, and its bad inputs and non-finite data.
"""

import math

import pytest
import torch

import models
from models.cells import REGISTRY, frnn, rnn


def _weights(D=3, H=5, seed=0, dtype=torch.float64):
    return models.build("rnn_fused", D, H, seed=seed, dtype=dtype).layer_weights(0, 0)


def test_the_fused_step_is_one_matmul_on_the_joined_input():
    """h_t = tanh([x_t, 1, h_{t-1}] W^T) with W = [W_ih, b_ih + b_hh, W_hh], written out here."""
    w = _weights()
    x = torch.randn(9, 4, 3, dtype=torch.float64)
    h0 = torch.randn(4, 5, dtype=torch.float64)
    fw = frnn.forward(x, h0, None, w)
    W = torch.cat([w.weight_ih, (w.bias_ih + w.bias_hh)[:, None], w.weight_hh], 1)
    h = h0
    for t in range(9):
        z = torch.cat([x[t], torch.ones(4, 1, dtype=torch.float64), h], 1)
        pre = z @ W.T
        torch.testing.assert_close(fw.gates["pre"][t], pre, atol=1e-14, rtol=0)
        h = torch.tanh(pre)
        torch.testing.assert_close(fw.h[t], h, atol=1e-14, rtol=0)
    torch.testing.assert_close(fw.h_prev, torch.cat([h0[None], fw.h[:-1]]), atol=0, rtol=0)
    torch.testing.assert_close(fw.coef["slope"].squeeze(2), 1 - fw.h**2, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_same_numbers_as_the_tanh_rnn(dtype):
    """The same weights give the tanh RNN's states, gradients and Jacobians, to the dtype's rounding."""
    kwargs = dict(num_layers=2, bidirectional=True, seed=4, dtype=dtype)
    fused, plain = models.build("rnn_fused", 3, 6, **kwargs), models.build("rnn_tanh", 3, 6, **kwargs)
    assert all(torch.equal(fused.weights[k], plain.weights[k]) for k in plain.weights)
    x = torch.randn(40, 2, 3, dtype=dtype)
    a, b = fused.trace(x, jacobian=True), plain.trace(x, jacobian=True)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(a.h, b.h, atol=tol, rtol=0)
    for field in ("grad_h_norm", "jacobian_norm", "grad_x_norm"):
        torch.testing.assert_close(getattr(a, field), getattr(b, field), rtol=100 * tol, atol=0)


def test_one_step_and_one_unit():
    w = _weights(D=1, H=1)
    x = torch.tensor([[[0.5]]], dtype=torch.float64)
    fw = frnn.forward(x, torch.zeros(1, 1, dtype=torch.float64), None, w)
    expected = math.tanh(float(w.weight_ih) * 0.5 + float(w.bias_ih + w.bias_hh))
    assert float(fw.h) == pytest.approx(expected, abs=1e-15)


def test_nan_and_inf_are_carried_not_crashed_on():
    w = _weights()
    x = torch.randn(6, 1, 3, dtype=torch.float64)
    x[2, 0, 1] = math.nan
    fw = frnn.forward(x, torch.zeros(1, 5, dtype=torch.float64), None, w)
    assert torch.isfinite(fw.h[:2]).all() and torch.isnan(fw.h[2:]).all()  # from t = 2 on, NaN
    net = models.build("rnn_fused", 3, 5, seed=0, dtype="float64")
    assert not net.trace(x).finite  # a trace of it reports, rather than raises
    x[2, 0, 1] = math.inf  # tanh saturates at +-1, as torch's does, where inf * 0 makes no NaN
    expected = net.to_torch()(x)[0].detach()
    torch.testing.assert_close(net.trace(x).output, expected, atol=1e-12, rtol=0, equal_nan=True)


def test_a_torch_rnn_is_read_as_the_cell_asked_for():
    module = torch.nn.RNN(3, 4, num_layers=2).double()
    assert models.from_torch(module).cell == "rnn_tanh"  # the first cell that computes it
    net = models.from_torch(module, cell="rnn_fused")
    assert net.cell == "rnn_fused" and net.to_torch().nonlinearity == "tanh"
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(net.trace(x).output, module(x)[0].detach(), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    ("module", "cell", "says"),
    [
        (torch.nn.RNN(3, 4, nonlinearity="relu"), "rnn_fused", "computes torch.nn.RNN(nonlinearity='tanh')"),
        (torch.nn.LSTM(3, 4), "rnn_fused", "not this LSTM"),
        (torch.nn.GRU(3, 4), "lstm", "computes torch.nn.LSTM()"),
        (torch.nn.RNN(3, 4), "transformer", "cell"),
    ],
)
def test_a_torch_module_read_as_a_cell_that_does_not_compute_it(module, cell, says):
    with pytest.raises(ValueError, match="cell") as err:
        models.from_torch(module, cell=cell)
    assert says in str(err.value)


def test_its_spec():
    spec = REGISTRY["rnn_fused"]
    assert spec.forward is frnn.forward and spec.reverse is rnn.reverse  # the tanh RNN's backward sweep
    assert spec.torch_module == "RNN" and spec.torch_kwargs == {"nonlinearity": "tanh"}
    assert list(REGISTRY).index("rnn_fused") > list(REGISTRY).index("rnn_tanh")
    with pytest.raises(ValueError, match="forget_bias: only LSTM"):
        models.build("rnn_fused", 3, 4, forget_bias=1.0)


def test_a_fused_trainer_keeps_its_cell():
    """Training runs torch.nn.RNN (the same function); what it shows is still the fused-input RNN."""
    tr = models.Trainer("rnn_fused", seq_len=12, hidden_size=6, batch_size=8, val_size=8, seed=0)
    tr.run(3)
    assert tr.net.cell == tr.net_at(tr.step).cell == "rnn_fused"
    x = torch.randn(12, 1, 2)
    torch.testing.assert_close(tr.net.trace(x).output, tr.module(x)[0].detach(), atol=1e-6, rtol=0)
