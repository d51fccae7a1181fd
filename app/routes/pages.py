"""The page (templates/index.html) and Plotly.js: the vendored cartesian partial bundle
(static/vendor/README.md), gzip-compressed once, under a URL that names its version."""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import __version__
from ..schemas import VIEW_SPEC_JSON

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=str(ROOT / "templates"))
router = APIRouter(tags=["pages"])
# Plotly's file changes only when the package does: cache it for a year.
LONG_CACHE = "public, max-age=31536000, immutable"


PLOTLY_FILE = ROOT / "static" / "vendor" / "plotly-cartesian.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> tuple[bytes, bytes, str]:
    """The Plotly bundle, raw and gzip-compressed once (1.5 MB raw, 0.5 MB compressed), and its URL:
    /vendor/plotly-cartesian-<version>.min.js, so a new version is never read from an old cache."""
    raw = PLOTLY_FILE.read_bytes()
    version = re.search(rb"plotly\.js \(cartesian - minified\) v([0-9][0-9A-Za-z.\-]*)", raw[:400])
    url = f"/vendor/plotly-cartesian-{version.group(1).decode() if version else 'unknown'}.min.js"
    return raw, gzip.compress(raw, compresslevel=9, mtime=0), url


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request):
    context = {"request": request, "version": __version__, "plotly_url": plotly_js()[2]}
    return templates.TemplateResponse(request, "index.html", context)


@router.get("/vendor/{name}", include_in_schema=False)
def plotly(name: str, request: Request) -> Response:
    raw, compressed, url = plotly_js()
    if f"/vendor/{name}" != url:
        raise HTTPException(404, f"no such file: /vendor/{name}; Plotly is at {url}")
    headers = {"Cache-Control": LONG_CACHE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(compressed, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)


@router.get("/static/js/spec.json", include_in_schema=False)
def view_spec() -> Response:
    """The views' description the page imports: static/js/views.json with the cell registry's cells,
    gates and options (app.schemas.VIEW_SPEC), so the page's names, colours and clamps are the engine's."""
    return Response(VIEW_SPEC_JSON, media_type="application/json", headers={"Cache-Control": "no-cache"})
