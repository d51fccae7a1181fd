"""Causal self-attention (models/attention.py) against torch.nn.MultiheadAttention doing the same work,
and what the attention panel's answer costs.

  trace    models.attention.trace: the written-out forward, autograd for dL/dx_t, the float64 norms
  torch    nn.MultiheadAttention(E, n) on (u, u, u) with a causal mask, the residual, nn.LayerNorm,
           forward + backward to x (need_weights on: the panel shows every weight)
  answer   app.engine.attention_json: both models (the attention and the compared tanh RNN), the fits
           and the JSON the page gets (POST /api/attention's work)
ratio = trace / torch. Times are medians of interleaved repeats (bench/engine.py's paired_median_ms).

Then POST /api/attention/train's work (app.engine.attention_train_json: both models trained side by side
on the adding problem, then traced), once each: the lesson's training and the largest the bound allows at
a few sizes, each beside models.attention.training_seconds' estimate (the bound is on the estimate).

    python bench/attention.py [--threads 1] [--budget 1.0]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app import engine
from app.schemas import AttentionConfig, AttentionTraining
from bench.engine import paired_median_ms, timing_table
from models import attention, limits
from models.cells import REGISTRY


def torch_module(w: attention.AttentionWeights, x: torch.Tensor, r: torch.Tensor, heads: int):
    T, _, E = x.shape
    mha = torch.nn.MultiheadAttention(E, heads)
    mha.load_state_dict({k: v.float() for k, v in w.mha_state().items()})
    norm = torch.nn.LayerNorm(E)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    p = w.positions[:T].float().unsqueeze(1)

    def run():
        a = x.detach().clone().requires_grad_(True)
        u = a + p
        z, _ = mha(u, u, u, attn_mask=mask, need_weights=True, average_attn_weights=False)
        loss = (norm(u + z)[-1] @ r).sum()
        loss.backward()
        torch.linalg.vector_norm(a.grad.double(), dim=-1)

    return run


def main() -> None:
    args = timing_table(__doc__, "| T | width | heads | trace ms | torch ms | ratio | answer ms |")
    for T, E, n in [(120, 32, 2), (240, 32, 2), (256, 128, 4)]:
        w = attention.init(E, T, n, "sinusoidal", 1.0, 0)
        x, r = attention.draw_task(T, E, 1, 0)
        x, r = x.float(), r.float()
        config = AttentionConfig(length=T, width=E, heads=n)
        trace_ms, torch_ms, answer_ms = paired_median_ms(
            [
                lambda w=w, x=x, r=r, n=n: attention.trace(w, x, r, n, dtype=torch.float32),
                torch_module(w, x, r, n),
                lambda c=config: engine.attention_json(c),
            ],
            args.budget,
        )
        print(
            f"| {T} | {E} | {n} | {trace_ms:.2f} | {torch_ms:.2f} | {trace_ms / torch_ms:.2f} | "
            f"{answer_ms:.2f} |"
        )

    print()
    print("| training | T | width | heads | batch | beside | steps | estimated s | taken s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
    sizes = [
        ("the lesson", 100, 32, 2, 32, "rnn_tanh", 300),
        ("the panel's defaults", 120, 32, 2, 32, "rnn_tanh", 300),
        ("largest", 256, 128, 4, 32, "rnn_tanh", None),
        ("largest", 256, 4, 4, 32, "rnn_tanh", None),
        ("largest", 60, 128, 4, 128, "lstm", None),
        ("largest", 64, 32, 2, 16, "ltc", None),
    ]
    for what, T, E, n, B, cell, steps in sizes:
        cost = REGISTRY[cell].train_cost
        if steps is None:  # the most the bound allows at this size
            steps = 2000
            while attention.training_seconds(T, E, n, B, steps, cost) > limits.TRAIN_REQUEST_SECONDS:
                steps -= 1
        estimate = attention.training_seconds(T, E, n, B, steps, cost)
        config = AttentionConfig(length=T, width=E, heads=n, compare=cell)
        start = time.perf_counter()
        engine.attention_train_json(config, AttentionTraining(steps=steps, batch_size=B))
        taken = time.perf_counter() - start
        print(f"| {what} | {T} | {E} | {n} | {B} | {cell} | {steps} | {estimate:.1f} | {taken:.1f} |")


if __name__ == "__main__":
    main()
