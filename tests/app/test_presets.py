"""Every preset shows what its description says, on the run it produces, for seeds 0 to 9.

A preset's description is read aloud in class; the page lets the class change the seed, so a claim
that holds for seed 0 only is not a claim the description may make.
"""

from __future__ import annotations

import numpy as np
import pytest
from wire_helpers import step_jacobian_norms

from app import engine
from app.presets import PRESETS, by_name

SEEDS = range(10)


def run_of(name: str, seed: int) -> dict[str, engine.CellRun]:
    config = by_name(name).config.model_copy(update={"seed": seed})
    return {cr.cell: cr for cr in engine.get_run(config).cells}


def top(cr: engine.CellRun, field: str) -> np.ndarray:
    return cr.norms[field][-1]  # top layer, forward: (T,)


def test_every_preset_is_complete():
    assert len({p.name for p in PRESETS}) == len(PRESETS) >= 5
    for preset in PRESETS:
        sentences = [s for s in preset.description.split(". ") if s]
        assert preset.title and 2 <= len(sentences) <= 4, preset.name


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_presets_compute_and_stay_finite_where_they_should(preset):
    for seed in SEEDS:
        for name, cr in run_of(preset.name, seed).items():
            if preset.name == "exploding" and name == "rnn_relu":
                continue
            assert not any(cr.nonfinite.values()), (preset.name, seed, name, cr.nonfinite)


@pytest.mark.parametrize("seed", SEEDS)
def test_rnn_vs_lstm_the_rnn_gradient_vanishes_faster(seed):
    cells = run_of("rnn-vs-lstm", seed)
    rnn, lstm = cells["rnn_tanh"].decay["grad_h"], cells["lstm"].decay["grad_h"]
    assert rnn["direction"] == lstm["direction"] == "decays"
    assert 3.5 <= rnn["steps_per_decade"] <= 5.5  # "tenfold every 4 to 5 steps"
    assert 2 < lstm["steps_per_decade"] / rnn["steps_per_decade"] < 4  # "two to four times longer"
    rnn_ratio = top(cells["rnn_tanh"], "grad_h_norm")[0] / top(cells["rnn_tanh"], "grad_h_norm")[-1]
    lstm_ratio = top(cells["lstm"], "grad_h_norm")[0] / top(cells["lstm"], "grad_h_norm")[-1]
    assert rnn_ratio < 1e-8 and lstm_ratio > 1e3 * rnn_ratio
    # "sigma(1) ~ 0.73 keeps most of it": the forget gate of the bias-1 LSTM, measured
    assert 0.7 < cells["lstm"].gates["f"].mean() < 0.76


@pytest.mark.parametrize("seed", SEEDS)
def test_rnn_vs_lstm_without_the_bias_the_lstm_forgets_almost_as_fast(seed):
    """The sentence the description and the LSTM's note make about an untrained forget gate."""
    config = by_name("rnn-vs-lstm").config.model_copy(update={"seed": seed, "forget_bias": None})
    cells = {cr.cell: cr for cr in engine.get_run(config).cells}
    assert abs(cells["lstm"].gates["f"].mean() - 0.5) < 0.03  # "sits near sigma(0) = 0.5"
    rnn, lstm = cells["rnn_tanh"].decay["grad_h"], cells["lstm"].decay["grad_h"]
    assert lstm["steps_per_decade"] < 1.5 * rnn["steps_per_decade"]  # "almost as fast as the RNN"
    assert any("forget gate sits near σ(0) = 0.5" in note for note in cells["lstm"].notes)


@pytest.mark.parametrize("seed", SEEDS)
def test_exploding_the_gradient_grows_going_back_and_relu_overflows(seed):
    cells = run_of("exploding", seed)
    tanh, relu = cells["rnn_tanh"], cells["rnn_relu"]
    assert tanh.decay["grad_h"]["direction"] == relu.decay["grad_h"]["direction"] == "grows"
    assert 9.5 <= tanh.decay["grad_h"]["steps_per_decade"] <= 14.5  # "tenfold every 10 to 14 steps"
    assert 3.5 <= relu.decay["grad_h"]["steps_per_decade"] < 5.5  # "every 4 or 5 steps"
    config = by_name("exploding").config.model_copy(update={"seed": seed})
    for cell in ("rnn_tanh", "rnn_relu"):  # "every step back can multiply the gradient by up to 2.5"
        step = step_jacobian_norms(config, cell)[-1]
        assert (step[np.isfinite(step)] <= 2.5 * (1 + 1e-5)).all()
    g = top(tanh, "grad_h_norm")
    assert np.isfinite(g).all() and g[0] > 1e5 * g[-1]
    r = top(relu, "grad_h_norm")
    assert np.isfinite(r[-1])
    bad = ~np.isfinite(r)
    if bad.any():  # going back from the loss: finite, then infinity, then NaN
        first_bad = np.flatnonzero(bad)[-1]  # the latest step that is not finite
        assert np.isinf(r[first_bad]) and np.isnan(r[0]) and bad[: first_bad + 1].all()
        assert relu.nonfinite["grad_h"] and "inf or NaN" in relu.decay["grad_h"]["text"]


