"""The page (templates/index.html) and Plotly.js, served from the installed plotly package."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import __version__

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=str(ROOT / "templates"))
router = APIRouter(tags=["pages"])
# Plotly's file changes only when the package does: cache it for a year.
LONG_CACHE = "public, max-age=31536000, immutable"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request):
    return templates.TemplateResponse(request, "index.html", {"request": request, "version": __version__})


@lru_cache(maxsize=1)
def plotly_js() -> tuple[bytes, bytes]:
    """plotly.min.js, raw and gzip-compressed once (it is about 4.8 MB raw, 1.5 MB compressed)."""
    raw = resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0)


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def plotly(request: Request) -> Response:
    raw, compressed = plotly_js()
    headers = {"Cache-Control": LONG_CACHE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(compressed, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)
