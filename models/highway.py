"""Highway networks over depth (Srivastava, Greff & Schmidhuber 2015, "Training very deep networks")
beside a plain deep stack of the same width and the same H weights: the forget gate's lesson turned from
time to depth.

    from models import highway
    w = highway.init(width=32, layers=30, carry_bias=-3.0, gain=1.0, seed=0)
    x = highway.draw_input(32, batch=1, seed=0)
    run = highway.trace(w, x, "tanh")     # run.highway, run.plain: y_l, H_l, T_l, dL/dy_l, the norms

Layer l = 1..L maps y_(l-1) to

    highway  y_l = H_l(y_(l-1)) * T_l(y_(l-1)) + y_(l-1) * (1 - T_l(y_(l-1)))
    plain    y_l = H_l(y_(l-1))

with H_l(a) = act(W_H,l a + b_H,l) (tanh or relu), the transform gate T_l(a) = sigmoid(W_T,l a + b_T,l)
and 1 - T the carry gate; y_0 = x. A negative b_T (the paper's -1 to -3) starts every layer carrying its
input through, so the gradient reaches the bottom of a 50-layer stack, where the plain stack's fades by
the same factor every layer, as a tanh RNN's does every step.

The loss is the recurrent engine's "last": the sum of y_L's entries over units and batch items. The
reverse is written out (no autograd: tests/models/test_highway.py checks it against a torch unroll with
autograd and float64 finite differences) and carries its cotangent at a power-of-two scale, as the
cells' sweeps do (models/cells/base.Rescale), so ||dL/dy_l|| is exact far below float32's range.
Pure torch on (B, W) rows: L <= 50 layers of a W <= 128 matmul cost nothing worth a NumPy path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .limits import HIGHWAY_ACTIVATIONS, HIGHWAY_LIMITS, check_choice, check_range
from .streams import mix

STACKS = ("highway", "plain")
# The reverse keeps each item's largest |dL/dy| inside [LOW, HIGH] by exact powers of two.
LOW, HIGH = 2.0**-30, 2.0**30


@dataclass(frozen=True)
class HighwayWeights:
    """L layers' parameters, layer l's at index l - 1; the plain stack uses w_h and b_h too."""

    w_h: Tensor  # (L, W, W)  H's weights (out, in), as torch.nn.Linear holds them
    b_h: Tensor  # (L, W)
    w_t: Tensor  # (L, W, W)  the transform gate's
    b_t: Tensor  # (L, W)

    @property
    def layers(self) -> int:
        return self.w_h.shape[0]

    @property
    def width(self) -> int:
        return self.w_h.shape[1]

    def to(self, dtype: torch.dtype) -> HighwayWeights:
        return HighwayWeights(*(p.to(dtype) for p in (self.w_h, self.b_h, self.w_t, self.b_t)))


@dataclass
class StackTrace:
    """One stack's run: every layer's output, H and gate, and the loss's gradient at every layer."""

    kind: str  # "highway" | "plain"
    y: Tensor  # (L+1, B, W)  y_0 = x, ..., y_L
    h: Tensor  # (L, B, W)  H_l(y_(l-1)); the plain stack's y_l
    gate: Tensor | None  # (L, B, W)  T_l(y_(l-1)), the transform gate (highway only)
    loss: Tensor  # scalar: sum of y_L
    grad_y: Tensor  # (L+1, B, W)  dL/dy_l stored at 2**-log2_scale: the true value is grad_y * 2**scale
    log2_scale: Tensor  # (L+1, B) float64
    grad_norm: Tensor  # (L+1, B) float64  ||dL/dy_l||_2 over units; [0] is ||dL/dx||
    y_norm: Tensor  # (L+1, B) float64  ||y_l||_2

    @property
    def carry(self) -> Tensor | None:
        """1 - T_l: how much of its input each unit of each layer carries through unchanged."""
        return None if self.gate is None else 1 - self.gate

    def grad(self) -> Tensor:
        """dL/dy_l in float64 at its true scale (values below float64's range become 0 here, not in
        grad_norm's, which carries the scale)."""
        scale = self.log2_scale.numpy().astype(np.int64)[..., None]
        return torch.from_numpy(np.ldexp(self.grad_y.double().numpy(), scale))


