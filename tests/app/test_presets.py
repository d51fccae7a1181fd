"""Every preset shows what its description says, on the run it produces."""

from __future__ import annotations

import numpy as np
import pytest

from app import engine
from app.presets import PRESETS, by_name


def run_of(name: str) -> dict[str, engine.CellRun]:
    run = engine.get_run(by_name(name).config)
    return {cr.cell: cr for cr in run.cells}


def top(cr: engine.CellRun, field: str) -> np.ndarray:
    return cr.norms[field][-1]  # top layer, forward: (T,)


def test_every_preset_is_complete():
    assert len({p.name for p in PRESETS}) == len(PRESETS) >= 5
    for preset in PRESETS:
        sentences = [s for s in preset.description.split(". ") if s]
        assert preset.title and 2 <= len(sentences) <= 4, preset.name


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_presets_compute_and_stay_finite_where_they_should(preset):
    cells = run_of(preset.name)
    for name, cr in cells.items():
        if preset.name == "exploding" and name == "rnn_relu":
            continue
        assert not any(cr.nonfinite.values()), (preset.name, name, cr.nonfinite)


def test_rnn_vs_lstm_the_rnn_gradient_vanishes_faster():
    cells = run_of("rnn-vs-lstm")
    rnn, lstm = cells["rnn_tanh"].decay["grad_h"], cells["lstm"].decay["grad_h"]
    assert rnn["direction"] == lstm["direction"] == "decays"
    assert lstm["steps_per_decade"] > 2 * rnn["steps_per_decade"]  # "several times longer"
    rnn_ratio = top(cells["rnn_tanh"], "grad_h_norm")[0] / top(cells["rnn_tanh"], "grad_h_norm")[-1]
    lstm_ratio = top(cells["lstm"], "grad_h_norm")[0] / top(cells["lstm"], "grad_h_norm")[-1]
    assert rnn_ratio < 1e-8 and lstm_ratio > 1e3 * rnn_ratio


def test_exploding_the_gradient_grows_going_back_and_relu_overflows():
    cells = run_of("exploding")
    tanh, relu = cells["rnn_tanh"], cells["rnn_relu"]
    assert tanh.decay["grad_h"]["direction"] == relu.decay["grad_h"]["direction"] == "grows"
    assert 10 <= tanh.decay["grad_h"]["steps_per_decade"] <= 18  # "about tenfold every 14 steps"
    assert relu.decay["grad_h"]["steps_per_decade"] < 6  # "tenfold every few steps"
    g = top(tanh, "grad_h_norm")
    assert np.isfinite(g).all() and g[0] > 1e5 * g[-1]
    r = top(relu, "grad_h_norm")
    assert np.isfinite(r[-1]) and np.isinf(r[:10]).any() and np.isnan(r[:10]).any()  # "infinity, then NaN"
    assert relu.nonfinite["grad_h"]


def test_forget_bias_keeps_the_lstm_gradient():
    cells = run_of("forget-bias")
    g = top(cells["lstm"], "grad_h_norm")
    assert 0.1 < g[0] / g[-1] < 10  # "about the same size"
    assert cells["lstm"].decay["grad_h"]["steps_per_decade"] > 100
    rnn = top(cells["rnn_tanh"], "grad_h_norm")
    assert rnn[0] / rnn[-1] < 1e-10  # "vanishes"


def test_gru_update_gate_fades_ten_times_slower():
    cells = run_of("gru-update-gate")
    gru, rnn = cells["gru"].decay["grad_h"], cells["rnn_tanh"].decay["grad_h"]
    assert gru["direction"] == rnn["direction"] == "decays"
    assert gru["steps_per_decade"] > 10 * rnn["steps_per_decade"]
    z = cells["gru"].gates["z"]
    assert z.mean() > 0.9  # h_t close to h_(t-1)


def test_clamp_f1_is_a_constant_error_carousel():
    cells = run_of("clamp-f1")
    lstm = cells["lstm"]
    assert (lstm.gates["f"] == 1.0).all()
    jc = top(lstm, "jacobian_norm_c")
    assert (jc >= 1 - 1e-5).all()  # ||dc_T/dc_t|| never below 1
    gc = top(lstm, "grad_c_norm")
    assert gc.min() > 0.5 * gc[-1]  # "keeps its size all the way back"
    assert engine.fit_decay(gc)["direction"] != "decays"
    rnn = top(cells["rnn_tanh"], "grad_h_norm")
    assert rnn[0] / rnn[-1] < 1e-10
