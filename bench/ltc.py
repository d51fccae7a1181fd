"""The LTC cell's trace against ncps' own LTC module, on the same parameters and input.

  trace    RecurrentNet.trace(x, jacobian=False): h_t, tau and keep, dL/dh_t for every t and dL/dx_t
           (the last-step loss)
  trace+J  the same with the Jacobian norms ||dh_T/dh_t|| and ||dh_t/dh_(t-1)|| (H cotangents a step)
  ncps     ncps.torch.LTC(D, H) (its defaults: softplus parameters, affine input and output mapping)
           forward + backward of the same loss (parameters requiring grad): the loss's gradient only
  ncps+h   the same, with x requiring grad and every h_t kept with retain_grad: what it takes to get
           the trace's gradients from ncps' module
ratio = trace / ncps. Times are medians of interleaved repeats (bench/engine.py's paired_median_ms).

    python bench/ltc.py [--threads 1] [--budget 1.0]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from ncps.torch import LTC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models
from bench.cfc import kept_states
from bench.engine import paired_median_ms, timing_table


def main() -> None:
    args = timing_table(
        __doc__, "| T | D | H | B | trace ms | trace+J ms | ncps ms | ratio | ncps+h ms | ratio |"
    )
    for T, D, H, B in [(100, 8, 32, 1), (500, 8, 32, 1), (500, 8, 64, 1), (500, 8, 32, 16)]:
        torch.manual_seed(0)
        module = LTC(D, H, batch_first=False)
        net = models.from_torch(module)
        x = torch.randn(T, B, D)

        def ncps(module=module, x=x):
            module.zero_grad(set_to_none=True)
            out, _ = module(x)
            out[-1].sum().backward()

        trace_ms, jac_ms, ncps_ms, kept_ms = paired_median_ms(
            [
                lambda net=net, x=x: net.trace(x, jacobian=False),
                lambda net=net, x=x: net.trace(x, jacobian=True),
                ncps,
                kept_states(module, x, H, state_at=1),
            ],
            args.budget,
        )
        print(
            f"| {T} | {D} | {H} | {B} | {trace_ms:.1f} | {jac_ms:.1f} | {ncps_ms:.1f} | "
            f"{trace_ms / ncps_ms:.2f} | {kept_ms:.1f} | {trace_ms / kept_ms:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
