"""Train mode over /ws: what the page is sent equals models.Trainer run directly, checkpoints open in
every view with the trained weights (checked against an unrolled torch cell), live changes, bad input,
divergence, the length sweep, the server-wide cap and cancellation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wire_helpers import configure, decode_binary, receive_json, send, wait_for

import models
from app import training
from app.schemas import KIND_BULK, KIND_FRAME, Ready, RunConfig, SweepUpdate, TrainSettings, TrainUpdate
from tests.reference import unroll

pytestmark = pytest.mark.timeout(120)

CONFIG = {"cells": ["lstm", "cfc", "ltc"], "task": "adding", "seq_len": 12, "hidden_size": 6}
TRAIN = {"batch_size": 8, "steps": 40, "probe_every": 5, "lr": 0.01}


def until_stopped(ws, kind: str = "train") -> list[dict]:
    """Every ``kind`` message up to the first that is not "running", each checked against its schema."""
    out = []
    while True:
        msg = receive_json(ws)
        assert msg["type"] == kind, msg
        (TrainUpdate if kind == "train" else SweepUpdate).model_validate(msg)
        out.append(msg)
        if msg["status"] != "running":
            return out


def joined(messages: list[dict], i: int, key: str) -> list:
    return [v for m in messages for v in m["cells"][i][key]]


def direct(config: dict, train: dict, cell: str) -> models.Trainer:
    return models.Trainer(**training.trainer_kwargs(RunConfig(**config), cell, TrainSettings(**train)))


def test_the_page_gets_every_record_of_the_trainers_exactly(client):
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "train_start", "config": CONFIG, "train": TRAIN})
        messages = until_stopped(ws)
    assert messages[0]["reset"] and not any(m["reset"] for m in messages[1:])
    last = messages[-1]
    assert (last["status"], last["step"], last["budget"]) == ("done", 40, 40)
    assert last["task"]["baseline"] == pytest.approx(1 / 6) and "1/6" in last["task"]["baseline_text"]
    for i, cell in enumerate(CONFIG["cells"]):
        tr = direct(CONFIG, TRAIN, cell)
        tr.run(40)
        assert joined(messages, i, "steps") == list(range(1, 41))
        assert joined(messages, i, "loss") == [
            r.loss for r in tr.history
        ]  # bit for bit: chunks change nothing
        assert joined(messages, i, "grad_norm") == [r.grad_norm for r in tr.history]
        assert joined(messages, i, "clipped") == [r.clipped for r in tr.history]
        assert joined(messages, i, "val_loss") == [r.val_loss for r in tr.history if r.val_loss is not None]
        probes = joined(messages, i, "probes")
        assert [p["step"] for p in probes] == [p.step for p in tr.probes] == list(range(0, 41, 5))
        for sent, ref in zip(probes, tr.probes, strict=True):
            np.testing.assert_array_equal(np.array(sent["grad_h_norm"]), ref.grad_h_norm.numpy())
            assert sent["gate_mean"].keys() == ref.gate_mean.keys()
        assert last["checkpoints"] == [cp.step for cp in tr.checkpoints]


def test_a_checkpoint_opens_in_every_view_with_the_trained_weights(client):
    with client.websocket_connect("/ws") as ws:
        untrained, *_ = configure(ws, CONFIG)
        assert untrained["trained"] is None
        send(ws, {"type": "train_start", "config": CONFIG, "train": TRAIN})
        until_stopped(ws)
        send(ws, {"type": "train_open", "step": 20})  # between the checkpoints at 16 and 32
        assert receive_json(ws)["type"] == "progress"
        ready = receive_json(ws)
        Ready.model_validate(ready)
        assert ready["trained"] == {
            "train_id": 1,
            "step": 20,
            "steps": {"lstm": 16, "cfc": 16, "ltc": 16},
        }
        assert decode_binary(ws.receive_bytes())[0] == KIND_BULK
        assert decode_binary(ws.receive_bytes())[:2] == (KIND_FRAME, 0)
        send(ws, {"type": "seek", "t": 3})  # the trained run is the session's run now
        assert decode_binary(ws.receive_bytes())[:2] == (KIND_FRAME, 3)
    config = RunConfig(**CONFIG)
    task = models.tasks.adding(config.seq_len, seed=config.seed, form=config.adding_form)
    for i, cell in enumerate(CONFIG["cells"]):
        tr = direct(CONFIG, TRAIN, cell)
        tr.run(40)
        net = tr.net_at(16)
        for name, w in tr.module.state_dict().items():  # trained: the weights moved since step 16
            assert not torch.equal(w, net.weights[name])
        loss = task.loss_fn(tr.readout_at(16), config.loss)
        *_, grad_h, _, ref_loss = unroll(net, task.x, loss)
        sent = np.array(ready["cells"][i]["curves"]["grad_h_norm"], dtype=np.float64)
        np.testing.assert_allclose(sent, grad_h[:, :, 0].norm(dim=-1).numpy(), rtol=1e-4, atol=1e-9)
        assert ready["cells"][i]["loss"] == pytest.approx(float(ref_loss), rel=1e-5)
        assert not np.allclose(sent, untrained["cells"][i]["curves"]["grad_h_norm"], rtol=1e-3)
        assert not any("Untrained" in note for note in ready["cells"][i]["notes"])  # these are trained
    lstm = CONFIG["cells"].index("lstm")
    assert any("Untrained, this LSTM's forget gate" in note for note in untrained["cells"][lstm]["notes"])


def test_live_changes_step_and_resume_equal_the_same_calls_on_a_trainer(client):
    train = TRAIN | {"steps": 10}
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "train_start", "config": CONFIG, "train": train})
        first = until_stopped(ws)
        send(ws, {"type": "train_resume"})
        done = receive_json(ws)
        assert done["status"] == "done" and "budget of 10 steps is reached" in done["message"]
        send(ws, {"type": "train_set", "lr": 0.003, "clip": None})
        echo = receive_json(ws)
        assert echo["settings"]["lr"] == 0.003 and echo["settings"]["clip"] is None
        send(ws, {"type": "train_step", "steps": 2})
        stepped = until_stopped(ws)
        send(ws, {"type": "train_set", "steps": 15})
        receive_json(ws)
        send(ws, {"type": "train_resume"})
        resumed = until_stopped(ws)
    messages = [*first, done, echo, *stepped, *resumed]
    assert resumed[-1]["step"] == 15 and resumed[-1]["status"] == "done"
    assert resumed[-1]["checkpoints"] == [0, 1, 2, 4, 8, 10, 12, 15]  # where it stopped is kept
    tr = direct(CONFIG, train, "lstm")
    tr.run(10)
    tr.set_lr(0.003)
    tr.set_clip(None)
    tr.run(5)
    lstm = CONFIG["cells"].index("lstm")
    assert joined(messages, lstm, "loss") == [r.loss for r in tr.history]
    assert joined(messages, lstm, "lr") == [0.01] * 10 + [0.003] * 5
    assert not any(joined(messages, lstm, "clipped")[10:])


def test_a_diverging_cell_is_flagged_and_the_session_keeps_working(client):
    config = {"cells": ["rnn_relu", "gru"], "task": "adding", "seq_len": 60, "hidden_size": 8}
    config |= {"init": "orthogonal", "spectral_radius": 10.0}
    with client.websocket_connect("/ws") as ws:
        send(
            ws,
            {"type": "train_start", "config": config, "train": {"steps": 5, "clip": None, "batch_size": 4}},
        )
        messages = until_stopped(ws)
        last = messages[-1]
        relu = last["cells"][0]
        assert relu["status"] == "diverged" and last["cells"][1]["status"] == "training"
        assert (
            "rnn_relu diverged at step 1" in last["message"] and "lower the learning rate" in last["message"]
        )
        assert joined(messages, 0, "loss")[0] in ("Infinity", "NaN")  # shown as it came out
        assert last["status"] == "done" and last["step"] == 5  # the GRU trained on
        ready, *_ = configure(ws, CONFIG)
        assert ready["type"] == "ready"


@pytest.mark.parametrize(
    "message, field, words",
    [
        ({"train": {"lr": 0}}, "train.lr", ["1e-07 .. 10"]),
        ({"train": {"lr": 20}}, "train.lr", ["1e-07 .. 10"]),
        ({"train": {"optimizer": "rmsprop"}}, "train.optimizer", ["adam", "sgd"]),
        ({"train": {"steps": 10**6}}, "train.steps", ["1 .. 20000"]),
        ({"train": {"clip": -1}}, "train.clip", ["0.0001 .. 10000"]),
        ({"config": CONFIG | {"clamp": {"f": 1.0}}}, "clamp", ["cannot be trained", "clear the clamp"]),
        ({"config": CONFIG | {"seq_len": 1}}, "seq_len", ["2 .. 500"]),
        (
            {
                "config": CONFIG | {"seq_len": 500, "hidden_size": 128, "num_layers": 2},
                "train": {"batch_size": 256},
            },
            "train.batch_size",
            ["past the training limit", "allowed here: [1, 65]"],
        ),
    ],
)
def test_bad_training_input_names_the_field_and_keeps_the_session(client, message, field, words):
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "train_start", "config": CONFIG, "train": {}} | message)
        error = receive_json(ws)
        assert error["type"] == "error" and error["field"] == field, error
        for word in words:
            assert word in error["message"]
        ready, *_ = configure(ws, CONFIG)
        assert ready["type"] == "ready"


def test_training_messages_without_a_training_say_so(client):
    with client.websocket_connect("/ws") as ws:
        for message in ({"type": "train_pause"}, {"type": "train_open", "step": 0}, {"type": "train_step"}):
            send(ws, message)
            error = receive_json(ws)
            assert error["code"] == "not_training" and "train_start" in error["message"]
        send(ws, {"type": "train_set", "lr": 0})
        error = receive_json(ws)
        assert (error["code"], error["field"]) == ("invalid_message", "train.lr")
        assert "1e-07 .. 10" in error["message"]


def test_the_sweep_points_are_fresh_trainers_at_each_length(client):
    config = {"cells": ["rnn_tanh", "gru"], "task": "adding", "seq_len": 12, "hidden_size": 6}
    train, sweep = {"batch_size": 8}, {"lengths": [8, 5], "steps": 6}
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "sweep_start", "config": config, "train": train, "sweep": sweep})
        messages = until_stopped(ws, "sweep")
    last = messages[-1]
    assert last["status"] == "done" and last["sweep"]["lengths"] == [5, 8]
    assert [(p["T"], p["cell"]) for p in last["points"]] == [
        (5, "rnn_tanh"),
        (5, "gru"),
        (8, "rnn_tanh"),
        (8, "gru"),
    ]
    for point in last["points"]:
        kwargs = training.trainer_kwargs(
            RunConfig(**config), point["cell"], TrainSettings(**train), point["T"]
        )
        tr = models.Trainer(**kwargs)
        tr.run(6)
        assert point["val_loss"] == tr.evaluate() and point["steps"] == 6


def test_one_job_per_session_a_server_wide_cap_and_closing_stops_it(client):
    slots = client.app.state.train_slots
    long = TRAIN | {"steps": 20_000}
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "train_start", "config": CONFIG, "train": long})
        assert receive_json(ws)["id"] == 1
        wait_for(lambda: slots.used == 1)
        send(ws, {"type": "train_start", "config": CONFIG, "train": long})  # drops the first
        while (msg := receive_json(ws))["id"] == 1:
            assert msg["status"] in ("running", "paused")
        assert msg["id"] == 2 and msg["reset"] and slots.used == 1
        taken = slots.size - slots.used
        slots.used += taken  # every other slot busy elsewhere
        try:
            with client.websocket_connect("/ws") as other:
                send(other, {"type": "train_start", "config": CONFIG, "train": TRAIN})
                busy = receive_json(other)
                assert busy["code"] == "busy" and "GATEFLOW_MAX_TRAININGS" in busy["message"]
                paused = receive_json(other)
                assert paused["status"] == "paused" and paused["step"] == 0  # kept, to resume later
        finally:
            slots.used -= taken
        send(ws, {"type": "train_pause"})
        while (msg := receive_json(ws))["status"] == "running":
            pass
        assert msg["status"] == "paused" and 0 < msg["step"] < 20_000
        send(ws, {"type": "train_resume"})
        wait_for(lambda: slots.used == 1)
    wait_for(lambda: slots.used == 0)  # the socket closed: the training stopped and gave its slot back
