"""Who may talk to the server, and what a browser may do with its pages: one pure ASGI middleware.

- Host: an HTTP request or WebSocket whose Host header names neither loopback, nor the address the
  server is bound to, nor a name in GATEFLOW_ALLOWED_HOSTS gets 400. This stops DNS rebinding: a page
  on evil.example whose name comes to resolve to this machine still sends ``Host: evil.example``. Bound
  to every interface (0.0.0.0, ::), any IP address and this machine's own name are accepted: students
  open http://<teacher's address>:8000, perhaps through NAT or Docker, and a rebinding attack always
  carries a name.
- Origin: a WebSocket opened by a page of another origin (http://evil.example) is refused with 403
  before it is accepted. One without an Origin header (notebooks, scripts, tests) is accepted.
- Headers: every HTTP response carries a Content-Security-Policy (scripts from this server only;
  inline styles, which Plotly.js injects), nosniff, no-referrer and DENY framing. A response that sets
  its own policy (the docs page, app/routes/docs.py) keeps it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send

from .schemas import http_error
from .settings import Settings

WILDCARDS = ("0.0.0.0", "::", "")
# connect-src names the page's own WebSocket address; a Host that is not a plain host[:port] gets none
_PLAIN_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$")
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'{ws}; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _names(value: str) -> set[str]:
    return {part.strip().lower().rstrip("/") for part in value.split(",") if part.strip()}


def hostname(host_header: str) -> str:
    """The name or address of a Host header, lower case, without port, brackets or a trailing dot."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:  # name:port (a bare IPv6 address has more colons)
        value = value.split(":", 1)[0]
    return value.rstrip(".")


@lru_cache(maxsize=1)
def machine_names() -> frozenset[str]:
    """This machine's own name, as students on the network may type it (``laptop``, ``laptop.local``)."""
    name = socket.gethostname().lower().rstrip(".")
    short = name.split(".", 1)[0]
    return frozenset(n for n in (name, short, f"{short}.local") if n)


def host_allowed(host_header: str | None, settings: Settings) -> bool:
    if not host_header:  # HTTP/1.0 without Host: not a browser, nothing to rebind
        return True
    extra = _names(settings.allowed_hosts)
    name = hostname(host_header)
    if "*" in extra or name in extra or name == "localhost":
        return True
    bound = settings.host.strip().lower().strip("[]")
    wildcard = bound in WILDCARDS
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:  # a name
        return name == bound or (wildcard and name in machine_names())
    if ip.is_loopback or wildcard:
        return True
    try:
        return ip == ipaddress.ip_address(bound)
    except ValueError:  # bound to a name
        return False


def origin_allowed(origin: str, host_header: str | None, settings: Settings) -> bool:
    """The page's own origin (its host:port is the Host it connects to), or one configured."""
    extra = _names(settings.allowed_origins)
    if "*" in extra or origin.strip().lower().rstrip("/") in extra:
        return True
    parts = urlsplit(origin.strip().lower())
    same = bool(parts.netloc) and parts.netloc == (host_header or "").strip().lower()
    return parts.scheme in ("http", "https") and same


def page_csp(host_header: str | None) -> str:
    host = (host_header or "").strip()
    ws = f" ws://{host} wss://{host}" if _PLAIN_HOST.match(host) else ""
    return PAGE_CSP.format(ws=ws)


def _refusal(kind: str, header: str, value: str, msg: str) -> bytes:
    return orjson.dumps(http_error(kind, msg, ["header", header], None, value[:200]))


class SecurityMiddleware:
    """Host and Origin checks before the app sees a request; security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        settings: Settings = scope["app"].state.settings
        headers = Headers(scope=scope)
        host = headers.get("host")
        if not host_allowed(host, settings):
            body = _refusal(
                "host_not_allowed",
                "host",
                host or "",
                f"Host {host!r} is not an address of this server; GATEFLOW_ALLOWED_HOSTS may add it",
            )
            return await _deny(scope, receive, send, 400, body)
        if scope["type"] == "websocket":
            origin = headers.get("origin")
            if origin is not None and not origin_allowed(origin, host, settings):
                body = _refusal(
                    "origin_not_allowed",
                    "origin",
                    origin,
                    f"a page from {origin!r} may not open this server's WebSocket; add the origin to "
                    "GATEFLOW_ALLOWED_ORIGINS to allow it",
                )
                return await _deny(scope, receive, send, 403, body)
            return await self.app(scope, receive, send)

        csp = page_csp(host)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(raw=list(message.get("headers", [])))
                if "content-security-policy" not in out:
                    out["Content-Security-Policy"] = csp
                for name, value in HEADERS.items():
                    out.setdefault(name, value)
                message = {**message, "headers": out.raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
    ]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    message = await receive()  # websocket.connect: answered with an HTTP response, never accepted
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a server without the denial-response extension answers a close before accept with 403
        await send({"type": "websocket.close", "code": 1008})
