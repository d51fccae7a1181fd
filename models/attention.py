"""Causal self-attention over a sequence (Vaswani et al. 2017, one layer): the model that reaches far-back
inputs without gates, shown beside the recurrent cells on the same input and the same loss.

    from models import attention
    w = attention.init(width=32, length=240, heads=2, positions="sinusoidal", seed=0)
    x, r = attention.draw_task(length=240, width=32, seed=0)
    run = attention.trace(w, x, r, heads=2)     # run.weights (B, n, T, T), run.grad_x_norm (T, B)

One layer of width E, n heads of d = E / n units each, over D inputs per step (D = E on the panel's
random input, the task's inputs when it trains: the adding problem's 2):

    u_t = W_e x_t + b_e + p_t                         the input layer, and the positions p: learned
                                                      (drawn as nn.Embedding draws, N(0, 1)) or
                                                      sinusoidal (sin/cos at 10000^(-2i/E), Vaswani)
    q_t, k_t, v_t = W_q u_t + b_q, W_k u_t + b_k, W_v u_t + b_v          per head: d units each
    a_tj = softmax_j (q_t · k_j / sqrt(d)) over j <= t  (causal: step t sees steps 0..t and nothing later)
    o_t  = sum_j a_tj v_j                                                 the heads side by side
    z_t  = W_o o_t + b_o;  y_t = u_t + z_t with the residual, else z_t;  then LayerNorm(y_t) if asked

This is ``torch.nn.Linear(D, E)``, then ``torch.nn.MultiheadAttention(E, n)`` called on (u, u, u) with a
causal mask, plus the residual and ``torch.nn.LayerNorm(E)``: tests/models/test_attention.py checks
outputs, weights and gradients against them and against float64 finite differences. The parameters are
held in those modules' names and drawn as they draw them (xavier-uniform in_proj_weight, Linear's
U(-1/sqrt(E), 1/sqrt(E)) out_proj, zero biases, the input layer Linear's U(-1/sqrt(D), 1/sqrt(D))), from
the seed; ``focus`` scales W_q, which sharpens (> 1) or flattens (< 1) every row of weights.

The loss is the last step's readout, L = sum over the batch of r · y_(T-1), with r drawn beside x: the
recurrent cells get the same x and the same loss (app/engine.attention_json), so ||dL/dx_t|| is one
quantity across models. (A plain sum of y_(T-1) would be exactly 0 under the layer norm, whose output
sums to its bias.) The attention's ||dL/dx_t|| does not shrink with the lag: every earlier step reaches
the last one through a single weight a_(T-1,j), where a tanh RNN's passes a product of t Jacobians.

The forward is written out here; the gradient comes from autograd over it (a single layer: no sweep
through time to rescale, and its gradients stay within float32's range at these sizes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .limits import ATTENTION_LIMITS, ATTENTION_POSITIONS, check_choice, check_range
from .tasks import make_readout

LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default
_INTEGERS = ("length", "width", "inputs", "heads", "seed")


@dataclass(frozen=True)
class AttentionWeights:
    """One layer's parameters, by torch.nn.MultiheadAttention's and torch.nn.LayerNorm's names."""

    in_proj_weight: Tensor  # (3E, E): W_q, W_k, W_v stacked, as MultiheadAttention holds them
    in_proj_bias: Tensor  # (3E,)
    out_proj_weight: Tensor  # (E, E): W_o
    out_proj_bias: Tensor  # (E,)
    positions: Tensor  # (length, E): p_t, added to x_t
    norm_weight: Tensor  # (E,): the layer norm's gain
    norm_bias: Tensor  # (E,)
    embed_weight: Tensor  # (E, D): the input layer W_e, as torch.nn.Linear(D, E) holds it
    embed_bias: Tensor  # (E,)

    @property
    def width(self) -> int:
        return self.out_proj_weight.shape[0]

    @property
    def length(self) -> int:
        return self.positions.shape[0]

    @property
    def inputs(self) -> int:
        return self.embed_weight.shape[1]

    def to(self, dtype: torch.dtype) -> AttentionWeights:
        return AttentionWeights(*(getattr(self, f).to(dtype) for f in self.__dataclass_fields__))

    def mha_state(self) -> dict[str, Tensor]:
        """The state dict torch.nn.MultiheadAttention(E, n) loads (bias on, kdim = vdim = E)."""
        return {
            "in_proj_weight": self.in_proj_weight,
            "in_proj_bias": self.in_proj_bias,
            "out_proj.weight": self.out_proj_weight,
            "out_proj.bias": self.out_proj_bias,
        }


