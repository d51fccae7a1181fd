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