def test_exploding_relu_overflows_with_most_seeds():
    overflowing = 0
    for s in SEEDS:
        relu = run_of("exploding", s)["rnn_relu"]
        norm = top(relu, "grad_h_norm")  # float64: it carries the growth past float32's range
        if np.nanmax(norm) > np.finfo(np.float32).max:
            overflowing += 1
            assert relu.nonfinite["grad_h"] and not np.isfinite(relu.grad_h).all()  # "infinity" in float32
    assert overflowing >= 7  # "with most seeds"


@pytest.mark.parametrize("seed", SEEDS)
def test_forget_bias_keeps_the_lstm_gradient(seed):
    cells = run_of("forget-bias", seed)
    lstm = cells["lstm"]
    assert abs(lstm.gates["f"].mean() - 0.98) < 0.005  # "f ~ 0.98"
    g = top(lstm, "grad_h_norm")
    assert g.min() > 1e-3 * g[-1]  # "never falls below a thousandth of its size at the loss"
    rnn = top(cells["rnn_tanh"], "grad_h_norm")
    assert rnn[0] / rnn[-1] < 1e-19  # "falls below 10^-19 of it"
    jc = top(lstm, "jacobian_norm_c")
    assert 5 < jc[0] < 250  # "grows going back, by 5 to 250 times"
    fit = lstm.decays[-1]["jacobian_c"]
    assert fit["direction"] == "grows" and "feedback" in fit["explanation"]


@pytest.mark.parametrize("seed", SEEDS)
def test_gru_update_gate_fades_ten_times_slower(seed):
    cells = run_of("gru-update-gate", seed)
    gru, rnn = cells["gru"].decay["grad_h"], cells["rnn_tanh"].decay["grad_h"]
    assert gru["direction"] == rnn["direction"] == "decays"
    assert 54.5 <= gru["steps_per_decade"] <= 60.5  # "tenfold only every 55 to 60 steps back"
    assert gru["steps_per_decade"] > 10 * rnn["steps_per_decade"]
    z = cells["gru"].gates["z"]
    assert z.mean() > 0.9  # h_t close to h_(t-1)


@pytest.mark.parametrize("seed", SEEDS)
def test_clamp_f1_is_a_constant_error_carousel(seed):
    cells = run_of("clamp-f1", seed)
    lstm = cells["lstm"]
    assert (lstm.gates["f"] == 1.0).all()
    jc = top(lstm, "jacobian_norm_c")
    assert (jc >= 1 - 1e-5).all()  # ||dc_T/dc_t|| never below 1
    assert 20 < jc[0] < 400  # "grows by 20 to 400 times"
    gc = top(lstm, "grad_c_norm")
    assert gc.min() > 0.5 * gc[-1]  # "never falls below half its size at the loss"
    assert lstm.decays[-1]["grad_c"]["direction"] != "decays"
    fit = lstm.decays[-1]["jacobian_c"]
    assert fit["direction"] == "grows" and "clamped to 1" in fit["explanation"]
    rnn = top(cells["rnn_tanh"], "grad_h_norm")
    assert rnn[0] / rnn[-1] < 1e-10


@pytest.mark.parametrize("seed", SEEDS)
def test_fused_input_is_the_same_rnn(seed):
    cells = run_of("fused-input", seed)
    plain, fused = cells["rnn_tanh"], cells["rnn_fused"]

    def digits(a, b):  # the largest relative difference
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30)))

    # "agrees to at least five significant digits": states (|h| < 1, so absolute) and every gradient
    assert np.abs(plain.h - fused.h).max() < 5e-6
    assert np.abs(plain.gates["pre"] - fused.gates["pre"]).max() < 5e-6
    for field in ("grad_h_norm", "jacobian_norm"):
        assert digits(top(plain, field), top(fused, field)) < 5e-5, field
    assert digits(plain.input_grad["norm"], fused.input_grad["norm"]) < 5e-5
    a, b = plain.decay["grad_h"], fused.decay["grad_h"]
    assert a["direction"] == b["direction"] == "decays"
    assert 3.5 <= b["steps_per_decade"] <= 5.5  # "tenfold every 4 to 5 steps back"
    # "exactly as fast"
    assert abs(a["steps_per_decade"] - b["steps_per_decade"]) < 1e-3 * a["steps_per_decade"]


