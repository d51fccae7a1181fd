"""Your own model on the page: a torch.nn.LSTM trained here on the adding problem, saved with
torch.save, loaded through the settings' "Load weights…" button; every number the gradient view draws
is the server's trace of that very model; a bad file is refused by name and the session goes on; and
the page's ⤓ .py export is a script that reproduces the run's loss with torch alone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SCREENSHOTS, plot_data, post_trace, shot, state, wait_run

import models

GRAD = '[data-plot="grad"] .plot'
MODEL = '.field[data-field="weights"]'


def trained_lstm(path: Path, T: int = 20) -> float:
    """An LSTM (2 -> 16) and its linear head trained on the adding problem (under a second); returns the
    mean loss of the last 20 steps."""
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(2, 16), torch.nn.Linear(16, 1)
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=0.02)
    losses = []
    for step in range(400):
        task = models.tasks.adding(T, batch=64, seed=step)
        y = head(lstm(task.x)[0][-1])
        loss = ((y - task.target[-1]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    torch.save({"lstm": lstm.state_dict(), "head": head.state_dict()}, path)
    return sum(losses[-20:]) / 20


def page_config(page) -> dict:
    s = state(page)
    keys = page.evaluate(
        "() => fetch('/api/presets').then(r => r.json()).then(p => Object.keys(p[0].config))"
    )
    return {k: s[k] for k in keys}


def test_an_uploaded_trained_lstm_shows_its_own_numbers(page, recorder, server_url, tmp_path):
    path = tmp_path / "adding-lstm.pt"
    final = trained_lstm(path)
    assert final < 0.05  # it learned: far below the no-memory baseline of 1/6
    page.goto(server_url + "/#cells=rnn_tanh,gru&seq_len=20")
    wait_run(page, cells=["rnn_tanh", "gru"])
    page.set_input_files(f"{MODEL} input[type=file]", str(path))
    r = wait_run(page, cells=["lstm"])
    s = state(page)
    assert re.fullmatch(r"[0-9a-f]{64}", s["weights"]) and s["hidden_size"] == 16 and s["task"] == "adding"
    line = page.inner_text(f"{MODEL} .model-name")
    assert line == "LSTM from adding-lstm.pt: 2 inputs, H = 16, 1 layer"
    assert "head.weight / head.bias" in page.inner_text(f"{MODEL} .field-note")
    assert page.is_disabled("#cfg-hidden_size") and page.is_disabled('input[name="cells"][value="gru"]')
    trace = post_trace(server_url, page_config(page))
    (cell,) = trace["cells"]
    assert cell["loss"] < 0.05  # the trained net and its own readout: a small error on this sequence
    drawn = next(d for d in plot_data(page, GRAD) if d["meta"]["quantity"] == "grad_h_norm")
    np.testing.assert_allclose(
        np.array(drawn["y"], dtype=float), np.array(cell["grad_h_norm"][0], dtype=float), rtol=1e-6
    )
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "your-model-lstm")
    assert r["cells"] == ["lstm"]

    # ⤓ .py: the script and the model's weights file; side by side, the script reproduces the loss
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    page.click("#btn-script")
    for _ in range(600):  # at most 60 s
        if len(downloads) == 2:
            break
        page.wait_for_timeout(100)
    names = sorted(d.suggested_filename for d in downloads)
    assert names[0] == "gateflow-lstm-T20.py" and re.fullmatch(r"gateflow-weights-[0-9a-f]{12}\.pt", names[1])
    for d in downloads:
        d.save_as(tmp_path / d.suggested_filename)
    assert "keep them side by side" in page.inner_text("#status")
    done = subprocess.run(
        [sys.executable, names[0]], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert float(re.search(r"== lstm  loss (\S+)", done.stdout).group(1)) == pytest.approx(
        cell["loss"], rel=1e-5
    )

    # a file that is no model: refused by name, the run on display stays
    bad = tmp_path / "notes.pt"
    bad.write_text("these are my notes, not weights")
    page.set_input_files(f"{MODEL} input[type=file]", str(bad))
    page.wait_for_function(
        "() => document.querySelector('.field[data-field=\"weights\"] .field-error').textContent"
    )
    assert "not a safetensors file or a torch.save file" in page.inner_text(f"{MODEL} .field-error")
    assert state(page)["weights"] == s["weights"]

    # back to fresh nets: the fields are free again
    page.click(f"{MODEL} .model-clear")
    page.wait_for_function("() => window.gateflow.state.weights === null")
    page.check('input[name="cells"][value="gru"]')
    wait_run(page, cells=["lstm", "gru"])
    assert not page.is_disabled("#cfg-hidden_size")
    refused = [e for e in recorder.errors if "status of 422" in e]  # Chromium logs the bad file's 422
    assert len(refused) == 1
    recorder.errors = [e for e in recorder.errors if e not in refused]
    recorder.check()


def test_the_py_export_reproduces_the_run(page, recorder, server_url, tmp_path):
    page.goto(server_url + "/#cells=rnn_tanh,lstm&seq_len=40&hidden_size=12&init=orthogonal&forget_bias=1")
    wait_run(page, cells=["rnn_tanh", "lstm"])
    with page.expect_download(timeout=60_000) as download:
        page.click("#btn-script")
    script = tmp_path / "run.py"
    download.value.save_as(script)
    assert download.value.suggested_filename == "gateflow-rnn_tanh-lstm-T40.py"
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    losses = dict(re.findall(r"== (\w+)  loss (\S+)", done.stdout))
    trace = post_trace(server_url, page_config(page))
    for cell in trace["cells"]:
        assert float(losses[cell["cell"]]) == pytest.approx(cell["loss"], rel=1e-5)
    (SCREENSHOTS / "exported-run.txt").write_text(done.stdout)
    recorder.check()


def test_a_csv_becomes_the_input_and_a_bad_one_is_named_by_row_and_column(
    page, recorder, server_url, tmp_path
):
    page.goto(server_url + "/#cells=lstm,gru&hidden_size=8")
    shown = wait_run(page, cells=["lstm", "gru"])
    csv = tmp_path / "weather.csv"
    rows = [f"{20 + 5 * np.sin(t / 4):.2f},{0.5 + 0.3 * np.cos(t / 3):.3f},{t % 7}" for t in range(40)]
    csv.write_text("temp,humidity,weekday\n" + "\n".join(rows) + "\n")
    before = state(page)
    page.set_input_files('.field[data-field="values"] input[type=file]', str(csv))
    page.wait_for_function("() => window.gateflow.state.columns === 3")
    wait_run(page, other_than=shown["id"])
    s = state(page)
    assert s["task"] == "sequence" and s["columns"] == 3 and len(s["values"]) == 120
    trace = post_trace(server_url, page_config(page))
    assert trace["T"] == 39 and trace["input"]["input_size"] == 3
    assert trace["input"]["labels"][0] == ", ".join(f"{float(v):g}" for v in rows[0].split(","))
    assert page.is_visible('.field[data-field="columns"]') and page.input_value("#cfg-columns") == "3"
    shot(page, "your-data-csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,n/a\n")
    page.set_input_files('.field[data-field="values"] input[type=file]', str(bad))
    page.wait_for_function(
        "() => document.querySelector('.field[data-field=\"values\"] .field-error').textContent"
    )
    assert (
        page.inner_text('.field[data-field="values"] .field-error')
        == "data: row 3, column 2: 'n/a' is not a number"
    )
    assert state(page)["values"] == s["values"] and before["task"] == "adding"
    refused = [e for e in recorder.errors if "status of 422" in e]
    assert len(refused) == 1
    recorder.errors = [e for e in recorder.errors if e not in refused]
    recorder.check()
