"""Causal self-attention (models/attention.py) against torch.nn.MultiheadAttention doing the same work,
and what the attention panel's answer costs.

  trace    models.attention.trace: the written-out forward, autograd for dL/dx_t, the float64 norms
  torch    nn.MultiheadAttention(E, n) on (u, u, u) with a causal mask, the residual, nn.LayerNorm,
           forward + backward to x (need_weights on: the panel shows every weight)
  answer   app.engine.attention_json: both models (the attention and the compared tanh RNN), the fits
           and the JSON the page gets (POST /api/attention's work)
ratio = trace / torch. Times are medians of interleaved repeats (bench/engine.py's paired_median_ms).

    python bench/attention.py [--threads 1] [--budget 1.0]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app import engine
from app.schemas import AttentionConfig
from bench.engine import paired_median_ms, timing_table
from models import attention


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


if __name__ == "__main__":
    main()
