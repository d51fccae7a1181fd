"""The highway stack over depth (models/highway.py) against the same two stacks in plain torch with
autograd (torch.nn.Linear layers, every y_l kept with retain_grad: what it takes to get the panel's
||dL/dy_l|| from torch).

  trace    models.highway.trace: both stacks' forward, the written-out reverse, the norms
  autograd both stacks as nn.Linear unrolls, forward + backward with retain_grad on every layer
  answer   app.engine.highway_json: trace, fits and the JSON the page gets (POST /api/highway's work)
ratio = trace / autograd. Times are medians of interleaved repeats (bench/engine.py's paired_median_ms).

Then POST /api/highway/train's work (app.engine.highway_train_json: both stacks trained on the same
teacher's batches, then traced), once each: the lesson's training and the largest the bound allows at a
few sizes, each beside models.highway.training_seconds' estimate (the bound is on the estimate).

    python bench/highway.py [--threads 1] [--budget 1.0]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app import engine
from app.schemas import HighwayConfig, HighwayTraining
from bench.engine import paired_median_ms, timing_table
from models import highway, limits


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

    print()
    print("| training | layers | width | batch | steps | estimated s | taken s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for what, layers, width, batch, steps in [
        ("the lesson", 30, 32, 64, 300),
        ("largest", 50, 128, 256, None),
        ("largest", 50, 8, 1, None),
        ("largest", 10, 64, 64, None),
        ("largest", 30, 32, 64, None),
    ]:
        if steps is None:  # the most the bound allows at this size
            steps = 2000
            while highway.training_seconds(layers, width, batch, steps) > limits.TRAIN_REQUEST_SECONDS:
                steps -= 1
        estimate = highway.training_seconds(layers, width, batch, steps)
        config = HighwayConfig(layers=layers, width=width)
        start = time.perf_counter()
        engine.highway_train_json(config, HighwayTraining(steps=steps, batch_size=batch))
        taken = time.perf_counter() - start
        print(f"| {what} | {layers} | {width} | {batch} | {steps} | {estimate:.1f} | {taken:.1f} |")


if __name__ == "__main__":
    main()
