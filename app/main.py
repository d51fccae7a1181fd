"""Assembles the app: settings, the compute and training pools (lifespan), routers, static files, gzip,
the Host/Origin checks and security headers (app/security.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__, engine, ratelimit, rooms, training
from .body_limit import BodyLimitMiddleware
from .routes import api, docs, health, pages, room_api, ws
from .schemas import describe_errors, http_error, openapi_spec
from .security import SecurityMiddleware
from .settings import get_settings


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine.configure(app.state.settings)
    settings = app.state.settings
    app.state.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="gateflow-compute")
    # one thread per training that may run at once: a training never waits for a thread
    app.state.train_executor = ThreadPoolExecutor(
        settings.max_trainings,
        thread_name_prefix="gateflow-train",
        initializer=training.lower_priority,
        initargs=(settings.train_niceness,),
    )
    app.state.train_slots = ratelimit.Slots(settings.max_trainings)
    app.state.compute_slots = ratelimit.Slots(settings.max_queued_computes)
    app.state.hub = rooms.Hub(settings)
    try:
        yield
    finally:
        await app.state.hub.close()
        app.state.executor.shutdown(wait=False, cancel_futures=True)
        app.state.train_executor.shutdown(wait=False, cancel_futures=True)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with pydantic's detail, each error also naming its ``field`` and the allowed range; 415 for a
    body that is not JSON (FastAPI leaves a body of another content type as bytes)."""
    errors = list(exc.errors())
    if any(tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), bytes) for e in errors):
        content_type = request.headers.get("content-type")
        msg = f"the body must be JSON with Content-Type: application/json, not {content_type or 'none'}"
        body = http_error("unsupported_media_type", msg, ["header", "content-type"], None, content_type)
        return JSONResponse(status_code=415, content=body)
    return JSONResponse(status_code=422, content={"detail": describe_errors(errors, strip=1)})


async def http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's and FastAPI's own errors (404, 405, a body that is not UTF-8) in the app's shape:
    ``{"detail": [{"type", "loc", "msg", ...}]}`` like every other error."""
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer to a JSON body it cannot decode (not UTF-8) or parse (nested ~1000 deep); other
        # bad JSON is a 422 json_invalid already
        msg = "body: not readable JSON (bytes that are not UTF-8 text, or lists and objects nested too deep)"
        body = http_error("json_invalid", msg, ["body"], "body")
        return JSONResponse(status_code=422, content=body)
    body = http_error("http_error", str(exc.detail), [])
    return JSONResponse(status_code=exc.status_code, content=body, headers=getattr(exc, "headers", None))


def create_app() -> FastAPI:
    app = FastAPI(
        title="Gateflow",
        version=__version__,
        lifespan=lifespan,
        description="RNN, LSTM and GRU traces: states, gates and gradients through time.",
        docs_url=None,  # app/routes/docs.py serves Swagger UI from a package, not a CDN
        redoc_url=None,
    )
    app.state.settings = get_settings()
    app.state.devices = engine.devices()
    app.state.trace_limiter = ratelimit.AddressLimiter(
        app.state.settings.compute_rate, app.state.settings.compute_burst
    )
    app.state.connections = ratelimit.Connections(
        app.state.settings.max_connections, app.state.settings.max_connections_per_address
    )
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodyLimitMiddleware, settings=app.state.settings)  # before a body is read whole
    app.add_middleware(SecurityMiddleware)  # outermost: checks Host and Origin before anything else
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_exception)
    for module in (pages, api, room_api, health, ws, docs):
        app.include_router(module.router)
    app.mount(docs.SWAGGER_URL, StaticFiles(directory=docs.SWAGGER_DIR), name="swagger")
    app.mount("/static", StaticFiles(directory=pages.ROOT / "static", check_dir=False), name="static")
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """The OpenAPI spec, built once, with this server's bounds, devices and error answers."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        app.openapi_schema = openapi_spec(spec, app.state.settings, app.state.devices)
    return app.openapi_schema


app = create_app()
