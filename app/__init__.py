"""Gateflow's web app: FastAPI routes, the WebSocket session, and the one bridge to the engine.

app/ and models/ are siblings: top-level packages in the repository, ``gateflow.app`` and
``gateflow.models`` once installed from the wheel (which claims no generic top-level names), so the
app reaches the engine through ``models`` below, never by an absolute ``import models``.
"""

import importlib

__version__ = "0.1.0"

models = importlib.import_module(__name__.rpartition(".")[0] + ".models" if "." in __name__ else "models")
