"""REST for classroom rooms (app/rooms.py): make one, look one up, its join link as a QR code."""

from __future__ import annotations

import io

import segno
from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from .. import rooms
from ..schemas import CreatedRoom, RoomInfo, RunConfig, http_error
from ..share import join_url, public_base
from .api import rate_limited

router = APIRouter(prefix="/api/rooms", tags=["rooms"])
ROOM_ERRORS = {
    404: {"description": "No such room open"},
    503: {"description": "The server has its most rooms open (GATEFLOW_MAX_ROOMS)"},
}


def _base(request: Request) -> str:
    settings = request.app.state.settings
    return public_base(str(request.base_url), settings.host, settings.port)


def _error(err: rooms.RoomError) -> JSONResponse:
    status = 404 if err.code == "unknown_room" else 503
    headers = {"Retry-After": "60"} if status == 503 else None
    return JSONResponse(
        status_code=status,
        content=http_error(err.code, err.message, ["path", err.field], err.field),
        headers=headers,
    )


@router.post("", status_code=201, response_model=CreatedRoom, responses={429: {}, **ROOM_ERRORS})
async def create_room(request: Request, config: RunConfig | None = Body(None)) -> Response:
    """A room showing ``config`` (or the defaults) until its teacher shows something else. The teacher
    token is returned here only: keep it in the teacher's link."""
    refusal = rate_limited(request)  # a room is a computation for every student who joins
    if refusal is not None:
        return refusal
    try:
        code, token = await request.app.state.hub.create(config or RunConfig())
    except rooms.RoomError as err:
        return _error(err)
    body = CreatedRoom(room=code, teacher_token=token, join_url=join_url(_base(request), code))
    return JSONResponse(status_code=201, content=body.model_dump())


@router.get("/{code}", response_model=RoomInfo, responses=ROOM_ERRORS)
async def room_info(code: str, request: Request) -> Response:
    """An open room (a student's start page checks a typed code with it)."""
    hub = request.app.state.hub
    try:
        await hub.load(code)
    except rooms.RoomError as err:
        return _error(err)
    code = rooms.normalize_code(code)
    info = RoomInfo(
        room=code,
        followers=await hub.count_followers(code),
        join_url=join_url(_base(request), code),
        qr_url=f"/api/rooms/{code}/qr.svg",
    )
    return JSONResponse(info.model_dump())


@router.get(
    "/{code}/qr.svg",
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "The join link as a QR code"},
        **ROOM_ERRORS,
    },
)
async def room_qr(code: str, request: Request) -> Response:
    """The room's join link as an SVG QR code (segno), dark on white, for the projector."""
    try:
        await request.app.state.hub.load(code)
    except rooms.RoomError as err:
        return _error(err)
    out = io.BytesIO()
    segno.make(join_url(_base(request), rooms.normalize_code(code)), error="m").save(
        out, kind="svg", scale=8, border=2, xmldecl=False, svgns=True, title="Join the class"
    )
    return Response(out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
