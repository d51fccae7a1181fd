"""The cell registry: one spec per cell, and every table of the engine, the wire schema, GET /api/cells,
the page's spec.json and the exported script built from it. A cell module dropped into models/cells is
found, offered and traced with no other file changed (checked here by doing it, in a copy of the tree)."""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import models
from models import limits
from models.cells import REGISTRY, Gate, Knob

ROOT = Path(__file__).resolve().parents[2]


def test_every_cell_s_spec_is_whole():
    assert list(REGISTRY) == [
        "rnn_tanh",
        "rnn_relu",
        "lstm",
        "gru",
        "rnn_fused",
        "cfc",
        "ltc",
    ]  # in the specs' order
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.label and spec.title and spec.color.startswith("#")
        assert callable(spec.forward) and callable(spec.reverse) and callable(spec.step_jacobian)
        assert spec.script_step and f"def {name}_step(" in spec.script_step
        for knob in spec.knobs:
            assert knob.gate is None or knob.gate in spec.gate_names
    assert REGISTRY["lstm"].gate_names == ("i", "f", "g", "o") and REGISTRY["lstm"].has_cell_state
    assert REGISTRY["gru"].gate_names == ("r", "z", "n") and not REGISTRY["gru"].has_cell_state


def test_the_engine_s_tables_are_the_registry_s():
    assert tuple(REGISTRY) == limits.CELLS
    assert limits.GATES["gru"] == ("r", "z", "n")
    assert limits.CLAMPABLE["lstm"] == {"i": (0, 1), "f": (0, 1), "g": (-1, 1), "o": (0, 1)}
    assert limits.CLAMPABLE["rnn_tanh"] == {}
    assert limits.KNOB_CELLS == {
        "forget_bias": ("lstm",),
        "update_bias": ("gru",),
        "timespan": ("cfc", "ltc"),  # one shared option: a run with both sets both
        "ode_unfolds": ("ltc",),
    }
    assert limits.LIMITS["forget_bias"] == (-10.0, 10.0)


@pytest.mark.parametrize("value", [0.0, 0.3, 1.0])
def test_a_gate_s_clamp_bias_is_its_activation_s_inverse(value):
    sig, tanh = Gate("f", "f", "#000"), Gate("g", "g", "#000", activation="tanh")
    assert 1 / (1 + math.exp(-sig.bias_for(value))) == pytest.approx(value)
    if value < 1:
        assert math.tanh(tanh.bias_for(value)) == pytest.approx(value)
    with pytest.raises(ValueError, match="activation 'softplus'"):
        Gate("x", "x", "#000", activation="softplus")


def test_a_knob_sets_its_gate_s_bias_and_only_its_cells_take_it():
    net = models.build("lstm", 2, 4, forget_bias=2.5)
    b = net.weights["bias_ih_l0"] + net.weights["bias_hh_l0"]
    assert torch.equal(b[4:8], torch.full((4,), 2.5))
    gru = models.build("gru", 2, 4, update_bias=-1.0)
    assert torch.equal((gru.weights["bias_ih_l0"] + gru.weights["bias_hh_l0"])[4:8], torch.full((4,), -1.0))
    with pytest.raises(ValueError, match="forget_bias: only LSTM takes it, not 'gru'"):
        models.build("gru", 2, 4, forget_bias=1.0)
    with pytest.raises(ValueError, match=r"forget_bias: 11.0 is outside the allowed range \[-10, 10\]"):
        models.build("lstm", 2, 4, forget_bias=11.0)


def test_from_torch_finds_the_cell_by_its_torch_module():
    assert models.from_torch(torch.nn.RNN(2, 3, nonlinearity="relu")).cell == "rnn_relu"
    assert models.from_torch(torch.nn.GRU(2, 3)).cell == "gru"
    with pytest.raises(
        ValueError,
        match=r"expected torch\.nn\.RNN, torch\.nn\.LSTM, torch\.nn\.GRU or a cell's module "
        r"\(ncps' CfC\), got Linear",
    ):
        models.from_torch(torch.nn.Linear(2, 3))


def test_the_wire_schema_the_api_and_the_page_s_spec_are_the_registry_s(client):
    from app import schemas

    assert tuple(REGISTRY) == schemas.CELLS and schemas.GATES == limits.GATES
    assert set(schemas.KNOBS) <= set(schemas.RunConfig.model_fields)
    cells = {c["name"]: c for c in client.get("/api/cells").json()["cells"]}
    assert list(cells) == list(REGISTRY)
    lstm = cells["lstm"]
    assert lstm["label"] == "LSTM" and lstm["has_cell_state"] and lstm["knobs"] == ["forget_bias"]
    assert [g["name"] for g in lstm["gate_info"]] == ["i", "f", "g", "o"]
    assert lstm["gate_info"][2] == {
        "name": "g",
        "label": "candidate g",
        "color": "#CC79A7",
        "activation": "tanh",
        "clamp": [-1.0, 1.0],
    }
    assert cells["rnn_relu"]["torch_module"] == "RNN" and cells["rnn_relu"]["gate_info"][0]["clamp"] is None
    spec = client.get("/static/js/spec.json")
    assert spec.status_code == 200 and spec.headers["content-type"].startswith("application/json")
    page = spec.json()
    assert list(page["cells"]) == list(REGISTRY) and page["cells"]["gru"]["clampable"]["z"] == [0.0, 1.0]
    assert page["gates"]["f"] == {
        "label": "forget gate f",
        "color": "#0072B2",
        "sigmoid": True,
        "activation": "sigmoid",
    }
    assert page["knobs"]["update_bias"] == {
        "label": "GRU update-gate bias",
        "min": -10.0,
        "max": 10.0,
        "integer": False,
        "default": None,
    }
    assert page["knobs"]["ode_unfolds"] | page["knobs"]["timespan"] == {
        "label": "Timespan Δt between steps (CfC, LTC)",
        "min": 0.01,
        "max": 100.0,
        "integer": False,
        "default": 1.0,
    }
    assert page["knobs"]["ode_unfolds"]["integer"] and page["knobs"]["ode_unfolds"]["default"] == 6
    assert page["cells"]["ltc"]["knobs"] == ["timespan", "ode_unfolds"]
    assert "scales" in page and "heatmaps" in page  # the rest of the views' description, as it was


