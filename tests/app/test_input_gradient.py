"""||dL/dx_t|| on the wire (ready, POST /api/trace JSON and CSV) against autograd through torch's own
module and the run's readout and loss, for every cell."""

from __future__ import annotations

import csv
import io
import math

import pytest
import torch

from app import engine, models
from app.schemas import RunConfig


def _autograd_input_grad(config: RunConfig, cell: str) -> torch.Tensor:
    """dL/dx of batch element 0 by autograd through the torch module, the readout and the task's loss."""
    task = engine._make_task(config)
    net = engine.build_net(config, cell, task.input_size).to(dtype="float64")
    readout = models.tasks.make_readout(
        net.output_size, task.output_size, seed=config.seed, dtype=torch.float64
    )
    x = task.x.to(torch.float64).clone().requires_grad_(True)
    out, _ = net.to_torch()(x)
    task.loss_fn(readout, config.loss)(out).backward()
    return x.grad[:, 0]


@pytest.mark.parametrize("cells", [["rnn_tanh", "lstm"], ["gru", "rnn_relu"]])
def test_the_input_gradient_on_the_wire_is_autograd_s(client, cells):
    body = {"cells": cells, "task": "adding", "seq_len": 40, "hidden_size": 8, "seed": 3}
    answer = client.post("/api/trace", json=body)
    assert answer.status_code == 200, answer.text
    config = RunConfig(**body)
    for cell, wire in zip(cells, answer.json()["cells"], strict=True):
        ref = _autograd_input_grad(config, cell)
        norm = torch.tensor([float(v) for v in wire["input_grad"]["norm"]], dtype=torch.float64)
        torch.testing.assert_close(norm, ref.norm(dim=-1), rtol=2e-4, atol=1e-30)
        grad_x = torch.tensor(wire["grad_x"], dtype=torch.float64)
        torch.testing.assert_close(grad_x, ref, rtol=2e-4, atol=1e-7)
        assert wire["input_grad"]["decay"]["direction"] in ("decays", "grows", "flat", "zero")
    table = client.post("/api/trace?format=csv", json=body).text
    rows = [r for r in csv.DictReader(io.StringIO(table)) if r["quantity"] == "grad_x_norm"]
    assert len(rows) == 40 * len(cells) and rows[0]["layer"] == "" and rows[0]["unit"] == ""
    first = answer.json()["cells"][0]["input_grad"]["norm"]
    assert [float(r["value"]) for r in rows[:40]] == pytest.approx([float(v) for v in first], rel=1e-15)


def test_the_rnn_s_input_gradient_vanishes_and_the_lstm_s_does_not_as_fast(client):
    """The lesson on one log axis: the untrained tanh RNN's ||dL/dx_t|| falls by more than 5 decades
    within 50 steps back (12 here); the LSTM with its forget gate opened by a bias of 4 keeps it within 1."""
    body = {"cells": ["rnn_tanh", "lstm"], "task": "adding", "seq_len": 80, "hidden_size": 16}
    body["forget_bias"] = 4.0
    wire = client.post("/api/trace", json=body).json()["cells"]
    rnn, lstm = ([float(v) for v in c["input_grad"]["norm"]] for c in wire)
    ratio = lambda n: math.log10(n[-1] / n[-51])  # noqa: E731  decades lost 50 steps back
    assert ratio(rnn) > 5 and abs(ratio(lstm)) < 1
