"""The training lessons of app/presets.py show what their descriptions say, on live trainings.

Each training is built as the server builds it, models.Trainer(**app.training.trainer_kwargs(config,
cell, train)) on the preset's own config, seed and settings, with one torch thread (the server's
default). These are real trainings: each is bounded by the preset's budget and stops as soon as the
claim is shown (``stop_below``); the sweep's claim is checked on the points that carry it, each computed
as the server computes a sweep point (a fresh trainer at that T, ``run(sweep.steps)``, ``evaluate()``).
bench/train_presets.py measures the same figures over more seeds (bench/RESULTS.md).
"""

from __future__ import annotations

import math

import pytest

import models
from app.presets import PRESETS, by_name
from app.schemas import RunConfig, TrainSettings
from app.training import trainer_kwargs

TRAINING = ("train-adding", "train-clipping", "train-forget-bias", "train-length-sweep")


pytestmark = pytest.mark.usefixtures("one_thread")


def trainer(
    name: str,
    cell: str,
    seq_len: int | None = None,
    config: RunConfig | None = None,
    train: TrainSettings | None = None,
) -> models.Trainer:
    preset = by_name(name)
    kwargs = trainer_kwargs(config or preset.config, cell, train or preset.train, seq_len=seq_len)
    return models.Trainer(**kwargs)


def val_losses(tr: models.Trainer) -> list[float]:
    return [r.val_loss for r in tr.history if r.val_loss is not None]


def first_below(tr: models.Trainer, level: float) -> int:
    """The first step whose held-out loss is below ``level`` (a large number if none is)."""
    return next((r.step for r in tr.history if r.val_loss is not None and r.val_loss < level), 10**9)


def sweep_point(name: str, cell: str, T: int) -> float:
    """One point of the server's sweep: a fresh trainer at T, the sweep's steps, the held-out loss,
    as a fraction of the baseline."""
    preset = by_name(name)
    tr = trainer(name, cell, seq_len=T)
    tr.run(preset.sweep.steps)
    assert not tr.diverged, (cell, T)
    return tr.evaluate() / tr.baseline


def test_training_presets_are_complete():
    names = [p.name for p in PRESETS]
    assert set(TRAINING) <= set(names)
    for name in TRAINING:
        preset = by_name(name)
        assert preset.train is not None, name
        assert preset.config.loss == "task", name  # the untrained views show the loss training uses
        trainer_kwargs(preset.config, preset.config.cells[0], preset.train)  # trainable: no clamp
    assert by_name("train-length-sweep").sweep is not None
    assert all(by_name(n).sweep is None for n in TRAINING if n != "train-length-sweep")


def test_train_adding_the_lstm_and_gru_learn_it_the_rnn_does_not():
    preset = by_name("train-adding")
    budget = preset.train.steps
    steps = {}
    for cell in ("lstm", "gru"):
        tr = trainer(preset.name, cell)
        tr.run(budget, stop_below=0.01)
        assert val_losses(tr)[-1] < 0.01, (cell, val_losses(tr)[-10:])  # "below held-out MSE 0.01"
        steps[cell] = tr.step
    # "with this seed the GRU after about 180 steps, the LSTM after about 390" (with a margin for
    # another CPU's rounding: a long training need not repeat to the step elsewhere)
    assert steps["gru"] < steps["lstm"]
    assert steps["gru"] <= 250 and steps["lstm"] <= 500
    rnn = trainer(preset.name, "rnn_tanh")
    rnn.run(max(steps.values()))  # as long as the class watches the other two learn
    assert not rnn.diverged
    assert min(val_losses(rnn)) > 0.15  # "stays at the baseline, its held-out MSE never below 0.15"


def test_train_clipping_without_a_clip_it_blows_up():
    preset = by_name("train-clipping")
    assert preset.train.clip is None  # the preset opens with the clip off: the class sees the explosion
    tr = trainer(preset.name, "rnn_relu")
    tr.run(preset.train.steps)
    assert tr.diverged and tr.step == 2  # "training stops at step 2"
    assert tr.history[0].grad_norm > 4e3  # "its first gradient norm is already 4,000 to 34,000"
    assert not all(map(math.isfinite, (tr.history[-1].loss, tr.history[-1].grad_norm)))  # "inf or NaN"


def test_train_clipping_with_clip_1_it_learns():
    preset = by_name("train-clipping")
    tr = trainer(preset.name, "rnn_relu", train=preset.train.model_copy(update={"clip": 1.0}))
    tr.run(preset.train.steps)
    assert not tr.diverged and tr.step == preset.train.steps
    vals = dict((r.step, r.val_loss) for r in tr.history if r.val_loss is not None)
    assert vals[20] < 0.5 * tr.baseline  # "within 20 to 30 steps" (20 with this seed)
    assert tr.evaluate() < 0.035  # "ends at 0.002 to 0.031 after 300 steps"
    assert max(r.grad_norm for r in tr.history) > 1e5  # "still spikes into the millions" (2e6 here)
    assert any(r.clipped for r in tr.history)  # "but every step's gradient is cut to length 1"


def test_train_forget_bias_1_starts_learning_torch_init_does_not():
    preset = by_name("train-forget-bias")
    assert preset.config.forget_bias == 1.0
    budget = preset.train.steps
    with_bias = trainer(preset.name, "lstm")
    with_bias.run(budget)
    base = with_bias.baseline
    assert not with_bias.diverged and with_bias.step == budget
    assert first_below(with_bias, 0.75 * base) <= 70  # "leaves the baseline within 40 to 70 steps"
    assert first_below(with_bias, 0.5 * base) <= 100  # "with this seed below half of it at step 60"
    assert with_bias.evaluate() < 0.01  # "and at 0.001 after 500 steps"
    without = trainer(preset.name, "lstm", config=preset.config.model_copy(update={"forget_bias": None}))
    without.run(budget)
    assert not without.diverged and without.step == budget
    assert min(val_losses(without)) > 2.06  # "after all 500 steps still at the baseline, 2.07 to 2.08"
    assert without.evaluate() > 2.06


def test_train_length_sweep_the_rnn_reaches_back_10_steps_only():
    name = "train-length-sweep"
    assert by_name(name).sweep.lengths == [10, 20, 40, 80]
    assert sweep_point(name, "rnn_tanh", 10) < 0.05  # "learns it at T = 10 (2 to 3% of the baseline)"
    for T in (20, 80):  # the shortest and the longest (40 in between: bench/train_presets.py)
        assert 0.8 < sweep_point(name, "rnn_tanh", T) < 1.25, T  # "from T = 20 on, at the baseline"


def test_train_length_sweep_the_lstm_and_gru_reach_further():
    name = "train-length-sweep"
    assert sweep_point(name, "lstm", 40) < 0.02  # "the LSTM below 2% of the baseline up to T = 40"
    assert sweep_point(name, "gru", 80) < 0.01  # "the GRU below 1% even at T = 80"
