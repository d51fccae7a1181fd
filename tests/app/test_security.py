"""Hardening: Host and Origin checks, security headers, /docs without a CDN, bad bodies answered 4xx
with the field (never 500), deeply nested messages answered without taking the socket down."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from app.main import app
from app.schemas import Error

pytestmark = pytest.mark.timeout(60)
DEEP = 960  # about 2 KB of brackets: under orjson's depth limit, over Python's recursion headroom


def deep(n: int = DEEP) -> str:
    return "[" * n + "]" * n


@pytest.fixture
def settings(client):
    """Set the app's settings for one test (restored after): ``settings(host="0.0.0.0")``."""
    saved = client.app.state.settings

    def update(**fields):
        client.app.state.settings = saved.model_copy(update=fields)

    yield update
    client.app.state.settings = saved


# -- Host (DNS rebinding) and Origin --------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST", "127.0.0.1"])
def test_loopback_hosts_are_served(client, host):
    assert client.get("/healthz", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "192.168.1.20:8000", "127.0.0.1.evil.example"]
)
def test_a_foreign_host_gets_400(client, host):
    response = client.get("/healthz", headers={"host": host})
    assert response.status_code == 400
    detail = response.json()["detail"][0]
    assert detail["type"] == "host_not_allowed" and "GATEFLOW_ALLOWED_HOSTS" in detail["msg"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_bound_to_every_interface_any_address_is_served_but_no_foreign_name(client, settings):
    settings(host="0.0.0.0")
    for host in ("192.168.1.20:8000", "10.0.0.5", "[2001:db8::20]:8000", "localhost:8000"):
        assert client.get("/healthz", headers={"host": host}).status_code == 200, host
    assert client.get("/healthz", headers={"host": "evil.example:8000"}).status_code == 400


def test_allowed_hosts_adds_names(client, settings):
    settings(allowed_hosts="gateflow.school.example, Other.Example")
    assert client.get("/healthz", headers={"host": "gateflow.school.example:8000"}).status_code == 200
    assert client.get("/healthz", headers={"host": "other.example"}).status_code == 200
    assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 400
    settings(allowed_hosts="*")
    assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 200


def test_a_websocket_from_a_foreign_origin_is_refused_before_accept(client):
    with pytest.raises(WebSocketDenialResponse) as refused:  # noqa: SIM117
        with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}):
            pass
    assert refused.value.status_code == 403
    assert refused.value.json()["detail"][0]["type"] == "origin_not_allowed"
    with pytest.raises(WebSocketDenialResponse) as refused:  # noqa: SIM117
        with client.websocket_connect("/ws", headers={"origin": "null"}):
            pass
    assert refused.value.status_code == 403


def test_a_websocket_with_a_foreign_host_is_refused(client):
    with pytest.raises(WebSocketDenialResponse) as refused:  # noqa: SIM117
        with client.websocket_connect("/ws", headers={"host": "evil.example:8000"}):
            pass
    assert refused.value.status_code == 400


@pytest.mark.parametrize("headers", [{}, {"origin": "http://testserver"}, {"origin": "https://testserver"}])
def test_a_websocket_without_origin_or_from_the_page_itself_is_accepted(client, headers):
    """The page itself: its Origin is the host it connects to (TestClient's is testserver)."""
    with client.websocket_connect("/ws", headers=headers) as ws:
        ws.send_text('{"type": "pause"}')
        assert ws.receive_json()["code"] == "not_configured"


def test_allowed_origins_adds_origins(client, settings):
    settings(allowed_origins="https://gateflow.school.example")
    with client.websocket_connect("/ws", headers={"origin": "https://gateflow.school.example"}) as ws:
        ws.send_text('{"type": "pause"}')
        assert ws.receive_json()["code"] == "not_configured"
    with pytest.raises(WebSocketDenialResponse):  # noqa: SIM117
        with client.websocket_connect("/ws", headers={"origin": "https://evil.example"}):
            pass


