"""POST /api/highway: the highway stack over depth beside a plain stack, on the wire."""

from __future__ import annotations

import math

import pytest
import torch

from models import highway


def test_the_default_run_carries_every_layer_of_both_stacks(client):
    r = client.post("/api/highway", json={})
    assert r.status_code == 200
    body = r.json()
    cfg = body["config"]
    L, W = cfg["layers"], cfg["width"]
    assert (L, W, cfg["carry_bias"], cfg["activation"]) == (30, 32, -3.0, "tanh")
    hw, plain = body["stacks"]
    assert (hw["name"], plain["name"]) == ("highway", "plain")
    for stack in (hw, plain):
        assert len(stack["y"]) == L + 1 and len(stack["y"][0]) == W
        assert len(stack["h"]) == L and len(stack["grad_norm"]) == L + 1 and len(stack["y_norm"]) == L + 1
    assert plain["gate"] is None and len(hw["gate"]) == L
    # the wire's numbers are the engine's (float32 run, norms float64)
    run = highway.trace(highway.init(W, L, -3.0, 1.0, 0), highway.draw_input(W, 1, 0), "tanh", torch.float32)
    assert hw["grad_norm"] == run.highway.grad_norm[:, 0].tolist()
    assert torch.equal(torch.tensor(plain["y"], dtype=torch.float32), run.plain.y[:, 0])
    assert torch.equal(torch.tensor(hw["gate"], dtype=torch.float32), run.highway.gate[:, 0])
    assert hw["loss"] == pytest.approx(float(run.highway.loss), rel=1e-6)
    # an identity on the wire's own numbers: the carry mean is the mean of 1 - T over units
    for layer, mean in enumerate(body["carry_mean"]):
        assert mean == pytest.approx(sum(1 - t for t in hw["gate"][layer]) / W, rel=1e-6)
    # the highway rule on the wire's numbers, at one layer: y_l = h*t + y_(l-1)*(1 - t)
    for j in range(W):
        t, h, a = hw["gate"][9][j], hw["h"][9][j], hw["y"][9][j]
        assert hw["y"][10][j] == pytest.approx(h * t + a * (1 - t), rel=1e-5, abs=1e-6)


def test_the_lesson_holds_on_a_live_run(client):
    # the panel's claim: through 30 tanh layers the plain stack's gradient fades 10x every few layers,
    # the highway's (b_T = -3) keeps a fifth of it at the input
    for seed in (0, 5, 9):
        hw, plain = client.post("/api/highway", json={"seed": seed}).json()["stacks"]
        assert plain["decay"]["direction"] == "decays" and plain["decay"]["steps_per_decade"] < 5
        assert plain["decay"]["text"].endswith("layers back")
        assert hw["decay"]["steps_per_decade"] > 40
        assert plain["grad_norm"][0] / plain["grad_norm"][-1] < 1e-7
        assert hw["grad_norm"][0] / hw["grad_norm"][-1] > 0.2


@pytest.mark.parametrize("seed", range(10))
def test_the_lesson_preset_holds_on_live_runs(client, seed):
    (lesson,) = [x for x in client.get("/api/highway/lessons").json() if x["name"] == "highway-carries-depth"]
    body = client.post("/api/highway", json=lesson["config"] | {"seed": seed}).json()
    hw, plain = body["stacks"]
    assert body["config"]["layers"] == 30 and "30 layers" in lesson["title"]
    # "shrinks tenfold every 3.5 to 4.5 layers ... below 10⁻⁷ of its size at the top"
    assert plain["decay"]["direction"] == "decays" and 3.5 <= plain["decay"]["steps_per_decade"] <= 4.5
    assert plain["grad_norm"][0] < 1e-7 * plain["grad_norm"][-1]
    # "every layer's carry gate 1 − T averages more than 0.9"
    assert min(body["carry_mean"]) > 0.9
    # "tenfold only every 40 or more layers, and more than a fifth of it reaches the input"
    assert hw["decay"]["steps_per_decade"] >= 40
    assert hw["grad_norm"][0] > 0.2 * hw["grad_norm"][-1]


def test_tiny_norms_reach_the_wire_unrounded_in_float32(client):
    body = {"layers": 50, "gain": 0.05, "seed": 2}
    f32 = client.post("/api/highway", json=body | {"dtype": "float32"}).json()["stacks"][1]["grad_norm"]
    f64 = client.post("/api/highway", json=body | {"dtype": "float64"}).json()["stacks"][1]["grad_norm"]
    assert 0 < f32[0] < 1e-60
    for a, b in zip(f32, f64, strict=True):
        assert a == pytest.approx(b, rel=1e-4)


