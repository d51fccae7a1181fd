"""The figures behind the four training lessons of app/presets.py, measured on the trainings the server runs.

Every training is built exactly as the server builds it, app.training.trainer_kwargs(config, cell, train)
on the preset's own config and settings, with the seed changed (``--seeds``), one torch thread:

1. train-adding: the three cells in one thread, in turns of 10 steps (the page's layout), until the
   LSTM and the GRU are both below held-out MSE 0.01 or the budget is spent. Reported: the steps each
   gated cell needed, the RNN's best held-out MSE over those steps, the wall time of the turns.
2. train-clipping: the preset as it is (clip off) and with clip 1, the budget each (the unclipped one
   stops at its first non-finite step). Reported: the step that overflowed, the first gradient norm,
   when the clipped one gets below half the baseline, its final held-out loss, its largest norm.
3. train-forget-bias: the LSTM with forget-gate bias 1 (the preset) and with torch's init (None), the
   budget each. Reported: the steps to 3/4 and 1/2 of the baseline, the best and final held-out loss.
4. train-length-sweep: each cell trains the sweep's steps at each T from a fresh start (the server's
   sweep), then its held-out loss; reported as a fraction of the baseline, with the total time.

    python bench/train_presets.py [--seeds 0,1,2] [--only train-adding ...] [--write]

Seeds by default: 0-9 for the two quick lessons (clipping, forget bias), 0-4 for train-adding and 0-2
for the sweep, and each preset's own seed (about 10 minutes in all on a quiet 2-core machine). Every
loop is bounded: at most the preset's budget of steps per training, at most 10 seeds given, and a
wall-clock cap per training (--max-seconds).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models
from app.presets import by_name
from app.training import trainer_kwargs
from bench import common

CHUNK = 10  # steps a cell trains before the next one takes its turn (one thread)
ADDING_TARGET = 0.01  # held-out MSE the LSTM and the GRU must reach
TITLE = "Training lessons (presets)"


def load_line() -> str:
    return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())


def trainer(name: str, cell: str, seed: int, seq_len: int | None = None, **changes) -> models.Trainer:
    """The server's trainer for one cell of a preset, with the seed (and settings in ``changes``) changed."""
    preset = by_name(name)
    config_changes = {k: v for k, v in changes.items() if k in type(preset.config).model_fields}
    train_changes = {k: v for k, v in changes.items() if k not in config_changes}
    config = preset.config.model_copy(update={"seed": seed, **config_changes})
    train = preset.train.model_copy(update=train_changes)
    return models.Trainer(**trainer_kwargs(config, cell, train, seq_len=seq_len))


def vals(tr: models.Trainer) -> list[tuple[int, float]]:
    return [(r.step, r.val_loss) for r in tr.history if r.val_loss is not None]


def first_below(tr: models.Trainer, level: float) -> int | None:
    return next((s for s, v in vals(tr) if v < level), None)


def steps_text(step: int | None, budget: int) -> str:
    return str(step) if step is not None else f"> {budget}"


def adding(seeds, max_seconds) -> str:
    preset = by_name("train-adding")
    budget = preset.train.steps
    rows = []
    for seed in seeds:
        trs = {cell: trainer(preset.name, cell, seed) for cell in preset.config.cells}
        start = time.perf_counter()
        solved: dict[str, int] = {}
        while len(solved) < 2 and trs["lstm"].step < budget and time.perf_counter() - start < max_seconds:
            for cell, tr in trs.items():
                tr.run(CHUNK)
                if cell != "rnn_tanh" and cell not in solved and tr.history[-1].val_loss < ADDING_TARGET:
                    solved[cell] = tr.step
        wall = time.perf_counter() - start
        rnn = trs["rnn_tanh"]
        ms = {cell: 1e3 * tr.history[-1].seconds / tr.step for cell, tr in trs.items()}
        rows.append(
            f"| {seed} | {steps_text(solved.get('lstm'), budget)} | {steps_text(solved.get('gru'), budget)} "
            f"| {min(v for _, v in vals(rnn)):.4f} | {rnn.step} | {ms['rnn_tanh']:.1f} / {ms['lstm']:.1f} / "
            f"{ms['gru']:.1f} | {wall:.1f} |"
        )
        print(rows[-1], flush=True)
    return "\n".join(
        [
            f"**train-adding**: adding problem (Le form), T = 100, H = 32, batch 64, Adam lr 0.02, clip 1, "
            f"LSTM forget-gate bias 1; the three cells in one thread, in turns of {CHUNK} steps, until the "
            f"LSTM and the GRU are below held-out MSE {ADDING_TARGET} (baseline 1/6 = 0.167), "
            f"budget {budget}:",
            "",
            "| seed | LSTM steps | GRU steps | RNN best MSE | RNN steps | ms/step RNN / LSTM / GRU "
            "| wall s |",
            "|---:|---:|---:|---:|---:|---|---:|",
            *rows,
        ]
    )


