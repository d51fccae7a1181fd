"""Engine benchmark: a trace (states, gates, dL/dh_t, dL/dc_t, loss) against torch's fused modules.

For each cell, T in {100, 1000}, H in {32, 128, 512}, batch 1 and 32, on the same weights and input:
  trace   models' RecurrentNet.trace(x, jacobian=False) with the default last-step loss
  fused   torch.nn.RNN/LSTM/GRU forward + backward of the same loss (parameters requiring grad, as usual)
  naive   a Python loop of torch.nn.*Cell with h_t.retain_grad() (and c_t), then backward
ratio = trace / fused, naive = naive / fused. Times are medians over repeats (after a warm-up).
The Jacobian norms (||dh_T/dh_t||_2 for every t, one sweep seeded with I) are timed separately.

    python bench/engine.py [--threads 1] [--quick] [--markdown bench/out/engine.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models
from bench import common

CELLS = ("rnn_tanh", "lstm", "gru")
TORCH = {"rnn_tanh": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
CELL_CLASSES = {"rnn_tanh": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}


def median_ms(fn, budget_s: float, max_reps: int = 15) -> float:
    return paired_median_ms([fn], budget_s, max_reps)[0]


def paired_median_ms(fns, budget_s: float, max_reps: int = 15) -> list[float]:
    """Median time of each function, the functions interleaved in every repeat, so a slow spell of
    this shared machine lands on all of them alike (a ratio of medians taken apart drifts)."""
    for fn in fns:
        fn()  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < max_reps and (len(times[0]) < 5 or time.perf_counter() - start < budget_s):
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) * 1e3 for ts in times]


def naive_loop(cell_name: str, module: torch.nn.Module, x: torch.Tensor):
    cell = CELL_CLASSES[cell_name](module.input_size, module.hidden_size)
    cell.load_state_dict({k[:-3]: v for k, v in module.state_dict().items()})

    def run():
        B, H = x.shape[1], module.hidden_size
        h = torch.zeros(B, H)
        c = torch.zeros(B, H)
        states = []
        for x_t in x.unbind(0):
            if cell_name == "lstm":
                h, c = cell(x_t, (h, c))
                c.retain_grad()
            else:
                h = cell(x_t, h)
            h.retain_grad()
            states.append((h, c))
        h.sum().backward()
        return [s[0].grad for s in states]

    return run


def machine_line(threads: int) -> str:
    return (
        f"{common.cpu_model()}, {torch.get_num_threads()} torch thread(s) of {os.cpu_count()} cores"
        f" (--threads {threads}), Python {platform.python_version()}, torch {torch.__version__}"
    )


def timing_table(doc: str, header: str) -> argparse.Namespace:
    """A model-against-its-oracle bench's start: its options (--threads, --budget) parsed from the command
    line, torch's threads set, then the machine line and a Markdown table's header printed
    (``header``: "| T | H | trace ms |", right-aligned columns)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line(args.threads))
    print(header)
    print("|" + "---:|" * (header.count("|") - 1))
    return args


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="T=1000, B=1, H in {32, 128} only")
    parser.add_argument("--naive", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per measurement")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    sizes = (
        [(1000, 32, 1), (1000, 128, 1)]
        if args.quick
        else [(T, H, B) for T in (100, 1000) for H in (32, 128, 512) for B in (1, 32)]
    )
    header = (
        f"{'cell':9} {'T':>5} {'H':>4} {'B':>3} {'trace ms':>9} {'fused ms':>9} {'ratio':>6} {'naive':>6}"
    )
    rows = [header]
    md = [
        f"Machine: {machine_line(args.threads)}",
        "",
        "| cell | T | H | B | trace ms | fused ms | ratio | naive ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print(machine_line(args.threads))
    print(header, flush=True)
    for cell in CELLS:
        for T, H, B in sizes:
            torch.manual_seed(0)
            module = TORCH[cell](H, H)
            net = models.from_torch(module)
            x = torch.randn(T, B, H)

            def fused(module=module, x=x):
                module.zero_grad(set_to_none=True)
                out, _ = module(x)
                out[-1].sum().backward()

            trace_ms, fused_ms = paired_median_ms(
                [lambda net=net, x=x: net.trace(x, jacobian=False), fused], args.budget
            )
            naive = "-"
            if args.naive:
                naive_ms = median_ms(naive_loop(cell, module, x), args.budget, max_reps=5)
                naive = f"{naive_ms / fused_ms:.1f}"
            line = (
                f"{cell:9} {T:5d} {H:4d} {B:3d} {trace_ms:9.1f} {fused_ms:9.1f} "
                f"{trace_ms / fused_ms:6.2f} {naive:>6}"
            )
            print(line, flush=True)
            rows.append(line)
            ratio = trace_ms / fused_ms
            md.append(
                f"| {cell} | {T} | {H} | {B} | {trace_ms:.1f} | {fused_ms:.1f} | {ratio:.2f} | {naive} |"
            )

    # Jacobian norms: the extra cost of jacobian=True, one layer, batch 1
    md += [
        "",
        "Jacobian norms (`jacobian=True` minus `jacobian=False`), batch 1:",
        "",
        "| cell | T | H | extra ms |",
        "|---|---:|---:|---:|",
    ]
    print("\njacobian norms, extra ms (B=1)")
    for cell in CELLS:
        for T, H in ((200, 64), (1000, 32), (1000, 128)):
            net = models.build(cell, H, H, seed=0)
            x = torch.randn(T, 1, H)
            with_j, without = paired_median_ms(
                [
                    lambda net=net, x=x: net.trace(x, jacobian=True),
                    lambda net=net, x=x: net.trace(x, jacobian=False),
                ],
                args.budget,
                max_reps=5,
            )
            print(f"{cell:9} T={T:5d} H={H:4d} {with_j - without:9.1f}", flush=True)
            md.append(f"| {cell} | {T} | {H} | {with_j - without:.1f} |")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
