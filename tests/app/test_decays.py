"""The fits per layer-direction, the cell and run notes and the Jacobian's reason, as the engine sends
them: each number against the curve it describes, each sentence against the numbers it states."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import torch
from wire_helpers import step_jacobian_norms

import models
from app import engine
from app.schemas import Ready, RunConfig
from tests.reference import unroll

DEEP = RunConfig(cells=["rnn_tanh", "lstm"], num_layers=3, bidirectional=True, seq_len=20, hidden_size=8)


def reference_grads(config: RunConfig, cell: str) -> tuple[torch.Tensor, torch.Tensor]:
    """||dL/dh_t|| per layer-direction (L*dirs, T) by autograd through torch.nn.LSTMCell / RNNCell
    unrolled with retain_grad (tests/reference.py), and dL/d output of the top layer by autograd
    through torch.nn.LSTM / RNN itself: neither uses the engine's reverse sweep."""
    task = models.tasks.adding(config.seq_len, seed=config.seed)
    net = engine.build_net(config, cell, task.input_size)
    loss_fn = task.loss_fn(models.tasks.make_readout(net.output_size, 1, seed=config.seed), config.loss)
    grad_h = unroll(net, task.x, loss_fn)[3]  # (L*dirs, T, B, H)
    out = net.to_torch()(task.x)[0].detach().requires_grad_(True)  # (T, B, dirs*H)
    loss_fn(out).backward()
    return grad_h[:, :, 0].norm(dim=-1), out.grad[:, 0]


@pytest.mark.parametrize("cell", ["lstm", "rnn_tanh"])
def test_decays_fit_each_layer_directions_own_curve(cell):
    run = engine.compute_run(DEEP)
    cr = run.cells[DEEP.cells.index(cell)]
    assert len(cr.decays) == 6
    for ld, entry in enumerate(cr.decays):
        reverse = ld % 2 == 1
        for name, curve in engine._DECAY_CURVES.items():
            values = cr.norms[curve]
            if values is None:
                assert entry[name] is None
                continue
            expected = engine.fit_decay(values[ld][::-1] if reverse else values[ld])
            got = dict(entry[name])
            if reverse and got["direction"] in ("decays", "grows"):
                assert got["text"].endswith("toward higher t)")
                got["text"] = expected["text"]
            assert {k: v for k, v in got.items() if k != "explanation"} == {
                k: v for k, v in expected.items() if k != "explanation"
            }
    assert cr.decay == {"grad_h": cr.decays[4]["grad_h"], "jacobian": cr.decays[4]["jacobian"]}


@pytest.mark.parametrize("cell", ["lstm", "rnn_tanh"])
def test_top_reverse_direction_is_zero_with_the_last_step_loss(cell):
    run = engine.compute_run(DEEP)
    cr = run.cells[DEEP.cells.index(cell)]
    reference, explicit = reference_grads(DEEP, cell)
    T, H = DEEP.seq_len, DEEP.hidden_size
    np.testing.assert_allclose(cr.norms["grad_h_norm"], reference.numpy(), rtol=1e-4, atol=1e-12)
    # the loss reads the top layer's reverse half only at t = T-1 ...
    assert (explicit[: T - 1, H:] == 0).all() and (explicit[T - 1, H:] != 0).any()
    # ... so the total gradient there is exactly 0 at every earlier t, by autograd
    assert (reference[5, : T - 1] == 0).all() and reference[5, T - 1] > 0
    assert (cr.norms["grad_h_norm"][5, : T - 1] == 0).all()
    for ld in (1, 3):  # lower reverse directions hear the loss through the layer above
        assert (reference[ld] > 0).all()
        assert cr.decays[ld]["grad_h"]["direction"] != "zero"
    fit = cr.decays[5]["grad_h"]
    assert fit["direction"] == "zero" and fit["factor"] is None
    assert fit["text"] == f"exactly 0 at {T - 1} of {T} steps: nothing flows back"
    assert f"only at t = T−1 = {T - 1}, which is its first step" in fit["explanation"]
    if cell == "lstm":
        assert cr.decays[5]["grad_c"]["direction"] == "zero"
    assert cr.decays[5]["jacobian"]["direction"] != "zero"  # the Jacobian does not read the loss


