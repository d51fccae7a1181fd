"""models/decay.py: the fit on curves whose answer is known, and the claims its explanations make."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import models
from models.decay import FLAT_FACTOR, MIN_R2, fit_decay, t975


# -- known curves ---------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2.0, 7.5, 12.5, 40.0])
def test_an_exact_geometric_decay_gives_its_rate(k):
    T = 60
    norm = 10.0 ** ((np.arange(T) - (T - 1)) / k)  # 10x smaller every k steps back from t = T-1
    fit = fit_decay(norm)
    assert fit.direction == "decays"
    assert fit.steps_per_decade == pytest.approx(k, rel=1e-9)
    assert fit.factor == pytest.approx(10.0 ** (-(T - 1) / k), rel=1e-9)  # earliest / latest
    assert (fit.span, fit.width, fit.r2) == (T, T - 1, pytest.approx(1.0))
    assert fit.text == f"10x smaller every {k:.3g} steps back"


def test_an_exact_growth_gives_its_rate_and_leaves_out_inf_nan_and_zero():
    T = 50
    norm = 10.0 ** (-np.arange(T) / 5.0)  # grows going back
    norm[0], norm[1], norm[2] = np.inf, np.nan, 0.0
    fit = fit_decay(norm)
    assert fit.direction == "grows"
    assert fit.steps_per_decade == pytest.approx(5.0, rel=1e-9)
    assert fit.factor == pytest.approx(10.0 ** ((T - 4) / 5.0), rel=1e-9)
    assert (fit.span, fit.width, fit.zeros, fit.nonfinite) == (T - 3, T - 4, 1, 2)
    assert fit.text == (
        "10x larger every 5 steps back (fitted over 47 of 50 steps; left out: 2 inf or NaN, 1 exactly 0)"
    )


def test_a_slow_trend_says_its_total_change():
    norm = 10.0 ** (np.arange(100) / 250)  # 0.4 decade over 99 steps: 2.5x, not a full 10x
    fit = fit_decay(norm)
    assert fit.direction == "decays" and fit.factor == pytest.approx(10 ** (-99 / 250))
    assert fit.text == "2.5x smaller over these 99 steps back (10x every 250)"


def test_a_change_under_a_factor_of_2_is_about_constant():
    norm = 10.0 ** (np.arange(100) / 400)  # 1.77x over the span, exactly exponential
    fit = fit_decay(norm)
    assert fit.direction == "flat" and fit.steps_per_decade is None
    assert fit.factor == pytest.approx(10 ** (-99 / 400)) and fit.factor > 1 / FLAT_FACTOR
    assert fit.text == "about constant over these 100 steps: stays within 0.57x–1x of its last value"
    assert (
        fit_decay(np.full(40, 0.3)).text
        == "about constant over these 40 steps: stays within 1x–1x of its last value"
    )


@pytest.mark.parametrize("n", [60, 500])
def test_noise_around_a_constant_is_flat_for_every_seed(n):
    """Scatter of 0.5 decade (a factor of 3) around a constant: never a rate, whatever the seed."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        fit = fit_decay(10.0 ** rng.normal(0.0, 0.5, n))
        assert fit.direction == "flat", fit.text
        assert fit.text.startswith("no steady rate") or fit.text.startswith("about constant")


def test_noise_on_a_short_curve_is_called_a_trend_at_most_as_often_as_the_interval_allows():
    rng = np.random.default_rng(1)
    trends = sum(fit_decay(10.0 ** rng.normal(0.0, 1.0, 6)).direction != "flat" for _ in range(2000))
    # a 95% interval: 5% false trends on average, 100 of 2000, binomial sd 10; the normal quantile
    # 1.96 in place of Student's t with 4 degrees of freedom would give about 12%
    assert trends <= 130


def test_a_clear_trend_with_noise_is_never_flat_and_its_interval_holds_the_truth():
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(300):
        y = np.arange(60) / 20 + rng.normal(0.0, 0.3, 60)  # 10x every 20 steps, scatter 2x
        fit = fit_decay(10.0**y)
        assert fit.direction == "decays" and fit.r2 > MIN_R2
        covered += abs(fit.slope - 1 / 20) <= fit.slope_ci
    assert 0.92 <= covered / 300 <= 0.98  # a 95% confidence interval, with independent noise


def test_one_outlying_step_does_not_make_a_rate():
    """The LSTM's ||dL/dh_t||: large at the loss's own step, then level. The least-squares line
    tilts towards the outlier (the old fit said "10x larger every ..."), R^2 shows it does not fit."""
    norm = np.full(100, 0.05)
    norm[-1] = 1.0
    fit = fit_decay(norm)
    assert fit.r2 < MIN_R2 and fit.slope > 0
    assert fit.direction == "flat"
    assert fit.text == "no steady rate over these 100 steps: it stays between 0.05x and 1x of its last value"


