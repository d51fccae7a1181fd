"""POST /api/weights and a run on your own trained model: the views' numbers are those of the very
torch module the file was saved from (its loss through its own readout, checked with torch itself),
and every refusal is a 4xx that names the field."""

from __future__ import annotations

import io

import orjson
import pytest
import torch
from safetensors.torch import save as safetensors_save
from wire_helpers import send

import models
from app import engine, script
from app.schemas import UploadedWeights


class Model(torch.nn.Module):
    def __init__(self, hidden=6):
        super().__init__()
        torch.manual_seed(1)
        self.lstm = torch.nn.LSTM(2, hidden)
        self.head = torch.nn.Linear(hidden, 1)


def upload(client, data: bytes, **params):
    return client.post(
        "/api/weights", content=data, params=params, headers={"Content-Type": "application/octet-stream"}
    )


def torch_file(obj) -> bytes:
    out = io.BytesIO()
    torch.save(obj, out)
    return out.getvalue()


def test_an_uploaded_lstm_runs_with_its_own_readout(client):
    model = Model()
    r = upload(client, torch_file(model.state_dict()), filename="my-lstm.pt")
    assert r.status_code == 200, r.text
    info = UploadedWeights.model_validate(r.json())
    assert (info.cell, info.input_size, info.hidden_size, info.num_layers, info.bidirectional) == (
        "lstm",
        2,
        6,
        1,
        False,
    )
    assert (
        info.prefix == "lstm."
        and info.readout.names == ["head.weight", "head.bias"]
        and "adding" in info.tasks
    )
    config = {"cells": ["lstm"], "hidden_size": 6, "seq_len": 30, "weights": info.weights, "jacobian": "on"}
    body = client.post("/api/trace", json=config).json()
    (cell,) = body["cells"]
    task = models.tasks.adding(30, seed=0)
    with torch.no_grad():  # the loss, by torch's own modules
        y = model.head(model.lstm(task.x)[0])
        expected_loss = float(((y[-1] - task.target[-1]) ** 2).sum())
    assert cell["loss"] == pytest.approx(expected_loss, rel=1e-5)
    readout = models.tasks.Readout(model.head.weight.detach(), model.head.bias.detach())
    reference = models.from_torch(model.lstm).trace(task.x, loss=task.loss_fn(readout, "last"), jacobian=True)
    torch.testing.assert_close(torch.tensor(cell["h"]), reference.h[:, :, 0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(
        torch.tensor(cell["grad_h_norm"], dtype=torch.float64),
        reference.grad_h_norm[:, :, 0],
        rtol=1e-6,
        atol=0,
    )
    torch.testing.assert_close(
        torch.tensor(cell["jacobian_norm"], dtype=torch.float64),
        reference.jacobian_norm[:, :, 0],
        rtol=1e-6,
        atol=0,
    )
    note = next(n for n in body["notes"] if n["field"] == "weights")
    assert "my-lstm.pt" in note["text"] and "head.weight / head.bias" in note["text"]


def test_without_a_fitting_readout_the_seeded_one_gives_the_loss(client):
    gru = torch.nn.GRU(1, 4, num_layers=2, bidirectional=True)
    info = upload(client, safetensors_save(dict(gru.state_dict())), filename="g.safetensors").json()
    config = {"cells": ["gru"], "hidden_size": 4, "num_layers": 2, "bidirectional": True, "task": "sine",
              "seq_len": 20, "weights": info["weights"]}  # fmt: skip
    body = client.post("/api/trace", json=config).json()
    task = models.tasks.sine(20, seed=0)
    readout = models.tasks.make_readout(8, 1, seed=0)
    reference = models.from_torch(gru).trace(task.x, loss=task.loss_fn(readout, "last"))
    assert body["cells"][0]["loss"] == pytest.approx(float(reference.loss), rel=1e-6)
    assert "seeded random readout" in next(n for n in body["notes"] if n["field"] == "weights")["text"]


def test_a_config_that_does_not_fit_the_model_names_the_field(client):
    info = upload(client, torch_file(Model().state_dict())).json()
    base = {"cells": ["lstm"], "hidden_size": 6, "seq_len": 30, "weights": info["weights"]}
    for change, field, words in [
        ({"cells": ["lstm", "gru"]}, "cells", "cells must be ['lstm']"),
        ({"hidden_size": 7}, "hidden_size", "hidden_size = 6, the run 7"),
        ({"bidirectional": True}, "bidirectional", "bidirectional = False"),
        (
            {"task": "sine"},
            "task",
            "takes 2 inputs, the sine task 1 (tasks with 2 inputs: adding, sequence with columns = 2",
        ),
        ({"weights": "0" * 64}, "weights", "upload the file again"),
        ({"weights": "not-a-digest"}, "weights", "pattern"),
    ]:
        r = client.post("/api/trace", json=base | change)
        assert r.status_code == 422, change
        detail = r.json()["detail"][0]
        assert detail["field"] == field and words in detail["msg"], detail


def test_bad_files_get_422_naming_what_is_wrong_and_big_ones_413(client):
    r = upload(client, b"print('hi')")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "weights"
    r = upload(client, torch_file(torch.nn.LSTM(2, 200).state_dict()))
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "hidden_size" and "1 .. 128" in r.json()["detail"][0]["msg"]
    r = upload(client, torch_file(torch.nn.RNN(2, 3).state_dict()), nonlinearity="sigmoid")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "nonlinearity"
    limit = client.app.state.settings.max_upload_bytes
    r = upload(client, b"\0" * (limit + 1))
    assert r.status_code == 413 and "GATEFLOW_MAX_UPLOAD_BYTES" in r.json()["detail"][0]["msg"]
    assert client.get("/healthz").status_code == 200


def test_a_relu_rnn_is_told_by_its_nonlinearity(client):
    rnn = torch.nn.RNN(1, 3, nonlinearity="relu")
    info = upload(client, torch_file(rnn.state_dict()), nonlinearity="relu").json()
    assert info["cell"] == "rnn_relu"
    assert engine.uploads().get(info["weights"]).found.net.cell == "rnn_relu"


def test_the_websocket_session_steps_through_an_uploaded_model(client):
    info = upload(client, torch_file(Model().state_dict()), filename="mine.pt").json()
    config = {"cells": ["lstm"], "hidden_size": 6, "seq_len": 12, "weights": info["weights"]}
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "configure", "config": config})
        while True:
            message = ws.receive()
            if message.get("text"):
                body = orjson.loads(message["text"])
                if body["type"] in ("ready", "error"):
                    break
        assert body["type"] == "ready", body
        assert body["config"]["weights"] == info["weights"]
        assert any(n["field"] == "weights" for n in body["notes"])