def test_reverse_direction_gets_gradient_with_a_loss_on_every_step():
    config = DEEP.model_copy(update={"task": "copy", "loss": "sum", "copy_len": 3})
    cr = engine.compute_run(config).cells[1]
    assert (cr.norms["grad_h_norm"][5] > 0).all() and cr.decays[5]["grad_h"]["direction"] != "zero"


def test_ready_carries_decays_notes_and_the_jacobian():
    ready = orjson.loads(engine.compute_run(DEEP).ready_json)
    Ready.model_validate(ready)
    assert ready["jacobian"] == {"mode": "auto", "computed": True, "reason": None}
    assert [n["field"] for n in ready["notes"]] == ["bidirectional"]
    lstm = ready["cells"][1]
    assert len(lstm["decays"]) == 6 and set(lstm["decays"][0]) == {
        "grad_h",
        "grad_c",
        "jacobian",
        "jacobian_c",
    }
    assert ready["cells"][0]["decays"][0]["grad_c"] is None and lstm["notes"]


# -- the Jacobian: computed or why not ------------------------------------------------------------
def test_jacobian_reason_names_the_automatic_limit():
    big = RunConfig(cells=["gru"], seq_len=300, hidden_size=128)  # 300 * 128^2 = 4.9 million > 2^22
    run = engine.compute_run(big)
    assert run.cells[0].norms["jacobian_norm"] is None and run.cells[0].decay["jacobian"] is None
    assert run.jacobian["mode"] == "auto" and run.jacobian["computed"] is False
    assert (
        "T·H² = 300·128² = 4.9 million is above the automatic limit of 4.2 million" in run.jacobian["reason"]
    )
    assert 300 * 128**2 > models.limits.JACOBIAN_AUTO_ELEMENTS >= 4.15e6
    forced = engine.compute_run(big.model_copy(update={"jacobian": "on", "seq_len": 20}))
    assert forced.jacobian == {"mode": "on", "computed": True, "reason": None}
    off = engine.compute_run(RunConfig(cells=["gru"], seq_len=10, jacobian="off"))
    assert off.jacobian == {
        "mode": "off",
        "computed": False,
        "reason": "Turned off in the settings (Jacobian: off).",
    }
    assert orjson.loads(off.ready_json)["cells"][0]["curves"]["jacobian_norm"] is None


# -- run notes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["sum", "task"])
def test_a_loss_on_every_step_of_the_adding_task_is_the_last_step_loss(loss):
    base = RunConfig(cells=["rnn_tanh", "lstm"], seq_len=30, seed=4)
    last, other = engine.compute_run(base), engine.compute_run(base.model_copy(update={"loss": loss}))
    for a, b in zip(last.cells, other.cells, strict=True):  # the note's claim, exactly
        assert a.loss == b.loss
        np.testing.assert_array_equal(a.grad_h, b.grad_h)
    assert last.notes == []
    assert [n["field"] for n in other.notes] == ["loss"]
    assert "Only step t = 29 has a target in the adding task" in other.notes[0]["text"]
    assert "exactly the same loss and gradients as 'last step'" in other.notes[0]["text"]


def test_no_loss_note_where_every_step_has_a_target():
    base = RunConfig(cells=["gru"], task="copy", seq_len=20, copy_len=3)
    last, every = engine.compute_run(base), engine.compute_run(base.model_copy(update={"loss": "sum"}))
    assert every.notes == [] and not np.array_equal(last.cells[0].grad_h, every.cells[0].grad_h)


