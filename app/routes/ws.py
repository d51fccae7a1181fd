"""/ws: one Session per connection (see app/session.py and docs/protocol.md), within the
connection limits (app/ratelimit.py Connections): past them, 503 before the socket is accepted."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from ..schemas import http_error
from ..session import Session

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
    await Session(
        websocket,
        state.settings,
        getattr(state, "executor", None),
        train_executor=getattr(state, "train_executor", None),
        train_slots=getattr(state, "train_slots", None),
        compute_slots=getattr(state, "compute_slots", None),
    ).serve()