@dataclass
class DepthTrace:
    activation: str
    highway: StackTrace
    plain: StackTrace

    def stack(self, kind: str) -> StackTrace:
        return self.highway if kind == "highway" else self.plain


def check(activation: str | None = None, **numbers: float) -> None:
    """A ValueError naming the field and its allowed range or values, for every bad argument given."""
    for name, value in numbers.items():
        check_range(name, value, *HIGHWAY_LIMITS[name], integer=name in ("width", "layers", "seed"))
    if activation is not None:
        check_choice("activation", activation, HIGHWAY_ACTIVATIONS)


def init(
    width: int, layers: int, carry_bias: float = -3.0, gain: float = 1.0, seed: int = 0
) -> HighwayWeights:
    """float64 parameters from ``seed``: torch.nn.Linear's U(-k, k), k = 1/sqrt(width), for W_H (times
    ``gain``), b_H and W_T, drawn in that order layer by layer; every b_T is ``carry_bias``."""
    check(width=width, layers=layers, carry_bias=carry_bias, gain=gain, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    k = 1.0 / math.sqrt(width)

    def uniform(*shape: int) -> Tensor:
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * k

    w_h, b_h, w_t = [], [], []
    for _ in range(layers):
        w_h.append(uniform(width, width) * gain)
        b_h.append(uniform(width))
        w_t.append(uniform(width, width))
    b_t = torch.full((layers, width), float(carry_bias), dtype=torch.float64)
    return HighwayWeights(torch.stack(w_h), torch.stack(b_h), torch.stack(w_t), b_t)


def draw_input(width: int, batch: int = 1, seed: int = 0) -> Tensor:
    """x ~ N(0, 1), (batch, width) float64, from its own generator (seed + 1: not the weights' draws)."""
    gen = torch.Generator().manual_seed(seed + 1)
    return torch.randn(batch, width, generator=gen, dtype=torch.float64)


def _act(z: Tensor, activation: str) -> Tensor:
    return torch.tanh(z) if activation == "tanh" else torch.relu(z)


def _act_grad(z: Tensor, h: Tensor, activation: str) -> Tensor:
    return 1 - h * h if activation == "tanh" else (z > 0).to(z.dtype)


def _rescale(g: Tensor, scale: np.ndarray) -> None:
    """Bring each item's largest finite |g| back into [LOW, HIGH] by a power of two, exactly, in place."""
    big = g.abs().amax(dim=1).double().numpy()
    for b, m in enumerate(big):
        if math.isfinite(m) and m > 0 and not LOW <= m <= HIGH:
            e = math.frexp(m)[1]
            g[b] = torch.ldexp(g[b], torch.tensor(-e, dtype=g.dtype))
            scale[b] += e


def _norms(stored: Tensor, scale: np.ndarray) -> Tensor:
    """||value||_2 per item in float64 of values stored at 2**-scale (their true size may be 1e-300)."""
    return torch.from_numpy(np.ldexp(torch.linalg.vector_norm(stored.double(), dim=-1).numpy(), scale))


def _run(w: HighwayWeights, x: Tensor, activation: str, gated: bool) -> StackTrace:
    L, B = w.layers, x.shape[0]
    ys, zs, hs, ts = [x], [], [], []
    for layer in range(L):
        a = ys[-1]
        z = a @ w.w_h[layer].T + w.b_h[layer]
        h = _act(z, activation)
        zs.append(z)
        hs.append(h)
        if gated:
            t = torch.sigmoid(a @ w.w_t[layer].T + w.b_t[layer])
            ts.append(t)
            ys.append(h * t + a * (1 - t))
        else:
            ys.append(h)
    y = torch.stack(ys)
    loss = y[-1].sum()
    grad = torch.empty_like(y)
    log2 = np.zeros((L + 1, B), dtype=np.int64)
    scale = np.zeros(B, dtype=np.int64)
    g = torch.ones_like(x)  # dL/dy_L
    grad[L], log2[L] = g, scale
    for layer in reversed(range(L)):
        a, h = ys[layer], hs[layer]
        if gated:
            t = ts[layer]
            gz_h = g * t * _act_grad(zs[layer], h, activation)
            gz_t = g * (h - a) * t * (1 - t)
            g = g * (1 - t) + gz_h @ w.w_h[layer] + gz_t @ w.w_t[layer]
        else:
            g = (g * _act_grad(zs[layer], h, activation)) @ w.w_h[layer]
        _rescale(g, scale)
        grad[layer], log2[layer] = g, scale
    log2_scale = torch.from_numpy(log2.astype(np.float64))
    return StackTrace(
        kind="highway" if gated else "plain",
        y=y,
        h=torch.stack(hs),
        gate=torch.stack(ts) if gated else None,
        loss=loss,
        grad_y=grad,
        log2_scale=log2_scale,
        grad_norm=_norms(grad, log2),
        y_norm=torch.linalg.vector_norm(y.double(), dim=-1),
    )


def trace(
    w: HighwayWeights,
    x: Tensor,
    activation: str = "tanh",
    dtype: torch.dtype | None = None,
    plain: HighwayWeights | None = None,
) -> DepthTrace:
    """Both stacks on ``x`` (B, W) in ``dtype`` (default: the weights'): see the module's docstring.
    ``plain``: the plain stack's own weights (its w_h, b_h; trained apart from the highway's), else w's."""
    check(activation, width=w.width, layers=w.layers)
    if x.dim() != 2 or x.shape[1] != w.width:
        raise ValueError(f"x: shape {tuple(x.shape)} is not (batch, width = {w.width})")
    if plain is not None and (plain.layers, plain.width) != (w.layers, w.width):
        raise ValueError(f"plain: {plain.layers} layers of {plain.width}, not {w.layers} of {w.width}")
    dtype = dtype or w.w_h.dtype
    w, x = w.to(dtype), x.to(dtype)
    plain = w if plain is None else plain.to(dtype)
    return DepthTrace(activation, _run(w, x, activation, gated=True), _run(plain, x, activation, gated=False))


# -- training both stacks (the panel's "train both") ---------------------------------------------------
HELD_OUT = 256  # inputs in the held-out batch


class Teacher:
    """The task both stacks learn: y* = tanh(A x) for a random A ~ N(0, 4/W) (a one-layer teacher whose
    outputs spread over tanh's range), x ~ N(0, 1); batch k of a seed is always the same inputs."""

    def __init__(self, width: int, seed: int = 0):
        check(width=width, seed=seed)
        self.width, self.seed = width, seed
        gen = torch.Generator().manual_seed(mix(seed, 2))
        self.a = torch.randn(width, width, generator=gen, dtype=torch.float64) * (2 / math.sqrt(width))

    def batch(self, k: int, size: int) -> tuple[Tensor, Tensor]:
        """Training batch ``k`` (1, 2, ...) of ``size`` inputs, float64: (x, y*)."""
        gen = torch.Generator().manual_seed(mix(self.seed, 0, k))
        x = torch.randn(size, self.width, generator=gen, dtype=torch.float64)
        return x, torch.tanh(x @ self.a.T)

    def held_out(self) -> tuple[Tensor, Tensor]:
        gen = torch.Generator().manual_seed(mix(self.seed, 1))
        x = torch.randn(HELD_OUT, self.width, generator=gen, dtype=torch.float64)
        return x, torch.tanh(x @ self.a.T)

    @property
    def baseline(self) -> float:
        """The held-out loss of the best constant guess (each output's mean): what learning nothing gets."""
        _, y = self.held_out()
        return float(((y - y.mean(0)) ** 2).mean())


def training_seconds(layers: int, width: int, batch: int, steps: int, held_out: int = HELD_OUT) -> float:
    """About how long training both stacks takes on one thread (fitted on this machine's measured steps,
    bench/RESULTS.md): per layer and step 280 us however small, plus 1.2 ns a multiply-add of B W^2 (the
    two stacks' forward and backward); the held-out losses at the end, a third of a step per batch."""
    per_step = layers * (280e-6 + 1.2e-9 * batch * width * width)
    return (steps + held_out / (3 * batch)) * per_step


class HighwayTrainer:
    """Both stacks trained on the Teacher's batches, each with its own parameters (the plain stack's w_h,
    b_h start as the highway's), the mean squared error of y_L against y*, Adam, the global gradient norm
    clipped at ``clip`` as the recurrent Trainer does by default."""

    def __init__(
        self,
        w: HighwayWeights,
        teacher: Teacher,
        activation: str = "tanh",
        lr: float = 3e-3,
        batch: int = 64,
        clip: float | None = 1.0,
        dtype: torch.dtype = torch.float32,
    ):
        check(activation, width=w.width, layers=w.layers)
        if teacher.width != w.width:
            raise ValueError(f"width: the teacher's is {teacher.width}, the stacks' {w.width}")
        self.teacher, self.activation, self.batch = teacher, activation, batch
        self.clip, self.dtype = clip, dtype
        start = w.to(dtype)
        self.hw = [p.clone().requires_grad_(True) for p in (start.w_h, start.b_h, start.w_t, start.b_t)]
        self.plain = [p.clone().requires_grad_(True) for p in (start.w_h, start.b_h)]
        self.optimizers = (torch.optim.Adam(self.hw, lr=lr), torch.optim.Adam(self.plain, lr=lr))
        self.losses: list[float] = []
        self.plain_losses: list[float] = []

    def _out(self, x: Tensor, gated: bool) -> Tensor:
        a = x
        params = self.hw if gated else self.plain
        for layer in range(params[0].shape[0]):
            h = _act(a @ params[0][layer].T + params[1][layer], self.activation)
            if gated:
                t = torch.sigmoid(a @ params[2][layer].T + params[3][layer])
                a = h * t + a * (1 - t)
            else:
                a = h
        return a

    def run(self, steps: int) -> None:
        """``steps`` steps, both stacks on the same batches; their losses (before each step) recorded."""
        for _ in range(steps):
            x, y = self.teacher.batch(len(self.losses) + 1, self.batch)
            x, y = x.to(self.dtype), y.to(self.dtype)
            for gated, params, opt, record in (
                (True, self.hw, self.optimizers[0], self.losses),
                (False, self.plain, self.optimizers[1], self.plain_losses),
            ):
                opt.zero_grad(set_to_none=True)
                loss = ((self._out(x, gated) - y) ** 2).mean()
                loss.backward()
                if self.clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, self.clip)
                if torch.isfinite(loss):
                    opt.step()
                record.append(float(loss.detach()))

    def evaluate(self) -> tuple[float, float]:
        """Both stacks' held-out losses at their current weights: (highway, plain)."""
        x, y = self.teacher.held_out()
        x, y = x.to(self.dtype), y.to(self.dtype)
        with torch.no_grad():
            return tuple(float(((self._out(x, g) - y) ** 2).mean()) for g in (True, False))

    @property
    def weights(self) -> tuple[HighwayWeights, HighwayWeights]:
        """(the highway's, the plain stack's: its w_h, b_h, with the highway's w_t, b_t it never uses)."""
        hw = HighwayWeights(*(p.detach().clone() for p in self.hw))
        plain = HighwayWeights(self.plain[0].detach().clone(), self.plain[1].detach().clone(), hw.w_t, hw.b_t)
        return hw, plain
