"""Inputs and tasks, deterministic from a seed, each with its target and loss.

    text      characters one-hot over the text's alphabet, target the next character (cross-entropy)
    sequence  a numeric sequence given by the user, target the next value (squared error)
    sine      a sine wave, optionally noisy, target the next clean value (squared error)
    adding    the adding problem: values and two markers, target the sum of the two marked values at
              the last step (Le et al. 2015: values U(0,1), target their sum; Hochreiter & Schmidhuber
              1997: values U(-1,1), target 0.5 + (X1 + X2) / 4, markers -1 at the ends)
    copy      the copy-memory task of Arjovsky et al. 2016: copy_len symbols from 1..8, blanks, a
              delimiter (9) at the recall cue, then reproduce the symbols; cross-entropy at every step
    delayed_recall  one of n_symbols at step 0, blanks after, answer it at the last step (cross-entropy
              there only): the lag is the whole sequence

A readout (one linear layer, seeded) maps the top layer's output to the task's output.
``Task.loss_fn(readout, mode)`` is a loss on the output sequence for ``RecurrentNet.trace``:
mode "last" (the last step that has a target), "sum" (every step with a target) or "task"
(the task's own: the mean over its target steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from . import limits

TASKS = ("text", "sequence", "sine", "adding", "copy", "delayed_recall")
ADDING_FORMS = ("le", "hochreiter")


@dataclass
class Readout:
    weight: Tensor  # (O, dirs*H)
    bias: Tensor  # (O,)

    def __call__(self, out: Tensor) -> Tensor:
        return out @ self.weight.t() + self.bias  # (T, B, O)


def make_readout(
    in_features: int, out_features: int, seed: int = 0, device="cpu", dtype=torch.float32
) -> Readout:
    """torch.nn.Linear's default initialisation, from its own generator."""
    gen = torch.Generator().manual_seed(int(seed) + 1)
    k = 1 / math.sqrt(in_features)
    w = (torch.rand(out_features, in_features, generator=gen, dtype=torch.float64) * 2 - 1) * k
    b = (torch.rand(out_features, generator=gen, dtype=torch.float64) * 2 - 1) * k
    return Readout(w.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype))


@dataclass
class Task:
    name: str
    x: Tensor  # (T, B, D)
    target: Tensor  # (T, B, O) regression, or (T, B) class indices
    mask: Tensor  # (T, B) bool: steps that have a target
    classification: bool
    output_size: int
    input_labels: list[str]  # a label per step of batch element 0, for display
    target_labels: list[str]
    alphabet: list[str] | None = None

    @property
    def input_size(self) -> int:
        return self.x.shape[-1]

    def step_losses(self, y: Tensor) -> Tensor:
        """Per-step loss (T, B), zero where there is no target."""
        if self.classification:
            T, B, O = y.shape
            losses = torch.nn.functional.cross_entropy(
                y.reshape(T * B, O), self.target.reshape(T * B).to(y.device), reduction="none"
            ).view(T, B)
        else:
            losses = ((y - self.target.to(y)) ** 2).sum(-1)
        return torch.where(self.mask.to(y.device), losses, torch.zeros((), dtype=y.dtype, device=y.device))

    def loss_fn(self, readout: Readout, mode: str = "task"):
        limits.check_choice("loss", mode, limits.LOSSES)
        mask = self.mask

        def loss(out: Tensor) -> Tensor:
            per_step = self.step_losses(readout(out))  # (T, B)
            m = mask.to(out.device)
            if mode == "last":  # the last step with a target, per batch element
                T = m.shape[0]
                last = (torch.arange(T, device=out.device)[:, None] * m).argmax(0)
                return per_step.gather(0, last[None]).mean()
            if mode == "sum":
                return per_step.sum(0).mean()
            return per_step.sum() / m.sum().clamp(min=1)

        return loss


def _one_hot(indices: Tensor, n: int, dtype) -> Tensor:
    return torch.nn.functional.one_hot(indices, n).to(dtype)


