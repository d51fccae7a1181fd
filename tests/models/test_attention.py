"""models/attention.py against torch.nn.MultiheadAttention (with a causal mask) plus the residual and
torch.nn.LayerNorm, plain autograd on them, and float64 finite differences; its limits and its lesson."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import models
from models import attention
from tests.reference import attention_oracle as oracle

TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}


CASES = [
    # (length, width, heads, positions, residual, layer_norm)
    (12, 8, 1, "learned", True, True),
    (12, 8, 2, "sinusoidal", False, False),
    (20, 12, 4, "learned", True, False),
    (20, 12, 3, "sinusoidal", False, True),
    (7, 5, 1, "sinusoidal", True, True),  # an odd width: the last sine has no cosine
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_matches_multihead_attention_and_its_gradients(case, dtype):
    T, E, n, positions, residual, layer_norm = case
    w = attention.init(E, T, n, positions, focus=1.5, seed=3)
    x, r = attention.draw_task(T, E, batch=2, seed=3)
    run = attention.trace(w, x, r, n, residual, layer_norm, dtype)
    y, a, loss, g = oracle(w, x, r, n, residual, layer_norm, dtype)
    tol = TOL[dtype]
    torch.testing.assert_close(run.output, y, **tol)
    torch.testing.assert_close(run.weights, a, **tol)
    torch.testing.assert_close(run.loss, loss, **tol)
    torch.testing.assert_close(run.grad_x, g, **tol)
    assert run.output.dtype == dtype and run.grad_x_norm.dtype == torch.float64
    torch.testing.assert_close(run.grad_x_norm, torch.linalg.vector_norm(g.double(), dim=-1), **tol)


def test_gradient_against_float64_finite_differences():
    T, E, n = 6, 4, 2
    w = attention.init(E, T, n, "learned", seed=1)
    x, r = attention.draw_task(T, E, seed=1)
    run = attention.trace(w, x, r, n, True, True, torch.float64)
    eps = 1e-6
    numeric = torch.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        plus, minus = x.clone(), x.clone()
        plus[idx] += eps
        minus[idx] -= eps
        lp = attention.trace(w, plus, r, n, True, True, torch.float64).loss
        lm = attention.trace(w, minus, r, n, True, True, torch.float64).loss
        numeric[idx] = (lp - lm) / (2 * eps)
    torch.testing.assert_close(run.grad_x, numeric, rtol=1e-6, atol=1e-8)


def test_weights_are_causal_rows_that_sum_to_one():
    w = attention.init(16, 30, 4, "sinusoidal", seed=0)
    x, r = attention.draw_task(30, 16, seed=0)
    a = attention.trace(w, x, r, 4).weights[0]  # (n, T, T)
    assert torch.all(a.triu(1) == 0)  # exactly: step t sees nothing later
    torch.testing.assert_close(a.sum(-1), torch.ones(4, 30, dtype=a.dtype))
    assert torch.all(a[:, 0, 0] == 1)  # the first step can only look at itself


def test_sinusoidal_positions_are_vaswanis():
    p = attention.sinusoidal(9, 7)
    for t in range(9):
        for i in range(7):
            angle = t / 10000 ** ((i - i % 2) / 7)
            expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert p[t, i].item() == pytest.approx(expected, abs=1e-15)


def test_init_draws_as_multihead_attention_does():
    E = 32
    w = attention.init(E, 10, 2, "learned", focus=1.0, seed=0)
    bound = math.sqrt(6 / (4 * E))  # xavier-uniform over (3E, E)
    assert w.in_proj_weight.abs().max() <= bound and w.in_proj_weight.abs().max() > 0.9 * bound
    assert w.out_proj_weight.abs().max() <= 1 / math.sqrt(E)
    assert torch.all(w.in_proj_bias == 0) and torch.all(w.out_proj_bias == 0)
    sharp = attention.init(E, 10, 2, "learned", focus=3.0, seed=0)
    torch.testing.assert_close(sharp.in_proj_weight[:E], 3 * w.in_proj_weight[:E])
    torch.testing.assert_close(sharp.in_proj_weight[E:], w.in_proj_weight[E:])
    flat = attention.init(E, 10, 2, "learned", focus=0.0, seed=0)
    x, r = attention.draw_task(10, E, seed=0)
    a = attention.trace(flat, x, r, 2).weights[0, 0]
    torch.testing.assert_close(a[9], torch.full((10,), 0.1, dtype=a.dtype))  # no focus: uniform rows


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(width=0, length=10), "width"),
        (dict(width=8, length=1), "length"),
        (dict(width=8, length=257), "length"),
        (dict(width=8, length=10, heads=5), "heads"),
        (dict(width=10, length=10, heads=4), "heads"),
        (dict(width=8, length=10, focus=-1.0), "focus"),
        (dict(width=8, length=10, focus=math.nan), "focus"),
        (dict(width=8, length=10, positions="rotary"), "positions"),
        (dict(width=8, length=10, seed=-1), "seed"),
    ],
)
def test_bad_arguments_name_their_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        attention.init(**kwargs)


def test_heads_that_do_not_divide_say_which_do():
    with pytest.raises(ValueError, match=r"allowed here: 1, 3$") as err:
        attention.init(9, 10, heads=2)
    assert "does not divide the width 9" in str(err.value)


def test_trace_checks_its_shapes():
    w = attention.init(8, 10, 2)
    x, r = attention.draw_task(10, 8)
    with pytest.raises(ValueError, match=r"^x: "):
        attention.trace(w, x[:, :, :4], r, 2)
    with pytest.raises(ValueError, match=r"^x: 11 steps"):
        attention.trace(w, torch.cat([x, x[:1]]), r, 2)
    with pytest.raises(ValueError, match=r"^readout: "):
        attention.trace(w, x, r[:4], 2)


def test_nonfinite_input_is_carried_not_hidden():
    w = attention.init(8, 10, 2, seed=0)
    x, r = attention.draw_task(10, 8, seed=0)
    x[3, 0, 1] = math.nan
    run = attention.trace(w, x, r, 2)
    assert torch.isnan(run.loss) and torch.isnan(run.grad_x_norm[3, 0])
    assert torch.isfinite(run.weights[0, :, :3]).all()  # the steps before it are untouched


@pytest.mark.parametrize("seed", range(5))
def test_the_lesson_attention_reaches_back_where_the_tanh_rnn_cannot(seed):
    """||dL/dx_t|| 200 steps back is of the size of the nearer steps' for attention, while the tanh RNN's
    on the same input and loss is below 1e-30 of its one-step-back value."""
    T, E = 240, 32
    w = attention.init(E, T, 2, "sinusoidal", seed=seed)
    x, r = attention.draw_task(T, E, seed=seed)
    g = attention.trace(w, x, r, 2, dtype=torch.float32).grad_x_norm[:, 0].numpy()
    lagged = g[::-1][1:]  # lag 1, 2, ...
    assert 0.1 < lagged[199] / np.median(lagged[:200]) < 10
    net = models.build("rnn_tanh", E, E, seed=seed)
    rnn = net.trace(x.float(), loss=lambda out: (out[-1] @ r.float()).sum(), jacobian=False)
    gr = rnn.grad_x_norm[:, 0].numpy()[::-1]
    assert gr[200] < 1e-30 * gr[1]


def test_the_input_layer_is_drawn_as_torch_linear_draws_it_and_appended_last():
    w = attention.init(16, 10, 2, "learned", seed=5, inputs=3)
    assert tuple(w.embed_weight.shape) == (16, 3) and w.embed_weight.abs().max() <= 1 / math.sqrt(3)
    same = attention.init(16, 10, 2, "learned", seed=5)  # the other draws do not depend on the inputs
    torch.testing.assert_close(w.in_proj_weight, same.in_proj_weight)
    torch.testing.assert_close(w.positions, same.positions)
    with pytest.raises(ValueError, match=r"^inputs: "):
        attention.init(16, 10, 2, inputs=0)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_the_trainer_learns_the_stream_with_the_oracles_loss(positions):
    """Its training loss at step 1 is the task loss of torch's own modules at the starting weights; every
    parameter moves but sinusoidal positions. (That it learns: tests/app/test_attention_api.py's lesson.)"""
    stream = models.streams.make_stream("adding", 12, 16, 64, 0)
    w = attention.init(8, 12, 2, positions, seed=0, inputs=2)
    trainer = attention.AttentionTrainer(w, stream, 2, positions, lr=1e-2, seed=0)
    start = trainer.weights
    batch = stream.batch(1)
    readout = models.tasks.Readout(
        trainer.readout.weight.detach().clone(), trainer.readout.bias.detach().clone()
    )
    y, _, _, _ = oracle(start, batch.x.double(), torch.zeros(8), 2, True, True, torch.float32)
    losses = trainer.run(5)
    assert losses[0] == pytest.approx(float(batch.loss_fn(readout, "task")(y)), rel=1e-5)
    end = trainer.weights
    for name in attention.AttentionWeights.__dataclass_fields__:
        moved = not torch.equal(getattr(start, name), getattr(end, name))
        assert moved == (name != "positions" or positions == "learned"), name


def test_the_trainer_checks_its_task():
    stream = models.streams.make_stream("adding", 12, 4, 8, 0)
    with pytest.raises(ValueError, match=r"^inputs: the task has 2 per step"):
        attention.AttentionTrainer(attention.init(8, 12, 2), stream, 2)
    with pytest.raises(ValueError, match=r"^length: "):
        attention.AttentionTrainer(attention.init(8, 10, 2, inputs=2), stream, 2)
