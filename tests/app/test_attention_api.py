"""POST /api/attention: causal self-attention beside a recurrent cell on the same input and loss; its
lessons (GET /api/attention/lessons) checked on live answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import models
from models import attention
from tests.reference import attention_oracle


def test_the_default_run_carries_weights_states_and_both_curves(client):
    r = client.post("/api/attention", json={})
    assert r.status_code == 200
    body = r.json()
    cfg = body["config"]
    T, E, n = cfg["length"], cfg["width"], cfg["heads"]
    assert (T, E, n, cfg["positions"], cfg["compare"]) == (120, 32, 2, "sinusoidal", "rnn_tanh")
    assert len(body["weights"]) == n and [len(row) for row in body["weights"][0]] == list(range(1, T + 1))
    for name in ("values", "attended", "output"):
        assert len(body[name]) == T and len(body[name][0]) == E
    assert len(body["grad_x_norm"]) == T and len(body["compared"]["grad_x_norm"]) == T
    # the wire's numbers against torch's own MultiheadAttention + LayerNorm, gradient by autograd
    w = attention.init(E, T, n, "sinusoidal", 1.0, 0)
    x, r_ = attention.draw_task(T, E, 1, 0)
    y, a, loss, g = attention_oracle(w, x, r_, n, True, True, torch.float32)
    tol = dict(rtol=2e-4, atol=2e-5)
    for h in range(n):
        full = torch.zeros(T, T)
        for t, row in enumerate(body["weights"][h]):
            full[t, : t + 1] = torch.tensor(row)
        torch.testing.assert_close(full, a[0, h], **tol)
    torch.testing.assert_close(torch.tensor(body["output"]), y[:, 0], **tol)
    norm = torch.linalg.vector_norm(g[:, 0].double(), dim=-1)
    torch.testing.assert_close(torch.tensor(body["grad_x_norm"], dtype=torch.float64), norm, **tol)
    assert body["loss"] == pytest.approx(float(loss), rel=1e-4)
    # identities on the wire's own numbers: o_t = sum_j a_tj v_j, unit i in head i // d
    d = E // n
    v = np.array(body["values"])
    for t in (0, 57, T - 1):
        for i in (0, E - 1):
            weights = np.array(body["weights"][i // d][t])
            assert body["attended"][t][i] == pytest.approx(weights @ v[: t + 1, i], rel=1e-4, abs=1e-5)


def test_the_compared_cell_is_torchs_module_on_the_same_input_and_loss(client):
    body = client.post("/api/attention", json={"length": 40, "width": 8, "compare": "gru", "seed": 4}).json()
    net = models.build("gru", 8, 8, seed=4, dtype="float64")
    gru = net.to_torch()
    x, r = attention.draw_task(40, 8, 1, 4)
    x = x.requires_grad_(True)
    out, _ = gru(x)
    (g,) = torch.autograd.grad((out[-1] @ r).sum(), x)
    norm = torch.linalg.vector_norm(g[:, 0], dim=-1)
    torch.testing.assert_close(
        torch.tensor(body["compared"]["grad_x_norm"], dtype=torch.float64), norm, rtol=1e-4, atol=0
    )
    assert body["compared"]["cell"] == "gru"


@pytest.mark.parametrize("seed", range(10))
def test_the_lesson_holds_on_live_runs(client, seed):
    (lesson,) = [
        x for x in client.get("/api/attention/lessons").json() if x["name"] == "attention-reaches-back"
    ]
    assert "200 steps" in lesson["title"]
    body = client.post("/api/attention", json=lesson["config"] | {"seed": seed}).json()
    g = np.array(body["grad_x_norm"])[::-1]  # lag 0, 1, 2, ...
    rnn = np.array(body["compared"]["grad_x_norm"])[::-1]
    # "as large as the one reaching the input one step back, within a factor of 10 either way"
    assert 0.1 < g[200] / g[1] < 10
    # "no steady decay fits its curve"
    assert body["decay"]["direction"] == "flat"
    # "shrinks tenfold every 2.5 to 3.5 steps back and arrives below 10^-50 of its one-step-back size"
    fit = body["compared"]["decay"]
    assert fit["direction"] == "decays" and 2.5 <= fit["steps_per_decade"] <= 3.6
    assert rnn[200] < 1e-50 * rnn[1]


def test_no_focus_makes_every_row_uniform(client):
    body = client.post("/api/attention", json={"length": 30, "focus": 0, "dtype": "float64"}).json()
    for head in body["weights"]:
        for t, row in enumerate(head):
            assert row == pytest.approx([1 / (t + 1)] * (t + 1), rel=1e-12)


def test_tiny_rnn_gradients_reach_the_wire_in_float32(client):
    body = {"length": 256, "width": 16, "heads": 1, "seed": 1}
    f32 = client.post("/api/attention", json=body).json()["compared"]["grad_x_norm"]
    f64 = client.post("/api/attention", json=body | {"dtype": "float64"}).json()["compared"]["grad_x_norm"]
    assert 0 < f32[0] < 1e-60
    for a, b in zip(f32, f64, strict=True):
        assert a == pytest.approx(b, rel=1e-3)


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"heads": 3}, "heads", "allowed here: 1, 2, 4"),
        ({"width": 10, "heads": 4}, "heads", "does not divide the width 10"),
        ({"length": 300}, "length", "2 .. 256"),
        ({"length": 1}, "length", "2 .. 256"),
        ({"width": 129}, "width", "1 .. 128"),
        ({"heads": 0}, "heads", "1 .. 4"),
        ({"focus": 11}, "focus", "0 .. 10"),
        ({"focus": "sharp"}, "focus", ""),
        ({"positions": "rotary"}, "positions", "learned"),
        ({"compare": "transformer"}, "compare", "rnn_tanh"),
        ({"residual": "yes"}, "residual", ""),
        ({"seed": -1}, "seed", ""),
        ({"dtype": "float16"}, "dtype", "float32"),
        ({"length": 20, "extra": 1}, "extra", ""),
    ],
)
def test_bad_settings_name_their_field(client, body, field, words):
    r = client.post("/api/attention", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == field and detail["msg"].startswith(f"{field}: ") and words in detail["msg"]
    assert client.post("/api/attention", json={"length": 20}).status_code == 200  # still serving


def test_a_nan_focus_is_refused_by_name(client):
    r = client.post("/api/attention", content='{"focus": NaN}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] in ("focus", "body")
    assert not math.isnan(client.post("/api/attention", json={"length": 20}).json()["loss"])


def test_the_largest_setting_answers(client):
    r = client.post("/api/attention", json={"length": 256, "width": 128, "heads": 4, "compare": "lstm"})
    assert r.status_code == 200
    body = r.json()
    assert len(body["weights"]) == 4 and len(body["weights"][3][255]) == 256
    assert all(math.isfinite(v) for v in body["grad_x_norm"])


@pytest.mark.parametrize("seed", range(10))
def test_the_training_lesson_holds_on_live_trainings(client, seed):
    (lesson,) = [
        x for x in client.get("/api/attention/lessons").json() if x["name"] == "attention-learns-adding"
    ]
    r = client.post(
        "/api/attention/train",
        json={"config": lesson["config"] | {"seed": seed}, "training": lesson["training"]},
    )
    assert r.status_code == 200
    body = r.json()
    tr = body["training"]
    T = body["config"]["length"]
    assert (
        T == 100 and tr["settings"]["steps"] == 300 and len(tr["losses"]) == len(tr["compared_losses"]) == 300
    )
    assert tr["baseline"] == pytest.approx(1 / 6)
    # "the attention's held-out loss falls below 2% of what guessing the mean sum gets"
    assert tr["val_loss"] < 0.02 * tr["baseline"]
    # "one of its heads puts 80% or more of the last step's weight on the two marked steps"
    assert len(tr["markers"]) == 2
    assert max(sum(head[T - 1][j] for j in tr["markers"]) for head in body["weights"]) >= 0.8
    # "the tanh RNN's loss stays within 15% of the guess"
    assert abs(tr["compared_val_loss"] / tr["baseline"] - 1) < 0.15
    # "even trained, its gradient shrinks tenfold every 3 to 5 steps back"
    fit = body["compared"]["decay"]
    assert fit["direction"] == "decays" and 2.5 <= fit["steps_per_decade"] <= 5
    assert body["decay"]["direction"] == "flat"


def test_a_training_is_the_engines_on_the_same_batches(client):
    """The trained attention's weights on the held-out sequence are those of models.attention's trainer
    run by hand on the same stream; the compared cell's losses are models.Trainer's on that stream."""
    config = {"length": 20, "width": 8, "heads": 2, "seed": 3}
    body = client.post("/api/attention/train", json={"config": config, "training": {"steps": 15}}).json()
    stream = models.streams.make_stream("adding", 20, 32, 256, 3)
    w = attention.init(8, 20, 2, "sinusoidal", 1.0, 3, inputs=2)
    trainer = attention.AttentionTrainer(w, stream, 2, "sinusoidal", lr=3e-3, seed=3)
    losses = trainer.run(15)
    assert body["training"]["losses"] == pytest.approx(losses, rel=1e-5)
    probe = models.streams.first_element(stream.val)
    run = attention.trace(trainer.weights, probe.x, trainer.readout.weight[0].detach(), 2)
    assert body["weights"][1][19] == pytest.approx(run.weights[0, 1, 19].tolist(), rel=1e-5, abs=1e-7)
    rnn = models.Trainer("rnn_tanh", "adding", seq_len=20, hidden_size=8, batch_size=32, lr=3e-3, seed=3)
    assert body["training"]["compared_losses"] == pytest.approx([r.loss for r in rnn.run(15)], rel=1e-5)
    assert body["training"]["markers"] == torch.nonzero(probe.x[:, 0, 1]).flatten().tolist()


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"training": {"steps": 0}}, "training.steps", "1"),
        ({"training": {"lr": 5}}, "training.lr", "1"),
        ({"training": {"batch_size": 1000}}, "training.batch_size", "256"),
        (
            {"config": {"length": 256, "width": 128}, "training": {"steps": 300}},
            "training.steps",
            "at most ",
        ),
        ({"config": {"heads": 3}}, "heads", "does not divide"),
        ({"training": {"optimizer": "sgd"}}, "training.optimizer", ""),
    ],
)
def test_bad_training_settings_name_their_field(client, body, field, words):
    r = client.post("/api/attention/train", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == field and words in detail["msg"], detail


def test_trainings_past_the_servers_slots_are_refused_busy(client):
    slots = client.app.state.train_slots
    taken = 0
    while slots.take():
        taken += 1
    try:
        r = client.post("/api/attention/train", json={"config": {"length": 10}, "training": {"steps": 1}})
        assert r.status_code == 503 and r.headers["Retry-After"] == "10"
        assert r.json()["detail"][0]["msg"].startswith("busy:")
    finally:
        for _ in range(taken):
            slots.give()
    assert (
        client.post(
            "/api/attention/train", json={"config": {"length": 10}, "training": {"steps": 1}}
        ).status_code
        == 200
    )


def test_the_panels_default_training_fits_and_a_slow_cell_is_bounded(client):
    """The panel's defaults (and every lesson) train within the bound; beside the LTC, whose training
    step costs a hundred times the tanh RNN's, the same training is refused with the steps that fit."""
    defaults = client.get("/static/js/spec.json").json()["attention"]
    config, training = defaults["defaults"], defaults["training"]["defaults"]
    cost = models.cells.REGISTRY[config["compare"]].train_cost
    size = (config["length"], config["width"], config["heads"], training["batch_size"], training["steps"])
    assert models.attention.training_seconds(*size, cost) <= models.limits.TRAIN_REQUEST_SECONDS
    for lesson in client.get("/api/attention/lessons").json():
        if lesson.get("training"):
            c, t = lesson["config"], lesson["training"]
            cost = models.cells.REGISTRY[c["compare"]].train_cost
            seconds = models.attention.training_seconds(
                c["length"], c["width"], c["heads"], t["batch_size"], t["steps"], cost
            )
            assert seconds <= models.limits.TRAIN_REQUEST_SECONDS
    r = client.post(
        "/api/attention/train", json={"config": config | {"compare": "ltc"}, "training": training}
    )
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == "training.steps" and "at most" in detail["msg"] and "12 s" in detail["msg"]


@pytest.mark.parametrize("path", ["/api/attention/train", "/api/highway/train"])
def test_a_float64_training_traces_in_float64(client, path):
    """Both models train in float32 (as Train mode does); the trained traces are in the run's dtype."""
    config = {"dtype": "float64", "seed": 1} | (
        {"length": 20, "width": 8} if "attention" in path else {"layers": 5}
    )
    r = client.post(path, json={"config": config, "training": {"steps": 5}})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["config"]["dtype"] == "float64" and len(body["training"]["losses"]) == 5