# -- security headers ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/healthz", "/api/cells", "/static/css/gateflow.css", "/nowhere"])
def test_every_response_has_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self';",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "connect-src 'self' ws://127.0.0.1 wss://127.0.0.1",
    ):
        assert directive in csp, (directive, csp)
    assert "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_the_page_has_no_inline_script_or_handler(client):
    html = client.get("/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline <script>"
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"


# -- /docs offline --------------------------------------------------------------------------------
def test_docs_load_nothing_from_a_cdn_and_their_assets_answer(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls and not [u for u in urls if "//" in u or "cdn" in u.lower()], urls
    for url in urls:
        if url.startswith("/"):
            assert client.get(url).status_code == 200, url
    assert "/vendor/swagger/swagger-ui-bundle.js" in urls and "/vendor/swagger/swagger-ui.css" in urls
    csp = response.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "unsafe-inline" not in script_src and "'sha256-" in script_src
    assert client.get("/redoc").status_code == 404  # dropped: it would need a CDN


# -- bad bodies on POST /api/trace: 4xx naming the field, never 500 ----------------------------------
def post(client, body: bytes, content_type: str | None = "application/json"):
    headers = {"content-type": content_type} if content_type else {}
    return client.post("/api/trace", content=body, headers=headers)


@pytest.fixture
def lenient(client):
    """The app's exceptions as responses (a 500 is what these tests look for, not a raised error).
    Not entered as a context: its lifespan would shut down the pools the session's client started."""
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_gets_415(lenient, content_type):
    response = post(lenient, b'{"seq_len": 8}', content_type)
    assert response.status_code == 415, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["header", "content-type"] and "application/json" in detail["msg"]
    assert post(lenient, b'{"seq_len": 8, "hidden_size": 2}').status_code == 200  # still serving


@pytest.mark.parametrize(
    ("body", "field", "echo"),
    [
        (b'{"noise": NaN}', "noise", "NaN"),
        (b'{"noise": Infinity}', "noise", "Infinity"),
        (b'{"forget_bias": -Infinity}', "forget_bias", "-Infinity"),
        (b'{"period": 1e400}', "period", "Infinity"),
        (b'{"values": [1, NaN]}', "values", "NaN"),
        (b'{"task": "text", "text": "\\ud800"}', "text", "\\ud800"),
        (b'{"task": "text", "text": "ab\\udc00cd"}', "text", "ab\\udc00cd"),
    ],
)
def test_non_finite_numbers_and_lone_surrogates_get_422_naming_the_field(lenient, body, field, echo):
    response = post(lenient, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["field"] == field and detail["msg"].startswith(f"{field}:")
    assert detail["input"] == echo or echo in str(detail["input"])


@pytest.mark.parametrize("depth", [DEEP, 5000])
@pytest.mark.parametrize("field", ["text", "values", "cells", "clamp"])
def test_deeply_nested_json_gets_4xx(lenient, field, depth):
    response = post(lenient, f'{{"{field}": {deep(depth)}}}'.encode())
    assert 400 <= response.status_code < 500, response.text


# -- bounds: only the allowed range ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"hidden_size": 5000}, "hidden_size: 5000 is outside the allowed range 1 .. 128"),
        ({"num_layers": 9}, "num_layers: 9 is outside the allowed range 1 .. 3"),
        ({"seq_len": 200_000}, "seq_len: 200000 is outside the allowed range 2 .. 500"),
        ({"seq_len": 1}, "seq_len: 1 is outside the allowed range 2 .. 500"),
        ({"noise": 2}, "noise: 2 is outside the allowed range 0 .. 1"),
        ({"cells": []}, "cells: length 0 is outside the allowed range 1 .. 3"),
    ],
)
def test_a_bound_error_states_only_the_allowed_range(client, config, message):
    detail = client.post("/api/trace", json=config).json()["detail"][0]
    assert detail["msg"] == message
    assert "4096" not in detail["msg"] and "less than" not in detail["msg"]


def test_a_bound_error_over_the_websocket_states_only_the_allowed_range(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "configure", "config": {"hidden_size": 5000}})
        error = ws.receive_json()
    assert error["message"] == "hidden_size: 5000 is outside the allowed range 1 .. 128"


# -- the WebSocket: deep nesting, NaN and lone surrogates answered, the socket kept ----------------
@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        (f'{{"type": {deep()}}}', "invalid_message", "type"),
        (f'{{"type": "configure", "config": {deep()}}}', "invalid_message", "config"),
        (f'{{"type": "configure", "config": {{"cells": {deep()}}}}}', "invalid_message", "config.cells"),
        (f'{{"type": "step", "delta": {deep()}}}', "invalid_message", "delta"),
        ('{"type": "configure", "config": {"noise": NaN}}', "bad_json", None),
        ('{"type": "configure", "config": {"noise": 1e400}}', "bad_json", None),
        ('{"type": "configure", "config": {"task": "text", "text": "a\\ud800b"}}', "bad_json", None),
        ('{"type": [1, 2]}', "unknown_type", "type"),
    ],
)
def test_bad_messages_get_an_error_and_the_socket_stays_usable(client, text, code, field):
    with client.websocket_connect("/ws") as ws:
        ws.send_text(text)
        error = Error.model_validate(ws.receive_json())
        assert (error.code, error.field) == (code, field), error
        assert len(error.message) < 500
        ws.send_text('{"type": "pause"}')
        assert ws.receive_json()["code"] == "not_configured"


def test_a_deep_type_is_answered_even_with_little_stack_left(client):
    """Python's recursion limit is what a 960-deep repr runs into under uvicorn; here, less headroom."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        with client.websocket_connect("/ws") as ws:
            ws.send_text(f'{{"type": {deep()}}}')
            assert ws.receive_json()["field"] == "type"
    except WebSocketDisconnect as err:
        pytest.fail(f"the socket dropped: {err}")
    finally:
        sys.setrecursionlimit(limit)
