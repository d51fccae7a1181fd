"""Helpers that speak the wire protocol in tests: decode binary messages, split frames, configure."""

from __future__ import annotations

import time

import numpy as np
import orjson

import models
from app.schemas import BINARY_HEADER, KIND_BULK, KIND_FRAME, RunConfig


def decode_binary(data: bytes) -> tuple[int, int, float, np.ndarray]:
    kind, t, sent_ms = BINARY_HEADER.unpack_from(data)
    values = np.frombuffer(data, dtype="<f4", offset=BINARY_HEADER.size)
    return kind, t, sent_ms, values


def split_frame(values: np.ndarray, layout: list[dict]) -> dict[tuple, np.ndarray]:
    """Frame values by (cell, field), following frame_layout."""
    out, pos = {}, 0
    for entry in layout:
        out[(entry["cell"], entry["field"])] = values[pos : pos + entry["count"]]
        pos += entry["count"]
    assert pos == values.size
    return out


def split_bulk(values: np.ndarray, layout: list[dict]) -> dict[tuple, np.ndarray]:
    out, pos = {}, 0
    for entry in layout:
        n = int(np.prod(entry["shape"]))
        out[(entry["cell"], entry["field"])] = values[pos : pos + n].reshape(entry["shape"])
        pos += n
    assert pos == values.size
    return out


def receive_json(ws) -> dict:
    message = ws.receive()
    assert message.get("text") is not None, f"expected a JSON message, got {message}"
    return orjson.loads(message["text"])


def receive_frame(ws) -> tuple[int, np.ndarray]:
    message = ws.receive()
    assert message.get("bytes") is not None, f"expected a binary frame, got {message}"
    kind, t, _, values = decode_binary(message["bytes"])
    assert kind == KIND_FRAME
    return t, values


def configure(ws, config: dict) -> tuple[dict, np.ndarray, int, np.ndarray]:
    """Send configure; return (ready, bulk values, frame t, frame values)."""
    ws.send_text(orjson.dumps({"type": "configure", "config": config}).decode())
    progress = receive_json(ws)
    assert progress == {"type": "progress", "stage": "computing", "fraction": 0.0}
    ready = receive_json(ws)
    assert ready["type"] == "ready", ready
    kind, t, _, bulk = decode_binary(ws.receive_bytes())
    assert (kind, t) == (KIND_BULK, 0)
    t, frame = receive_frame(ws)
    return ready, bulk, t, frame


def reference_trace(config: RunConfig, cell: str):
    """The same run straight from models/, written out here rather than through app/engine.py."""
    task = models.tasks.adding(config.seq_len, seed=config.seed, form=config.adding_form)
    net = models.build(
        cell,
        input_size=task.input_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        seed=config.seed,
        init=config.init,
        spectral_radius=config.spectral_radius,
        forget_bias=config.forget_bias if cell == "lstm" else None,
        update_bias=config.update_bias if cell == "gru" else None,
        timespan=config.timespan if cell in ("cfc", "ltc") else None,
        ode_unfolds=config.ode_unfolds if cell == "ltc" else None,
        clamp={g: v for g, v in config.clamp.items() if g in models.limits.CLAMPABLE[cell]},
    )
    readout = models.tasks.make_readout(net.output_size, task.output_size, seed=config.seed)
    return task, net.trace(task.x, loss=task.loss_fn(readout, config.loss))


def step_jacobian_norms(config: RunConfig, cell: str) -> np.ndarray:
    """||dh_t/dh_(t-1)|| of the run's net on the run's input, (L*dirs, T) float64, from a full
    RecurrentNet.trace (a run leaves them out; its notes compute them apart where they quote them)."""
    from app import engine

    task = engine._make_task(config)
    net = engine.build_net(config, cell, task.input_size)
    return net.trace(task.x, jacobian=True).step_jacobian_norm[:, :, 0].double().numpy()


def send(ws, message: dict) -> None:
    ws.send_text(orjson.dumps(message).decode())


def wait_for(condition, seconds: float = 30.0) -> None:
    """Poll ``condition`` until it holds (bounded): for what the server does in its own threads."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
