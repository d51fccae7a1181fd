"""/ws: the configure sequence, cursor messages, the player, and every bad input leaving the socket usable."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import torch
from wire_helpers import (
    configure,
    decode_binary,
    receive_frame,
    receive_json,
    reference_trace,
    send,
    split_bulk,
    split_frame,
)

from app import engine
from app.schemas import Ready, RunConfig

pytestmark = pytest.mark.timeout(60)

SMALL = {"cells": ["rnn_tanh", "lstm"], "seq_len": 10, "hidden_size": 4}


def test_configure_sends_progress_ready_bulk_and_frame_zero(client):
    with client.websocket_connect("/ws") as ws:
        ready, bulk, t, frame = configure(ws, SMALL)
    Ready.model_validate(ready)
    assert t == 0 and ready["T"] == 10 and ready["config"] == RunConfig(**SMALL).model_dump(mode="json")
    assert ready["frame_layout"][0] == {"cell": None, "field": "x", "count": 2}
    lstm = [e["field"] for e in ready["frame_layout"] if e["cell"] == 1]
    assert lstm == [*engine.NORMS]  # per step: the norms; every unit's values are in the bulk
    rnn = [e["field"] for e in ready["frame_layout"] if e["cell"] == 0]
    assert rnn == ["grad_h_norm", "jacobian_norm"]
    assert [(e["cell"], e["field"]) for e in ready["bulk_layout"]] == [
        (0, "h"),
        (0, "pre"),
        (0, "grad_h"),
        *((1, f) for f in ("h", "c", "i", "f", "g", "o", "grad_h", "grad_c")),
    ]
    assert ready["cells"][1]["has_cell_state"] and ready["cells"][1]["gates"] == ["i", "f", "g", "o"]
    _, tr = reference_trace(RunConfig(**SMALL), "lstm")
    np.testing.assert_array_equal(
        split_bulk(bulk, ready["bulk_layout"])[(1, "grad_c")], tr.grad_c[:, :, 0].numpy()
    )
    np.testing.assert_array_equal(
        split_frame(frame, ready["frame_layout"])[(1, "grad_c_norm")], tr.grad_c_norm[:, 0, 0].float().numpy()
    )


def test_step_seek_reset_frames_equal_the_engine(client):
    config = {"cells": ["gru"], "seq_len": 12, "hidden_size": 3, "num_layers": 2}
    task, tr = reference_trace(RunConfig(**config), "gru")
    with client.websocket_connect("/ws") as ws:
        ready, _, _, _ = configure(ws, config)
        for message, expected_t in [
            ({"type": "step"}, 1),
            ({"type": "step", "delta": 3}, 4),
            ({"type": "step", "delta": -2}, 2),
            ({"type": "seek", "t": 9}, 9),
            ({"type": "step", "delta": 100}, 11),  # clamped at the ends
            ({"type": "step", "delta": -100}, 0),
            ({"type": "seek", "t": 7}, 7),
            ({"type": "reset"}, 0),
        ]:
            send(ws, message)
            t, values = receive_frame(ws)
            assert t == expected_t, message
            frame = split_frame(values, ready["frame_layout"])
            np.testing.assert_array_equal(frame[(None, "x")], task.x[t, 0].numpy())
            np.testing.assert_array_equal(frame[(0, "grad_h_norm")], tr.grad_h_norm[:, t, 0].float().numpy())


def test_play_forward_and_backward_in_order_then_state(client):
    with client.websocket_connect("/ws") as ws:
        configure(ws, SMALL)
        send(ws, {"type": "play", "rate": 60})
        assert receive_json(ws) == {"type": "state", "t": 0, "playing": True, "rate": 60.0, "direction": 1}
        assert [receive_frame(ws)[0] for _ in range(9)] == list(range(1, 10))
        assert receive_json(ws) == {"type": "state", "t": 9, "playing": False, "rate": 60.0, "direction": 1}
        send(ws, {"type": "play", "rate": 60, "direction": -1})  # the backward pass: T-1 down to 0
        assert receive_json(ws)["playing"] is True
        assert [receive_frame(ws)[0] for _ in range(9)] == list(range(8, -1, -1))
        assert receive_json(ws) == {"type": "state", "t": 0, "playing": False, "rate": 60.0, "direction": -1}
        send(ws, {"type": "play", "rate": 60, "direction": -1})  # at the end: starts over from T-1
        assert receive_frame(ws)[0] == 9
        assert receive_json(ws)["playing"] is True
        assert [receive_frame(ws)[0] for _ in range(9)] == list(range(8, -1, -1))
        assert receive_json(ws)["playing"] is False


def test_pause_and_step_stop_the_player(client):
    with client.websocket_connect("/ws") as ws:
        configure(ws, {**SMALL, "seq_len": 200})
        send(ws, {"type": "play", "rate": 20})
        assert receive_json(ws)["playing"] is True
        send(ws, {"type": "pause"})
        frames = []
        while True:
            message = ws.receive()
            if message.get("text"):
                state = orjson.loads(message["text"])
                break
            frames.append(receive_frame_from(message))
        assert state["type"] == "state" and state["playing"] is False and state["t"] == len(frames)
        assert frames == list(range(1, len(frames) + 1))
        send(ws, {"type": "play", "rate": 20})
        assert receive_json(ws)["playing"] is True
        send(ws, {"type": "seek", "t": 150})
        while True:
            message = ws.receive()
            if message.get("text"):
                break
        assert orjson.loads(message["text"])["playing"] is False
        assert receive_frame(ws)[0] == 150


def receive_frame_from(message) -> int:
    return decode_binary(message["bytes"])[1]


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ('{"type": "configure", "config": {"hidden_size": 1000}}', "invalid_config", "hidden_size"),
        ('{"type": "configure", "config": {"clamp": {"f": 1.5}}}', "invalid_config", "clamp.f"),
        (
            '{"type": "configure", "config": {"seq_len": 500, "hidden_size": 128, "num_layers": 3}}',
            "invalid_config",
            "seq_len",
        ),
        (
            '{"type": "configure", "config": {"cells": ["lstm"], "task": "copy", "seq_len": 5}}',
            "invalid_config",
            "seq_len",
        ),
        ('{"type": "configure"}', "invalid_message", "config"),
        ("{not json", "bad_json", None),
        ("[1, 2]", "invalid_message", "type"),
        ('{"type": "dance"}', "unknown_type", "type"),
        ('{"delta": 1}', "unknown_type", "type"),
        ('{"type": "step", "delta": "one"}', "invalid_message", "delta"),
        ('{"type": "play", "rate": 1000}', "invalid_message", "rate"),
        ('{"type": "play", "direction": 2}', "invalid_message", "direction"),
        ('{"type": "seek", "t": 10}', "invalid_message", "t"),  # T = 10: t runs 0 .. 9
        ('{"type": "seek", "t": -3}', "invalid_message", "t"),
        ('{"type": "step", "delta": 1, "speed": 2}', "invalid_message", "speed"),
        ('{"type": "step", "pad": "' + "x" * 70_000 + '"}', "too_large", None),
    ],
)
def test_bad_input_gets_an_error_and_the_run_stays_usable(client, raw, code, field):
    with client.websocket_connect("/ws") as ws:
        configure(ws, SMALL)
        send(ws, {"type": "seek", "t": 3})
        assert receive_frame(ws)[0] == 3
        ws.send_text(raw)
        error = receive_json(ws)
        assert error["type"] == "error" and error["code"] == code and error["field"] == field, error
        assert error["message"]
        if field:
            assert field in error["message"]
        send(ws, {"type": "step"})
        assert receive_frame(ws)[0] == 4  # the previous run, where it was
        ws.send_bytes(b"\x00\x01")
        assert receive_json(ws)["code"] == "invalid_message"
        send(ws, {"type": "step"})
        assert receive_frame(ws)[0] == 5


def test_pause_stops_a_slow_player_between_ticks(client):
    with client.websocket_connect("/ws") as ws:
        configure(ws, SMALL)
        send(ws, {"type": "play", "rate": 0.5})  # first tick 2 s away
        assert receive_json(ws)["playing"] is True
        send(ws, {"type": "pause"})
        assert receive_json(ws) == {"type": "state", "t": 0, "playing": False, "rate": 0.5, "direction": 1}


def test_configure_while_playing_stops_the_player_first(client):
    with client.websocket_connect("/ws") as ws:
        configure(ws, SMALL)
        send(ws, {"type": "play", "rate": 0.5})
        assert receive_json(ws)["playing"] is True
        send(ws, {"type": "configure", "config": {**SMALL, "seed": 5}})
        assert receive_json(ws)["playing"] is False
        assert receive_json(ws)["type"] == "progress"
        assert receive_json(ws)["config"]["seed"] == 5
        ws.receive_bytes()
        assert receive_frame(ws)[0] == 0


def test_pause_when_paused_still_answers_with_state(client):
    with client.websocket_connect("/ws") as ws:
        configure(ws, SMALL)
        send(ws, {"type": "seek", "t": 4})
        receive_frame(ws)
        send(ws, {"type": "pause"})
        assert receive_json(ws) == {"type": "state", "t": 4, "playing": False, "rate": 10.0, "direction": 1}


def test_messages_before_configure_are_not_configured(client):
    with client.websocket_connect("/ws") as ws:
        for message in ({"type": "step"}, {"type": "seek", "t": 0}, {"type": "play"}, {"type": "reset"}):
            send(ws, message)
            error = receive_json(ws)
            assert error["code"] == "not_configured" and message["type"] in error["message"]
        _, _, t, _ = configure(ws, SMALL)
        assert t == 0


def test_engine_errors_and_failures_keep_the_socket(client, monkeypatch):
    with client.websocket_connect("/ws") as ws:
        configure(ws, SMALL)
        if not torch.cuda.is_available():
            send(ws, {"type": "configure", "config": {**SMALL, "device": "cuda"}})
            assert receive_json(ws)["type"] == "progress"
            error = receive_json(ws)
            assert (error["code"], error["field"]) == ("invalid_config", "device")
        send(ws, {"type": "step"})
        assert receive_frame(ws)[0] == 1

    def broken(config, cancel=None):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(engine, "get_run", broken)
    with client.websocket_connect("/ws") as ws:
        send(ws, {"type": "configure", "config": SMALL})
        assert receive_json(ws)["type"] == "progress"
        error = receive_json(ws)
        assert error["code"] == "internal" and "out of memory" in error["message"]
        monkeypatch.undo()
        _, _, t, _ = configure(ws, SMALL)
        assert t == 0


def test_nonfinite_values_are_strings_in_json_and_native_in_binary(client):
    config = {"cells": ["rnn_relu", "lstm"], "init": "identity", "spectral_radius": 2.0, "seq_len": 100}
    with client.websocket_connect("/ws") as ws:
        ws.send_text(orjson.dumps({"type": "configure", "config": config}).decode())
        assert receive_json(ws)["type"] == "progress"
        text = ws.receive_text()
        ready = orjson.loads(text)
        bulk = decode_binary(ws.receive_bytes())[3]
        receive_frame(ws)
        Ready.model_validate(ready)
        relu = ready["cells"][0]
        assert relu["nonfinite"]["loss"] and relu["nonfinite"]["grad_h"]
        assert relu["loss"] == "Infinity"
        # the norm curves are float64: the gradient's growth past float32's 3.4e38 is a number there
        curve = [v for row in relu["curves"]["grad_h_norm"] for v in row]
        assert None not in curve and max(curve) > 1e50
        assert '"grad_h_norm":[[null' not in text and ",null" not in text.split('"frame_layout"')[0]
        send(ws, {"type": "seek", "t": 0})
        _, values = receive_frame(ws)
        frame = split_frame(values, ready["frame_layout"])
        assert np.isinf(frame[(0, "grad_h_norm")]).all()  # the float32 frame: inf, natively
        _, tr = reference_trace(RunConfig(**config), "rnn_relu")
        grad_h = split_bulk(bulk, ready["bulk_layout"])[(0, "grad_h")]
        assert np.isinf(grad_h[0, 0]).any()  # the float32 gradient itself overflows
        np.testing.assert_array_equal(grad_h, tr.grad_h[:, :, 0].numpy())
        send(ws, {"type": "play", "rate": 60})
        assert receive_json(ws)["playing"] is True
        send(ws, {"type": "pause"})
        while ws.receive().get("text") is None:
            pass
        send(ws, {"type": "step"})
        receive_frame(ws)


def test_many_sessions_on_one_config_compute_once(client):
    config = {"cells": ["gru"], "seq_len": 30, "hidden_size": 5, "seed": 987654}
    before = engine.cache().computed
    sockets = [client.websocket_connect("/ws") for _ in range(5)]
    try:
        entered = [s.__enter__() for s in sockets]
        for ws in entered:
            send(ws, {"type": "configure", "config": config})
        run_ids = set()
        for ws in entered:
            assert receive_json(ws)["type"] == "progress"
            run_ids.add(receive_json(ws)["run_id"])
            ws.receive_bytes()
            receive_frame(ws)
    finally:
        for s in sockets:
            s.__exit__(None, None, None)
    assert len(run_ids) == 1 and engine.cache().computed == before + 1
