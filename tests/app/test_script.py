"""Export as a PyTorch script: the exported script, run on its own with torch alone, prints the very
loss, ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ and decay rates the engine's trace of the same config has."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save as safetensors_save

import models
from app import engine, script
from app.schemas import RunConfig
from gateflow import cli

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
    "text, the fused-input RNN": {
        "cells": ["rnn_tanh", "rnn_fused"],
        "task": "text",
        "text": "the cat sat on the mat",
    },
    "the CfC beside the GRU, 2 layers, both directions": {
        "cells": ["cfc", "gru"],
        "seq_len": 20,
        "num_layers": 2,
        "bidirectional": True,
    },
    "the LTC beside the tanh RNN, a spectral radius it has no matrix for": {
        "cells": ["ltc", "rnn_tanh"],
        "seq_len": 15,
        "hidden_size": 6,
        "spectral_radius": 0.9,
    },
    "the CfC and the LTC at timespan 0.5, the LTC's solver at 3 unfolds": {
        "cells": ["cfc", "ltc"],
        "seq_len": 12,
        "hidden_size": 5,
        "timespan": 0.5,
        "ode_unfolds": 3,
    },
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


def assert_reproduces(printed: dict, config: RunConfig) -> None:
    """The script's printout is the engine's trace of the same config: loss, every norm, every rate."""
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


@pytest.mark.parametrize("name", CONFIGS)
def test_an_exported_script_reproduces_the_trace(name, tmp_path):
    config = RunConfig.model_validate(CONFIGS[name])
    source = script.render(config)
    assert "import torch" in source and "gateflow" not in source.split('"""', 2)[2].lower()
    assert_reproduces(parse(run_script(source, tmp_path)), config)


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
    assert_lint_clean(tmp_path)


