"""Exact identities the engine must reproduce (Pascanu et al. 2013; Hochreiter & Schmidhuber 1997)."""

import math

import pytest
import torch

import models
import models.cells


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.3])
def test_linear_regime_rnn_jacobian_is_rho_power(rho):
    """tanh RNN, zero input, zero biases, h0 = 0, W_hh = rho Q: h_t = 0, so dh_T/dh_t = (rho Q)^(T-t)."""
    T = 30
    net = models.build("rnn_tanh", 3, 16, seed=0, init="orthogonal", spectral_radius=rho, dtype="float64")
    assert all(float(v.abs().max()) == 0 for k, v in net.weights.items() if k.startswith("bias"))
    tr = net.trace(torch.zeros(T, 1, 3, dtype=torch.float64), jacobian=True)
    expected = torch.tensor([rho ** (T - 1 - t) for t in range(T)], dtype=torch.float64)
    torch.testing.assert_close(tr.jacobian_norm[0, :, 0], expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(
        tr.step_jacobian_norm[0, 1:, 0], torch.full((T - 1,), rho, dtype=torch.float64)
    )
    # and the default loss's gradient is the same power times ||1||
    torch.testing.assert_close(tr.grad_h_norm[0, :, 0], expected * math.sqrt(16), rtol=1e-10, atol=0)


@pytest.mark.parametrize("bias", [-1.0, 0.0, 2.0, 5.0])
@pytest.mark.parametrize("how", ["clamp", "weights"])
def test_lstm_constant_forget_gate_carries_sigma_b_power(bias, how):
    """i clamped to 0 and f = sigma(b) constant: c_t = f c_{t-1}, so dc_T/dc_t = sigma(b)^(T-t) I."""
    T = 25
    sig = 1 / (1 + math.exp(-bias))
    if how == "clamp":
        net = models.build("lstm", 4, 8, seed=1, clamp={"i": 0.0, "f": sig}, dtype="float64")
    else:  # zero forget weights and the bias b: the gate is sigma(b) at every step
        net = models.build("lstm", 4, 8, seed=1, forget_bias=bias, clamp={"i": 0.0}, dtype="float64")
        net.weights["weight_ih_l0"][8:16] = 0
        net.weights["weight_hh_l0"][8:16] = 0
    h0 = torch.randn(1, 1, 8, dtype=torch.float64)
    tr = net.trace(torch.randn(T, 1, 4, dtype=torch.float64), hx=(h0, torch.randn_like(h0)), jacobian=True)
    expected = torch.tensor([sig ** (T - 1 - t) for t in range(T)], dtype=torch.float64)
    torch.testing.assert_close(tr.jacobian_norm_c[0, :, 0], expected, rtol=1e-10, atol=1e-300)


def test_constant_error_carousel():
    """f = 1, i = 0 (and o = 1, so no path through h comes back): c and dL/dc_t pass through unchanged."""
    net = models.build("lstm", 2, 6, seed=2, clamp={"f": 1.0, "i": 0.0, "o": 1.0}, dtype="float64")
    c0 = torch.randn(1, 1, 6, dtype=torch.float64)
    tr = net.trace(
        torch.randn(40, 1, 2, dtype=torch.float64),
        hx=(torch.zeros_like(c0), c0),
        loss=lambda out: out[-1].sum(),
    )
    torch.testing.assert_close(tr.c[0, :, 0], c0[0].expand(40, 6))
    expected = (1 - torch.tanh(c0[0, 0]) ** 2).expand(40, 6)  # dL/dc_t = dh_T/dc_T at every t
    torch.testing.assert_close(tr.grad_c[0, :, 0], expected, rtol=1e-12, atol=0)


def test_gru_update_gate_one_keeps_state_and_gradient():
    net = models.build("gru", 3, 5, seed=3, clamp={"z": 1.0}, dtype="float64")
    h0 = torch.randn(1, 1, 5, dtype=torch.float64)
    tr = net.trace(torch.randn(30, 1, 3, dtype=torch.float64), hx=h0, jacobian=True)
    torch.testing.assert_close(tr.h[0, :, 0], h0[0].expand(30, 5))
    torch.testing.assert_close(tr.jacobian_norm[0, :, 0], torch.ones(30, dtype=torch.float64))


def test_spectral_radius_rescale_is_exact():
    for cell in models.limits.CELLS:
        if models.cells.REGISTRY[cell].init is not None:  # no weight matrices (the LTC): not rescaled
            continue
        net = models.build(cell, 3, 12, seed=4, init="xavier", spectral_radius=1.7, dtype="float64")
        for block in net.weights["weight_hh_l0"].chunk(net.n_gates):
            assert abs(float(torch.linalg.eigvals(block).abs().max()) - 1.7) < 1e-10
