"""The server's tests share one TestClient (lifespan included) on the app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app import ratelimit
from app.main import app


@pytest.fixture(scope="session")
def client():
    # TestClient's WebSockets always send "Host: testserver": a name the server answers to only here
    # and the whole suite is one client: its computations are not rate-limited here (test_rate_limits.py)
    settings, limiter = app.state.settings, app.state.trace_limiter
    app.state.settings = settings.model_copy(update={"allowed_hosts": "testserver", "compute_burst": 10**5})
    app.state.trace_limiter = ratelimit.AddressLimiter(settings.compute_rate, 10**5)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as c:
            yield c
    finally:
        app.state.settings, app.state.trace_limiter = settings, limiter