def text(text: str, dtype=torch.float32) -> Task:
    if not isinstance(text, str) or len(text) < 2:
        raise ValueError("text: needs at least 2 characters")
    limits.check_range("seq_len", len(text) - 1, integer=True)
    alphabet = sorted(set(text))
    ids = torch.tensor([alphabet.index(ch) for ch in text])
    x = _one_hot(ids[:-1], len(alphabet), dtype)[:, None]  # (T, 1, V)
    target = ids[1:, None]
    return Task(
        "text",
        x,
        target,
        torch.ones(len(text) - 1, 1, dtype=torch.bool),
        True,
        len(alphabet),
        list(text[:-1]),
        list(text[1:]),
        alphabet,
    )


def sequence(values, columns: int = 1, dtype=torch.float32) -> Task:
    """Your numbers: rows of ``columns`` values each (a flat list is read row by row, a 2-D one as its
    rows); the input at step t is row t, its target row t + 1 (squared error over the columns)."""
    columns = limits.check_range("columns", columns, integer=True)
    v = torch.as_tensor(values, dtype=torch.float64)
    if v.dim() == 2:
        columns = v.shape[1]
    v = v.flatten()
    if v.numel() % columns:
        raise ValueError(f"values: {v.numel()} numbers do not fill rows of {columns} columns")
    v = v.view(-1, columns)
    if v.shape[0] < 2:
        raise ValueError("values: needs at least 2 rows")
    limits.check_range("seq_len", v.shape[0] - 1, integer=True)
    if not torch.isfinite(v).all():
        raise ValueError("values: every value must be a finite number")
    x, target = v[:-1, None].to(dtype), v[1:, None].to(dtype)  # (T, 1, columns)

    def label(row) -> str:
        return ", ".join(f"{a:g}" for a in row)

    return Task(
        "sequence",
        x,
        target,
        torch.ones(v.shape[0] - 1, 1, dtype=torch.bool),
        False,
        columns,
        [label(r) for r in v[:-1].tolist()],
        [label(r) for r in v[1:].tolist()],
    )


def sine(
    seq_len: int, period: float = 20.0, noise: float = 0.0, batch: int = 1, seed: int = 0, dtype=torch.float32
) -> Task:
    T = limits.check_range("seq_len", seq_len, integer=True)
    B = limits.check_range("batch", batch, integer=True)
    period = limits.check_range("period", period, 2.0, 10_000.0)
    noise = limits.check_range("noise", noise, 0.0, 10.0)
    gen = torch.Generator().manual_seed(int(seed))
    phase = torch.rand(B, generator=gen, dtype=torch.float64) * 2 * math.pi
    t = torch.arange(T + 1, dtype=torch.float64)[:, None]
    clean = torch.sin(2 * math.pi * t / period + phase)  # (T+1, B)
    x = clean[:-1] + noise * torch.randn(T, B, generator=gen, dtype=torch.float64)
    target = clean[1:]
    return Task(
        "sine",
        x[..., None].to(dtype),
        target[..., None].to(dtype),
        torch.ones(T, B, dtype=torch.bool),
        False,
        1,
        [f"{a:.2f}" for a in x[:, 0].tolist()],
        [f"{a:.2f}" for a in target[:, 0].tolist()],
    )


