"""The CfC cell's trace against ncps' own CfC module, on the same weights and input.

  trace    RecurrentNet.trace(x, jacobian=False): h_t, both heads, t_a, t_b, the time gate, dL/dh_t for
           every t and dL/dx_t (the last-step loss)
  ncps     ncps.torch.CfC(backbone_layers=0) forward + backward of the same loss (parameters requiring
           grad): the loss's gradient only
  ncps+h   the same, with x requiring grad and every h_t kept with retain_grad: what it takes to get
           the trace's gradients from ncps' module
ratio = trace / ncps. Times are medians of interleaved repeats (bench/engine.py's paired_median_ms).

    python bench/cfc.py [--threads 1] [--budget 1.0]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from ncps.torch import CfC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models
from bench.engine import paired_median_ms, timing_table


def kept_states(module: torch.nn.Module, x: torch.Tensor, size: int, state_at: int = 0):
    """ncps' cell stepped by hand (its modules keep no states), every h_t with retain_grad; ``size`` the
    state's, ``state_at`` where the cell's (a, b) answer holds it (the CfC's first, the LTC's second)."""
    cell = module.rnn_cell

    def run():
        module.zero_grad(set_to_none=True)
        xr = x.detach().requires_grad_(True)
        h = torch.zeros(x.shape[1], size)
        states = []
        for x_t in xr.unbind(0):
            h = cell(x_t, h, 1.0)[state_at]
            h.retain_grad()
            states.append(h)
        h.sum().backward()
        return [s.grad for s in states], xr.grad

    return run


def main() -> None:
    args = timing_table(__doc__, "| T | H | B | trace ms | ncps ms | ratio | ncps+h ms | ratio |")
    for T, H, B in [(100, 32, 1), (1000, 32, 1), (1000, 128, 1), (1000, 32, 32)]:
        torch.manual_seed(0)
        module = CfC(H, H, backbone_layers=0, batch_first=False)
        net = models.from_torch(module)
        x = torch.randn(T, B, H)

        def ncps(module=module, x=x):
            module.zero_grad(set_to_none=True)
            out, _ = module(x)
            out[-1].sum().backward()

        trace_ms, ncps_ms, kept_ms = paired_median_ms(
            [lambda net=net, x=x: net.trace(x, jacobian=False), ncps, kept_states(module, x, H)], args.budget
        )
        print(
            f"| {T} | {H} | {B} | {trace_ms:.1f} | {ncps_ms:.1f} | {trace_ms / ncps_ms:.2f} | "
            f"{kept_ms:.1f} | {trace_ms / kept_ms:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
