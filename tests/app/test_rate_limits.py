"""Rate limits (issue 9, item 7): a WebSocket session may ask for a burst of computations, then so
many a second; POST /api/trace the same per client address; past it, a named error with the wait."""

from __future__ import annotations

import orjson
import pytest
from starlette.testclient import WebSocketDenialResponse
from wire_helpers import configure, receive_json

from app import ratelimit

SMALL = {"cells": ["rnn_tanh"], "seq_len": 8, "hidden_size": 2}


@pytest.fixture
def strict(client):
    """Three computations at once, then one every 1000 s."""
    app = client.app
    settings, limiter = app.state.settings, app.state.trace_limiter
    app.state.settings = settings.model_copy(update={"compute_burst": 3, "compute_rate": 0.001})
    app.state.trace_limiter = ratelimit.AddressLimiter(0.001, 3)
    yield client
    app.state.settings, app.state.trace_limiter = settings, limiter


def test_a_session_past_its_burst_is_told_to_wait_and_keeps_its_run(strict):
    with strict.websocket_connect("/ws") as ws:
        for seed in range(3):
            assert configure(ws, SMALL | {"seed": seed})[0]["type"] == "ready"
        ws.send_text(orjson.dumps({"type": "configure", "config": SMALL | {"seed": 9}}).decode())
        error = receive_json(ws)
        assert error["code"] == "rate_limited" and "at most 3 at once" in error["message"]
        assert "try again in" in error["message"]
        ws.send_text('{"type": "step"}')  # the last run is still there
        assert ws.receive_bytes()
    with strict.websocket_connect("/ws") as other:  # another session has its own bucket
        assert configure(other, SMALL)[0]["type"] == "ready"


def test_post_trace_past_the_burst_is_429_with_retry_after(strict):
    for seed in range(3):
        assert strict.post("/api/trace", json=SMALL | {"seed": seed}).status_code == 200
    response = strict.post("/api/trace", json=SMALL)
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    assert response.json()["detail"][0]["type"] == "rate_limited"


def test_loopback_clients_are_not_limited():
    limiter = ratelimit.AddressLimiter(0.001, 1)
    assert all(limiter.take(host) is None for host in ["127.0.0.1", "::1", "localhost"] * 5)
    assert limiter.take("192.168.1.20") is None and limiter.take("192.168.1.20") is not None


def test_a_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = ratelimit.TokenBucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert bucket.take() is None and bucket.take() is None
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() is None and bucket.take() == pytest.approx(0.5)


def test_connections_past_the_limits_get_503_before_accept(client):
    connections = client.app.state.connections
    total, per_address = connections.total, connections.per_address
    connections.per_address = 2
    try:
        with client.websocket_connect("/ws") as first, client.websocket_connect("/ws"):
            with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
                pass
            assert denied.value.status_code == 503
            assert "GATEFLOW_MAX_CONNECTIONS_PER_ADDRESS" in denied.value.json()["detail"][0]["msg"]
            assert configure(first, SMALL)[0]["type"] == "ready"  # the others serve on
        connections.per_address, connections.total = per_address, connections.open
        with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
            pass
        assert "GATEFLOW_MAX_CONNECTIONS)" in denied.value.json()["detail"][0]["msg"]
    finally:
        connections.total, connections.per_address = total, per_address
    with client.websocket_connect("/ws") as ws:  # closed ones were counted out
        assert configure(ws, SMALL)[0]["type"] == "ready"
    assert connections.open == 0 and not connections.by_address


def test_loopback_is_not_counted_per_address():
    connections = ratelimit.Connections(total=10, per_address=1)
    assert connections.admit("127.0.0.1") is None and connections.admit("127.0.0.1") is None
    assert connections.admit("10.0.0.5") is None and connections.admit("10.0.0.5") is not None