@pytest.mark.parametrize("seed", range(10))
def test_the_cfc_s_time_gate_does_not_keep_the_past(seed):
    cells = run_of("cfc-time-gate", seed)
    ti = np.asarray(cells["cfc"].gates["ti"], np.float64)
    assert ti.min() >= 0.25 and ti.max() <= 0.75  # "ti between 0.25 and 0.75"
    rate = {name: cr.decay["grad_h"]["steps_per_decade"] for name, cr in cells.items()}
    assert all(cr.decay["grad_h"]["direction"] == "decays" for cr in cells.values())
    assert 1.5 <= rate["cfc"] < 3.5 and 3.5 <= rate["rnn_tanh"] < 5.5 and 4.5 <= rate["gru"] < 6.5
    assert rate["cfc"] < rate["rnn_tanh"]  # "faster than the tanh RNN's"
    # the time gate is the cell's equation on its recorded slope and offset
    ta, tb = (np.asarray(cells["cfc"].gates[g], np.float64) for g in ("ta", "tb"))
    np.testing.assert_allclose(ti, 1 / (1 + np.exp(-(ta + tb))), atol=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_inputs_close_in_time_make_the_ltc_remember_and_leave_the_cfc_as_it_was(seed):
    cells = run_of("ltc-timespan", seed)
    keep = float(np.mean(np.asarray(cells["ltc"].gates["keep"], np.float64)))
    assert 0.7 <= keep < 0.8  # "keeps 0.7 to 0.8 of its voltage on average"
    rate = {name: cr.decay["grad_h"]["steps_per_decade"] for name, cr in cells.items()}
    assert all(cr.decay["grad_h"]["direction"] == "decays" for cr in cells.values())
    assert 10.5 <= rate["ltc"] < 23.5 and 2.25 <= rate["cfc"] < 3.15 and 3.5 <= rate["rnn_tanh"] < 5.5
    config = by_name("ltc-timespan").config.model_copy(update={"seed": seed, "timespan": None})  # Δt = 1
    at_one = {cr.cell: cr for cr in engine.get_run(config).cells}
    assert float(np.mean(np.asarray(at_one["ltc"].gates["keep"], np.float64))) < 0.01  # "under a hundredth"
    assert at_one["ltc"].decay["grad_h"]["steps_per_decade"] < 1.3  # "about every step"
    cfc_at_one = at_one["cfc"].decay["grad_h"]["steps_per_decade"]
    assert 2.25 <= cfc_at_one < 3.15 and abs(cfc_at_one - rate["cfc"]) < 0.15 * rate["cfc"]  # "as at Δt = 1"


@pytest.mark.parametrize("seed", range(10))
def test_the_ltc_s_time_constant_is_liquid_and_short(seed):
    cells = run_of("ltc-liquid-time", seed)
    tau = np.asarray(cells["ltc"].gates["tau"], np.float64)[0]  # (T, H), the one layer
    keep = np.asarray(cells["ltc"].gates["keep"], np.float64)
    assert tau.min() >= 0.04 and tau.max() <= 0.7  # "0.04 to 0.7 of a time step"
    change = tau.max(0) / tau.min(0)  # each unit's tau along the sequence
    assert change.min() >= 1.9 and change.max() <= 6  # "by a factor of 1.9 to 6"
    assert keep.max() < 0.1  # "keeps under a tenth"
    rate = {name: cr.decay["grad_h"]["steps_per_decade"] for name, cr in cells.items()}
    assert all(cr.decay["grad_h"]["direction"] == "decays" for cr in cells.values())
    assert 0.6 <= rate["ltc"] < 1.3 and 3.5 <= rate["rnn_tanh"] < 5.5 and 4.5 <= rate["lstm"] < 6.5
    (note,) = [n for n in cells["ltc"].notes if n.startswith("Untrained, this LTC keeps a share")]
    assert f"a share {float(np.mean(keep)):.2g} of its voltage" in note  # the mean keep, as shown
