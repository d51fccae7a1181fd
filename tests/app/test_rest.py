"""REST: health, cells, presets, traces as JSON and CSV, 422 errors naming the field, the page, Plotly."""

from __future__ import annotations

import csv
import io
import re
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from wire_helpers import reference_trace

import models
from app.presets import PRESETS
from app.schemas import CellsResponse, Preset, RunConfig, TraceResponse

ROOT = Path(__file__).resolve().parents[2]


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "version": "0.1.0", "device": "cpu"}


def test_cells_lists_gates_options_limits_defaults(client):
    body = client.get("/api/cells").json()
    CellsResponse.model_validate(body)
    by_name = {c["name"]: c for c in body["cells"]}
    assert list(by_name) == list(models.limits.CELLS)
    assert by_name["lstm"]["gates"] == ["i", "f", "g", "o"] and by_name["lstm"]["has_cell_state"]
    assert by_name["gru"]["clampable"] == {"r": [0, 1], "z": [0, 1], "n": [-1, 1]}
    assert body["limits"]["hidden_size"] == {"min": 1, "max": 128}
    assert body["limits"]["seq_len"] == {"min": 2, "max": 500}
    assert body["options"]["init"] == ["torch", "xavier", "orthogonal", "identity"]
    assert body["options"]["jacobian"] == list(typing.get_args(RunConfig.model_fields["jacobian"].annotation))
    assert body["options"]["optimizer"] == list(models.limits.OPTIMIZERS)
    assert body["limits"]["train.steps"] == {"min": 1, "max": 20_000}
    assert body["train_defaults"]["lr"] == 0.01 and body["train_defaults"]["clip"] == 1.0
    assert body["defaults"] == RunConfig().model_dump(mode="json")


def test_presets(client):
    body = client.get("/api/presets").json()
    assert [Preset.model_validate(p).name for p in body] == [p.name for p in PRESETS]
    assert {"rnn-vs-lstm", "exploding", "forget-bias", "gru-update-gate", "clamp-f1"} <= {
        p["name"] for p in body
    }