def test_get_api_weights_answers_the_file_an_exported_script_loads(client):
    model = Model()
    state = model.state_dict()
    digest = upload(client, torch_file(state), filename="my-lstm.pt").json()["weights"]
    r = client.get(f"/api/weights/{digest}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == f'attachment; filename="{script.weights_filename(digest)}"'
    saved = torch.load(io.BytesIO(r.content), weights_only=True)
    expected = {k.removeprefix("lstm."): v for k, v in state.items() if k.startswith("lstm.")}
    expected |= {"readout.weight": state["head.weight"], "readout.bias": state["head.bias"]}
    assert sorted(saved) == sorted(expected)
    for name, tensor in expected.items():
        assert saved[name].dtype == torch.float32 and torch.equal(saved[name], tensor), name
    # torch.nn's own names: the net loads into torch's module as it is
    torch.nn.LSTM(2, 6).load_state_dict({k: v for k, v in saved.items() if not k.startswith("readout.")})

    # float64 and no biases in the file: float32 (as the page ran it), zero biases, no readout
    gru = torch.nn.GRU(3, 4, bias=False, dtype=torch.float64)
    digest = upload(client, safetensors_save(dict(gru.state_dict()))).json()["weights"]
    saved = torch.load(io.BytesIO(client.get(f"/api/weights/{digest}").content), weights_only=True)
    assert sorted(saved) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    assert torch.equal(saved["weight_hh_l0"], gru.weight_hh_l0.detach().float())
    assert torch.equal(saved["bias_ih_l0"], torch.zeros(12))

    # a digest this server does not hold: 422 on weights, naming the digest (as a run on it is refused)
    unknown = "0" * 64
    r = client.get(f"/api/weights/{unknown}")
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == "weights" and detail["loc"] == ["path", "digest"]
    assert (
        detail["msg"].startswith(f"weights: no uploaded model {unknown}")
        and "upload the file again" in detail["msg"]
    )
    r = client.get("/api/weights/not-a-digest")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "digest"
    spec = client.get("/openapi.json").json()["paths"]["/api/weights/{digest}"]["get"]["responses"]
    assert "application/octet-stream" in spec["200"]["content"] and "422" in spec