@dataclass
class AttentionTrace:
    """One run over x (T, B, E): every step's weights over earlier steps, the outputs and dL/dx_t."""

    heads: int
    residual: bool
    layer_norm: bool
    u: Tensor  # (T, B, E): W_e x_t + b_e + p_t
    q: Tensor  # (B, n, T, d)
    k: Tensor  # (B, n, T, d)
    v: Tensor  # (B, n, T, d)
    weights: Tensor  # (B, n, T, T): a_tj, zero above the diagonal (step t sees nothing later)
    attended: Tensor  # (T, B, E): o_t, the heads side by side
    output: Tensor  # (T, B, E): y_t after the residual and the layer norm where they are on
    loss: Tensor  # scalar: sum over the batch of r · y_(T-1)
    grad_x: Tensor  # (T, B, E): dL/dx_t
    grad_x_norm: Tensor  # (T, B) float64: ||dL/dx_t||_2 over the E inputs

    @property
    def head_size(self) -> int:
        return self.q.shape[-1]


def check(positions: str | None = None, **numbers: float) -> None:
    """A ValueError naming the field and its allowed range or values, for every bad argument given;
    the heads must divide the width (each head gets width / heads units)."""
    for name, value in numbers.items():
        check_range(name, value, *ATTENTION_LIMITS[name], integer=name in _INTEGERS)
    if positions is not None:
        check_choice("positions", positions, ATTENTION_POSITIONS)
    width, heads = numbers.get("width"), numbers.get("heads")
    if width is not None and heads is not None and int(width) % int(heads):
        fits = [n for n in range(1, int(ATTENTION_LIMITS["heads"][1]) + 1) if int(width) % n == 0]
        raise ValueError(
            f"heads: {int(heads)} does not divide the width {int(width)} (each head takes width / heads "
            f"units); allowed here: {', '.join(map(str, fits))}"
        )