def clipping(seeds, max_seconds) -> str:
    preset = by_name("train-clipping")
    budget = preset.train.steps
    rows = []
    for seed in seeds:
        off = trainer(preset.name, "rnn_relu", seed)
        off.run(budget, max_seconds=max_seconds)
        last = off.history[-1]
        on = trainer(preset.name, "rnn_relu", seed, clip=1.0)
        on.run(budget, max_seconds=max_seconds)
        base = on.baseline
        rows.append(
            f"| {seed} | {off.history[0].grad_norm:.3g} | {last.step if off.diverged else 'none'} | "
            f"{last.loss:.3g} | {steps_text(first_below(on, base / 2), budget)} | "
            f"{dict(vals(on)).get(20, float('nan')):.3f} | {on.evaluate():.4f} | "
            f"{max(r.grad_norm for r in on.history):.2g} | {on.history[-1].seconds:.1f} |"
        )
        print(rows[-1], flush=True)
    return "\n".join(
        [
            "**train-clipping**: sine, T = 50, ReLU RNN, H = 16, identity recurrent weights scaled to "
            f"spectral radius 1.2, SGD lr 0.2 momentum 0.9, batch 64, budget {budget}; "
            "clip off (the preset) against clip 1 (baseline 0.5):",
            "",
            "| seed | off: 1st grad norm | off: non-finite at step | off: its loss | clip 1: steps to < 0.25 "
            "| clip 1: MSE at step 20 | clip 1: final MSE | clip 1: largest norm | clip 1: s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )


def forget_bias(seeds, max_seconds) -> str:
    preset = by_name("train-forget-bias")
    budget = preset.train.steps
    rows = []
    for seed in seeds:
        for bias in (preset.config.forget_bias, None):
            tr = trainer(preset.name, "lstm", seed, forget_bias=bias)
            tr.run(budget, max_seconds=max_seconds)
            base = tr.baseline
            v = [x for _, x in vals(tr)]
            rows.append(
                f"| {seed} | {bias if bias is not None else 'None (torch)'} | "
                f"{steps_text(first_below(tr, 0.75 * base), budget)} | "
                f"{steps_text(first_below(tr, 0.5 * base), budget)} | {min(v):.3f} | {v[-1]:.3f} | "
                f"{tr.history[-1].seconds:.1f} |"
            )
            print(rows[-1], flush=True)
    return "\n".join(
        [
            "**train-forget-bias**: delayed recall (one of 8 symbols at step 0, answer at step 19), T = 20, "
            f"LSTM H = 64, batch 64, Adam lr 0.003, clip 1, budget {budget}; forget-gate bias 1 (the preset) "
            "against torch's init; baseline ln 8 = 2.079 nats:",
            "",
            "| seed | forget bias | steps to < 3/4 baseline | steps to < 1/2 baseline | best | final | s |",
            "|---:|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )


def sweep(seeds, max_seconds) -> str:
    preset = by_name("train-length-sweep")
    lengths, steps = preset.sweep.lengths, preset.sweep.steps
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        cells = []
        for cell in preset.config.cells:
            out = []
            for T in lengths:
                tr = trainer(preset.name, cell, seed, seq_len=T)
                tr.run(steps, max_seconds=max_seconds)
                out.append(f"{tr.evaluate() / tr.baseline:.3f}")
            cells.append((cell, out))
        total = time.perf_counter() - start
        for cell, out in cells:
            rows.append(f"| {seed} | {cell} | " + " | ".join(out) + f" | {total:.0f} |")
            print(rows[-1], flush=True)
    return "\n".join(
        [
            f"**train-length-sweep**: adding problem (Le form), H = 32, batch 64, Adam lr 0.02, clip 1, "
            f"LSTM forget-gate bias 1; {steps} steps from a fresh start at each T, then the held-out MSE "
            "as a fraction of the baseline 1/6 (1.0: nothing learned); total s: the whole sweep, one thread:",
            "",
            "| seed | cell | " + " | ".join(f"T = {T}" for T in lengths) + " | total s |",
            "|---:|---|" + "---:|" * len(lengths) + "---:|",
            *rows,
        ]
    )


DEFAULT_SEEDS = {
    "train-adding": range(5),
    "train-clipping": range(10),
    "train-forget-bias": range(10),
    "train-length-sweep": range(3),
}
LESSONS = {
    "train-adding": adding,
    "train-clipping": clipping,
    "train-forget-bias": forget_bias,
    "train-length-sweep": sweep,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default=None, help="comma-separated, at most 10; default: by lesson")
    parser.add_argument("--only", nargs="*", choices=list(LESSONS), default=list(LESSONS))
    parser.add_argument("--max-seconds", type=float, default=120.0, help="wall-clock cap of one training")
    parser.add_argument("--write", action="store_true", help="replace the section in bench/RESULTS.md")
    args = parser.parse_args()
    given = None if args.seeds is None else [int(s) for s in args.seeds.split(",")][:10]
    torch.set_num_threads(1)
    command = "python bench/train_presets.py" + ("" if given is None else f" --seeds {args.seeds}")
    head = [
        f"`{command}`",
        f"Machine: {common.cpu_model()}, {os.cpu_count()} cores, one torch thread, Python "
        f"{platform.python_version()}, torch {torch.__version__}; load average (1 / 5 / 15 min) at the "
        f"start: {load_line()} (the machine is shared: seconds vary with its load, steps and losses do not).",
    ]
    parts = []
    for name in args.only:
        print(f"-- {name}", flush=True)
        seeds = given or sorted({*DEFAULT_SEEDS[name], by_name(name).config.seed})  # the preset's own too
        parts.append(LESSONS[name](seeds, args.max_seconds))
    markdown = "\n\n".join([f"## {TITLE}", *head, *parts, f"Load average at the end: {load_line()}."])
    print()
    print(markdown)
    if args.write:
        common.write_section(TITLE, markdown)


if __name__ == "__main__":
    main()
