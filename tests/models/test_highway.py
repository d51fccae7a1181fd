"""The highway stack over depth and its plain twin against a torch unroll of nn.Linear layers with
autograd (the issue's oracle), float64 finite differences, and the identities the gates give exactly."""

from __future__ import annotations

import math

import pytest
import torch

from models import highway
from models.decay import fit_decay


class TorchHighway(torch.nn.Module):
    """Srivastava et al.'s layer in plain torch: nn.Linear for H and T, autograd for the gradients."""

    def __init__(self, w: highway.HighwayWeights, activation: str, gated: bool):
        super().__init__()
        L, W = w.layers, w.width
        self.h = torch.nn.ModuleList(torch.nn.Linear(W, W, dtype=w.w_h.dtype) for _ in range(L))
        self.t = torch.nn.ModuleList(torch.nn.Linear(W, W, dtype=w.w_h.dtype) for _ in range(L))
        with torch.no_grad():
            for layer in range(L):
                self.h[layer].weight.copy_(w.w_h[layer])
                self.h[layer].bias.copy_(w.b_h[layer])
                self.t[layer].weight.copy_(w.w_t[layer])
                self.t[layer].bias.copy_(w.b_t[layer])
        self.act = torch.tanh if activation == "tanh" else torch.relu
        self.gated = gated

    def forward(self, x):
        ys, gates = [x], []
        for h_layer, t_layer in zip(self.h, self.t, strict=True):
            a = ys[-1]
            h = self.act(h_layer(a))
            if self.gated:
                t = torch.sigmoid(t_layer(a))
                gates.append(t)
                ys.append(h * t + a * (1 - t))
            else:
                ys.append(h)
        return ys, gates


def oracle(w, x, activation, gated, dtype):
    module = TorchHighway(w, activation, gated).to(dtype)
    x = x.detach().to(dtype).clone().requires_grad_(True)
    ys, gates = module(x)
    for y in ys:
        y.retain_grad()
    ys[-1].sum().backward()
    return ys, gates, [y.grad for y in ys]


CASES = [
    # (width, layers, carry_bias, gain, activation, batch)
    (16, 10, -2.0, 1.0, "tanh", 1),
    (8, 5, -1.0, 3.0, "relu", 3),
    (12, 30, -3.0, 1.5, "tanh", 2),
    (5, 2, 1.0, 0.5, "relu", 1),
]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("width,layers,carry_bias,gain,activation,batch", CASES)
def test_both_stacks_match_a_torch_unroll_with_autograd(
    width, layers, carry_bias, gain, activation, batch, dtype, tol
):
    w = highway.init(width, layers, carry_bias, gain, seed=3)
    x = highway.draw_input(width, batch, seed=3)
    run = highway.trace(w, x, activation, dtype)
    for stack in (run.highway, run.plain):
        ys, gates, grads = oracle(w, x, activation, stack.kind == "highway", dtype)
        assert stack.y.dtype == dtype
        torch.testing.assert_close(stack.y, torch.stack(ys).detach(), rtol=tol, atol=tol)
        torch.testing.assert_close(stack.grad().to(dtype), torch.stack(grads), rtol=tol, atol=tol)
        torch.testing.assert_close(stack.loss, ys[-1].sum().detach(), rtol=tol, atol=tol)
        want = torch.linalg.vector_norm(torch.stack(grads).double(), dim=-1)
        torch.testing.assert_close(stack.grad_norm, want, rtol=tol * 10, atol=0)
        if stack.kind == "highway":
            torch.testing.assert_close(stack.gate, torch.stack(gates).detach(), rtol=tol, atol=tol)
            torch.testing.assert_close(stack.carry, 1 - torch.stack(gates).detach(), rtol=tol, atol=tol)
        else:
            assert stack.gate is None and stack.carry is None
            torch.testing.assert_close(stack.h, stack.y[1:])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_the_input_gradient_matches_float64_finite_differences(activation):
    width, layers = 6, 8
    w = highway.init(width, layers, carry_bias=-1.5, gain=2.0, seed=7)
    x = highway.draw_input(width, 1, seed=7)
    run = highway.trace(w, x, activation)
    eps = 1e-6
    for stack in (run.highway, run.plain):
        gated = stack.kind == "highway"
        for j in range(width):
            bumped = []
            for sign in (1, -1):
                xj = x.clone()
                xj[0, j] += sign * eps
                other = highway.trace(w, xj, activation)
                bumped.append(float((other.highway if gated else other.plain).loss))
            fd = (bumped[0] - bumped[1]) / (2 * eps)
            assert stack.grad()[0, 0, j].item() == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_a_shut_transform_gate_carries_the_input_through_exactly():
    # b_T = -1e4: sigmoid is exactly 0 in float64, so every layer is the identity and dL/dy_l = 1 everywhere
    w = highway.init(10, 20, carry_bias=-10.0, gain=1.0, seed=0)
    w = highway.HighwayWeights(w.w_h, w.b_h, w.w_t, torch.full_like(w.b_t, -1e4))
    x = highway.draw_input(10, 2, seed=0)
    run = highway.trace(w, x, "tanh")
    assert torch.equal(run.highway.gate, torch.zeros_like(run.highway.gate))
    assert torch.equal(run.highway.y[-1], x)
    assert torch.equal(run.highway.grad(), torch.ones(21, 2, 10, dtype=torch.float64))
    assert torch.equal(run.highway.grad_norm, torch.full((21, 2), math.sqrt(10), dtype=torch.float64))


