"""GET /healthz: is the server up, which version, which device."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .. import __version__
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    return Health(version=__version__, device=request.app.state.settings.device)
