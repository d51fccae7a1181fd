"""Jacobian norms benchmark: what ||dh_T/dh_t||_2 and ||dh_t/dh_{t-1}||_2 cost on top of a trace.

At B = 1, T = 1000, H = 128, one layer, for each cell, in one run (interleaved repeats, medians):
  trace      RecurrentNet.trace(x, jacobian=False)
  jacobian   RecurrentNet.trace(x, jacobian=True, step_jacobian=False): ||dh_T/dh_t|| for every t (and
             ||dc_T/dc_t||), what a run computes
  sweep      the reverse sweep seeded with I alone (the products dh_T/dh_t; the floor of any exact method)
  products   the largest singular value of every product: models.spectral.sequence_spectral_norms
             (block iteration, certified) against the full eigen-solve of every Gram matrix
             (spectral_norm, the method before issue 10)
  steps      the step Jacobians' norms ||dh_t/dh_{t-1}|| (batched eigen-solve; trace(step_jacobian=True)
             adds them, a run does not)
and configure -> ready for the largest run the page allows with Jacobians on (3 cells, T = 500,
H = 64, 2 layers, bidirectional): app.engine.compute_run, cold cache, and after a slider of the LSTM's
forget-gate bias (the other cells' traces from the cache), with the cells one after another and side
by side on two threads (GATEFLOW_CELL_THREADS=2, the server's default). Then the smallest norms a float32
run shows: issue 10's tanh RNN (H = 64, orthogonal W_hh at radius 0.8, T = 400) against float64 on the
same weights, and ||dh_T/dh_t|| = 0.5^(T-1-t) at T = 1000.

    python bench/jacobian.py [--budget 2] [--markdown bench/out/jacobian.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models
from bench.engine import machine_line, paired_median_ms
from models.spectral import sequence_spectral_norms, spectral_norm

CELLS = ("rnn_tanh", "lstm", "gru")


def _seeded_sweep(net, x):
    """The forward record and the reverse sweep seeded with I (rows of dh_T and, LSTM, dc_T)."""
    H = net.hidden_size
    fws, ws, _ = net._forward_all(x, *net._initial_state(None, x.shape[1]))
    fw, w = fws[0][0], ws[0][0]
    eye = torch.eye(H).expand(1, H, H)
    if net.cell == "lstm":
        zero = torch.zeros_like(eye)
        seed_h, seed_c = torch.cat([eye, zero], 1), torch.cat([zero, eye], 1)
    else:
        seed_h, seed_c = eye, None

    def sweep():
        return net.spec.reverse(fw, w, None, seed_h, seed_c, store=False)

    return fw, w, sweep


def _measure(cell: str, T: int, H: int, budget: float) -> str:
    torch.manual_seed(0)
    net = models.build(cell, H, H, seed=0)
    x = torch.randn(T, 1, H)
    fw, w, sweep = _seeded_sweep(net, x)
    products = sweep().grad_h[:, :, :H]
    steps = net.spec.step_jacobian(fw, w)
    trace_ms, jac_ms, sweep_ms, warm_ms, eig_ms, step_ms = paired_median_ms(
        [
            lambda: net.trace(x, jacobian=False),
            lambda: net.trace(x, jacobian=True, step_jacobian=False),
            sweep,
            lambda: sequence_spectral_norms(products, backward=True),
            lambda: spectral_norm(products),
            lambda: spectral_norm(steps),
        ],
        budget,
        max_reps=7,
    )
    exact = torch.linalg.matrix_norm(products.double(), ord=2)
    got = sequence_spectral_norms(products, backward=True)
    held = exact > 0
    error = float(((got[held] - exact[held]).abs() / exact[held]).max())
    extra = jac_ms - trace_ms
    return (
        f"| {cell} | {trace_ms:.1f} | {jac_ms:.1f} | {extra:.1f} | {extra / trace_ms:.0f}x "
        f"| {sweep_ms:.1f} | {warm_ms:.1f} | {eig_ms:.1f} | {step_ms:.1f} | {error:.1e} |"
    )


def _tiny_norms() -> list[str]:
    torch.manual_seed(0)
    net = models.build("rnn_tanh", 3, 64, seed=0, init="orthogonal", spectral_radius=0.8)
    x = torch.randn(400, 1, 3)
    f32 = net.trace(x, jacobian=True)
    f64 = net.to(dtype="float64").trace(x.double(), jacobian=True)
    lines = []
    for name in ("grad_h_norm", "jacobian_norm"):
        a, b = getattr(f32, name), getattr(f64, name)
        error = float(((a - b).abs() / b).max())
        lines.append(
            f"- float32 run, `{name}`: smallest {float(a.min()):.2e} (float64 run: {float(b.min()):.2e}), "
            f"largest relative difference from float64 over all t {error:.1e}"
        )
    T = 1000
    net = models.build("rnn_tanh", 1, 16, seed=0, init="orthogonal", spectral_radius=0.5)
    got = net.trace(torch.zeros(T, 1, 1), jacobian=True).jacobian_norm[0, :, 0]
    exact = torch.tensor([0.5 ** (T - 1 - t) for t in range(T)], dtype=torch.float64)
    error = float(((got - exact).abs() / exact).max())
    lines.append(
        f"- float32 run, W_hh = 0.5 Q at the origin, T = {T}: `jacobian_norm` at t = 0 "
        f"is {float(got[0]):.4e} "
        f"(exact 0.5^999 = {float(exact[0]):.4e}); largest relative error over all t {error:.1e}"
    )
    return lines


def _median_ms(seeds: int, run, prepare: bool = False) -> float:
    """The median wall time of run(seed) over the seeds; with ``prepare``, run(seed) prepares and
    returns what is timed."""
    times = []
    for seed in range(seeds):
        timed = run(seed) if prepare else (lambda seed=seed: run(seed))
        start = time.perf_counter()
        timed()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[seeds // 2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of repeats per measurement")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    T, H = 1000, 128
    md = [
        f"Machine: {machine_line(1)}",
        "",
        f"B = 1, T = {T}, H = {H}, one layer; ms, medians of interleaved repeats:",
        "",
        "| cell | trace | with Jacobian norms | extra | extra / trace | sweep (floor) | products: certified "
        "| products: eigen-solve | step norms: eigen-solve | certified max rel. error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print(machine_line(1))
    for cell in CELLS:
        line = _measure(cell, T, H, args.budget)
        print(line, flush=True)
        md.append(line)

    from app import engine
    from app.schemas import RunConfig

    config = RunConfig(
        cells=["rnn_tanh", "lstm", "gru"],
        seq_len=500,
        hidden_size=64,
        num_layers=2,
        bidirectional=True,
        jacobian="on",
    )
    for threads in (1, 2):  # GATEFLOW_CELL_THREADS: the cells one after another, or side by side
        engine.set_cell_threads(threads)
        where = "one after another" if threads == 1 else f"{threads} cells side by side"
        cold = _median_ms(  # a new seed each time: nothing cached
            5,
            lambda seed, k=threads: engine.compute_run(
                config.model_copy(update={"seed": 100 + 10 * k + seed})
            ),
        )

        def slider(seed, k=threads):  # one cell's option moves: the others from the cache (cell_run)
            cache = engine.RunCache(4)
            base = config.model_copy(update={"seed": 200 + 10 * k + seed})
            cache.get(base)
            return lambda: cache.get(base.model_copy(update={"forget_bias": 1.0}))

        after_slider = _median_ms(3, slider, prepare=True)
        for line, how in (
            (
                "configure -> ready, 3 cells, T = 500, H = 64, 2 layers, bidirectional, Jacobians on, "
                f"{where}: {cold:.0f} ms",
                "median of 5 seeds, engine.compute_run",
            ),
            (
                "the same after the LSTM's forget-gate bias changes (RNN and GRU from the cache), "
                f"{where}: {after_slider:.0f} ms",
                "median of 3 seeds, engine.RunCache.get",
            ),
        ):
            print(line)
            md += ["", f"{line} ({how})"]
    engine.set_cell_threads(1)
    md += ["", *_tiny_norms()]
    print("\n".join(md[-3:]))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
