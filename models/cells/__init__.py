"""The cell registry: every module here that declares ``SPECS`` is a cell the engine, the web app and
the notebook offer, found by looking (see spec.py: a new cell is its module, not an edit of a list).

    from models.cells import REGISTRY
    REGISTRY["lstm"].gates, REGISTRY["lstm"].forward, REGISTRY["gru"].torch_module
"""

from __future__ import annotations

import importlib
import pkgutil

from .spec import CellSpec, Gate, Knob

_NOT_CELLS = {"base", "spec"}


def _discover() -> dict[str, CellSpec]:
    found: list[CellSpec] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_CELLS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "SPECS", ()))
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"models.cells: two cells share a name in {names}")
    return {s.name: s for s in sorted(found, key=lambda s: (s.order, s.name))}


REGISTRY: dict[str, CellSpec] = _discover()

__all__ = ["REGISTRY", "CellSpec", "Gate", "Knob"]