@pytest.mark.parametrize(
    "body,field,words",
    [
        ({"layers": 51}, "layers", "51 is outside the allowed range 2 .. 50"),
        ({"layers": 1}, "layers", "1 is outside the allowed range 2 .. 50"),
        ({"width": 129}, "width", "129 is outside the allowed range 1 .. 128"),
        ({"carry_bias": -10.5}, "carry_bias", "-10.5 is outside the allowed range -10 .. 10"),
        ({"gain": 11}, "gain", "11 is outside the allowed range 0 .. 10"),
        ({"activation": "sigmoid"}, "activation", "'tanh' or 'relu'"),
        ({"dtype": "float16"}, "dtype", "'float32' or 'float64'"),
        ({"seed": -1}, "seed", "-1 is outside the allowed range"),
        ({"width": 8.5}, "width", "width"),
        ({"depth": 3}, "depth", "depth"),
    ],
)
def test_bad_fields_get_a_422_naming_the_field_and_what_is_allowed(client, body, field, words):
    r = client.post("/api/highway", json=body)
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["field"] == field and words in err["msg"]
    assert client.post("/api/highway", json={}).status_code == 200  # and the next request works


def test_the_openapi_document_names_the_highway_endpoint(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/highway"]["post"]
    schema = spec["components"]["schemas"]["HighwayConfig"]["properties"]
    assert schema["layers"]["maximum"] == 50 and schema["width"]["maximum"] == 128
    assert "200" in op["responses"] and "422" in op["responses"]


def test_the_page_spec_gives_the_highway_form_its_limits(client):
    spec = client.get("/static/js/spec.json").json()["highway"]
    assert spec["limits"]["layers"] == {"min": 2, "max": 50}
    assert spec["defaults"]["carry_bias"] == -3.0
    assert set(spec["stacks"]) == set(highway.STACKS)
    assert not math.isnan(spec["limits"]["gain"]["max"])


@pytest.mark.parametrize("seed", range(10))
def test_the_training_lesson_holds_on_live_trainings(client, seed):
    (lesson,) = [x for x in client.get("/api/highway/lessons").json() if x["name"] == "highway-trains-deep"]
    body = {"config": lesson["config"] | {"seed": seed}, "training": lesson["training"]}
    r = client.post("/api/highway/train", json=body)
    assert r.status_code == 200
    answer = r.json()
    tr = answer["training"]
    assert len(tr["losses"]) == len(tr["plain_losses"]) == 300 and answer["config"]["layers"] == 30
    # "the highway's held-out loss falls to a quarter or less of what guessing each output's mean gets"
    assert tr["val_loss"] <= 0.25 * tr["baseline"]
    # "the plain stack's stays within 5% of the guess"
    assert abs(tr["plain_val_loss"] / tr["baseline"] - 1) < 0.05
    # "the gradient reaching its lowest layer is more than a million times smaller than at the top"
    untrained = client.post("/api/highway", json=lesson["config"] | {"seed": seed}).json()["stacks"][1]
    assert untrained["grad_norm"][1] < 1e-6 * untrained["grad_norm"][-1]


def test_a_training_is_the_engines_on_the_same_batches(client):
    """The trained stacks on the wire are models.highway's trainer run by hand on the same teacher."""
    config = {"layers": 6, "width": 8, "seed": 2}
    answer = client.post("/api/highway/train", json={"config": config, "training": {"steps": 12}}).json()
    w = highway.init(8, 6, -3.0, 1.0, 2)
    trainer = highway.HighwayTrainer(w, highway.Teacher(8, 2), "tanh", 3e-3, 64)
    trainer.run(12)
    assert answer["training"]["losses"] == pytest.approx(trainer.losses, rel=1e-5)
    assert answer["training"]["plain_losses"] == pytest.approx(trainer.plain_losses, rel=1e-5)
    trained, plain = trainer.weights
    run = highway.trace(trained, highway.draw_input(8, 1, 2), "tanh", torch.float32, plain=plain)
    assert answer["stacks"][0]["grad_norm"] == pytest.approx(run.highway.grad_norm[:, 0].tolist(), rel=1e-5)
    assert answer["stacks"][1]["y"][-1] == pytest.approx(run.plain.y[-1, 0].tolist(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"training": {"steps": 0}}, "training.steps", "1"),
        ({"training": {"batch_size": 257}}, "training.batch_size", "256"),
        (
            {"config": {"layers": 50, "width": 128}, "training": {"steps": 2000, "batch_size": 256}},
            "training.steps",
            "at most",
        ),
        ({"config": {"layers": 51}}, "config.layers", "50"),
    ],
)
def test_bad_training_settings_name_their_field(client, body, field, words):
    r = client.post("/api/highway/train", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == field and words in detail["msg"], detail
