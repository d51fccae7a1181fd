"""Gateflow: see how RNNs, LSTMs and GRUs remember and forget, from Python.

    import gateflow
    net = gateflow.build("lstm", input_size=2, hidden_size=32, seed=0)
    task = gateflow.tasks.adding(seq_len=100, seed=0)
    readout = gateflow.tasks.make_readout(net.output_size, task.output_size, seed=0)
    tr = net.trace(task.x, loss=task.loss_fn(readout, "last"))
    tr.grad_h_norm, tr.jacobian_norm            # float64, (layers*dirs, T, B)
    gateflow.from_torch(torch.nn.LSTM(8, 32))   # your own module, its weights copied
    gateflow.figures.gradient_flow(tr)          # the page's views as Plotly figures
    gateflow.Widget({"cells": ["lstm"]})        # the page's stepping view in Jupyter
    gateflow.serve(port=8000)                   # the web app

The engine (``gateflow.models``) and the web app (``gateflow.app``) are the repository's models/ and
app/ folders: installed from the wheel they live under this package and claim no top-level names of
their own; in a checkout they are the top-level folders beside this one.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent


def _part(name: str):
    """gateflow.models / gateflow.app: the wheel's subpackage, or the checkout's top-level folder."""
    if (_HERE / name / "__init__.py").is_file():
        return importlib.import_module(f"{__name__}.{name}")
    root = str(_HERE.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(name)


def _app(module: str):
    """A module of the web app (app.engine, app.schemas, ...), wherever the app is installed."""
    return importlib.import_module(f"{_part('app').__name__}.{module}")


models = _part("models")
tasks = models.tasks
decay = models.decay
build = models.build
from_torch = models.from_torch
Trainer = models.Trainer
Trace = models.Trace
RecurrentNet = models.RecurrentNet

from . import figures  # noqa: E402  (it reads the engine's names above)


def config(fields: dict | None = None):
    """The web app's RunConfig of ``fields`` (unset ones take the page's defaults); a wrong field
    raises ValueError naming it and its allowed range, as the page's settings form says it."""
    from pydantic import ValidationError

    schemas = _app("schemas")
    if not isinstance(fields, (dict, type(None))):
        raise TypeError(f"config: a dict of RunConfig fields, not {type(fields).__name__}")
    try:
        return schemas.RunConfig.model_validate(fields or {})
    except ValidationError as err:
        raise ValueError("; ".join(e["msg"] for e in schemas.describe_errors(err.errors()))) from None


def traces(fields: dict | None = None) -> dict:
    """The web app's run of a config, as the page shows it: cell -> Trace, for ``gateflow.figures``.

    gateflow.figures.gradient_flow(gateflow.traces({"cells": ["rnn_tanh", "lstm"], "task": "adding"}))
    """
    engine = _app("engine")
    try:
        return engine.traces(config(fields))
    except engine.EngineError as err:
        raise ValueError(str(err)) from None


def serve(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Serve the web app (blocks until stopped). Unset arguments come from the GATEFLOW_* variables;
    ``workers`` > 1 needs GATEFLOW_BROKER_URL (classroom rooms are shared through Redis)."""
    from .cli import serve as _serve

    _serve(host=host, port=port, workers=workers)


def __getattr__(name: str):
    if name == "app":  # the web app, imported on first use (FastAPI is not needed for the engine)
        module = _part("app")
        globals()["app"] = module
        return module
    if name == "Widget":  # Jupyter's widget, on first use: anywidget is the "notebook" extra
        try:
            from .widget import Widget
        except ImportError as err:
            raise ImportError(
                f"gateflow.Widget needs anywidget ({err}): pip install 'gateflow[notebook]'"
            ) from err
        globals()["Widget"] = Widget
        return Widget
    raise AttributeError(f"module 'gateflow' has no attribute {name!r}")


__all__ = [
    "RecurrentNet",
    "Trace",
    "Trainer",
    "Widget",
    "build",
    "config",
    "decay",
    "figures",
    "from_torch",
    "models",
    "serve",
    "tasks",
    "traces",
]
