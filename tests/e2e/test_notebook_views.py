"""The notebook's views are the page's: gateflow.figures draws what the page draws for the same run
(names, colours, dashes, titles, every number), and gateflow.Widget runs the page's own modules in
Chromium, its engine in this Python process, with a stand-in for Jupyter's widget model (anywidget's
API: get, set, save_changes, on, off, send, and "msg:custom" messages with buffers).
"""

from __future__ import annotations

import base64
import json
import math
import time

import pytest
from helpers import SCREENSHOTS, plot_data, shot, wait_run
from test_gradient_truth import page_config

import gateflow
from gateflow import figures

BIDIRECTIONAL = "#cells=rnn_tanh,lstm,gru&num_layers=2&bidirectional=1&seq_len=24&hidden_size=8&task=adding"


def same(a, b, rel: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def curves_of(fig) -> list[dict]:
    return [
        {"name": d.name, "meta": d.meta, "y": list(d.y), "color": d.line.color, "dash": d.line.dash}
        for d in fig.data
        if d.meta and "quantity" in d.meta
    ]


def page_curves(page, selector: str) -> list[dict]:
    plot_data(page, selector)  # waits for the first draw
    return json.loads(
        page.evaluate(
            "sel => JSON.stringify(document.querySelector(sel).data.filter(d => d.meta && d.meta.quantity)"
            ".map(d => ({name: d.name, meta: d.meta, y: Array.from(d.y),"
            " color: d.line.color, dash: d.line.dash})))",
            selector,
        )
    )


@pytest.mark.parametrize("layer,direction", [(-1, 0), (0, 1)])
def test_figures_draw_what_the_page_draws(page, server_url, layer, direction):
    layer_key = 1 if layer == -1 else layer
    page.goto(f"{server_url}/{BIDIRECTIONAL}&layer={layer_key}&dir={direction}")
    wait_run(page, ["rnn_tanh", "lstm", "gru"])
    traces = gateflow.traces(page_config(page, server_url))
    for plot, make in (("grad", figures.gradient_flow), ("jacobian", figures.jacobian_norms)):
        selector = f'[data-plot="{plot}"] .plot'
        fig = make(traces, layer=layer, direction=direction)
        shown, ours = page_curves(page, selector), curves_of(fig)
        assert [c["name"] for c in shown] == [c["name"] for c in ours]
        for a, b in zip(shown, ours, strict=True):
            assert (a["meta"], a["color"], a["dash"]) == (b["meta"], b["color"], b["dash"])
            assert all(same(x, y) for x, y in zip(a["y"], b["y"], strict=True)), a["name"]
        layout = page.evaluate(
            "sel => { const l = document.querySelector(sel).layout;"
            " return {title: l.title.text, y: l.yaxis.title.text, x: l.xaxis.title.text}; }",
            selector,
        )
        assert layout == {
            "title": fig.layout.title.text,
            "y": fig.layout.yaxis.title.text,
            "x": fig.layout.xaxis.title.text,
        }
        caption = page.locator(f'[data-plot="{plot}"] figcaption').inner_text()
        assert caption == fig.layout.meta["caption"]
        # the fits the page writes under the plot are the figure's (a reverse direction's shared
        # "(back in this reverse direction's own order...)" the page says once, above them)
        fits = {a.text.split("</b>: ")[0][3:]: a.text.split("</b>: ")[1] for a in fig.layout.annotations}
        for name in ("rnn_tanh", "lstm", "gru"):
            item = page.locator(f'[data-plot="{plot}"] .decay li[data-cell="{name}"] .decay-text')
            words = item.inner_text()
            assert fits[figures.label(name)].startswith(words)
    # a heatmap: the very values, range and colours
    page.wait_for_selector('#heatmaps[data-pending="0"]')
    shown = page.evaluate(
        "() => { const sel = \"#heatmaps .plot[data-cell='lstm'][data-field='h']\";"
        " const d = document.querySelector(sel).data[0];"
        " return {z: d.z, zmin: d.zmin, zmax: d.zmax, colorscale: d.colorscale}; }"
    )
    fig = figures.heatmap(traces, "h", layer=layer, direction=direction)
    ours = next(d for d in fig.data if d.meta and d.meta["cell"] == "lstm")
    assert (shown["zmin"], shown["zmax"]) == (ours.zmin, ours.zmax)
    assert [list(stop) for stop in ours.colorscale] == shown["colorscale"]
    pairs = [(a, b) for ra, rb in zip(shown["z"], ours.z, strict=True) for a, b in zip(ra, rb, strict=True)]
    assert all(same(a, b, 1e-7) for a, b in pairs)


# ---- the widget ------------------------------------------------------------------------------------------

FAKE_HOST = """
async ([esm, state]) => {
  // anywidget's model, as Jupyter gives it to render(): traits, change events, custom messages
  const handlers = {};
  const model = {
    get: (key) => state[key],
    set: (key, value) => { state[key] = value; (handlers["change:" + key] || []).forEach((cb) => cb()); },
    save_changes: () => window.toKernel({ kind: "traits", t: state.t }),
    on: (event, cb) => { (handlers[event] = handlers[event] || []).push(cb); },
    off: (event, cb) => { handlers[event] = (handlers[event] || []).filter((h) => h !== cb); },
    send: (content) => window.toKernel({ kind: "custom", content }),
  };
  window.deliver = (content, buffer64) => {
    const buffers = [];
    if (buffer64 !== null) {
      const bytes = Uint8Array.from(atob(buffer64), (c) => c.charCodeAt(0));
      buffers.push(new DataView(bytes.buffer));
    }
    (handlers["msg:custom"] || []).forEach((cb) => cb(content, buffers));
  };
  window.model = model;
  const style = document.createElement("style");
  style.textContent = state._css;
  document.head.append(style);
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  const el = document.createElement("div");
  document.body.append(el);
  await widget.render({ model, el });
  return true;
}
"""


class Host:
    """Jupyter's part: the widget's messages to the page, the page's to the widget."""

    def __init__(self, page, widget):
        self.page, self.widget, self.outbox = page, widget, []
        widget.send = lambda content, buffers=None: self.outbox.append((content, buffers))
        page.expose_function("toKernel", self.from_page)

    def from_page(self, message):
        if message["kind"] == "custom":
            self.widget._on_front_end(self.widget, message["content"], [])
        else:  # a trait the view saved: Jupyter sets it on the kernel's widget
            self.widget.t = message["t"]

    def pump(self, until: str, timeout: float = 60.0) -> None:
        """Deliver the kernel's messages until ``until`` (JS) holds in the page."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.outbox:
                content, buffers = self.outbox.pop(0)
                data = base64.b64encode(bytes(buffers[0])).decode() if buffers else None
                self.page.evaluate("([c, b]) => window.deliver(c, b)", [content, data])
            if self.page.evaluate(until):
                return
            self.page.wait_for_timeout(30)
        raise AssertionError(f"the widget never reached {until}")


def hook(page, what: str):
    return page.evaluate(f"document.querySelector('.gateflow-widget').gateflow.{what}")


def test_widget_runs_the_page_views_in_a_notebook_host(browser):
    config = {"cells": ["rnn_tanh", "lstm"], "task": "adding", "seq_len": 20, "hidden_size": 8}
    widget = gateflow.Widget(config)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    requests = []
    page.on("request", lambda req: requests.append(req.url))
    try:
        host = Host(page, widget)
        page.set_content("<!doctype html><html><body></body></html>")
        names = ("modules", "markup", "plotly", "version", "config", "t", "_css")
        traits = {k: getattr(widget, k) for k in names}
        page.evaluate(FAKE_HOST, [widget._esm, traits])
        host.pump("!!document.querySelector('.gateflow-widget').gateflow.run")
        run = widget.run
        assert hook(page, "run.T") == run.T == 20
        # the gradient plot shows the kernel's numbers
        host.pump("!!document.querySelector('[data-plot=\"grad\"] .plot').data")
        shown = page_curves(page, '.gateflow-widget [data-plot="grad"] .plot')
        for k, cell in enumerate(run.cells):
            curve = next(c for c in shown if c["meta"] == {"cell": cell.cell, "quantity": "grad_h_norm"})
            assert all(same(a, b) for a, b in zip(curve["y"], cell.norms["grad_h_norm"][0], strict=True)), k
        # keyboard: once focused, → steps and the cursor reaches the kernel's widget.t
        page.click(".gateflow-widget .strip-caption")
        page.focus(".gateflow-widget")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Shift+ArrowRight")
        host.pump("document.querySelector('.gateflow-widget #t-readout').dataset.t === '11'")
        host.pump("true")
        page.wait_for_timeout(250)
        host.pump("true")
        assert widget.t == 11
        # Python moves the cursor: the trait's change lands in the player
        page.evaluate("window.model.set('t', 4)")
        host.pump("document.querySelector('.gateflow-widget #t-readout').dataset.t === '4'")
        # scrub and play
        page.eval_on_selector(
            ".gateflow-widget #scrub", "el => { el.value = '15'; el.dispatchEvent(new Event('input')); }"
        )
        assert hook(page, "state.get('t')") == 15
        page.click(".gateflow-widget #btn-play")
        host.pump("document.querySelector('.gateflow-widget').gateflow.state.get('t') > 15")
        page.click(".gateflow-widget #btn-play")
        # a heatmap of every cell and a new config from Python: a new run
        assert page.locator(".gateflow-widget #heatmaps .plot").count() >= 2
        before = hook(page, "run.id")
        page.evaluate("window.model.set('config', {...window.model.get('config'), hidden_size: 4})")
        host.pump(f"document.querySelector('.gateflow-widget').gateflow.run.id !== '{before}'")
        assert hook(page, "run.H") == 4
        # a bad value from the view gets the session's error, naming the field; the run stays
        page.evaluate("window.model.send({type: 'seek', t: 999})")
        host.pump("document.querySelector('.gateflow-widget #status').dataset.kind === 'error'")
        assert page.inner_text(".gateflow-widget #status").startswith(
            "t: 999 is outside the allowed range 0 .. 19"
        )
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "widget-in-notebook", full_page=True)
        assert errors == []
        assert all(url.startswith(("about:", "blob:", "data:")) for url in requests), requests
    finally:
        widget.close()
        context.close()
    assert (SCREENSHOTS / "widget-in-notebook.png").is_file()