def sinusoidal(length: int, width: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Vaswani et al.'s positions: p[t, 2i] = sin(t / 10000^(2i/E)), p[t, 2i+1] = cos(t / 10000^(2i/E))."""
    t = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    i2 = torch.arange(0, width, 2, dtype=torch.float64)
    angle = t / torch.pow(10000.0, i2 / width)  # (length, ceil(E/2))
    p = torch.zeros(length, width, dtype=torch.float64)
    p[:, 0::2] = torch.sin(angle)
    p[:, 1::2] = torch.cos(angle[:, : width // 2])
    return p.to(dtype)


def init(
    width: int,
    length: int,
    heads: int = 1,
    positions: str = "learned",
    focus: float = 1.0,
    seed: int = 0,
    inputs: int | None = None,
) -> AttentionWeights:
    """float64 parameters from ``seed``, drawn in MultiheadAttention's order and ranges: in_proj_weight
    xavier-uniform (times ``focus`` on W_q's rows), out_proj U(-1/sqrt(E), 1/sqrt(E)), biases 0; then
    learned positions N(0, 1) (sinusoidal ones are computed); then the input layer from ``inputs``
    (None: the width) as torch.nn.Linear draws it; the layer norm's gain 1, bias 0."""
    inputs = width if inputs is None else inputs
    check(positions, width=width, length=length, heads=heads, focus=focus, seed=seed, inputs=inputs)
    gen = torch.Generator().manual_seed(seed)
    E = width

    def uniform(bound: float, *shape: int) -> Tensor:
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound

    in_proj = uniform(math.sqrt(6.0 / (E + 3 * E)), 3 * E, E)
    in_proj[:E] *= focus
    out_proj = uniform(1.0 / math.sqrt(E), E, E)
    if positions == "learned":
        p = torch.randn(length, E, generator=gen, dtype=torch.float64)
    else:
        p = sinusoidal(length, E)
    embed = uniform(1.0 / math.sqrt(inputs), E, inputs)
    embed_bias = uniform(1.0 / math.sqrt(inputs), E)
    zeros = torch.zeros(E, dtype=torch.float64)
    return AttentionWeights(
        in_proj_weight=in_proj,
        in_proj_bias=torch.zeros(3 * E, dtype=torch.float64),
        out_proj_weight=out_proj,
        out_proj_bias=zeros.clone(),
        positions=p,
        norm_weight=zeros + 1,
        norm_bias=zeros.clone(),
        embed_weight=embed,
        embed_bias=embed_bias,
    )


def draw_task(length: int, width: int, batch: int = 1, seed: int = 0) -> tuple[Tensor, Tensor]:
    """x ~ N(0, 1) (length, batch, width) and the loss's readout r ~ N(0, 1/width) (width,), float64, from
    their own generator (seed + 1: not the weights' draws)."""
    check(length=length, width=width, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(length, batch, width, generator=gen, dtype=torch.float64)
    r = torch.randn(width, generator=gen, dtype=torch.float64) / math.sqrt(width)
    return x, r


def _layer_norm(y: Tensor, gain: Tensor, bias: Tensor) -> Tensor:
    mean = y.mean(dim=-1, keepdim=True)
    centred = y - mean
    var = (centred * centred).mean(dim=-1, keepdim=True)  # biased, as LayerNorm's
    return centred / torch.sqrt(var + LAYER_NORM_EPS) * gain + bias


def _forward(
    w: AttentionWeights, x: Tensor, heads: int, residual: bool, layer_norm: bool
) -> dict[str, Tensor]:
    """The layer over x (T, B, D), differentiable in x and in w's tensors: u, q, k, v (B, n, T, d), the
    weights a (B, n, T, T), o and y (T, B, E)."""
    T, B, E = x.shape[0], x.shape[1], w.width
    d = E // heads
    u = x @ w.embed_weight.T + w.embed_bias + w.positions[:T].unsqueeze(1)
    q, k, v = (u @ w.in_proj_weight.T + w.in_proj_bias).split(E, dim=-1)  # (T, B, E) each
    q, k, v = (m.reshape(T, B, heads, d).permute(1, 2, 0, 3) for m in (q, k, v))  # (B, n, T, d)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, n, T, T): query t, key j
    later = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
    a = torch.softmax(scores.masked_fill(later, -math.inf), dim=-1)
    o = (a @ v).permute(2, 0, 1, 3).reshape(T, B, E)
    y = o @ w.out_proj_weight.T + w.out_proj_bias
    if residual:
        y = u + y
    if layer_norm:
        y = _layer_norm(y, w.norm_weight, w.norm_bias)
    return {"u": u, "q": q, "k": k, "v": v, "a": a, "o": o, "y": y}


def trace(
    w: AttentionWeights,
    x: Tensor,
    readout: Tensor,
    heads: int = 1,
    residual: bool = True,
    layer_norm: bool = True,
    dtype: torch.dtype | None = None,
) -> AttentionTrace:
    """The layer over ``x`` (T, B, D) in ``dtype`` (default: the weights'), with the loss r · y_(T-1)."""
    if x.dim() != 3 or x.shape[2] != w.inputs:
        raise ValueError(f"x: shape {tuple(x.shape)} is not (length, batch, inputs = {w.inputs})")
    T, E = x.shape[0], w.width
    check(length=T, width=E, heads=heads)
    if w.length < T:
        raise ValueError(f"x: {T} steps, but the positions were drawn for {w.length}")
    if tuple(readout.shape) != (E,):
        raise ValueError(f"readout: shape {tuple(readout.shape)} is not (width = {E},)")
    dtype = dtype or w.in_proj_weight.dtype
    w = w.to(dtype)
    with torch.enable_grad():
        x = x.detach().to(dtype).requires_grad_(True)
        parts = _forward(w, x, heads, residual, layer_norm)
        loss = (parts["y"][-1] @ readout.to(dtype)).sum()
        (grad_x,) = torch.autograd.grad(loss, x)
    u, q, k, v, a, o, y = (parts[name].detach() for name in ("u", "q", "k", "v", "a", "o", "y"))
    return AttentionTrace(
        heads=heads,
        residual=residual,
        layer_norm=layer_norm,
        u=u,
        q=q,
        k=k,
        v=v,
        weights=a,
        attended=o,
        output=y,
        loss=loss.detach(),
        grad_x=grad_x,
        grad_x_norm=torch.linalg.vector_norm(grad_x.double(), dim=-1),
    )


# -- training on a task (the panel's "train both") ----------------------------------------------------
def training_seconds(
    length: int,
    width: int,
    heads: int,
    batch: int,
    steps: int,
    cell_cost: tuple[float, float] = (120.0, 0.5),
    held_out: int = 256,
) -> float:
    """About how long training the attention and a recurrent cell of the same width takes on one thread
    (fitted on this machine's measured steps, bench/RESULTS.md): per step the attention's projections
    (B T E (T + 4E) multiply-adds, 0.14 ns each), its (B, n, T, T) weights and their gradient (22 ns an
    entry: the softmax, the mask and autograd's elementwise passes) and 2.5 ms however small; the cell's
    step, its spec's ``train_cost`` (us per time step, ns per B E^2 of each); plus both held-out losses,
    ``held_out`` sequences forward, about a third of a step's cost per batch of them."""
    T, E, B, n = length, width, batch, heads
    per_time_step_us, per_madd_ns = cell_cost
    attention = 0.14e-9 * B * T * E * (T + 4 * E) + 22e-9 * B * n * T * T + 2.5e-3
    cell = T * (per_time_step_us * 1e-6 + per_madd_ns * 1e-9 * B * E * E)
    return (steps + held_out / (3 * B)) * (attention + cell)


class AttentionTrainer:
    """One layer of attention trained on a task stream (models/streams.py: the same batches and held-out
    batch a recurrent Trainer of that stream gets), its task loss through a linear readout of y_t.

    Every parameter trains (the input layer, W_q, W_k, W_v, W_o, their biases, the layer norm, the
    readout, and learned positions; sinusoidal ones stay), with Adam and the global gradient norm
    clipped at ``clip`` as the recurrent Trainer does by default. ``weights`` and ``readout`` give the
    current values to trace.
    """

    def __init__(
        self,
        w: AttentionWeights,
        stream,
        heads: int,
        positions: str = "learned",
        residual: bool = True,
        layer_norm: bool = True,
        lr: float = 3e-3,
        clip: float | None = 1.0,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ):
        check(positions, width=w.width, heads=heads, length=stream.seq_len)
        if w.length < stream.seq_len:
            raise ValueError(f"length: the task has {stream.seq_len} steps, the positions {w.length}")
        if w.inputs != stream.input_size:
            raise ValueError(f"inputs: the task has {stream.input_size} per step, the layer {w.inputs}")
        self.stream, self.heads, self.residual, self.layer_norm = stream, heads, residual, layer_norm
        start = w.to(dtype)
        # every tensor trains but sinusoidal positions, which are a formula, not a parameter
        self.tensors = {
            n: getattr(start, n).clone().requires_grad_(n != "positions" or positions == "learned")
            for n in AttentionWeights.__dataclass_fields__
        }
        r = make_readout(w.width, stream.output_size, seed, dtype=dtype)
        self.readout = torch.nn.Linear(w.width, stream.output_size, dtype=dtype)
        with torch.no_grad():
            self.readout.weight.copy_(r.weight)
            self.readout.bias.copy_(r.bias)
        trained = [t for t in self.tensors.values() if t.requires_grad]
        self.parameters = trained + list(self.readout.parameters())
        self.optimizer = torch.optim.Adam(self.parameters, lr=lr)
        self.clip = clip
        self.losses: list[float] = []

    @property
    def weights(self) -> AttentionWeights:
        return AttentionWeights(**{n: t.detach().clone() for n, t in self.tensors.items()})

    def _loss(self, task) -> Tensor:
        w = AttentionWeights(**self.tensors)
        x = task.x.to(w.in_proj_weight.dtype)
        y = _forward(w, x, self.heads, self.residual, self.layer_norm)["y"]
        return task.loss_fn(self.readout, "task")(y)

    def run(self, steps: int) -> list[float]:
        """``steps`` steps on the stream's next batches; their training losses (before each step)."""
        out = []
        for _ in range(steps):
            batch = self.stream.batch(len(self.losses) + 1)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._loss(batch)
            loss.backward()
            if self.clip is not None:
                torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
            if torch.isfinite(loss):
                self.optimizer.step()
            value = float(loss.detach())
            self.losses.append(value)
            out.append(value)
        return out

    def evaluate(self) -> float:
        """The held-out batch's task loss at the current weights."""
        with torch.no_grad():
            return float(self._loss(self.stream.val))
