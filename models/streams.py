"""Endless seeded streams of training batches, a fixed held-out batch, and each task's no-memory baseline.

    stream = make_stream("adding", seq_len=100, batch_size=64, val_size=256, seed=0, form="le")
    stream.batch(k)      # training batch k, a tasks.Task: the same for the same (seed, k)
    stream.val           # the held-out batch
    stream.baseline      # the loss of the best prediction that remembers nothing, a float

Synthetic tasks (adding, copy, delayed_recall, sine) draw training batch k from seed mix(seed, 0, k)
and the held-out batch from mix(seed, 1): fresh examples every step, never the held-out ones. The
user's text and values are one fixed sequence: a training batch is batch_size windows of seq_len steps
at random starts (drawn with replacement), or the whole sequence once (batch 1) when seq_len is its
whole length (the default); the held-out batch is the whole sequence, so for these two val_loss
measures the fit of that sequence, not of unseen data.

Baselines, exact (the task loss of the best prediction that ignores what came before):
    adding, Le et al. 2015     predict E[X1 + X2] = 1: MSE = Var(X1 + X2) = 2 * 1/12 = 1/6
    adding, Hochreiter 1997    predict 0.5: MSE = Var(0.5 + (X1 + X2)/4) = (2 * 1/3)/16 = 1/24
    copy, Arjovsky et al. 2016 certain blanks until the recall, then a uniform guess of each of the
                               copy_len symbols: copy_len * ln(n_symbols) / seq_len (the loss averages
                               over every step; Arjovsky's 10 ln 8 / (T + 20), T the blank gap)
    delayed_recall             a uniform guess: ln(n_symbols)
    text                       the entropy (nats) of the target characters' frequencies, the unigram
                               model (a net that sees only the current character can reach the lower
                               bigram entropy; the baseline here is the no-context one)
    sequence                   the variance of the targets (the best constant is their mean)
    sine                       E[sin^2] over a uniform phase = 1/2 (the best constant is 0)
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import limits, tasks
from .tasks import Task, delayed_recall

# Each task's options with their defaults (``None``: required).
TASK_OPTIONS: dict[str, dict[str, object]] = {
    "adding": {"form": "le"},
    "copy": {"copy_len": 10, "n_symbols": 8},
    "delayed_recall": {"n_symbols": 8},
    "text": {"text": None},
    "sequence": {"values": None, "columns": 1},
    "sine": {"period": 20.0, "noise": 0.0},
}
DEFAULT_SEQ_LEN = 100  # synthetic tasks; text and values default to their whole length


def mix(*parts: int) -> int:
    """A 63-bit seed from integers: distinct streams for (seed, 0, k) and (seed, 1)."""
    digest = hashlib.blake2b(",".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class Stream:
    name: str
    seq_len: int
    val: Task  # the fixed held-out batch
    baseline: float
    draw: Callable[[int], Task]  # batch index -> training batch

    def batch(self, k: int) -> Task:
        return self.draw(k)

    @property
    def input_size(self) -> int:
        return self.val.input_size

    @property
    def output_size(self) -> int:
        return self.val.output_size


def _options(task: str, given: dict) -> dict:
    allowed = TASK_OPTIONS[task]
    for name in given:
        if name not in allowed:
            raise ValueError(f"{task}: unknown option {name!r}; its options: {', '.join(allowed)}")
    options = {**allowed, **given}
    for name, value in options.items():
        if value is None:
            raise ValueError(f"{name}: the {task} task needs it")
    return options


def make_stream(
    task: str,
    seq_len: int | None,
    batch_size: int,
    val_size: int,
    seed: int,
    dtype=torch.float32,
    **options,
) -> Stream:
    """The stream of one task; options are the task's own (TASK_OPTIONS), checked here."""
    limits.check_choice("task", task, limits.TRAIN_TASKS)
    options = _options(task, options)
    if task in ("text", "sequence"):
        return _fixed_sequence_stream(task, seq_len, batch_size, seed, dtype, options)
    T = DEFAULT_SEQ_LEN if seq_len is None else seq_len

    def draw(B: int, s: int) -> Task:
        if task == "adding":
            return tasks.adding(T, batch=B, seed=s, form=options["form"], dtype=dtype)
        if task == "copy":
            return tasks.copy(T, options["copy_len"], options["n_symbols"], batch=B, seed=s, dtype=dtype)
        if task == "delayed_recall":
            return delayed_recall(T, options["n_symbols"], batch=B, seed=s, dtype=dtype)
        return tasks.sine(T, options["period"], options["noise"], batch=B, seed=s, dtype=dtype)

    val = draw(val_size, mix(seed, 1))  # checks seq_len and the options
    if task == "adding":
        baseline = 1 / 6 if options["form"] == "le" else 1 / 24
    elif task == "copy":
        baseline = options["copy_len"] * math.log(options["n_symbols"]) / T
    elif task == "delayed_recall":
        baseline = math.log(options["n_symbols"])
    else:
        baseline = 0.5
    return Stream(task, T, val, baseline, lambda k: draw(batch_size, mix(seed, 0, k)))


def _fixed_sequence_stream(task: str, seq_len, batch_size: int, seed: int, dtype, options) -> Stream:
    if task == "text":
        full = tasks.text(options["text"], dtype=dtype)
        counts = Counter(options["text"][1:])  # the targets
        N = full.x.shape[0]
        baseline = -sum(c / N * math.log(c / N) for c in counts.values())
    else:
        full = tasks.sequence(options["values"], options.get("columns", 1), dtype=dtype)
        targets = full.target[:, 0].to(torch.float64)  # (N, columns)
        N = targets.shape[0]
        baseline = float(((targets - targets.mean(0)) ** 2).sum(1).mean())  # each column's best constant
    T = N if seq_len is None else limits.check_range("seq_len", seq_len, 1, N, integer=True)

    def draw(k: int) -> Task:
        if T == N:
            return full
        gen = torch.Generator().manual_seed(mix(seed, 0, k))
        starts = torch.randint(0, N - T + 1, (batch_size,), generator=gen)
        return window(full, starts, T)

    return Stream(task, T, full, baseline, draw)


def window(full: Task, starts: torch.Tensor, T: int) -> Task:
    """Windows of T steps of a batch-1 task at the given starts: a (T, len(starts)) batch."""
    index = starts[None, :] + torch.arange(T)[:, None]  # (T, B)
    s = int(starts[0])
    return Task(
        full.name,
        full.x[index, 0],
        full.target[index, 0],
        torch.ones(T, len(starts), dtype=torch.bool),
        full.classification,
        full.output_size,
        full.input_labels[s : s + T],
        full.target_labels[s : s + T],
        full.alphabet,
    )


def first_element(task: Task) -> Task:
    """Batch element 0 of a task, as a batch of one."""
    return Task(
        task.name,
        task.x[:, :1],
        task.target[:, :1],
        task.mask[:, :1],
        task.classification,
        task.output_size,
        task.input_labels,
        task.target_labels,
        task.alphabet,
    )
