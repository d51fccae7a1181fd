"""The highway stack over depth (models/highway.py) against the same two stacks in plain torch with
autograd (torch.nn.Linear layers, every y_l kept with retain_grad: what it takes to get the panel's
||dL/dy_l|| from torch).

  trace    models.highway.trace: both stacks' forward, the written-out reverse, the norms
  autograd both stacks as nn.Linear unrolls, forward + backward with retain_grad on every layer
  answer   app.engine.highway_json: trace, fits and the JSON the page gets (POST /api/highway's work)
ratio = trace / autograd. Times are medians of interleaved repeats (bench/engine.py's paired_median_ms).

    python bench/highway.py [--threads 1] [--budget 1.0]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app import engine
from app.schemas import HighwayConfig
from bench.engine import paired_median_ms, timing_table
from models import highway


def autograd_unroll(w: highway.HighwayWeights, x: torch.Tensor):
    def run():
        for gated in (True, False):
            a = x.detach().clone().requires_grad_(True)
            ys = [a]
            for layer in range(w.layers):
                h = torch.tanh(torch.nn.functional.linear(ys[-1], w.w_h[layer], w.b_h[layer]))
                if gated:
                    t = torch.sigmoid(torch.nn.functional.linear(ys[-1], w.w_t[layer], w.b_t[layer]))
                    h = h * t + ys[-1] * (1 - t)
                h.retain_grad()
                ys.append(h)
            ys[-1].sum().backward()
            [torch.linalg.vector_norm(y.grad) for y in ys]

    return run


def main() -> None:
    args = timing_table(__doc__, "| layers | width | trace ms | autograd ms | ratio | answer ms |")
    for layers, width in [(30, 32), (50, 32), (50, 128)]:
        w = highway.init(width, layers, -3.0, 1.0, 0).to(torch.float32)
        x = highway.draw_input(width, 1, 0).to(torch.float32)
        config = HighwayConfig(layers=layers, width=width)
        trace_ms, torch_ms, answer_ms = paired_median_ms(
            [
                lambda w=w, x=x: highway.trace(w, x, "tanh"),
                autograd_unroll(w, x),
                lambda c=config: engine.highway_json(c),
            ],
            args.budget,
        )
        print(
            f"| {layers} | {width} | {trace_ms:.2f} | {torch_ms:.2f} | {trace_ms / torch_ms:.2f} | "
            f"{answer_ms:.2f} |"
        )


if __name__ == "__main__":
    main()