def test_trace_json_matches_the_engine(client):
    config = {"cells": ["rnn_tanh", "lstm"], "seq_len": 8, "hidden_size": 4, "num_layers": 2}
    response = client.post("/api/trace", json=config)
    assert response.status_code == 200
    body = response.json()
    TraceResponse.model_validate(body)
    assert body["T"] == 8 and body["config"] == RunConfig(**config).model_dump(mode="json")
    lstm = body["cells"][1]
    _, tr = reference_trace(RunConfig(**config), "lstm")
    np.testing.assert_allclose(lstm["c"], tr.c[:, :, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(lstm["gates"]["f"], tr.gates["f"][:, :, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(lstm["output"], tr.output[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(lstm["grad_c_norm"], tr.grad_c_norm[:, :, 0].numpy(), rtol=1e-6)
    assert body["cells"][0]["c"] is None and body["cells"][0]["grad_c"] is None
    assert np.asarray(body["input"]["x"]).shape == (8, 2)
    assert body["jacobian"] == {"mode": "auto", "computed": True, "reason": None} and body["notes"] == []
    assert len(lstm["decays"]) == 2 and lstm["decay"]["grad_h"] == lstm["decays"][1]["grad_h"]
    assert lstm["notes"] and "mean f = " in lstm["notes"][0]


def test_the_continuous_time_cells_solver_options_reach_the_engine(client):
    """timespan and ode_unfolds are how the CfC and the LTC compute: the trace is the engine's with them
    (and not the default's), and the notes say which cells a solver option changes."""
    config = {
        "cells": ["cfc", "ltc", "gru"],
        "seq_len": 10,
        "hidden_size": 4,
        "timespan": 0.3,
        "ode_unfolds": 2,
    }
    body = client.post("/api/trace", json=config).json()
    default = client.post("/api/trace", json={**config, "timespan": None, "ode_unfolds": None}).json()
    for k, cell in enumerate(("cfc", "ltc")):
        _, tr = reference_trace(RunConfig(**config), cell)
        np.testing.assert_allclose(body["cells"][k]["h"][0], tr.h[0, :, 0].numpy(), rtol=1e-6, atol=1e-7)
        assert not np.allclose(body["cells"][k]["h"], default["cells"][k]["h"])
    assert body["cells"][2]["h"] == default["cells"][2]["h"]  # the GRU has no solver
    only = client.post("/api/trace", json={"cells": ["gru"], "seq_len": 5, "timespan": 2.0}).json()
    assert any(n["field"] == "timespan" and "changes nothing" in n["text"] for n in only["notes"])


def test_trace_csv(client):
    response = client.post("/api/trace?format=csv", json={"cells": ["gru"], "seq_len": 4, "hidden_size": 2})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["cell", "layer", "direction", "t", "unit", "quantity", "value"]
    quantities = {r[5] for r in rows[1:]}
    assert quantities == {
        "h",
        "r",
        "z",
        "n",
        "grad_h",
        "grad_h_norm",
        "jacobian_norm",
        "grad_x",
        "grad_x_norm",
    }
    assert all(r[4] == "" for r in rows[1:] if r[5].endswith("norm"))


def test_tiny_norms_are_exact_in_json_and_csv(client):
    """Issue 10's float32 run (tanh RNN, H = 64, orthogonal W_hh at radius 0.8, T = 400): its gradient
    norms reach ~1e-41, below float32's range. JSON and CSV carry them as the float64 numbers the
    engine computed, not 0."""
    config = {
        "cells": ["rnn_tanh"],
        "hidden_size": 64,
        "init": "orthogonal",
        "spectral_radius": 0.8,
        "seq_len": 400,
        "jacobian": "on",
    }
    _, tr = reference_trace(RunConfig(**config), "rnn_tanh")
    expected = tr.grad_h_norm[:, :, 0].numpy()
    assert expected.dtype == np.float64 and 0 < expected.min() < 1e-40  # float32: 0 below 1.4e-45
    body = client.post("/api/trace", json=config).json()
    np.testing.assert_array_equal(np.array(body["cells"][0]["grad_h_norm"]), expected)
    assert 0 < min(body["cells"][0]["jacobian_norm"][0]) < 1e-30
    rows = list(csv.reader(io.StringIO(client.post("/api/trace?format=csv", json=config).text)))
    from_csv = [float(r[6]) for r in rows[1:] if r[5] == "grad_h_norm"]
    np.testing.assert_array_equal(np.array(from_csv), expected[0])


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"hidden_size": 1000}, "hidden_size", "1 .. 128"),
        ({"clamp": {"f": 2}}, "clamp.f", "0 .. 1"),
        ({"seq_len": 500, "hidden_size": 128, "num_layers": 3}, "seq_len", "131072"),
        ({"cells": ["lstm", "lstm"]}, "cells", "each cell at most once"),
        ({"cells": ["ltc"], "ode_unfolds": 65}, "ode_unfolds", "1 .. 64"),
        ({"cells": ["cfc"], "timespan": 0}, "timespan", "0.01 .. 100"),
        ({"task": "chess"}, "task", "adding"),
        (
            {"task": "sequence", "values": [0, 1e40]},
            "values",
            "values[1] = 1e+40 is outside the allowed range",
        ),
    ],
)
def test_trace_422_names_the_field(client, config, field, words):
    response = client.post("/api/trace", json=config)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", *field.split(".")]
    assert detail["field"] == field and detail["msg"].startswith(f"{field}:") and words in detail["msg"]


def test_trace_bad_format_and_bad_json(client):
    assert client.post("/api/trace?format=xml", json={}).json()["detail"][0]["field"] == "format"
    response = client.post("/api/trace", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_openapi_documents_the_response_models(client):
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/api/trace"]["post"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/TraceResponse") and "text/csv" in ok
    assert spec["paths"]["/api/cells"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/CellsResponse")
    assert "/healthz" in spec["paths"] and "RunConfig" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def plotly_url(client) -> str:
    match = re.search(
        r'<script[^>]*\ssrc="(/vendor/plotly-cartesian-[0-9.]+\.min\.js)"', client.get("/").text
    )
    assert match, "the page loads no Plotly bundle from the server"
    return match.group(1)


def test_plotly_is_served_locally_compressed_and_cached(client):
    url = plotly_url(client)
    response = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "max-age=31536000" in response.headers["cache-control"]
    assert int(response.headers["content-length"]) < 600_000  # the partial bundle, compressed
    assert response.content == (ROOT / "static" / "vendor" / "plotly-cartesian.min.js").read_bytes()
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == response.content
    assert client.get("/vendor/plotly.min.js").status_code == 404


def test_the_plotly_bundle_has_every_trace_type_the_page_draws(client):
    """The partial bundle knows only some trace types: a view that draws another would be blank."""
    bundle = client.get(plotly_url(client)).text
    known = set(re.findall(r'moduleType:"trace",name:"([a-z0-9]+)"', bundle))
    assert {"scatter", "heatmap"} <= known
    plotly_types = {
        "scatter",
        "scattergl",
        "heatmap",
        "heatmapgl",
        "bar",
        "contour",
        "surface",
        "image",
        "histogram",
        "box",
        "violin",
        "pie",
        "scatter3d",
        "parcoords",
        "sankey",
        "table",
    }
    used = set()
    for path in (ROOT / "static" / "js").rglob("*.js"):
        used |= set(re.findall(r'type: "([a-z0-9]+)"', path.read_text())) & plotly_types
    assert used and used <= known, used - known


@pytest.mark.skipif(not (ROOT / "templates" / "index.html").exists(), reason="the page is not written yet")
def test_page_loads_plotly_from_the_server(client):
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert plotly_url(client).startswith("/vendor/plotly-cartesian-")
    assert "{{" not in response.text  # rendered by Jinja2


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(client):
    response = client.post("/api/trace", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["type"] == "json_invalid" and detail["field"] == "body" and "UTF-8" in detail["msg"]


def test_every_error_has_the_one_shape(client):
    for response in (
        client.get("/api/nothing-here"),
        client.delete("/api/trace"),
        client.post("/api/trace", content=b"x", headers={"content-type": "text/plain"}),
        client.post("/api/trace", json={"seq_len": 1}),
    ):
        assert response.status_code in (404, 405, 415, 422)
        (item,) = response.json()["detail"]
        assert {"type", "loc", "msg", "field", "input"} <= set(item), item


def test_device_choices_are_this_machines(client):
    options = client.get("/api/cells").json()["options"]["device"]
    spec = client.get("/openapi.json").json()["components"]["schemas"]["RunConfig"]["properties"]["device"]
    assert (
        options == spec["enum"] == (["cpu", "cuda", "auto"] if torch.cuda.is_available() else ["cpu", "auto"])
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA may be set to it")
def test_gateflow_device_cuda_without_a_gpu_stops_the_start():
    from app import engine
    from app.settings import Settings

    with pytest.raises(RuntimeError, match="GATEFLOW_DEVICE=cuda: this machine has no CUDA GPU"):
        engine.configure(Settings(device="cuda"))
