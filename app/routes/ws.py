"""/ws: one Session per connection (see app/session.py and docs/protocol.md)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from ..session import Session

router = APIRouter()


@router.websocket("/ws")
async def websocket_session(websocket: WebSocket) -> None:
    state = websocket.app.state
    await Session(
        websocket,
        state.settings,
        getattr(state, "executor", None),
        train_executor=getattr(state, "train_executor", None),
        train_slots=getattr(state, "train_slots", None),
        compute_slots=getattr(state, "compute_slots", None),
    ).serve()
