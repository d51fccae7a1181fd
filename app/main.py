"""Assembles the app: settings, the compute and training pools (lifespan), routers, static files, gzip,
the Host/Origin checks and security headers (app/security.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from . import __version__, engine, ratelimit, training
from .body_limit import BodyLimitMiddleware
from .routes import api, docs, health, pages, ws
from .schemas import describe_errors, wire_input
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
    try:
        yield
    finally:
        app.state.executor.shutdown(wait=False, cancel_futures=True)
        app.state.train_executor.shutdown(wait=False, cancel_futures=True)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with pydantic's detail, each error also naming its ``field`` and the allowed range; 415 for a
    body that is not JSON (FastAPI leaves a body of another content type as bytes)."""
    errors = list(exc.errors())
    if any(tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), bytes) for e in errors):
        content_type = request.headers.get("content-type")
        detail = {
            "type": "unsupported_media_type",
            "loc": ["header", "content-type"],
            "msg": f"the body must be JSON with Content-Type: application/json, not {content_type or 'none'}",
            "field": None,
            "input": wire_input(content_type),
        }
        return JSONResponse(status_code=415, content={"detail": [detail]})
    return JSONResponse(status_code=422, content={"detail": describe_errors(errors, strip=1)})


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
    for module in (pages, api, health, ws, docs):
        app.include_router(module.router)
    app.mount(docs.SWAGGER_URL, StaticFiles(directory=docs.SWAGGER_DIR), name="swagger")
    app.mount("/static", StaticFiles(directory=pages.ROOT / "static", check_dir=False), name="static")
    return app


app = create_app()