def test_zero_curves():
    T = 30
    assert fit_decay(np.zeros(T)).direction == "zero"
    one = np.zeros(T)
    one[-1] = 0.7  # the reverse direction's curve with the last-step loss, in processing order
    fit = fit_decay(one)
    assert (fit.direction, fit.factor, fit.steps_per_decade, fit.zeros, fit.span) == (
        "zero",
        None,
        None,
        T - 1,
        0,
    )
    assert fit.text == f"exactly 0 at {T - 1} of {T} steps: nothing flows back"
    partly = 10.0 ** (np.arange(T) / 5.0)
    partly[:10] = 0.0  # a dead ReLU: exact zeros, then a clean decay
    fit = fit_decay(partly)
    assert fit.direction == "decays" and fit.steps_per_decade == pytest.approx(5.0)
    assert fit.text.endswith("(fitted over 20 of 30 steps; left out: 10 exactly 0)")


def test_nonfinite_curves_never_raise():
    fit = fit_decay(np.array([np.nan, np.inf, 1.0]))
    assert fit.direction == "flat" and fit.steps_per_decade is None and fit.factor is None
    assert fit.text == "too few finite, nonzero values to fit a rate: 1 of 3 steps (2 inf or NaN)"
    assert fit.span == 0
    assert fit_decay(np.full(5, np.nan)).direction == "flat"
    assert fit_decay(np.array([], dtype=np.float32)).direction == "flat"
    tiny = 10.0 ** (-40 - np.arange(20) / 2.0)  # float32 subnormals and below, still positive
    assert fit_decay(tiny.astype(np.float32)).direction == "grows"
    two = fit_decay(np.array([1e-3, 1.0]))  # two points: no interval, the change decides
    assert two.direction == "decays" and two.slope_ci == math.inf


def test_t975_against_tabulated_values():
    # Student's t, 97.5th percentile (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2)
    for dof, value in [(1, 12.706), (5, 2.571), (30, 2.042), (40, 2.021), (60, 2.000), (120, 1.980)]:
        assert t975(dof) == pytest.approx(value, abs=6e-4)
    assert t975(10**9) == pytest.approx(1.959964, abs=1e-6) and t975(0) == math.inf


# -- the claims the explanations make ------------------------------------------------------------
def _adding_trace(net, T=100, seed=0):
    task = models.tasks.adding(T, seed=seed, dtype=net.dtype)
    readout = models.tasks.make_readout(net.output_size, task.output_size, seed=seed, dtype=net.dtype)
    return net.trace(task.x, loss=task.loss_fn(readout, "last"), jacobian=True)


def _without_recurrence(net):
    weights = {k: (torch.zeros_like(v) if k.startswith("weight_hh") else v) for k, v in net.weights.items()}
    return models.RecurrentNet(net.cell, net.input_size, net.hidden_size, weights=weights, clamp=net.clamp)


@pytest.mark.parametrize("seed", [0, 2, 9])
def test_f_clamped_to_1_grows_only_through_the_recurrent_feedback(seed):
    """dc_t/dc_(t-1) = I + (feedback through h_(t-1) and W_hh into i and g): with W_hh = 0 the
    Jacobian from the last cell state back is exactly the identity; with it, the product grows."""
    net = models.build("lstm", 2, 32, seed=seed, clamp={"f": 1.0})
    grown = _adding_trace(net, seed=seed).jacobian_norm_c[0, :, 0].numpy()
    assert fit_decay(grown).direction == "grows" and grown[0] > 10
    still = _adding_trace(_without_recurrence(net), seed=seed).jacobian_norm_c[0, :, 0].numpy()
    np.testing.assert_allclose(still, 1.0, rtol=1e-6)
    assert fit_decay(still).direction == "flat"


def test_forget_gate_near_1_without_feedback_never_grows():
    """With W_hh = 0, dc_t/dc_(t-1) = diag(f_t): the product back from T only shrinks."""
    net = models.build("lstm", 2, 32, seed=0, forget_bias=4.0)
    assert fit_decay(_adding_trace(net).jacobian_norm_c[0, :, 0].numpy()).direction == "grows"
    still = _adding_trace(_without_recurrence(net)).jacobian_norm_c[0, :, 0].numpy()
    assert (np.diff(still) >= -1e-6).all() and still.max() == pytest.approx(1.0)
    assert fit_decay(still).direction in ("decays", "flat")


def test_rnn_growth_is_bounded_by_the_step_jacobians():
    """||dh_T/dh_t|| <= prod of ||dh_s/dh_(s-1)|| for s = t+1 .. T (the norm is submultiplicative):
    why the explanation quotes the step Jacobian's norm as the most each step back can multiply."""
    net = models.build("rnn_tanh", 2, 32, seed=0, init="orthogonal", spectral_radius=2.5, dtype="float64")
    tr = _adding_trace(net)
    jac, step = tr.jacobian_norm[0, :, 0].numpy(), tr.step_jacobian_norm[0, :, 0].numpy()
    bound = np.concatenate([np.cumprod(step[::-1][:-1])[::-1], [1.0]])  # prod over s = t+1 .. T-1
    assert (jac <= bound * (1 + 1e-9)).all()
    fit = fit_decay(jac)
    per_step = 10.0 ** (-fit.slope)
    assert fit.direction == "grows" and 1 < per_step <= np.exp(np.log(step[1:]).mean()) * 1.01
