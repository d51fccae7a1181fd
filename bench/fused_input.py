"""The fused-input RNN's speed claim, measured: three ways to run the tanh RNN's forward loop.

    per-step  each step projects its own input: x_t W_ih^T + b_ih + h W_hh^T + b_hh, tanh (2 matmuls)
    batched   one input matmul for every t before the loop, then h W_hh^T added, tanh (the engine's RNN)
    fused     one matmul a step on [x_t, 1, h_{t-1}] with [W_ih, b, W_hh] (the engine's rnn_fused)

All three compute the same h_t, pre-activations and slopes 1 - h_t^2 (the trace's forward record), on
the same weights and input; torch.nn.RNN's forward (no autograd) is timed beside them as the yardstick.
Each runs on two paths: "numpy", the engine's CPU loop (NumPy views of the tensors' memory), and
"torch", the torch-ops loop the engine runs on a GPU (on a CPU it counts dispatches, on a GPU kernel
launches). The last table is the whole trace (states, gates, gradients, no Jacobians), rnn_fused against
rnn_tanh. Times are medians of interleaved repeats after a warm-up.

    python bench/fused_input.py [--threads 1] [--device cpu|cuda] [--T 1000] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models
from bench.engine import machine_line, paired_median_ms
from models.cells import frnn, rnn
from models.cells.base import LayerWeights, Ops, previous, quiet


def per_step_forward(x: torch.Tensor, h0: torch.Tensor, w: LayerWeights):
    """The textbook loop: every step its own input projection, two matmuls and two bias adds."""
    T, B, _ = x.shape
    ops = Ops(x)
    with torch.no_grad():
        pre = torch.empty(T, B, h0.shape[-1], dtype=x.dtype, device=x.device)
        h = torch.empty_like(pre)
        xs, pres, hs = ops.steps(x), ops.steps(pre), ops.steps(h)
        W_ih, W_hh = ops.view(w.weight_ih.t().contiguous()), ops.view(w.weight_hh.t().contiguous())
        b_ih, b_hh = ops.view(w.bias_ih), ops.view(w.bias_hh)
        prev = ops.view(h0)
        with quiet():
            for t in range(T):
                ops.matmul(xs[t], W_ih, out=pres[t])
                ops.add(pres[t], b_ih, out=pres[t])
                ops.add(pres[t], ops.matmul(prev, W_hh), out=pres[t])
                ops.add(pres[t], b_hh, out=pres[t])
                ops.tanh(pres[t], out=hs[t])
                prev = hs[t]
        slope = 1 - h * h
    return h, previous(h, h0), pre, slope


FORMS = {
    "per-step": lambda x, h0, w: per_step_forward(x, h0, w)[0],
    "batched": lambda x, h0, w: rnn.forward(x, h0, None, w, nonlinearity="tanh").h,
    "fused": lambda x, h0, w: frnn.forward(x, h0, None, w).h,
}


def synced(fn, *args):
    """fn(*args[:-1]), waiting for the GPU when the last argument says "cuda"."""
    *args, device = args

    def go():
        fn(*args)
        if device == "cuda":
            torch.cuda.synchronize()

    return go


def forms_table(T: int, D: int, device: str, budget: float) -> list[str]:
    paths = ("numpy", "torch") if device == "cpu" else ("torch",)
    rows = [
        "| path | T | D | H | B | per-step ms | batched ms | fused ms | torch.nn.RNN ms | "
        "fused / batched | fused / per-step | max abs diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for path in paths:
        Ops.numpy_on_cpu = path == "numpy"
        for H in (32, 128):
            for B in (1, 32):
                torch.manual_seed(0)
                module = torch.nn.RNN(D, H).to(device)
                w = models.from_torch(module).layer_weights(0, 0)
                x = torch.randn(T, B, D, device=device)
                h0 = torch.zeros(B, H, device=device)
                outs = {name: form(x, h0, w) for name, form in FORMS.items()}
                with torch.no_grad():
                    expected = module(x)[0]
                diff = max(float((out - expected).abs().max()) for out in outs.values())

                def reference(x, h0, w, module=module):
                    with torch.no_grad():
                        module(x)

                runs = [synced(f, x, h0, w, device) for f in [*FORMS.values(), reference]]
                per, batched, fused, ref = paired_median_ms(runs, budget)
                line = (
                    f"| {path} | {T} | {D} | {H} | {B} | {per:.2f} | {batched:.2f} | {fused:.2f} | "
                    f"{ref:.2f} | {fused / batched:.2f} | {fused / per:.2f} | {diff:.1e} |"
                )
                print(line, flush=True)
                rows.append(line)
    Ops.numpy_on_cpu = True
    return rows


def trace_table(T: int, D: int, device: str, budget: float) -> list[str]:
    rows = [
        "| T | D | H | B | rnn_tanh trace ms | rnn_fused trace ms | fused / plain |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for H in (32, 128):
        for B in (1, 32):
            torch.manual_seed(0)
            module = torch.nn.RNN(D, H).to(device)
            plain, fused = models.from_torch(module), models.from_torch(module, cell="rnn_fused")
            x = torch.randn(T, B, D, device=device)
            traces = [synced(partial(net.trace, jacobian=False), x, device) for net in (plain, fused)]
            a, b = paired_median_ms(traces, budget)
            line = f"| {T} | {D} | {H} | {B} | {a:.2f} | {b:.2f} | {b / a:.2f} |"
            print(line, flush=True)
            rows.append(line)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--T", type=int, default=1000)
    parser.add_argument("--D", type=int, default=2, help="input size (the adding problem's is 2)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per measurement")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = machine_line(args.threads)
    if args.device == "cuda":
        machine += f", {torch.cuda.get_device_name()}"
    print(machine)
    md = [f"Machine: {machine}", "", *forms_table(args.T, args.D, args.device, args.budget), ""]
    md += trace_table(args.T, args.D, args.device, args.budget)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