def test_an_open_transform_gate_is_the_plain_stack_exactly():
    w = highway.init(10, 20, carry_bias=0.0, gain=2.0, seed=1)
    w = highway.HighwayWeights(w.w_h, w.b_h, w.w_t, torch.full_like(w.b_t, 1e4))
    x = highway.draw_input(10, 1, seed=1)
    run = highway.trace(w, x, "relu")
    assert torch.equal(run.highway.y, run.plain.y)
    assert torch.equal(run.highway.grad(), run.plain.grad())


def test_tiny_gradients_keep_their_size_in_float32():
    # a plain tanh stack at gain 0.05 shrinks dL/dy about 30x a layer: 50 layers go far below float32's
    # 1e-38 (and 1e-45 subnormals); the float32 norms stay within 1e-4 of float64's all the way down
    w = highway.init(32, 50, carry_bias=-2.0, gain=0.05, seed=2)
    x = highway.draw_input(32, 1, seed=2)
    f64 = highway.trace(w, x, "tanh", torch.float64).plain.grad_norm
    f32 = highway.trace(w, x, "tanh", torch.float32).plain.grad_norm
    assert f64[0, 0] < 1e-60
    assert (f32 > 0).all()
    torch.testing.assert_close(f32, f64, rtol=1e-4, atol=0)


def test_huge_gradients_keep_their_size_in_float32():
    # relu at gain 10: dL/dy grows about 4x a layer, 1e30 at the input of 50 layers; float32's stored
    # cotangent is rescaled, so its norms are float64's
    w = highway.init(16, 50, carry_bias=-2.0, gain=10.0, seed=0)
    x = highway.draw_input(16, 1, seed=0)
    f32 = highway.trace(w, x, "relu", torch.float32).plain.grad_norm
    f64 = highway.trace(w, x, "relu", torch.float64).plain.grad_norm
    assert f64[0, 0] > 1e29
    torch.testing.assert_close(f32, f64, rtol=1e-4, atol=0)


@pytest.mark.parametrize("value", [math.inf, math.nan, 1e-300])
def test_nan_inf_and_tiny_inputs_are_data_not_a_crash(value):
    w = highway.init(8, 6, carry_bias=-2.0, gain=1.0, seed=0)
    x = highway.draw_input(8, 1, seed=0)
    x[0, 3] = value
    run = highway.trace(w, x, "tanh")
    for stack in (run.highway, run.plain):
        assert stack.y[0, 0, 3].item() == value or math.isnan(value)
        if math.isfinite(value):
            assert torch.isfinite(stack.grad_norm).all()
        else:
            assert not torch.isfinite(stack.y).all()


