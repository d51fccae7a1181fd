"""The server's tests share one TestClient (lifespan included) on the app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import app


@pytest.fixture(scope="session")
def client():
    # TestClient's WebSockets always send "Host: testserver": a name the server answers to only here
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"allowed_hosts": "testserver"})
    try:
        with TestClient(app, base_url="http://127.0.0.1") as c:
            yield c
    finally:
        app.state.settings = settings
