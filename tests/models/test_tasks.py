"""Tasks: deterministic from a seed, targets as the papers define them, losses by mode."""

import math

import pytest
import torch

import models
from models import tasks


def test_adding_problem_le_form():
    task = tasks.adding(50, batch=4, seed=3)
    values, markers = task.x[..., 0], task.x[..., 1]
    assert task.x.shape == (50, 4, 2)
    assert (markers.sum(0) == 2).all()
    first, second = markers[:25].argmax(0), 25 + markers[25:].argmax(0)  # one marker in each half
    assert (markers[first, torch.arange(4)] == 1).all() and (markers[second, torch.arange(4)] == 1).all()
    torch.testing.assert_close(task.target[-1, :, 0], (values * markers).sum(0))
    assert task.mask[-1].all() and not task.mask[:-1].any()
    assert torch.equal(tasks.adding(50, batch=4, seed=3).x, task.x)
    assert not torch.equal(tasks.adding(50, batch=4, seed=4).x, task.x)


def test_adding_problem_hochreiter_form():
    task = tasks.adding(40, batch=8, seed=1, form="hochreiter")
    values, markers = task.x[..., 0].double(), task.x[..., 1].double()
    assert ((values >= -1) & (values <= 1)).all()
    marked = (markers == 1).double()
    assert (marked.sum(0) == 2).all() and (marked[:10].sum(0) >= 1).all()
    expected = 0.5 + (values * marked).sum(0) / 4
    torch.testing.assert_close(task.target[-1, :, 0].double(), expected, atol=1e-6, rtol=0)


def test_copy_task_arjovsky():
    task = tasks.copy(30, copy_len=5, batch=2, seed=0)
    ids = task.x.argmax(-1)  # (T, B)
    assert (ids[:5] >= 1).all() and (ids[:5] <= 8).all()
    assert (ids[5:24] == 0).all() and (ids[24] == 9).all() and (ids[25:] == 0).all()
    assert torch.equal(task.target[25:], ids[:5]) and (task.target[:25] == 0).all()
    # the memoryless baseline: predicting blanks, then uniform over the 8 symbols, costs 5 log 8 / 30
    logits = torch.full((30, 2, 10), -1e9)
    logits[:25, :, 0] = 0
    logits[25:, :, 1:9] = 0
    loss = task.loss_fn(tasks.Readout(torch.eye(10), torch.zeros(10)), "task")(logits)
    assert abs(float(loss) - 5 * math.log(8) / 30) < 1e-5


def test_text_and_sequence_and_sine():
    task = tasks.text("hello")
    assert task.alphabet == ["e", "h", "l", "o"]
    assert task.x.shape == (4, 1, 4) and task.target[:, 0].tolist() == [0, 2, 2, 3]
    assert task.input_labels == list("hell") and task.target_labels == list("ello")
    seq = tasks.sequence([1.0, 2.0, 4.0])
    assert seq.x[:, 0, 0].tolist() == [1.0, 2.0] and seq.target[:, 0, 0].tolist() == [2.0, 4.0]
    sine = tasks.sine(100, period=25, noise=0.0, seed=2)
    torch.testing.assert_close(sine.x[1:, 0, 0], sine.target[:-1, 0, 0])
    with pytest.raises(ValueError, match="text: needs at least 2"):
        tasks.text("a")
    with pytest.raises(ValueError, match="values: every value must be a finite"):
        tasks.sequence([1.0, float("nan")])
    with pytest.raises(ValueError, match=r"seq_len: 10 is outside the allowed range \[11"):
        tasks.copy(10, copy_len=5)


def test_loss_modes_on_a_trace():
    task = tasks.sine(20, seed=0)
    net = models.build("gru", task.input_size, 6, seed=0)
    readout = tasks.make_readout(net.output_size, task.output_size, seed=0)
    traces = {mode: net.trace(task.x, loss=task.loss_fn(readout, mode)) for mode in models.limits.LOSSES}
    per_step = task.step_losses(readout(traces["last"].output))[:, 0]
    torch.testing.assert_close(traces["last"].loss, per_step[-1])
    torch.testing.assert_close(traces["sum"].loss, per_step.sum())
    torch.testing.assert_close(traces["task"].loss, per_step.mean())
    # the last-step loss puts gradient on the last output only
    assert (traces["last"].grad_output[:-1] == 0).all() and (traces["sum"].grad_output[:-1] != 0).any()
    with pytest.raises(ValueError, match="loss"):
        task.loss_fn(readout, "median")