def test_run_notes_name_settings_that_change_nothing():
    config = RunConfig(cells=["rnn_tanh"], forget_bias=2.0, update_bias=1.0, clamp={"f": 1.0}, seq_len=8)
    fields = [n["field"] for n in engine.compute_run(config).notes]
    assert fields == ["forget_bias", "update_bias", "clamp.f"]
    both = RunConfig(cells=["lstm"], forget_bias=2.0, clamp={"f": 1.0}, seq_len=8)
    (note,) = engine.compute_run(both).notes
    assert note["field"] == "forget_bias" and "clamped to 1" in note["text"]


# -- cell notes -----------------------------------------------------------------------------------
def test_cell_notes_state_the_measured_gate_means():
    run = engine.compute_run(RunConfig(cells=["rnn_tanh", "lstm", "gru"], seq_len=40))
    rnn, lstm, gru = run.cells
    assert rnn.notes == []
    (f_note,) = lstm.notes
    assert f"mean f = {lstm.gates['f'].mean():.2f} here, over all steps" in f_note
    (z_note,) = gru.notes
    assert f"mean z = {gru.gates['z'].mean():.2f} here" in z_note
    opened = engine.compute_run(
        RunConfig(cells=["lstm", "gru"], seq_len=40, forget_bias=1.0, update_bias=3.0)
    )
    assert [cr.notes for cr in opened.cells] == [[], []]
    clamped = engine.compute_run(RunConfig(cells=["lstm"], seq_len=40, clamp={"f": 0.5}))
    assert clamped.cells[0].notes == []  # a clamp is the user's choice, not the untrained default


# -- the numbers in the explanations --------------------------------------------------------------
def _polyfit_rate(curve: np.ndarray) -> tuple[float, float]:
    """Per-step change going back and total factor, by numpy's polyfit (not models/decay.py)."""
    t = np.flatnonzero(np.isfinite(curve) & (curve > 0))
    slope = np.polyfit(t, np.log10(curve[t].astype(np.float64)), 1)[0]
    return 10.0 ** (-slope), 10.0 ** (-slope * (t[-1] - t[0]))


def test_rnn_growth_explanation_quotes_the_runs_own_numbers():
    config = RunConfig(cells=["rnn_tanh"], init="orthogonal", spectral_radius=2.5, seq_len=100)
    cr = engine.compute_run(config).cells[0]
    step = step_jacobian_norms(config, "rnn_tanh")[0, 1:]
    per_step, total = _polyfit_rate(cr.norms["grad_h_norm"][0])
    why = cr.decays[0]["grad_h"]["explanation"]
    assert f"is {np.exp(np.log(step).mean()):.2g} here (geometric mean over the steps)" in why
    assert f"grows {per_step:.3g}x per step back" in why
    mantissa, exponent = f"{total:.2g}".split("e")  # e.g. 2e+07, written 2e7
    assert per_step > 1 and f"({mantissa}e{int(exponent)}x over 99 steps)" in why


@pytest.mark.parametrize(
    ("preset", "words"), [("clamp-f1", "f clamped to 1"), ("forget-bias", "mean f = 0.98")]
)
def test_lstm_growth_explanation_quotes_the_runs_own_numbers(preset, words):
    from app.presets import by_name

    cr = engine.compute_run(by_name(preset).config).cells[1]
    per_step, _ = _polyfit_rate(cr.norms["jacobian_norm_c"][0])
    why = cr.decays[0]["jacobian_c"]["explanation"]
    assert words in why and f"grows {per_step:.3g}x per step back" in why
    assert f"mean f = {cr.gates['f'].mean():.2f}" in why or preset == "clamp-f1"


