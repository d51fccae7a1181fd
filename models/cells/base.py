"""What every cell shares: its weights for one layer-direction and its forward record.

A cell module (rnn.py, lstm.py, gru.py) provides four functions over a whole sequence, all in
processing order (a reverse direction is flipped before and after by the net):

    forward(x, h0, c0, w)            -> Forward      h_t, c_t and every gate, with the sweeps' coefficients
    reverse(fw, w, e, gh_T, gc_T, store, e_scale)
                                     -> Reverse      dL/dh_t (dL/dc_t), dL/dx_t by a backward sweep
    step_jacobian(fw, w)             -> (T, B, H, H) dh_t/dh_{t-1}

Sweeps carry a K axis of cotangents: K = 1 for dL/dh_t, K = H for the Jacobian dh_T/dh_t. A sweep's
outputs are stored scaled by powers of two (see Rescale): the true dL/dh_t is grad_h[t] * 2**log2_scale[t],
so a gradient that decays to 1e-300 is still carried in float32.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor


class LayerWeights(NamedTuple):
    """One layer-direction's parameters, torch's names and gate order (biases are never None here)."""

    weight_ih: Tensor  # (G*H, D)
    weight_hh: Tensor  # (G*H, H)
    bias_ih: Tensor  # (G*H,)
    bias_hh: Tensor  # (G*H,)


def param_suffix(layer: int, direction: int) -> str:
    """torch's parameter-name suffix: weight_ih_l0, weight_ih_l0_reverse, ..."""
    return f"_l{layer}" + ("_reverse" if direction else "")


class Forward(NamedTuple):
    h: Tensor  # (T, B, H)   h_t
    h_prev: Tensor  # (T, B, H)   h_{t-1}
    c: Tensor | None  # (T, B, H)   c_t (LSTM)
    c_prev: Tensor | None  # (T, B, H)   c_{t-1} (LSTM)
    gates: dict[str, Tensor]  # name -> (T, B, H)
    coef: dict[str, Tensor]  # local derivatives the sweeps need, cell-specific


class Reverse(NamedTuple):
    grad_h: Tensor  # (T, B, K, H)  dL/dh_t, total through all later steps, times 2**-log2_scale
    grad_c: Tensor | None  # (T, B, K, H)  dL/dc_t (LSTM), times 2**-log2_scale
    grad_x: Tensor | None  # (T, B, K, D)  dL/dx_t, the explicit gradient of the layer below, the same
    log2_scale: Tensor | None  # (T, B) float64, the power of two each step's values are stored at; None: 0


def previous(seq: Tensor, first: Tensor) -> Tensor:
    """The sequence one step back: [first, seq_0, ..., seq_{T-2}] (h_{t-1} from h_t and h0)."""
    return torch.cat([first.unsqueeze(0), seq[:-1]])


def sigmoid_grad(s: Tensor) -> Tensor:
    return s * (1 - s)


class Ops:
    """The few array operations the per-step loops use, all writing into ``out``.

    On CPU the loops run on NumPy views of the tensors' memory: a NumPy op on a small array costs
    about a third of a torch op's dispatch, and these loops are dispatch-bound (see bench/RESULTS.md).
    On a GPU they run on the tensors themselves. ``matmul`` takes 2-D operands (np.dot: BLAS, and
    half the cost of np.matmul on a 3-D array).
    """

    numpy_on_cpu = True  # tests switch this off to run the GPU code path on the CPU

    def __init__(self, like: Tensor):
        self.numpy = like.device.type == "cpu" and Ops.numpy_on_cpu
        if self.numpy:
            self.mul, self.add, self.sub, self.matmul = np.multiply, np.add, np.subtract, np.dot
            self.tanh = np.tanh
        else:
            self.mul, self.add, self.sub, self.matmul = torch.mul, torch.add, torch.sub, torch.matmul
            self.tanh = torch.tanh

    def sigmoid(self, a, out):
        if not self.numpy:
            return torch.sigmoid(a, out=out)
        np.multiply(a, 0.5, out=out)  # sigmoid(a) = (1 + tanh(a / 2)) / 2, no overflow for large |a|
        np.tanh(out, out=out)
        np.multiply(out, 0.5, out=out)
        return np.add(out, 0.5, out=out)

    def bmm(self, a, b, out):
        """(B, K, M) @ (B, M, N) into out (B, K, N); on CPU with B = 1, np.dot on the 2-D views."""
        if not self.numpy:
            return torch.matmul(a, b, out=out)
        if a.shape[0] == 1:
            return np.dot(a[0], b[0], out=out[0])
        return np.matmul(a, b, out=out)

    def copy(self, dst, src):
        return np.copyto(dst, src) if self.numpy else dst.copy_(src)

    def relu(self, a, out):
        return np.maximum(a, 0, out=out) if self.numpy else torch.clamp(a, min=0, out=out)

    def view(self, t: Tensor):
        """The array the loops write to: a NumPy view of ``t``'s memory on CPU, else ``t``."""
        return t.detach().numpy() if self.numpy else t

    def steps(self, t: Tensor) -> list:
        """Per-step views along the time axis, made once (indexing inside a loop costs a dispatch)."""
        return list(self.view(t))


