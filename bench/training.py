"""Training benchmark: the LSTM, the GRU and the tanh RNN learn the adding problem side by side.

1. The reproduction (Le et al. 2015's form: values U(0,1), one marker in each half, target their sum;
   the no-memory baseline is Var(X1 + X2) = 1/6): T = 100, 150, 200, H = 64, batch 64, one seed, Adam
   with clipping. The three cells train at once in 2 worker processes of one torch thread each,
   [lstm] in one and [gru, rnn_tanh] taking turns every 10 steps in the other (--layout); a gated
   cell stops when its held-out MSE (256 sequences, every 10 steps) falls below 0.01, the RNN once
   both have and it has had as many steps as the slower of them.
   Reported: the steps and training seconds each cell needed, the wall time from launch to the end.
2. Throughput: steps per second of the three cells side by side at T = 100, H = 64, B = 64, laid
   out as one process (1 and 2 threads), 2 processes and 3 processes.
3. The cost of one probe record (the exact trace on one held-out sequence, gate statistics,
   spectral radii) and of one held-out evaluation.
4. With --sweep: what else was tried to solve T = 100 sooner (learning rate, forget-gate bias, init,
   seeds; batch and hidden size outside the stated settings), each run alone in a pool of 2
   processes, one thread each, up to 2000 steps or 150 s.

    python bench/training.py [--quick] [--sweep] [--write] [--wait-quiet MINUTES]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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

CELLS = ("lstm", "gru", "rnn_tanh")
GATED = ("lstm", "gru")
TARGET = 0.01  # held-out MSE a cell must reach
# The settings that solved T = 100 fastest here (see bench/RESULTS.md for what else was tried).
SETTINGS = dict(task="adding", hidden_size=64, batch_size=64, optimizer="adam", lr=1e-2, clip=1.0, seed=0)
CELL_SETTINGS = {"lstm": dict(forget_bias=1.0), "gru": {}, "rnn_tanh": {}}
CHUNK = 10  # steps a cell runs before the next one in its process takes a turn


def load_line() -> str:
    return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())


def machine_line() -> str:
    return (
        f"{common.cpu_model()}, {os.cpu_count()} cores, one torch thread per process, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def wait_quiet(minutes: float, below: float = 1.5) -> None:
    """Wait (bounded) for the 1-minute load average to fall below ``below``."""
    deadline = time.monotonic() + 60 * minutes
    while os.getloadavg()[0] >= below and time.monotonic() < deadline:
        print(f"load average {load_line()}: waiting for < {below}", flush=True)
        time.sleep(30)


def _worker(cells, seq_len, max_steps, max_seconds, start, shared, results, stop_below, threads=1):
    """Train ``cells`` in turns of CHUNK steps; a gated cell stops below stop_below (None: never),
    the others once every gated cell has and they have had as many steps as the slowest of them
    (``shared`` = (gated cells solved, the most steps one needed), across processes)."""
    solved, most = shared
    torch.set_num_threads(threads)
    trainers = [models.Trainer(c, seq_len=seq_len, **SETTINGS, **CELL_SETTINGS[c]) for c in cells]
    ready = time.time() - start
    active = list(trainers)
    while active:
        for tr in list(active):
            gated = tr.cell in GATED and stop_below is not None
            records = tr.run(CHUNK, stop_below=stop_below if gated else None)
            done = gated and records[-1].val_loss is not None and records[-1].val_loss < stop_below
            if done:
                with solved.get_lock():
                    solved.value += 1
                    most.value = max(most.value, tr.step)
            out_of_time = tr.step >= max_steps or time.time() - start > max_seconds
            others_done = (
                stop_below is not None and not gated and solved.value >= len(GATED) and tr.step >= most.value
            )
            if done or out_of_time or others_done or records[-1].nonfinite:
                active.remove(tr)
                vals = [r.val_loss for r in tr.history if r.val_loss is not None]
                results.put(
                    dict(
                        cell=tr.cell,
                        seq_len=seq_len,
                        steps=tr.step,
                        seconds=tr.history[-1].seconds,
                        wall=time.time() - start,
                        ready=ready,
                        solved=done,
                        final=vals[-1],
                        best=min(vals),
                        ms_per_step=1e3 * tr.history[-1].seconds / tr.step,
                    )
                )


def side_by_side(layout, seq_len, max_steps, max_seconds, stop_below=TARGET, threads=1):
    """Run the layout (a list of cell lists, one per process); return per-cell results and the wall."""
    ctx = mp.get_context("spawn")
    shared, results = (ctx.Value("i", 0), ctx.Value("i", 0)), ctx.Queue()
    start = time.time()
    procs = [
        ctx.Process(
            target=_worker,
            args=(cells, seq_len, max_steps, max_seconds, start, shared, results, stop_below, threads),
        )
        for cells in layout
    ]
    for p in procs:
        p.start()
    n = sum(len(cells) for cells in layout)
    out = [results.get(timeout=max_seconds + 120) for _ in range(n)]
    for p in procs:
        p.join(timeout=30)
    return {r["cell"]: r for r in out}, time.time() - start


def probe_costs(seq_len: int, reps: int) -> dict[str, tuple[float, float]]:
    """Median ms of one probe record and of one held-out evaluation, per cell."""
    torch.set_num_threads(1)
    costs = {}
    for cell in CELLS:
        tr = models.Trainer(cell, seq_len=seq_len, **SETTINGS, **CELL_SETTINGS[cell])
        probes, evals = [], []
        for _ in range(reps):
            probes.append(tr.probe().seconds)
            t0 = time.perf_counter()
            tr.evaluate()
            evals.append(time.perf_counter() - t0)
        costs[cell] = (1e3 * statistics.median(probes), 1e3 * statistics.median(evals))
    return costs


# (cell, overrides of SETTINGS and CELL_SETTINGS) tried on T = 100; the last group leaves the stated
# H = 64, batch 64.
SWEEP = [
    ("lstm", dict(lr=3e-3, forget_bias=None)),
    ("lstm", dict(lr=1e-2, forget_bias=None)),
    *[("lstm", dict(lr=1e-2, seed=s)) for s in (0, 1, 2)],
    *[("lstm", dict(lr=2e-2, seed=s)) for s in (0, 1, 2)],
    ("lstm", dict(lr=5e-3)),
    ("lstm", dict(forget_bias=2.0)),
    ("lstm", dict(forget_bias=3.0)),
    ("lstm", dict(init="orthogonal")),
    ("lstm", dict(clip=None)),
    ("gru", dict(lr=3e-3)),
    *[("gru", dict(lr=1e-2, seed=s)) for s in (0, 1, 2)],
    ("gru", dict(lr=2e-2)),
    ("gru", dict(update_bias=1.0)),
    ("rnn_tanh", dict(lr=1e-2)),
    ("rnn_tanh", dict(lr=1e-3)),
    ("lstm", dict(batch_size=32)),
    ("lstm", dict(batch_size=128)),
    ("lstm", dict(hidden_size=128)),
]


def _sweep_one(job):
    cell, overrides, max_steps, max_seconds = job
    torch.set_num_threads(1)
    settings = {**SETTINGS, **CELL_SETTINGS[cell], **overrides}
    settings = {k: v for k, v in settings.items() if v is not None or k == "clip"}
    tr = models.Trainer(cell, seq_len=100, **settings)
    records = tr.run(max_steps, max_seconds=max_seconds, stop_below=TARGET)
    vals = [r.val_loss for r in tr.history if r.val_loss is not None]
    solved = records[-1].val_loss is not None and records[-1].val_loss < TARGET
    return cell, overrides, solved, tr.step, tr.history[-1].seconds, min(vals)


def _word(name: str, value) -> str:
    if value is None:
        return "off" if name == "clip" else "off (torch's init)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep(max_steps: int, max_seconds: float) -> list[str]:
    ctx = mp.get_context("spawn")
    jobs = [(cell, overrides, max_steps, max_seconds) for cell, overrides in SWEEP]
    md = [
        f"Machine: {machine_line()}; load average (1 / 5 / 15 min) at the start: {load_line()}.",
        "",
        f"Each run alone, T = 100, up to {max_steps} steps or {max_seconds:.0f} s, in a pool of 2 "
        "processes (one torch thread each); unless changed: H = 64, batch 64, Adam lr 0.01, clip 1, "
        "LSTM forget-gate bias 1, torch's init, seed 0. Steps to held-out MSE < 0.01:",
        "",
        "| cell | changed | solved | steps | training s | ms/step | best held-out MSE |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    with ctx.Pool(2) as pool:
        for cell, overrides, solved, steps, seconds, best in pool.imap(_sweep_one, jobs):
            changed = ", ".join(f"{k} {_word(k, v)}" for k, v in overrides.items()) or "-"
            line = (
                f"| {cell} | {changed} | {'yes' if solved else 'no'} | {steps} | {seconds:.1f} | "
                f"{1e3 * seconds / steps:.1f} | {best:.4f} |"
            )
            print(line, flush=True)
            md.append(line)
    return md


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="T = 20 and a few steps: a smoke run")
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="minutes to wait for load < 1.5")
    parser.add_argument("--lengths", default="100,150,200", help="sequence lengths of the reproduction")
    parser.add_argument("--layout", default="lstm/gru,rnn_tanh", help="processes (/) and their cells")
    parser.add_argument("--max-seconds", type=float, default=240.0, help="cap per reproduction run")
    parser.add_argument("--sweep", action="store_true", help="also the settings tried (about 5 min)")
    parser.add_argument("--only-sweep", action="store_true", help="the sweep alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.wait_quiet:
        wait_quiet(args.wait_quiet)
    if args.sweep or args.only_sweep:
        tried = sweep(*((30, 20.0) if args.quick else (2000, 150.0)))
        tried.append(f"\nLoad average at the end: {load_line()}.")
        if args.write and not args.quick:
            title = "Training: what was tried to learn sooner"
            body = "`python bench/training.py --only-sweep`\n\n" + "\n".join(tried)
            common.write_section(title, f"## {title}\n\n{body}\n")
        if args.only_sweep:
            return
    lengths = [20] if args.quick else [int(t) for t in args.lengths.split(",")]
    max_steps = 200 if args.quick else 6000
    max_seconds = 30.0 if args.quick else args.max_seconds
    layout = [cells.split(",") for cells in args.layout.split("/")]
    md = [f"Machine: {machine_line()}; load average (1 / 5 / 15 min) at the start: {load_line()}.", ""]
    print(md[0], flush=True)

    md += [
        f"**Reproduction**, adding problem (Le form), H = 64, batch 64, Adam lr {SETTINGS['lr']:g}, clip "
        f"{SETTINGS['clip']:g}, LSTM forget-gate bias 1, seed 0, target held-out MSE < {TARGET} "
        f"(baseline 1/6 = 0.167), {len(layout)} processes: "
        + ", ".join(f"[{', '.join(cells)}]" for cells in layout)
        + ":",
        "",
        "| T | cell | solved | steps | training s | ms/step | held-out MSE (last / best) "
        "| wall from launch s |",
        "|---:|---|---|---:|---:|---:|---|---:|",
    ]
    for T in lengths:
        res, wall = side_by_side(layout, T, max_steps, max_seconds)
        for cell in CELLS:
            r = res[cell]
            line = (
                f"| {T} | {cell} | {'yes' if r['solved'] else 'no'} | {r['steps']} | {r['seconds']:.1f} | "
                f"{r['ms_per_step']:.1f} | {r['final']:.4f} / {r['best']:.4f} | {r['wall']:.1f} |"
            )
            print(line, flush=True)
            md.append(line)
        md.append(f"| {T} | all three | | | | | | **{wall:.1f}** |")
        print(f"T={T}: wall {wall:.1f} s, load {load_line()}", flush=True)

    T, steps = (20, 30) if args.quick else (100, 200)
    md += [
        "",
        f"**Throughput**, the three cells side by side for {steps} steps each, T = {T}, H = 64, B = 64 "
        "(training steps only: evaluation every 10 steps and a probe every 10 included):",
        "",
        "| layout | wall s (from launch) | lstm ms/step | gru ms/step | rnn_tanh ms/step "
        "| steps/s, all cells |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    layouts = {
        "1 process, 1 thread, turns": ([["lstm", "gru", "rnn_tanh"]], 1),
        "1 process, 2 threads, turns": ([["lstm", "gru", "rnn_tanh"]], 2),
        "2 processes: [lstm, rnn_tanh], [gru]": ([["lstm", "rnn_tanh"], ["gru"]], 1),
        "2 processes: [lstm], [gru, rnn_tanh]": ([["lstm"], ["gru", "rnn_tanh"]], 1),
        "3 processes": ([["lstm"], ["gru"], ["rnn_tanh"]], 1),
    }
    for name, (layout, threads) in layouts.items():
        res, wall = side_by_side(layout, T, steps, 600, stop_below=None, threads=threads)
        train_wall = max(r["wall"] for r in res.values()) - min(r["ready"] for r in res.values())
        rate = 3 * steps / train_wall
        line = (
            f"| {name} | {wall:.1f} | {res['lstm']['ms_per_step']:.1f} | {res['gru']['ms_per_step']:.1f} | "
            f"{res['rnn_tanh']['ms_per_step']:.1f} | {rate:.0f} |"
        )
        print(line, flush=True)
        md.append(line)

    costs = probe_costs(T, 5 if args.quick else 20)
    md += ["", f"**Instrumentation cost** at T = {T}, H = 64 (median ms):", ""]
    md += ["| cell | one probe record (B = 1) | one held-out evaluation (B = 256) |", "|---|---:|---:|"]
    for cell, (probe_ms, eval_ms) in costs.items():
        line = f"| {cell} | {probe_ms:.1f} | {eval_ms:.1f} |"
        print(line, flush=True)
        md.append(line)
    md += ["", f"Load average at the end: {load_line()}."]
    print(md[-1])
    if args.write and not args.quick:
        common.write_section(
            "Training", "## Training\n\n`python bench/training.py`\n\n" + "\n".join(md) + "\n"
        )


if __name__ == "__main__":
    main()
