"""Gateflow: see how RNNs, LSTMs and GRUs remember and forget, from Python.

    import gateflow
    net = gateflow.build("lstm", input_size=2, hidden_size=32, seed=0)
    task = gateflow.tasks.adding(seq_len=100, seed=0)
    readout = gateflow.tasks.make_readout(net.output_size, task.output_size, seed=0)
    tr = net.trace(task.x, loss=task.loss_fn(readout, "last"))
    tr.grad_h_norm, tr.jacobian_norm            # float64, (layers*dirs, T, B)
    gateflow.from_torch(torch.nn.LSTM(8, 32))   # your own module, its weights copied
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
    raise AttributeError(f"module 'gateflow' has no attribute {name!r}")


__all__ = [
    "RecurrentNet",
    "Trace",
    "Trainer",
    "build",
    "decay",
    "from_torch",
    "models",
    "serve",
    "tasks",
]
