"""/ws: one Session per connection (see app/session.py and docs/protocol.md), within the
connection limits (app/ratelimit.py Connections): past them, 503 before the socket is accepted."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from .. import rooms
from ..schemas import http_error
from ..session import Session
from ..share import join_url, public_base

router = APIRouter()


@router.websocket("/ws")
async def websocket_session(websocket: WebSocket) -> None:
    state = websocket.app.state
    address = websocket.client.host if websocket.client else ""
    refusal = state.connections.admit(address)
    if refusal is not None:
        body = http_error("too_many_connections", refusal, ["connection"])
        await websocket.send_denial_response(
            JSONResponse(body, status_code=503, headers={"Retry-After": "10"})
        )
        return
    try:
        await serve(websocket, state)
    finally:
        state.connections.release(address)


async def serve(websocket: WebSocket, state) -> None:
    """A single user's session, or a room's (``?room=CODE``, the teacher's with ``&token=TOKEN``)."""
    code, token = websocket.query_params.get("room"), websocket.query_params.get("token")
    settings = state.settings
    room = (code, token) if code is not None else None
    link = ""  # a code that cannot be one is refused by the session (unknown_room)
    if code is not None:
        with contextlib.suppress(rooms.RoomError):
            base = public_base(str(websocket.base_url), settings.host, settings.port)
            link = join_url(base, rooms.normalize_code(code))
    await Session(
        websocket,
        state.settings,
        getattr(state, "executor", None),
        train_executor=getattr(state, "train_executor", None),
        train_slots=getattr(state, "train_slots", None),
        compute_slots=getattr(state, "compute_slots", None),
        hub=getattr(state, "hub", None),
        room=room,
        join_url=link,
    ).serve()
