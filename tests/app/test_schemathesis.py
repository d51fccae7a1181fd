"""Schemathesis, every check, on the REST API: valid and invalid requests generated from the OpenAPI
spec (which app/schemas.openapi_spec makes true for this server) must get the answers the spec says,
never a 5xx.

The one allowance: JSON Schema cannot say two fields' relation (the copy task's seq_len >= 2 *
copy_len + 1, the run's size seq_len * hidden_size * layers * directions, attention heads that divide the
width, an attention training's size), so a request valid field by
field may get 422; ``only_cross_field_422`` then checks that the error is one of those relations.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

import models
from app import engine, ratelimit
from app.main import create_app

app = create_app()
# TestClient says "Host: testserver"; one client makes every request: no rate or room limit here
app.state.settings = app.state.settings.model_copy(
    update={"allowed_hosts": "testserver", "compute_burst": 10**6, "max_rooms": 10**5}
)
app.state.trace_limiter = ratelimit.AddressLimiter(app.state.settings.compute_rate, 10**6)
engine.configure(app.state.settings)

CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "422"]}},
        # a well-formed room code that no room has: 404, as the spec says
        "operations": [
            {
                "include-path-regex": "^/api/rooms/",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "422"]}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)

# refusals the spec cannot express: a relation between fields, an uploaded model this server does not
# hold (RunConfig.weights), what a weights file holds (POST /api/weights: any bytes fit the spec) and
# what a table holds (POST /api/data: any text does), values that do not fill rows of `columns`
CROSS_FIELD = (
    "seq_len: the copy task needs",
    "seq_len: the run is too large",
    "training.steps: ",  # an attention training's size: steps x batch x length x width
    "weights: ",
    "data: ",
    "values: ",
)
# ... and one that names its relation later in the message
CROSS_FIELD_WORDS = ("does not divide the width",)


@pytest.fixture(autouse=True)
def small_trainings(monkeypatch):
    """An attention training the spec allows may take seconds: here only small ones run, the rest are
    refused on their size (a relation of fields, below); tests/app/test_attention_api.py runs real ones."""
    monkeypatch.setattr(models.limits, "TRAIN_REQUEST_SECONDS", 0.05)


def only_cross_field_422(ctx, response, case):
    """A request the spec calls valid is refused only for a relation between fields."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    messages = [e["msg"] for e in response.json()["detail"]]
    allowed = [m.startswith(CROSS_FIELD) or any(w in m for w in CROSS_FIELD_WORDS) for m in messages]
    assert messages and all(allowed), f"a request valid by the spec was refused: {messages}"
    return None


@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_as_its_spec_says(case):
    case.call_and_validate(additional_checks=[only_cross_field_422])


def test_spec_offers_only_this_machines_devices_and_settings_bounds():
    spec = app.openapi()
    props = spec["components"]["schemas"]["RunConfig"]["properties"]
    s = app.state.settings
    assert props["device"]["enum"] == list(engine.devices())
    assert props["hidden_size"]["maximum"] == s.max_hidden_size
    assert props["seq_len"]["maximum"] == s.max_seq_len
    assert props["text"]["maxLength"] == s.max_seq_len + 1
    trace = spec["paths"]["/api/trace"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "429", "503"} <= set(trace)
    assert "400" in spec["paths"]["/healthz"]["get"]["responses"]
