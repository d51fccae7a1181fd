"""Page smoothness: headless Chromium plays 3 cells at H=128, T=500 against a real uvicorn.

Counts requestAnimationFrame callbacks over a window of forward play (fps; issue 10's goal >= 58) and the
long frames (gaps between callbacks over 50 ms), plus the frames the socket delivered and the renders
the page did. The page renders at most once per animation frame, whatever the message rate.

    .venv/bin/python bench/page_fps.py                 # prints the figures
    .venv/bin/python bench/page_fps.py --write         # and writes them into bench/RESULTS.md, "## Page"
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import common  # noqa: E402

CHROMIUM, CHROMIUM_ARGS = common.CHROMIUM, common.CHROMIUM_ARGS

BUSY = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")  # CDP Performance metrics
# What is on screen while it plays: the top of the page (strip, cell diagrams, gradient plots) and the
# heatmaps (a dozen 128 x 500 heatmaps with their cursor lines and masks).
VIEWS = {"top": "body", "heatmaps": "#heatmaps"}
# rAF timestamps collected in the page, over `seconds`, while the player runs.
MEASURE_JS = """
(seconds) => new Promise((resolve) => {
  const stamps = [];
  const start = performance.now();
  const framesBefore = window.gateflow.frames;
  const renderedBefore = window.gateflow.rendered;
  function tick(now) {
    stamps.push(now);
    if (now - start < seconds * 1000) requestAnimationFrame(tick);
    else resolve({stamps, frames: window.gateflow.frames - framesBefore,
                  rendered: window.gateflow.rendered - renderedBefore, t: window.gateflow.state.t});
  }
  requestAnimationFrame(tick);
})
"""


def start_server(port: int) -> subprocess.Popen:
    return common.start_server(
        port,
        env={
            "GATEFLOW_MAX_HIDDEN_SIZE": os.environ.get("GATEFLOW_MAX_HIDDEN_SIZE", "128"),
            "GATEFLOW_MAX_SEQ_LEN": os.environ.get("GATEFLOW_MAX_SEQ_LEN", "500"),
        },
        args=["--log-level", "warning"],
    )


def machine(browser_version: str) -> str:
    cpu = common.cpu_model()
    return (
        f"{cpu}, {os.cpu_count()} cores, no GPU for the page (--disable-gpu), Chromium {browser_version} "
        f"headless, Python {platform.python_version()}, {date.today().isoformat()}"
    )


def measure(cells: list[str], hidden: int, seq_len: int, rate: float, seconds: float, repeat: int) -> dict:
    port = common.free_port()
    server = start_server(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            url = (
                f"http://127.0.0.1:{port}/#cells={quote(','.join(cells))}&hidden_size={hidden}"
                f"&seq_len={seq_len}&task=adding&rate={rate}"
            )
            started = time.perf_counter()
            page.goto(url)
            ready = f"() => window.gateflow && window.gateflow.run && window.gateflow.run.H === {hidden}"
            page.wait_for_function(ready, timeout=120_000)
            first_view_s = time.perf_counter() - started
            page.wait_for_selector('#heatmaps[data-pending="0"]', timeout=60_000)  # heatmaps drawn
            page.wait_for_timeout(1000)  # let the first render settle
            idle = page.evaluate(MEASURE_JS, 3)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            windows: dict[str, list[dict]] = {}
            for view, selector in VIEWS.items():
                page.evaluate("sel => document.querySelector(sel).scrollIntoView()", selector)
                windows[view] = []
                for _ in range(repeat):
                    page.keyboard.press("Home")
                    page.wait_for_timeout(300)
                    before = metrics(cdp)
                    page.click("#btn-forward")
                    result = page.evaluate(MEASURE_JS, seconds)
                    after = metrics(cdp)
                    page.click("#btn-play")  # pause
                    result["main_thread"] = {
                        k: round((after[k] - before[k]) / seconds * 100, 1) for k in BUSY
                    }
                    windows[view].append(result)
                    page.wait_for_timeout(500)
            version = browser.version
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    idle_stamps = idle["stamps"]
    idle_fps = (len(idle_stamps) - 1) / ((idle_stamps[-1] - idle_stamps[0]) / 1000)
    views = {}
    for view, results in windows.items():
        per_window = [window_figures(w) for w in results]
        median = sorted(per_window, key=lambda w: w["fps"])[len(per_window) // 2]
        views[view] = {**median, "fps_all_windows": [w["fps"] for w in per_window]}
    return {
        "cells": cells,
        "hidden_size": hidden,
        "seq_len": seq_len,
        "rate": rate,
        "views": views,
        "idle_fps": round(idle_fps, 1),
        "first_view_s": round(first_view_s, 2),
        "page_errors": errors,
        "load_average": os.getloadavg(),
        "machine": machine(version),
    }


def metrics(cdp) -> dict:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def window_figures(result: dict) -> dict:
    stamps = result["stamps"]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    span_s = (stamps[-1] - stamps[0]) / 1000
    return {
        "seconds": round(span_s, 2),
        "fps": round((len(stamps) - 1) / span_s, 1),
        "long_frames_over_50ms": sum(g > 50 for g in gaps),
        "worst_frame_ms": round(max(gaps), 1),
        "frames_received": result["frames"],
        "frames_per_s": round(result["frames"] / span_s, 1),
        "renders": result["rendered"],
        "main_thread_busy_percent": result["main_thread"],
    }


def write_section(figures: dict, command: str) -> None:
    views = figures["views"]
    first = next(iter(views.values()))

    def row(label: str, key, fmt=str) -> str:
        return f"| {label} | " + " | ".join(fmt(v[key]) for v in views.values()) + " |"

    section = "\n".join(
        [
            "## Page",
            "",
            f"`{command}`: headless Chromium at 1280x800 plays {', '.join(figures['cells'])} side by side, "
            f"H = {figures['hidden_size']}, T = {figures['seq_len']}, at {figures['rate']:g} steps/s, "
            f"and counts requestAnimationFrame callbacks over {len(first['fps_all_windows'])} windows of "
            f"{first['seconds']} s of play per view (the median window is shown). Views: the top of the "
            "page (input strip, cell diagrams, gradient plots) and the heatmaps (12 heatmaps of 128 x 500 "
            "with cursor and mask).",
            "",
            "| figure | " + " | ".join(views) + " |",
            "|---|" + "---|" * len(views),
            row("fps (goal >= 58: a frame every 16.7 ms)", "fps", lambda v: f"**{v}**"),
            row("fps of each window", "fps_all_windows", lambda v: ", ".join(map(str, v))),
            row("long frames (gap > 50 ms)", "long_frames_over_50ms"),
            row("worst frame (ms)", "worst_frame_ms"),
            row("frames received from the server (per s)", "frames_per_s"),
            row("page renders in the window (at most one per animation frame)", "renders"),
            row(
                "main thread busy, % of wall time: task / script / layout / style",
                "main_thread_busy_percent",
                lambda v: " / ".join(str(x) for x in v.values()),
            ),
            "",
            f"Paused, the same page runs at {figures['idle_fps']} fps. Page load to the first full view "
            f"(configure, compute on the server, bulk, first render): {figures['first_view_s']} s. "
            f"Page errors: {len(figures['page_errors'])}.",
            "",
            "The page owns its cursor (static/js/player.js): playing is local, the server sends no per-step "
            "frames (0 above) and each animation frame renders from the bulk block it holds. The figures "
            "of 2026-11-21, with the server's frames: 44.0 / 41.7 fps, main thread 82 / 88 % busy (then on a "
            "box with load average 5).",
            "",
            f"Machine: {figures['machine']}; load average at the end "
            f"{', '.join(f'{x:.1f}' for x in figures['load_average'])} (a shared box: other work ran too).",
            "",
        ]
    )
    common.write_section("Page", section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="rnn_tanh,lstm,gru")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=500)
    parser.add_argument("--rate", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="windows of play; the median is reported")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
    args = parser.parse_args()
    figures = measure(
        args.cells.split(","), args.hidden_size, args.seq_len, args.rate, args.seconds, args.repeat
    )
    print(json.dumps(figures, indent=2))
    if args.write:
        write_section(figures, "python bench/page_fps.py --write")


if __name__ == "__main__":
    main()