def test_an_overflowing_loss_is_a_note_with_the_runs_numbers():
    config = RunConfig(cells=["rnn_relu"], init="orthogonal", spectral_radius=2.5, seq_len=100, seed=1)
    cr = engine.compute_run(config).cells[0]
    assert np.isinf(cr.loss)
    (note,) = cr.notes
    peak, at_loss = float(np.abs(cr.h).max()), float(cr.norms["grad_h_norm"][0, -1])
    assert note.startswith("The loss is inf: it overflows float32 (largest number 3.4e38)")
    assert f"|h| reaches {peak:.2g}".replace("e+", "e") in note
    assert np.isfinite(at_loss) and f"‖∂L/∂h‖ = {at_loss:.2g}".replace("e+", "e") in note


def test_rnn_growth_without_step_jacobians_quotes_the_largest_singular_value():
    config = RunConfig(cells=["rnn_tanh"], init="orthogonal", spectral_radius=2.5, seq_len=60, jacobian="off")
    cr = engine.compute_run(config).cells[0]
    w_hh = engine.build_net(config, "rnn_tanh", 2).weights["weight_hh_l0"].double().numpy()
    largest = np.linalg.svd(w_hh, compute_uv=False)[0]
    assert cr.decay["jacobian"] is None and cr.decay["grad_h"]["direction"] == "grows"
    assert (
        f"is at most {largest:.2g} here (W_hh's largest singular value)" in cr.decay["grad_h"]["explanation"]
    )


def test_a_lower_layers_rising_gradient_is_explained_by_where_it_enters():
    """In a stacked bidirectional net the lower reverse directions' ||dL/dh_t|| rises toward t = T-1
    (back along their own order): not a product of step Jacobians, which by ||J_1...J_k|| <=
    ||J_1||...||J_k|| could not grow faster than their geometric mean, but the gradient the layer above
    passes down at every step. The sentence must say so, and the bound it quotes must hold."""
    config = RunConfig(cells=["rnn_tanh"], num_layers=3, bidirectional=True)
    cr = engine.compute_run(config).cells[0]
    steps = step_jacobian_norms(config, "rnn_tanh")
    for ld in (1, 3):  # layers 1 and 2, reverse
        fit = cr.decays[ld]["grad_h"]
        assert fit["direction"] == "grows"
        why = fit["explanation"]
        assert "from the layer above at every step" in why and "toward higher t" in why
        assert "Above 1 the product can grow" not in why  # the recurrence claim is false here
        step = steps[ld]
        mean = float(np.exp(np.log(step[step > 0]).mean()))
        per_step, _ = _polyfit_rate(cr.norms["grad_h_norm"][ld][::-1])
        assert per_step > mean  # the growth outruns what the recurrence alone allows
        assert f"multiplies by {mean:.3g} here" in why and f"the {per_step:.3g}x per step" in why
    top_forward = cr.decays[4]["grad_h"]
    assert top_forward["direction"] == "decays" and top_forward["explanation"] is None


@pytest.mark.parametrize(("task", "radius"), [("sine", 1.5), ("text", 1.0)])
def test_a_loss_on_every_step_sums_gradients_that_enter_at_every_step(task, radius):
    """With a target at every step the curve is a sum; which cause the sentence names for its rise
    follows the product bound on the run's own step Jacobians (checked here from the numbers)."""
    config = RunConfig(
        cells=["rnn_tanh"], task=task, loss="sum", seq_len=60, init="orthogonal", spectral_radius=radius
    )
    cr = engine.compute_run(config).cells[0]
    fit = cr.decays[0]["grad_h"]
    assert fit["direction"] == "grows"
    why = fit["explanation"]
    assert why.startswith(f"The loss reads the output at {cr.norms['grad_h_norm'].shape[1]} steps")
    step = step_jacobian_norms(config, "rnn_tanh")[0]
    mean = float(np.exp(np.log(step[step > 0]).mean()))
    per_step, _ = _polyfit_rate(cr.norms["grad_h_norm"][0])
    if per_step > mean:
        assert "not from steps multiplying it up" in why
    else:
        assert "the recurrence may add" in why and f"up to {mean:.3g} here" in why
