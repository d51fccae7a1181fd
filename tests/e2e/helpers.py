"""Small helpers for the browser tests: waiting on the page's read-only hooks, screenshots."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from pathlib import Path

from playwright.sync_api import Page

from bench.common import free_port, start_server, stop

SCREENSHOTS = Path(__file__).parent / "screenshots"


@contextlib.contextmanager
def serving(log_name: str, env: dict | None = None):
    """A real uvicorn on a free 127.0.0.1 port for the block; yields its URL, its output in SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(SCREENSHOTS / log_name, "w") as log:
        proc = start_server(port, env={"PYTHONUNBUFFERED": "1", **(env or {})}, stdout=log)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(proc)


def post_trace(server_url: str, config: dict, timeout: float = 180) -> dict:
    """The truth the page is checked against: POST /api/trace for a config, as JSON."""
    request = urllib.request.Request(
        server_url + "/api/trace", json.dumps(config).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def shot(page: Page, name: str, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def state(page: Page) -> dict:
    return page.evaluate("window.gateflow.state")


def run(page: Page) -> dict | None:
    return page.evaluate("window.gateflow.run")


def wait_run(page: Page, cells: list[str] | None = None, other_than: str | None = None) -> dict:
    """Wait until a run is on display (with these cells, and not the run id `other_than`)."""
    page.wait_for_function(
        """([cells, other]) => {
            const r = window.gateflow && window.gateflow.run;
            if (!r) return false;
            if (other && r.id === other) return false;
            return !cells || JSON.stringify(r.cells) === JSON.stringify(cells);
        }""",
        arg=[cells, other_than],
    )
    return run(page)


def wait_t(page: Page, t: int) -> None:
    page.wait_for_function("t => document.querySelector('#t-readout').dataset.t === String(t)", arg=t)


def choose_preset(page: Page, name: str) -> dict:
    before = run(page)
    page.wait_for_function(
        "n => [...document.querySelectorAll('#preset option')].some(o => o.value === n)", arg=name
    )
    page.select_option("#preset", name)
    return wait_run(page, other_than=before["id"] if before else None)


def wait_drawn(page: Page, selector: str) -> None:
    """Until the Plotly graph div has been drawn once (views draw on the animation frame after a run
    arrives, so a run on display does not mean its plots are there yet)."""
    page.wait_for_function(
        "sel => { const el = document.querySelector(sel); return !!(el && el.data && el._fullLayout); }",
        arg=selector,
    )


def plot_data(page: Page, selector: str) -> list[dict]:
    """The traces of a Plotly graph div, as plain JSON (y with null for gaps); waits for the view's
    first draw."""
    wait_drawn(page, selector)
    return json.loads(
        page.evaluate(
            "sel => JSON.stringify(document.querySelector(sel).data.map(d => ({name: d.name, meta: d.meta,"
            " x: Array.from(d.x || []), y: Array.from(d.y || [])})))",
            selector,
        )
    )
