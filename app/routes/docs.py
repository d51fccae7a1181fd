"""GET /docs: Swagger UI from the installed fastapi-offline package (/vendor/swagger), never a CDN.

The page's one inline script (FastAPI's SwaggerUIBundle call) is allowed by its hash, so the docs'
Content-Security-Policy, like the main page's, runs no other inline script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_DIR = str(resources.files("fastapi_offline").joinpath("static"))
SWAGGER_URL = "/vendor/swagger"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)

router = APIRouter(include_in_schema=False)


def script_hashes(html: bytes) -> str:
    """CSP sources for each inline <script> of a page: 'sha256-<base64 of its text's digest>'."""
    digests = (hashlib.sha256(s).digest() for s in _INLINE_SCRIPT.findall(html))
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests)


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API",
        swagger_js_url=f"{root}{SWAGGER_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{SWAGGER_URL}/swagger-ui.css",
        swagger_favicon_url="data:,",
    )
    csp = DOCS_CSP.format(hashes=script_hashes(page.body))
    return HTMLResponse(page.body, headers={"Content-Security-Policy": csp})