NEW_CELL = '''
"""A test cell: the tanh RNN under another name, with a gate of its own and a derived one (no weights
of its own), to show a new cell needs no other file changed."""

import torch

from .rnn import forward as _forward, reverse, step_jacobian
from .spec import CellSpec, Gate, Knob


def forward(x, h0, c0, w):
    fw = _forward(x, h0, c0, w, nonlinearity="tanh")
    return fw._replace(gates={"q": fw.gates["pre"], "s": torch.sigmoid(fw.gates["pre"])})


SPECS = (
    CellSpec(
        name="probe_cell",
        label="Probe cell",
        title="probe cell",
        color="#123456",
        gates=(
            Gate("q", "probe gate q", "#654321", activation="none", clampable=False),
            Gate("s", "derived gate s", "#abcdef", chunk=False),
        ),
        forward=forward,
        reverse=reverse,
        step_jacobian=step_jacobian,
        knobs=(Knob("probe_knob", "Probe knob", "probe knob", -1.0, 1.0),),
    ),
)
'''

CHECK = """
import json, math
import torch
from fastapi.testclient import TestClient
import models
from app.main import create_app

net = models.build("probe_cell", 2, 3, seed=1, probe_knob=0.5)
tr = net.trace(models.tasks.adding(20, seed=0).x[:, :1, :])
ref = models.build("rnn_tanh", 2, 3, seed=1).trace(models.tasks.adding(20, seed=0).x[:, :1, :])
assert tr.cell == "probe_cell" and list(tr.gates) == ["q", "s"]
assert net.weights["weight_hh_l0"].shape == (3, 3)  # one chunk: the derived gate has no rows
assert (tr.gates["s"] == torch.sigmoid(tr.gates["q"])).all()
assert (tr.h == ref.h).all() and (tr.grad_h == ref.grad_h).all()
client = TestClient(create_app(), base_url="http://127.0.0.1")
names = [c["name"] for c in client.get("/api/cells").json()["cells"]]
page = client.get("/static/js/spec.json").json()
cfg = {"cells": ["probe_cell", "lstm"], "task": "adding", "seq_len": 20, "hidden_size": 3, "probe_knob": 0.5}
answer = client.post("/api/trace", json=cfg)
bad = client.post("/api/trace", json=cfg | {"probe_knob": 2.0})
print(json.dumps({
    "names": names, "page": page["cells"]["probe_cell"], "gate": page["gates"]["q"], "s": page["gates"]["s"],
    "heatmap_s": len(answer.json()["cells"][0]["gates"]["s"][0]),
    "status": answer.status_code, "cells": [c["cell"] for c in answer.json()["cells"]],
    "bad": bad.status_code, "bad_text": bad.text,
}))
"""


def test_a_new_cell_is_one_module(tmp_path):
    """Copy the engine and the app, add one cell module, and nothing else: the engine traces it, the
    API offers it, the page's spec describes it and a run config takes its knob, bounded."""
    for part in ("models", "app", "static", "templates"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    (tmp_path / "models" / "cells" / "probe_cell.py").write_text(textwrap.dedent(NEW_CELL))
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["names"] == [*REGISTRY, "probe_cell"]  # after every cell: its order is the default
    assert out["page"]["label"] == "Probe cell" and out["page"]["gates"] == ["q", "s"]
    assert out["page"]["clampable"] == {} and out["s"]["label"] == "derived gate s" and out["heatmap_s"] == 20
    assert out["page"]["knobs"] == ["probe_knob"] and out["gate"]["label"] == "probe gate q"
    assert out["status"] == 200 and out["cells"] == ["probe_cell", "lstm"]
    assert out["bad"] == 422 and "probe_knob" in out["bad_text"]


def test_a_derived_gate_has_no_weights_and_no_clamp():
    derived = Gate("s", "derived gate s", "#abcdef", chunk=False)
    assert derived.clamp_range is None  # sigmoid, yet nothing to clamp: no bias of its own
    spec = REGISTRY["rnn_tanh"]
    with pytest.raises(ValueError, match="derived gate"):
        dataclasses.replace(spec, gates=(derived, *spec.gates))  # before a chunk
    with pytest.raises(ValueError, match="bias of derived gate s"):
        dataclasses.replace(spec, gates=(*spec.gates, derived), knobs=(Knob("k", "k", "k", 0, 1, gate="s"),))
    assert dataclasses.replace(spec, gates=(*spec.gates, derived)).n_gates == 1
