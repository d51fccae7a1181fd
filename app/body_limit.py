"""Request bodies are bounded before they are read whole: one pure ASGI middleware.

A body whose Content-Length is over ``GATEFLOW_MAX_BODY_BYTES`` gets 413 at once, unread; one sent
without a length (chunked) is read only up to the limit, then refused the same way. A 64 MB POST so
costs the server nothing but the refusal, and never echoes the input back. (WebSocket messages are
bounded by the server itself: ``python -m app`` passes the limit to uvicorn as ws_max_size.)
"""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .schemas import http_error
from .settings import Settings

UPLOAD_PATHS = ("/api/weights",)  # bodies that are files: GATEFLOW_MAX_UPLOAD_BYTES


def too_large(size: int | None, limit: int, setting: str = "GATEFLOW_MAX_BODY_BYTES") -> bytes:
    what = f"{size} bytes" if size is not None else "more bytes"
    msg = f"body: {what} is over the limit of {limit} bytes ({setting})"
    return orjson.dumps(http_error("too_large", msg, ["body"], "body"))


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.body_limit = settings.max_body_bytes
        self.upload_limit = settings.max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope.get("path") in UPLOAD_PATHS
        limit = self.upload_limit if upload else self.body_limit
        setting = "GATEFLOW_MAX_UPLOAD_BYTES" if upload else "GATEFLOW_MAX_BODY_BYTES"
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                size = None
            if size is None or size < 0:
                msg = "Content-Length: must be a whole number of bytes"
                body = orjson.dumps(http_error("bad_header", msg, ["header", "content-length"], None, length))
                return await self._refuse(send, 400, body)
            if size > limit:
                return await self._refuse(send, 413, too_large(size, limit, setting))
            return await self.app(scope, receive, send)
        # no length given: buffer up to the limit, then hand the body on as one message
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message], receive), send)
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                return await self._refuse(send, 413, too_large(None, limit, setting))
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, send: Send, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers.append((b"connection", b"close"))  # the rest of the body is never read
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
