"""gateflow.Widget: the page's stepping view inside Jupyter, JupyterLab, VS Code and Colab.

    w = gateflow.Widget({"cells": ["rnn_tanh", "lstm"], "task": "adding", "seq_len": 40})
    w                       # play, step, scrub, ← → space Home End once it has the focus
    w.t = 12                # the cursor, from Python (and back: w.t is where the player is)
    w.config = {**w.config, "hidden_size": 32}   # a new run
    w.run.cells[1].norms["grad_h_norm"]          # the numbers on screen, as the engine made them

The front end is the page's own: its ES modules, markup (templates/parts/) and stylesheet, sent to the
notebook over the widget's comm with the vendored Plotly (static/js/widget_loader.js links them as
blob: modules; nothing is fetched from the network). The engine runs in the kernel: the web app's
WebSocket session (app/session.py) serves the widget in a thread of its own, with the comm as its
socket, so a widget and the page answer every message alike (the same limits, errors and runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import threading
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import anywidget
import orjson
import traitlets

from . import _app
from . import config as _config

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE if (_HERE / "static").is_dir() else _HERE.parent  # the wheel's layout, or a checkout's
STATIC, TEMPLATES = _ROOT / "static", _ROOT / "templates"
PARTS = ("playerbar", "sequence", "cells", "gradients", "heatmaps")  # what widget.js shows, in order
# the page's stylesheet styles <html> and <body>: in a notebook those are the notebook's, so the
# widget's element stands in for them and every rule stays inside it (CSS @scope)
_PAGE_ROOTS = re.compile(r"(?<![\w#.-])(?::root|html|body)(?![\w-])")


@lru_cache(maxsize=1)
def _front_end() -> dict:
    """The page's modules, markup, scoped stylesheet and Plotly, read once per process."""
    js = STATIC / "js"
    modules = {
        path.relative_to(js).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(js.rglob("*"))
        if path.suffix in (".js", ".json") and path.name != "widget_loader.js"
    }
    modules["spec.json"] = _app("schemas").VIEW_SPEC_JSON.decode()  # what the page's server serves there
    markup = {name: (TEMPLATES / "parts" / f"{name}.html").read_text(encoding="utf-8") for name in PARTS}
    css = (STATIC / "css" / "gateflow.css").read_text(encoding="utf-8")
    digest = hashlib.sha256("".join(modules.values()).encode()).hexdigest()[:16]
    return {
        "modules": modules,
        "markup": markup,
        "css": "@scope (.gateflow-widget) {\n" + _PAGE_ROOTS.sub(":scope", css) + "\n}\n" + _WIDGET_CSS,
        "plotly": (STATIC / "vendor" / "plotly-cartesian.min.js").read_text(encoding="utf-8"),
        "version": digest,
        "esm": (js / "widget_loader.js").read_text(encoding="utf-8"),
    }


# what the page's layout gives its views and a notebook's output cell does not
_WIDGET_CSS = """
.gateflow-widget { display: block; max-width: 100%; outline: none; color: #222; background: #fff;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.gateflow-widget:focus-visible { box-shadow: 0 0 0 2px #0072B2; }
.gateflow-widget .playerbar { position: static; }
"""


class _CommSocket:
    """What app.session.Session reads and writes, over the widget's comm instead of a WebSocket."""

    # the kernel's user is the machine's own: not rate-limited, as a loopback client is not
    client = SimpleNamespace(host="127.0.0.1", port=0)

    def __init__(self, widget: Widget, loop: asyncio.AbstractEventLoop):
        self.widget, self.loop = widget, loop
        self.inbox: asyncio.Queue = asyncio.Queue()

    async def accept(self) -> None:
        return None

    async def receive(self) -> dict:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        self.widget.send({"text": text})

    async def send_bytes(self, data: bytes) -> None:
        self.widget.send({"binary": True}, buffers=[data])

    def put(self, message: dict) -> None:
        """From any thread (the kernel's): the session reads it next."""
        self.loop.call_soon_threadsafe(self.inbox.put_nowait, message)


class Widget(anywidget.AnyWidget):
    """The live stepping view of one run: ``config`` is the page's RunConfig (a dict; unset fields
    take the page's defaults), checked here so a wrong field raises at once, naming it."""

    _esm = traitlets.Unicode().tag(sync=True)
    _css = traitlets.Unicode().tag(sync=True)
    modules = traitlets.Dict().tag(sync=True)
    markup = traitlets.Dict().tag(sync=True)
    plotly = traitlets.Unicode().tag(sync=True)
    version = traitlets.Unicode().tag(sync=True)
    config = traitlets.Dict().tag(sync=True)
    t = traitlets.Int(0).tag(sync=True)

    def __init__(self, config: dict | None = None, **kwargs):
        front = _front_end()
        super().__init__(
            _esm=front["esm"],
            _css=front["css"],
            modules=front["modules"],
            markup=front["markup"],
            plotly=front["plotly"],
            version=front["version"],
            config=self.check(config or {}),
            **kwargs,
        )
        self._loop = asyncio.new_event_loop()
        self._socket = _CommSocket(self, self._loop)
        self._session = _app("session").Session(self._socket, _app("settings").get_settings())
        self._thread = threading.Thread(target=self._serve, name="gateflow-widget", daemon=True)
        self._thread.start()
        self.on_msg(self._on_front_end)

    @staticmethod
    def check(config: dict) -> dict:
        """The RunConfig the page would send: a wrong field raises ValueError naming it and its range."""
        return _config(config).model_dump(mode="json")

    @traitlets.validate("config")
    def _valid_config(self, proposal):
        return self.check(proposal["value"])

    @property
    def run(self):
        """The run on display (app.engine.Run: every cell's states, gates, gradients and norms), or None."""
        return self._session.run

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._session.serve())
        self._loop.close()

    def _on_front_end(self, _widget, content, _buffers) -> None:
        """A command from the view (configure, seek, ...): to the session, as a WebSocket text frame."""
        self._socket.put({"type": "websocket.receive", "text": orjson.dumps(content).decode()})

    def close(self) -> None:
        """Stop the kernel's session, then close the widget."""
        thread = getattr(self, "_thread", None)  # None: __init__ raised before the session started
        if thread is not None and thread.is_alive():
            self._socket.put({"type": "websocket.disconnect", "code": 1000})
            thread.join(timeout=5)
        super().close()
