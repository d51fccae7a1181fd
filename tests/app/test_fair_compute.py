"""Fair computing (issue 9): a session has one run computing at a time; a newer configure or the socket
closing cancels it (the engine stops at its next layer-direction); messages sent meanwhile are handled
after it, in order; past GATEFLOW_MAX_QUEUED_COMPUTES the server says it is busy."""

from __future__ import annotations

import threading

import pytest
import torch
from wire_helpers import configure, decode_binary, receive_json, send, wait_for

import models
from app import engine
from app.schemas import KIND_BULK, KIND_FRAME, RunConfig

pytestmark = pytest.mark.timeout(120)

HEAVY = {"cells": ["rnn_tanh", "lstm", "gru"], "seq_len": 500, "hidden_size": 128, "num_layers": 2}
SMALL = {"cells": ["rnn_tanh"], "seq_len": 8, "hidden_size": 4}


def cached(config: dict) -> bool:
    return RunConfig(**config).model_dump_json() in engine.cache()._runs


def test_a_newer_configure_supersedes_the_run_being_computed(client):
    heavy = HEAVY | {"seed": 101}
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "configure", "config": heavy})
        send(ws, {"type": "configure", "config": SMALL | {"seed": 101}})
        assert receive_json(ws)["type"] == "progress"
        assert receive_json(ws)["type"] == "progress"  # the second configure's: the first was dropped
        ready = receive_json(ws)
        assert ready["type"] == "ready" and ready["config"]["seed"] == 101 and ready["T"] == 8
        assert decode_binary(ws.receive_bytes())[0] == KIND_BULK
        assert decode_binary(ws.receive_bytes())[:2] == (KIND_FRAME, 0)
    wait_for(lambda: not engine.cache()._pending)
    assert not cached(heavy)  # cancelled, never finished


def test_closing_the_socket_cancels_its_compute(client):
    heavy = HEAVY | {"seed": 102}
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "configure", "config": heavy})
        assert receive_json(ws)["type"] == "progress"
    wait_for(lambda: not engine.cache()._pending)
    assert not cached(heavy)


def test_messages_sent_during_a_compute_are_handled_after_it_in_order(client):
    config = SMALL | {"seq_len": 30, "seed": 103}
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "configure", "config": config})
        send(ws, {"type": "step", "delta": 2})
        send(ws, {"type": "seek", "t": 7})
        assert receive_json(ws)["type"] == "progress"
        assert receive_json(ws)["type"] == "ready"
        assert decode_binary(ws.receive_bytes())[0] == KIND_BULK
        ts = [decode_binary(ws.receive_bytes())[1] for _ in range(3)]
        assert ts == [0, 2, 7]


def test_a_full_compute_queue_answers_busy_and_the_session_keeps_working(client):
    slots = client.app.state.compute_slots
    taken = slots.size - slots.used
    slots.used += taken
    try:
        with client.websocket_connect("/ws") as ws:
            send(ws, {"type": "configure", "config": SMALL})
            assert receive_json(ws)["type"] == "progress"
            busy = receive_json(ws)
            assert busy["code"] == "busy" and "GATEFLOW_MAX_QUEUED_COMPUTES" in busy["message"]
            slots.used -= taken
            taken = 0
            ready, *_ = configure(ws, SMALL)
            assert ready["type"] == "ready"
    finally:
        slots.used -= taken


def test_the_engine_stops_at_its_next_check_once_cancelled():
    net = models.build("lstm", 2, 8, num_layers=2, bidirectional=True)
    x = torch.randn(20, 2)
    event = threading.Event()
    with models.cancel.scope(event):
        net.trace(x)  # not cancelled: runs
        event.set()
        with pytest.raises(models.cancel.Cancelled):
            net.trace(x)
    net.trace(x)  # outside the scope nothing is cancelled
