"""Bodies and messages are bounded before they are read whole: 413 for a request body over
GATEFLOW_MAX_BODY_BYTES (with a length or chunked), without the input echoed back; `python -m app`
gives uvicorn the WebSocket message limit, so a huge message closes the socket (1009) unread."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import websockets

from app.main import app
from bench.common import free_port

ROOT = Path(__file__).resolve().parents[2]
LIMIT = app.state.settings.max_body_bytes


def test_a_body_over_the_limit_gets_413_unread_and_not_echoed(client):
    body = b'{"text": "' + b"a" * (LIMIT + 10) + b'"}'
    response = client.post("/api/trace", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    detail = response.json()["detail"][0]
    assert detail["field"] == "body" and f"{len(body)} bytes is over the limit of {LIMIT}" in detail["msg"]
    assert len(response.content) < 1000  # the input is not echoed
    ok = client.post("/api/trace", json={"seq_len": 8, "hidden_size": 2})
    assert ok.status_code == 200


def test_a_chunked_body_is_read_only_up_to_the_limit(client):
    def chunks():
        for _ in range(LIMIT // 65536 + 100):  # 100 chunks of 64 KiB past the limit, no length
            yield b"x" * 65536

    response = client.post("/api/trace", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "over the limit" in response.json()["detail"][0]["msg"]
    small = client.post(
        "/api/trace",
        content=iter([b'{"seq_len": 8, ', b'"hidden_size": 2}']),
        headers={"content-type": "application/json"},
    )
    assert small.status_code == 200, small.text


@pytest.mark.timeout(60)
def test_python_m_app_refuses_a_huge_websocket_message_unread():
    port = free_port()
    env = {**os.environ, "GATEFLOW_PORT": str(port), "GATEFLOW_MAX_MESSAGE_BYTES": "65536"}
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
                time.sleep(0.2)

        async def probe() -> tuple[int | None, dict]:
            uri = f"ws://127.0.0.1:{port}/ws"
            async with websockets.connect(uri, max_size=None) as ws:
                await ws.send(orjson.dumps({"type": "pause", "pad": "x" * 2_000_000}).decode())
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
            code = closed.value.rcvd.code if closed.value.rcvd else None
            async with websockets.connect(uri) as ws:  # the server serves on
                await ws.send('{"type": "pause"}')
                return code, orjson.loads(await asyncio.wait_for(ws.recv(), 10))

        code, answer = asyncio.run(probe())
        assert code == 1009  # message too big
        assert answer["code"] == "not_configured"
    finally:
        proc.terminate()
        proc.wait(10)