def step_buffer(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A sweep's scratch for one step, (1, *shape), reused at every step (see one_step). What a sweep
    keeps for every t (dL/dpre_t for dL/dx_t) is recomputed after it in a few whole-array ops: the
    same products, so the same numbers, without T per-step views of a T-long buffer."""
    return torch.empty(1, *shape, dtype=like.dtype, device=like.device)


def one_step(ops: Ops, buffer: Tensor):
    """The array a loop writes into at every step: the view of a step buffer (or a view of one)."""
    return ops.steps(buffer)[0]


def quiet():
    """NaN and inf are data here (an exploding run): silence NumPy's warnings about them."""
    return np.errstate(all="ignore")


def explicit_steps(ops: Ops, e: Tensor | None, T: int) -> list:
    """Per-step views of e, with None where e_t is all zero (the default loss touches one step only)."""
    if e is None:
        return [None] * T
    if ops.numpy:
        nonzero = np.any(ops.view(e).reshape(T, -1) != 0, axis=1).tolist()
    else:
        nonzero = (e != 0).flatten(1).any(1).tolist()
    return [v if nz else None for v, nz in zip(ops.steps(e), nonzero, strict=True)]


class Rescale:
    """Keeps a reverse sweep's carried cotangents inside the float range by powers of two.

    A vanishing gradient shrinks by a constant factor a step: in float32 it reaches 1e-38 and then
    exactly 0 (a tanh RNN at spectral radius 0.8 gets there in about 100 steps), while the lesson is
    the curve below. Every EVERY steps the sweep checks each batch item's carried arrays; where the
    largest |entry| has left [2**-30, 2**30] they are multiplied by the power of two that brings it into
    [0.5, 1), exactly, and the exponent is added to that item's scale. Step t's outputs are stored at
    the scale in force at t: true value = stored * 2**log2[t, b]. Between two checks a float32 sweep can
    shrink by 2**-96 (a factor 2.4e-4 every step) or grow by 2**98 without leaving float32's range.

    An explicit gradient e_t (the loss's, or the layer above's, at its own scale e_scale[t]) is added
    at the larger of the two scales, so neither side overflows.
    """

    EVERY = 8
    LOW, HIGH = 2.0**-30, 2.0**30

    def __init__(
        self,
        ops: Ops,
        T: int,
        B: int,
        e_scale: Tensor | None = None,
        like: Tensor | None = None,
        every: int | None = None,
    ):
        self.ops, self.T, self.B = ops, T, B
        self.every = every or self.EVERY  # a cell that can shrink 2**-96 in fewer steps checks more often
        self.device = None if like is None else like.device
        self.e_scale = None
        if e_scale is not None and bool((e_scale != 0).any()):
            self.e_scale = e_scale.detach().to("cpu", torch.float64).numpy()
        self.current = np.zeros(B) if self.e_scale is None else self.e_scale[T - 1].copy()
        self.changes: list[tuple[int, np.ndarray]] = []  # (t, scale in force from t down)
        self.plain = self.e_scale is None and not self.current.any()  # e_t is added as it is
        self.same_scale = None  # B = 1: e_scale[t] == the current scale, as Python bools (cheaper)
        if self.current.any() or self.e_scale is not None:
            self._set(T - 1, self.current)
        self.countdown = self.every

    def enter(self, t: int, carried: tuple, e_t) -> None:
        """At the top of step t (below T-1): add e_t to carried[0] (dL/dh_t) at a common scale, and
        every EVERY steps bring the carried arrays back into range."""
        if e_t is not None:
            if self.plain:
                self.ops.add(carried[0], e_t, out=carried[0])
            else:
                self._add_explicit(t, carried, e_t)
        self.countdown -= 1
        if not self.countdown:
            self.countdown = self.every
            self._check(t, carried)

    def _add_explicit(self, t: int, carried: tuple, e_t) -> None:
        e_scale = np.zeros(self.B) if self.e_scale is None else self.e_scale[t]
        if self.same_scale[t] if self.same_scale is not None else (e_scale == self.current).all():
            self.ops.add(carried[0], e_t, out=carried[0])  # both at one scale already: the common case
            return
        new = np.maximum(self.current, e_scale)
        if (new != self.current).any():
            self._scale(carried, self.current - new)
            self._set(t, new)
        factor = self._per_item(np.ldexp(1.0, (e_scale - new).astype(np.int64)), carried[0].ndim)
        self.ops.add(carried[0], self.ops.mul(e_t, factor), out=carried[0])

    def _check(self, t: int, carried: tuple) -> None:
        if self.ops.numpy and self.B == 1:  # the common case in Python floats: a tenth of NumPy's cost here
            m = max(max(float(a.max()), -float(a.min())) for a in carried)
            if not (m < self.LOW or m > self.HIGH) or m == 0 or m == math.inf or m != m:
                return
        largest = self._largest(carried)
        out_of_range = np.isfinite(largest) & (largest > 0) & ((largest < self.LOW) | (largest > self.HIGH))
        if out_of_range.any():
            exponent = np.where(out_of_range, np.frexp(largest)[1], 0).astype(np.float64)
            self._scale(carried, -exponent)
            self._set(t, self.current + exponent)

    def _largest(self, carried) -> np.ndarray:
        if not self.ops.numpy:
            return torch.stack([a.abs().flatten(1).amax(1) for a in carried]).amax(0).double().cpu().numpy()
        return np.max([np.abs(a.reshape(self.B, -1)).max(1) for a in carried], axis=0)

    def _per_item(self, factor: np.ndarray, ndim: int):
        shaped = factor.reshape((self.B,) + (1,) * (ndim - 1))
        return shaped if self.ops.numpy else torch.as_tensor(shaped, device=self.device)

    def _scale(self, arrays, exponent: np.ndarray) -> None:
        factor = np.ldexp(1.0, exponent.astype(np.int64))
        for a in arrays:
            self.ops.mul(a, self._per_item(factor, a.ndim), out=a)

    def _set(self, t: int, new: np.ndarray) -> None:
        self.current = new
        self.plain = self.e_scale is None and not new.any()
        if self.B == 1 and self.e_scale is not None:
            self.same_scale = (self.e_scale[:, 0] == new[0]).tolist()
        self.changes.append((t, new.copy()))

    def log2(self, like: Tensor) -> Tensor | None:
        """(T, B) float64: each step's scale; None where the sweep never rescaled."""
        if not self.changes:
            return None
        out = np.zeros((self.T, self.B))
        for t, scale in self.changes:  # in sweep order, t descending: each holds from t down
            out[: t + 1] = scale
        return torch.as_tensor(out, device=like.device)


def chunk_sweep(
    fw: Forward, W: Tensor, coef: Tensor, e: Tensor | None, seed_h: Tensor | None, e_scale: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """The reverse sweep of a cell whose step back is one matmul over its chunks,
    dL/dh_{t-1} = e_{t-1} + W^T (coef_t * dL/dh_t): coef (T, B, 1, G, H) the chunks' local slopes, W
    (G*H, H) their recurrent blocks stacked (the GRU adds an identity block for its direct z path).
    e: (T, B, K, H) explicit dL/dh_t (times 2**-e_scale (T, B)) or None; seed_h: (B, K, H) added at the
    last step. Returns dL/dh_t (T, B, K, H), stored scaled, and the log2 scales (see Rescale)."""
    T, B, H = fw.h.shape
    G = coef.shape[3]
    K = e.shape[2] if e is not None else seed_h.shape[1]
    ops = Ops(fw.h)
    coefs = ops.steps(coef)
    grad_h = torch.empty(T, B, K, H, dtype=fw.h.dtype, device=fw.h.device)
    gh, ghG, gh2 = ops.steps(grad_h), ops.steps(grad_h.unsqueeze(3)), ops.steps(grad_h.view(T, B * K, H))
    es = explicit_steps(ops, e, T)
    scratch = step_buffer((B, K, G, H), fw.h)
    dchunks, dchunks2 = one_step(ops, scratch), one_step(ops, scratch.view(-1, B * K, G * H))
    # many cotangents (a Jacobian): through each step's H x H matrix instead of the G chunks
    blocks = step_blocks(ops, coef[:, :, 0], W.reshape(G, H, H)) if K >= H else None
    W = ops.view(W)
    scale = Rescale(ops, T, B, e_scale, like=fw.h)
    with quiet():
        seed_last_step(ops, gh[T - 1], es[T - 1], seed_h)
        for t in range(T - 1, 0, -1):
            if t < T - 1:
                scale.enter(t, (gh[t],), es[t])  # + e_t, and back into range
            if blocks is not None:
                ops.bmm(gh[t], next(blocks), out=gh[t - 1])
            else:
                ops.mul(ghG[t], coefs[t], out=dchunks)
                ops.matmul(dchunks2, W, out=gh2[t - 1])
        if T > 1:
            scale.enter(0, (gh[0],), es[0])
    return grad_h, scale.log2(grad_h)


BLOCK_STEPS = 32  # steps whose step-back matrices step_blocks makes at once


def step_blocks(ops: Ops, coef: Tensor, W: Tensor):
    """The step back as one H x H matrix per step, sum over chunks g of diag(coef[t, :, g]) W[g], for
    t = T-1 down to 1 (the order a reverse sweep needs them): coef (T, B, G, H), W (G, H, H); yields
    (B, H, H) arrays, made BLOCK_STEPS steps at a time.

    A sweep of K cotangents then costs K H^2 multiply-adds a step instead of K G H^2 through the
    chunks, for G H^2 to make the matrix: the cheaper way when K >= H (a Jacobian's sweep)."""
    T = coef.shape[0]
    for end in range(T, 1, -BLOCK_STEPS):
        part = coef[max(1, end - BLOCK_STEPS) : end, :, :, :, None]  # (C, B, G, H, 1)
        m = part[:, :, 0] * W[0]
        for g in range(1, W.shape[0]):
            m.addcmul_(part[:, :, g], W[g])
        yield from reversed(ops.steps(m))


def seed_last_step(ops: Ops, gh_last, e, seed: Tensor | None) -> None:
    """The sweep's start: dL/dh_{T-1} = e_{T-1} (+ a seed such as I for the Jacobian)."""
    if e is None and seed is None:
        ops.copy(gh_last, ops.view(torch.zeros((), dtype=torch.float64)))
    elif e is None:
        ops.copy(gh_last, ops.view(seed))
    else:
        ops.copy(gh_last, e)
        if seed is not None:
            ops.add(gh_last, ops.view(seed), out=gh_last)


def scan_linear(a: Tensor, u: Tensor, y0: Tensor, chunk: int | None = None) -> Tensor:
    """y_t = a_t * y_{t-1} + u_t over the leading axis, y_{-1} = y0: the LSTM's c_t and dL/dc_t.

    In chunks of ``chunk`` steps, all chunks at once: a scan inside every chunk from 0, the running
    products of a, then one short scan over the chunks' ends and one fix-up, y = local + prod(a) * y_end
    of the chunk before. About 2 * (chunk + T / chunk) ops instead of 2T; no division, so a's zeros
    and underflows are harmless.
    """
    T = u.shape[0]
    chunk = chunk or max(8, math.isqrt(T))
    if 2 * chunk >= T:
        return _scan_steps(a, u, y0)
    n = -(-T // chunk)
    pad = n * chunk - T
    if pad:  # a = 1, u = 0 past the end carry the last value without changing it
        a = torch.cat([a.expand_as(u), torch.ones((pad, *u.shape[1:]), dtype=u.dtype, device=u.device)])
        u = torch.cat([u, torch.zeros((pad, *u.shape[1:]), dtype=u.dtype, device=u.device)])
    a = a.expand_as(u).reshape(n, chunk, *u.shape[1:]).transpose(0, 1).contiguous()  # (chunk, n, ...)
    u = u.reshape(n, chunk, *u.shape[1:]).transpose(0, 1).contiguous()
    local = _scan_steps(a, u, torch.zeros_like(u[0]))  # (chunk, n, ...): each chunk from zero
    prods = torch.cumprod(a, 0)  # a_1 ... a_k within each chunk
    ends = _scan_steps(prods[-1], local[-1], y0)  # (n, ...): y at the end of every chunk
    start = torch.cat([y0.unsqueeze(0), ends[:-1]])  # y entering each chunk
    y = torch.addcmul(local, prods, start)
    return y.transpose(0, 1).reshape(n * chunk, *y.shape[2:])[:T]


def _scan_steps(a: Tensor, u: Tensor, y0: Tensor) -> Tensor:
    """The sequential form: two ops a step."""
    ops = Ops(u)
    out = torch.empty_like(u)
    ys, a_s, us = ops.steps(out), ops.steps(a.expand_as(u)), ops.steps(u)
    prev = ops.view(y0)
    with quiet():
        for a_t, u_t, y_t in zip(a_s, us, ys, strict=True):
            ops.mul(a_t, prev, out=y_t)
            ops.add(y_t, u_t, out=y_t)
            prev = y_t
    return out