def assert_lint_clean(folder) -> None:
    """The scripts in ``folder`` pass the project's own lint and format."""
    for check in (
        ["check", "--select", "E,W,F,I", "--line-length", "110"],
        ["format", "--check", "--line-length", "110"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--no-cache", "."],
            cwd=folder,
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


# -- a run on an uploaded model: the script loads its weights from the file saved beside it -----------
def torch_file(obj) -> bytes:
    out = io.BytesIO()
    torch.save(obj, out)
    return out.getvalue()


def trained_lstm() -> bytes:
    """An LSTM and its linear head trained a little on adding problems, saved as a user saves a model
    (nested: "lstm.weight_ih_l0", ..., "head.weight", "head.bias")."""
    torch.manual_seed(3)
    lstm, head = torch.nn.LSTM(2, 6), torch.nn.Linear(6, 1)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.03)
    for seed in range(40):
        task = models.tasks.adding(30, seed=100 + seed)
        loss = ((head(lstm(task.x)[0])[-1] - task.target[-1]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return torch_file({"lstm": lstm.state_dict(), "head": head.state_dict()})


def bidirectional_gru() -> bytes:
    torch.manual_seed(4)
    return safetensors_save(dict(torch.nn.GRU(1, 4, num_layers=2, bidirectional=True).state_dict()))


def lstm_with_a_head_the_task_cannot_use() -> bytes:
    torch.manual_seed(5)
    lstm, fc = torch.nn.LSTM(2, 5), torch.nn.Linear(5, 3)  # 3 outputs; the adding task has 1
    return torch_file({**{f"rnn.{k}": v for k, v in lstm.state_dict().items()}, "fc.weight": fc.weight})


def relu_rnn_without_biases() -> bytes:
    torch.manual_seed(6)
    return torch_file(torch.nn.RNN(3, 4, nonlinearity="relu", bias=False).state_dict())


# name -> (the file, POST /api/weights's nonlinearity, the run's config without its weights)
UPLOADED = {
    "a trained LSTM with its own readout": (
        trained_lstm,
        "tanh",
        {"cells": ["lstm"], "hidden_size": 6, "seq_len": 30},
    ),
    "a 2-layer bidirectional GRU without a readout (safetensors)": (
        bidirectional_gru,
        "tanh",
        {"cells": ["gru"], "hidden_size": 4, "num_layers": 2, "bidirectional": True, "task": "sine",
         "noise": 0.2, "seq_len": 24, "loss": "sum", "seed": 7},
    ),
    "clamped gates, a readout of the wrong size": (
        lstm_with_a_head_the_task_cannot_use,
        "tanh",
        {"cells": ["lstm"], "hidden_size": 5, "seq_len": 25, "adding_form": "hochreiter",
         "clamp": {"f": 1.0, "o": 0.5}, "forget_bias": 2.0, "init": "orthogonal"},
    ),
    "a ReLU RNN without biases on your CSV": (
        relu_rnn_without_biases,
        "relu",
        {"cells": ["rnn_relu"], "hidden_size": 4, "task": "sequence", "columns": 3, "loss": "task",
         "values": [0.5, -1.25, 3.0, 1e-3, 2.0, -0.75, 1, 2, 3, 0, 0, 1, -1, 0.25, 4, 0.5, 0.5, -2]},
    ),
}  # fmt: skip


def upload(client, data: bytes, nonlinearity: str = "tanh") -> str:
    r = client.post(
        "/api/weights",
        content=data,
        params={"filename": "mine.pt", "nonlinearity": nonlinearity},
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    return r.json()["weights"]


@pytest.mark.parametrize("name", UPLOADED)
def test_a_script_of_an_uploaded_model_loads_it_from_beside_itself(name, client, tmp_path):
    make, nonlinearity, body = UPLOADED[name]
    digest = upload(client, make(), nonlinearity)
    config = RunConfig.model_validate(body | {"weights": digest})
    r = client.post("/api/script", json=body | {"weights": digest})
    assert r.status_code == 200 and r.text == script.render(config)
    source = r.text
    assert "fresh nets" not in source and "torch.load(WEIGHTS_FILE, weights_only=True)" in source
    assert "def init_layer" not in source and "FORGET_BIAS" not in source  # the file's weights, as they are
    assert ("def clamp" in source) == bool(config.clamp)
    w = client.get(f"/api/weights/{digest}")
    assert w.status_code == 200
    name = re.search(r'filename="([^"]+)"', w.headers["content-disposition"]).group(1)
    assert name == script.weights_filename(digest) == f"gateflow-weights-{digest[:12]}.pt"
    assert f'WEIGHTS_FILE = Path(__file__).with_name("{name}")' in source
    (tmp_path / name).write_bytes(w.content)
    assert_reproduces(parse(run_script(source, tmp_path)), config)
    assert_lint_clean(tmp_path)


def test_the_script_reads_the_files_own_readout_as_torch_does(client, tmp_path):
    """Without the engine: the script's loss is torch.nn's own LSTM and Linear on the adding problem."""
    data = trained_lstm()
    body = {"cells": ["lstm"], "hidden_size": 6, "seq_len": 30}
    digest = upload(client, data)
    source = client.post("/api/script", json=body | {"weights": digest}).text
    (tmp_path / script.weights_filename(digest)).write_bytes(client.get(f"/api/weights/{digest}").content)
    printed = parse(run_script(source, tmp_path))
    state = torch.load(io.BytesIO(data), weights_only=True)
    lstm, head = torch.nn.LSTM(2, 6), torch.nn.Linear(6, 1)
    lstm.load_state_dict(state["lstm"])
    head.load_state_dict(state["head"])
    task = models.tasks.adding(30, seed=0)
    with torch.no_grad():
        expected = float(((head(lstm(task.x)[0])[-1] - task.target[-1]) ** 2).sum())
    assert printed["lstm"]["loss"] == pytest.approx(expected, rel=1e-5)


def test_without_its_weights_file_the_script_says_which_file_it_needs(client, tmp_path):
    digest = upload(client, bidirectional_gru())
    body = UPLOADED["a 2-layer bidirectional GRU without a readout (safetensors)"][2]
    (tmp_path / "run.py").write_text(client.post("/api/script", json=body | {"weights": digest}).text)
    done = subprocess.run(
        [sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{script.weights_filename(digest)}: not found; save it beside this script" in done.stderr


def test_gateflow_script_with_weights_writes_the_script_and_its_weights_file(client, tmp_path, capsys):
    torch.manual_seed(8)
    lstm, fc = torch.nn.LSTM(2, 5, num_layers=2), torch.nn.Linear(5, 1)
    data = torch_file({"model": {"rnn": lstm.state_dict(), "fc": fc.state_dict()}, "epoch": 3})
    (tmp_path / "mine.pt").write_bytes(data)
    # the fields the config leaves out (cells, sizes) are the file's
    body = {"task": "adding", "seq_len": 20, "seed": 3, "clamp": {"i": 1.0}}
    (tmp_path / "run.json").write_text(json.dumps(body))
    out = tmp_path / "out"
    out.mkdir()
    argv = ["script", str(tmp_path / "run.json"), "-o", str(out / "run.py")]
    assert cli.main([*argv, "--weights", str(tmp_path / "mine.pt")]) == 0
    digest = upload(client, data)  # the page's digest of the same file
    assert sorted(p.name for p in out.iterdir()) == sorted(["run.py", script.weights_filename(digest)])
    assert (out / script.weights_filename(digest)).read_bytes() == client.get(
        f"/api/weights/{digest}"
    ).content
    config = RunConfig.model_validate(
        body | {"cells": ["lstm"], "hidden_size": 5, "num_layers": 2, "weights": digest}
    )
    assert (out / "run.py").read_text() == script.render(config)
    assert_reproduces(parse(run_script((out / "run.py").read_text(), out)), config)
    # the page's Trace JSON export (config with its digest) and the file it was run on: the same script
    (tmp_path / "trace.json").write_text(json.dumps({"config": config.model_dump(mode="json")}))
    assert cli.main(["script", str(tmp_path / "trace.json"), "-o", str(tmp_path / "again.py"), "--weights",
                     str(tmp_path / "mine.pt")]) == 0  # fmt: skip
    assert (tmp_path / "again.py").read_text() == script.render(config)
    capsys.readouterr()
    for args, words in [
        (["-o", str(tmp_path / "x.py")], "weights: the config's run is on an uploaded model"),
        (["-o", str(tmp_path / "x.py"), "--weights", str(tmp_path / "nope.pt")], "--weights: cannot read"),
        (["-o", "-", "--weights", str(tmp_path / "mine.pt")], "-o: with --weights, name the script's file"),
    ]:
        assert cli.main(["script", str(tmp_path / "trace.json"), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gateflow script: {words}") and err.count("\n") == 1, err
    other = torch_file(torch.nn.LSTM(2, 5, num_layers=2).state_dict())
    (tmp_path / "other.pt").write_bytes(other)
    for config_body, file, words in [
        (
            config.model_dump(mode="json"),
            "other.pt",
            f"--weights: {tmp_path / 'other.pt'} is not the model CONFIG.json ran on",
        ),
        (body | {"cells": ["gru"]}, "mine.pt", "cells: the uploaded model is a lstm"),
        (body | {"num_layers": 1}, "mine.pt", "num_layers: the uploaded model has num_layers = 2"),
        (body | {"task": "sine"}, "mine.pt", "task: the uploaded LSTM takes 2 inputs, the sine task 1"),
    ]:
        (tmp_path / "bad.json").write_text(json.dumps(config_body))
        argv = [
            "script",
            str(tmp_path / "bad.json"),
            "-o",
            str(tmp_path / "x.py"),
            "--weights",
            str(tmp_path / file),
        ]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gateflow script: {words}") and err.count("\n") == 1, err
    assert not (tmp_path / "x.py").exists()