def test_the_plain_stack_forgets_across_depth_and_the_highway_does_not():
    # the lesson at the page's defaults (tanh, width 32, 30 layers, b_T = -3), seeds 0-9; measured:
    # the plain stack's gradient at the input is 4e-9..6e-8 of its top's, 10x smaller every 3.6-4.1
    # layers; the highway's is 0.22-0.24 of it, 10x every 44-49 layers
    for seed in range(10):
        w = highway.init(32, 30, carry_bias=-3.0, gain=1.0, seed=seed)
        run = highway.trace(w, highway.draw_input(32, 1, seed), "tanh", torch.float32)
        plain = run.plain.grad_norm[:, 0]
        gated = run.highway.grad_norm[:, 0]
        assert plain[0] / plain[-1] < 1e-7, seed
        assert 0.2 < gated[0] / gated[-1] < 1, seed  # within 5x across 30 layers
        fit = fit_decay(plain.numpy(), unit="layer")
        assert fit.direction == "decays" and fit.steps_per_decade < 5, seed
        assert "layers back" in fit.text
        assert fit_decay(gated.numpy(), unit="layer").steps_per_decade > 40, seed


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(width=0, layers=5), "width"),
        (dict(width=8, layers=51), "layers"),
        (dict(width=8, layers=5, carry_bias=-11.0), "carry_bias"),
        (dict(width=8, layers=5, gain=math.nan), "gain"),
        (dict(width=8.5, layers=5), "width"),
    ],
)
def test_bad_arguments_name_their_field_and_range(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}: .*\[") as err:
        highway.init(**kwargs)
    assert field in str(err.value)


def test_a_bad_activation_or_input_names_what_is_allowed():
    w = highway.init(8, 3)
    with pytest.raises(ValueError, match=r"^activation: 'sigmoid' is not one of 'tanh', 'relu'"):
        highway.trace(w, highway.draw_input(8), "sigmoid")
    with pytest.raises(ValueError, match=r"^x: shape \(1, 7\) is not \(batch, width = 8\)"):
        highway.trace(w, torch.zeros(1, 7), "tanh")


def test_the_trainer_starts_from_the_oracles_loss_and_trains_each_stack_apart():
    """Its first losses are the mean squared error of torch's own nn.Linear unrolls (autograd's) at the
    starting weights, on the teacher's first batch; the plain stack's H weights train apart from the
    highway's; trace(plain=...) runs each stack with its own."""
    w = highway.init(8, 5, -3.0, 1.0, 3).to(torch.float32)
    teacher = highway.Teacher(8, 3)
    x, y = teacher.batch(1, 16)
    trainer = highway.HighwayTrainer(w, teacher, "tanh", 1e-2, 16)
    trainer.run(4)
    for gated, loss in ((True, trainer.losses[0]), (False, trainer.plain_losses[0])):
        out = oracle(w, x.float(), "tanh", gated, torch.float32)[0][-1]
        assert loss == pytest.approx(float(((out - y.float()) ** 2).mean()), rel=1e-5)
    trained, plain = trainer.weights
    assert not torch.equal(trained.w_h, plain.w_h) and not torch.equal(trained.w_h, w.w_h)
    run = highway.trace(trained, x[:2], "tanh", torch.float32, plain=plain)
    torch.testing.assert_close(
        run.plain.y[-1], oracle(plain, x[:2].float(), "tanh", False, torch.float32)[0][-1]
    )
    assert teacher.baseline == pytest.approx(float(teacher.held_out()[1].var(0, unbiased=False).mean()))
    with pytest.raises(ValueError, match=r"^width: "):
        highway.HighwayTrainer(w, highway.Teacher(4, 3))