def adding(seq_len: int, batch: int = 1, seed: int = 0, form: str = "le", dtype=torch.float32) -> Task:
    T = limits.check_range("seq_len", seq_len, 2, limits.LIMITS["seq_len"][1], integer=True)
    B = limits.check_range("batch", batch, integer=True)
    limits.check_choice("form", form, ADDING_FORMS)
    gen = torch.Generator().manual_seed(int(seed))
    markers = torch.zeros(T, B, dtype=torch.float64)
    half = max(T // 2, 1)
    if form == "le":  # one marker in each half
        values = torch.rand(T, B, generator=gen, dtype=torch.float64)
        first = torch.randint(0, half, (B,), generator=gen)
        second = torch.randint(half, T, (B,), generator=gen) if T > 1 else first
    else:  # Hochreiter & Schmidhuber: first among the first ten steps, second in the first half
        values = torch.rand(T, B, generator=gen, dtype=torch.float64) * 2 - 1
        first = torch.randint(0, min(10, half), (B,), generator=gen)
        second = (first + 1 + torch.randint(0, max(half - 1, 1), (B,), generator=gen)).clamp(max=T - 1)
        second = torch.where(second == first, (first + 1).clamp(max=T - 1), second)
        markers[0], markers[-1] = -1.0, -1.0
    cols = torch.arange(B)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    total = values[first, cols] + values[second, cols]
    goal = total if form == "le" else 0.5 + total / 4
    target = torch.zeros(T, B, 1, dtype=torch.float64)
    target[-1, :, 0] = goal
    mask = torch.zeros(T, B, dtype=torch.bool)
    mask[-1] = True
    x = torch.stack([values, markers], -1)
    labels = [
        f"{v:.2f}" + ("*" if m == 1 else "")
        for v, m in zip(values[:, 0].tolist(), markers[:, 0].tolist(), strict=True)
    ]
    targets = [""] * (T - 1) + [f"{float(goal[0]):.3f}"]
    return Task("adding", x.to(dtype), target.to(dtype), mask, False, 1, labels, targets)


def copy(
    seq_len: int, copy_len: int = 10, n_symbols: int = 8, batch: int = 1, seed: int = 0, dtype=torch.float32
) -> Task:
    """Arjovsky et al. 2016. Vocabulary: 0 blank, 1..n_symbols data, n_symbols+1 the delimiter."""
    copy_len = limits.check_range("copy_len", copy_len, 1, 100, integer=True)
    n_symbols = limits.check_range("n_symbols", n_symbols, 1, 26, integer=True)
    T = limits.check_range("seq_len", seq_len, 2 * copy_len + 1, limits.LIMITS["seq_len"][1], integer=True)
    B = limits.check_range("batch", batch, integer=True)
    gen = torch.Generator().manual_seed(int(seed))
    symbols = torch.randint(1, n_symbols + 1, (copy_len, B), generator=gen)
    delim = n_symbols + 1
    inputs = torch.zeros(T, B, dtype=torch.long)
    inputs[:copy_len] = symbols
    inputs[T - copy_len - 1] = delim
    target = torch.zeros(T, B, dtype=torch.long)
    target[T - copy_len :] = symbols
    vocab = n_symbols + 2
    alphabet = ["_", *[chr(ord("a") + k) for k in range(n_symbols)], ":"]
    return Task(
        "copy",
        _one_hot(inputs, vocab, dtype),
        target,
        torch.ones(T, B, dtype=torch.bool),
        True,
        vocab,
        [alphabet[i] for i in inputs[:, 0].tolist()],
        [alphabet[i] for i in target[:, 0].tolist()],
        alphabet,
    )


def delayed_recall(
    seq_len: int, n_symbols: int = 8, batch: int = 1, seed: int = 0, dtype=torch.float32
) -> Task:
    """One of n_symbols at step 0 (one-hot), blanks after; answer it at step T-1 (cross-entropy there only).

    Input vocabulary: 0 the blank, 1..n_symbols the symbols; the output classes are the n_symbols.
    The answer comes seq_len - 1 steps after the symbol: the plainest long-range test there is.
    """
    n = limits.check_range("n_symbols", n_symbols, 2, 26, integer=True)
    T = limits.check_range("seq_len", seq_len, 2, limits.LIMITS["seq_len"][1], integer=True)
    B = limits.check_range("batch", batch, integer=True)
    gen = torch.Generator().manual_seed(int(seed))
    symbols = torch.randint(0, n, (B,), generator=gen)  # (B,) class indices
    inputs = torch.zeros(T, B, dtype=torch.long)
    inputs[0] = symbols + 1
    target = torch.zeros(T, B, dtype=torch.long)
    target[-1] = symbols
    mask = torch.zeros(T, B, dtype=torch.bool)
    mask[-1] = True
    letters = [chr(ord("a") + k) for k in range(n)]
    vocab = ["_", *letters]
    return Task(
        "delayed_recall",
        torch.nn.functional.one_hot(inputs, n + 1).to(dtype),
        target,
        mask,
        True,
        n,
        [vocab[i] for i in inputs[:, 0].tolist()],
        [""] * (T - 1) + [letters[int(symbols[0])]],
        letters,
    )
