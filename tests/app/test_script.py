"""Export as a PyTorch script: the exported script, run on its own with torch alone, prints the very
loss, ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ and decay rates the engine's trace of the same config has."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from app import engine, script
from app.schemas import RunConfig

CONFIGS = {
    "defaults": {},
    "three cells, deep, bidirectional, gate biases, spectral radius": {
        "cells": ["rnn_tanh", "lstm", "gru"],
        "seq_len": 30,
        "hidden_size": 8,
        "num_layers": 2,
        "bidirectional": True,
        "init": "orthogonal",
        "spectral_radius": 0.9,
        "forget_bias": 1.5,
        "update_bias": -1.0,
    },
    "copy, xavier, sum loss": {
        "cells": ["gru", "rnn_relu"],
        "task": "copy",
        "seq_len": 25,
        "init": "xavier",
        "loss": "sum",
        "hidden_size": 6,
    },
    "hochreiter adding, identity": {
        "cells": ["rnn_relu", "lstm"],
        "adding_form": "hochreiter",
        "seq_len": 40,
        "init": "identity",
        "hidden_size": 5,
    },
    "delayed recall, task loss": {"cells": ["lstm"], "task": "delayed_recall", "seq_len": 20, "loss": "task"},
    "noisy sine, clamped gates": {
        "cells": ["lstm", "gru"],
        "task": "sine",
        "noise": 0.3,
        "period": 7.5,
        "seq_len": 24,
        "clamp": {"f": 1.0, "i": 0.25, "z": 0.5},
    },
    "text": {"cells": ["rnn_tanh"], "task": "text", "text": "the cat sat on the mat"},
    "your sequence": {"cells": ["gru"], "task": "sequence", "values": [0.5, -1.25, 3.0, 1e-3, 2.0, -0.75]},
    "your CSV, 3 columns": {
        "cells": ["lstm", "rnn_tanh"],
        "task": "sequence",
        "columns": 3,
        "values": [0.5, -1.25, 3.0, 1e-3, 2.0, -0.75, 1, 2, 3, 0, 0, 1, -1, 0.25, 4],
    },
}


def parse(printout: str) -> dict:
    """{cell: {"loss": x, (layer, direction): {"dL/dh_t": {t: v}, ..., "rates": {name: steps per decade}}}}"""
    out, cell, block = {}, None, None
    for line in printout.splitlines():
        if m := re.match(r"== (\w+)  loss (\S+)", line):
            cell = m.group(1)
            out[cell] = {"loss": float(m.group(2))}
        elif m := re.match(r"layer (\d+) (forward|reverse) \|\|(\S+)\|\|: (.*)", line):
            key = (int(m.group(1)), 1 if m.group(2) == "reverse" else 0)
            block = out[cell].setdefault(key, {"rates": {}, "names": []})
            rate = re.search(r"every (\S+) steps back", m.group(4))
            block["rates"][m.group(3)] = float(rate.group(1)) if rate else None
            block["names"].append(m.group(3))
        elif m := re.match(r"\s*(\d+)\s+(\S+)(?:\s+(\S+))?$", line):
            for name, value in zip(block["names"], m.groups()[1:], strict=False):
                if value is not None:
                    block.setdefault(name, {})[int(m.group(1))] = float(value)
    return out


def run_script(source: str, tmp_path) -> str:
    path = tmp_path / "run.py"
    path.write_text(source)
    done = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("name", CONFIGS)
def test_an_exported_script_reproduces_the_trace(name, tmp_path):
    config = RunConfig.model_validate(CONFIGS[name])
    source = script.render(config)
    assert "import torch" in source and "gateflow" not in source.split('"""', 2)[2].lower()
    printed = parse(run_script(source, tmp_path))
    run = engine.compute_run(config)
    assert list(printed) == list(config.cells)
    for cr in run.cells:
        got = printed[cr.cell]
        assert got["loss"] == pytest.approx(cr.loss, rel=1e-5, abs=1e-7)
        for ld in range(config.num_layers * config.num_directions):
            key = divmod(ld, config.num_directions)
            curves = {"dL/dh_t": cr.norms["grad_h_norm"][ld]}
            if cr.norms["grad_c_norm"] is not None:
                curves["dL/dc_t"] = cr.norms["grad_c_norm"][ld]
            assert got[key]["names"] == list(curves)
            for qty, curve in curves.items():
                steps = sorted(got[key][qty])
                assert steps[0] == 0 and steps[-1] == run.T - 1
                mine = np.array([got[key][qty][t] for t in steps])
                np.testing.assert_allclose(
                    mine, curve[steps], rtol=2e-4, atol=1e-30, err_msg=f"{cr.cell} {qty}"
                )
                fit = cr.decays[ld]["grad_h" if qty == "dL/dh_t" else "grad_c"]
                rate = got[key]["rates"][qty]
                if fit["steps_per_decade"] is not None:  # the page's fit found a rate: the script's agrees
                    assert rate == pytest.approx(fit["steps_per_decade"], rel=1e-3)


def test_the_script_reads_well(tmp_path):
    config = RunConfig.model_validate(
        CONFIGS["three cells, deep, bidirectional, gate biases, spectral radius"]
    )
    source = script.render(config)
    compile(source, "run.py", "exec")
    assert len(source.splitlines()) < 320
    for must in (
        "def lstm_step",
        "def gru_step",
        "retain_grad",
        "check_against_torch",
        "SEED = 0",
        "FORGET_BIAS",
    ):
        assert must in source
    assert "rnn_relu_step" not in source  # only the chosen cells' equations
    for i, body in enumerate(CONFIGS.values()):  # every script passes the project's own lint and format
        (tmp_path / f"run{i}.py").write_text(script.render(RunConfig.model_validate(body)))
    for check in (
        ["check", "--select", "E,W,F,I", "--line-length", "110"],
        ["format", "--check", "--line-length", "110"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--no-cache", "."],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_post_api_script_answers_the_script_or_names_the_field(client, tmp_path):
    body = {"cells": ["lstm"], "seq_len": 15, "hidden_size": 4}
    r = client.post("/api/script", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/x-python")
    assert 'filename="gateflow-lstm-T15.py"' in r.headers["content-disposition"]
    assert r.text == script.render(RunConfig.model_validate(body))
    printed = parse(run_script(r.text, tmp_path))
    assert printed["lstm"]["loss"] == pytest.approx(
        engine.compute_run(RunConfig.model_validate(body)).cells[0].loss
    )
    r = client.post("/api/script", json={"cells": ["lstm"], "hidden_size": 100_000})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "hidden_size"
