"""The memory budget (issue 9, item 3): the runs held in memory, cached or on a session's display,
are counted by bytes; a configure that would pass GATEFLOW_MEMORY_BUDGET_MB first drops cached runs
no session shows, then, if sessions hold it all, is told the server is busy and why."""

from __future__ import annotations

import gc

import orjson
import pytest
from wire_helpers import configure, receive_json

from app import engine
from app.schemas import RunConfig
from app.settings import Settings

# no Jacobian norms: a compute's room is then its run's alone (working memory: the last test)
MEDIUM = {"cells": ["rnn_tanh", "lstm"], "seq_len": 200, "hidden_size": 64, "jacobian": "off"}


def test_a_run_counts_while_a_session_shows_it_and_is_freed_after(client):
    engine.cache().clear()
    gc.collect()
    before = engine.memory_in_use()
    with client.websocket_connect("/ws") as ws:
        assert configure(ws, MEDIUM | {"seed": 301})[0]["type"] == "ready"
        engine.cache().clear()  # only the session holds it now
        gc.collect()
        held = engine.memory_in_use() - before
        assert held >= engine.estimate_bytes(RunConfig(**MEDIUM)) * 0.8
    gc.collect()
    assert engine.memory_in_use() - before < held / 10


def test_past_the_budget_cached_runs_go_first_then_a_configure_is_refused(client):
    engine.cache().clear()
    gc.collect()
    need = engine.estimate_bytes(RunConfig(**MEDIUM))
    settings = client.app.state.settings
    budget_mb = (engine.memory_in_use() + 2.5 * need) / 2**20
    client.app.state.settings = settings.model_copy(update={"memory_budget_mb": max(1, round(budget_mb))})
    try:
        for seed in (311, 312, 313):  # cached, shown by no session: dropped to make room
            assert client.post("/api/trace", json=MEDIUM | {"seed": seed}).status_code == 200
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            assert configure(a, MEDIUM | {"seed": 321})[0]["type"] == "ready"
            assert configure(b, MEDIUM | {"seed": 322})[0]["type"] == "ready"
            with client.websocket_connect("/ws") as c:
                c.send_text(orjson.dumps({"type": "configure", "config": MEDIUM | {"seed": 323}}).decode())
                assert receive_json(c)["type"] == "progress"
                error = receive_json(c)
                assert error["code"] == "busy" and "GATEFLOW_MEMORY_BUDGET_MB" in error["message"]
                response = client.post("/api/trace", json=MEDIUM | {"seed": 324})
                assert response.status_code == 503 and "memory budget" in response.json()["detail"][0]["msg"]
                a.close()
                gc.collect()
                assert configure(c, MEDIUM | {"seed": 323})[0]["type"] == "ready"  # room again
    finally:
        client.app.state.settings = settings
        engine.cache().clear()


@pytest.mark.parametrize("cells", [["rnn_tanh"], ["lstm", "gru"]])
def test_the_estimate_is_close_to_what_a_run_holds(cells):
    config = RunConfig(cells=cells, seq_len=50, hidden_size=16, num_layers=2, bidirectional=True)
    run = engine.compute_run(config)
    assert 0.9 * run.nbytes <= engine.estimate_bytes(config) <= 1.5 * run.nbytes


def test_runs_being_computed_count_against_the_budget():
    """Room is promised when a compute is admitted, not when it ends: 80 configures sent at once must
    not all pass a budget that holds only a few of them."""
    config = RunConfig(**MEDIUM)
    need = engine.estimate_bytes(config)
    engine.cache().clear()
    gc.collect()
    budget = engine.memory_in_use() + 2.5 * need
    first = engine.reserve(config, budget)
    second = engine.reserve(config, budget)
    with pytest.raises(engine.MemoryFull, match="being computed"):
        engine.reserve(config, budget)
    first.release()
    first.release()  # twice is once
    with engine.reserve(config, budget):
        pass
    second.release()
    assert engine.memory_in_use() < need / 10


def test_a_compute_with_jacobian_norms_reserves_its_working_memory():
    """The identity-seeded sweep behind ||dh_T/dh_t|| is the compute's largest buffer (T, K, H): it is
    promised while the run is computed, and given back with the reservation."""
    on, off = RunConfig(**MEDIUM | {"jacobian": "on"}), RunConfig(**MEDIUM)
    assert engine.working_bytes(off) == 0
    assert engine.working_bytes(on) == 4 * 200 * 128 * 64 * 4  # the LSTM: K = 2H cotangents
    before = engine.memory_in_use()
    with engine.reserve(on, 10**12) as with_norms, engine.reserve(off, 10**12) as without:
        assert with_norms.nbytes - without.nbytes == engine.working_bytes(on)
        assert engine.memory_in_use() - before == with_norms.nbytes + without.nbytes
    assert engine.memory_in_use() == before


def test_a_configure_waits_for_room_that_computes_give_back_rather_than_being_refused(client):
    """Two configures at once with room for one compute's working memory: the second waits for the
    first to finish (its working memory given back) and is then computed; neither is refused."""
    config = MEDIUM | {"jacobian": "on"}
    need = engine.estimate_bytes(RunConfig(**config)) + engine.working_bytes(RunConfig(**config))
    engine.cache().clear()
    gc.collect()
    settings = client.app.state.settings
    budget = engine.memory_in_use() + need + 1.2 * engine.estimate_bytes(RunConfig(**config))
    client.app.state.settings = settings.model_copy(update={"memory_budget_mb": budget / 2**20})
    try:
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            for ws, seed in ((a, 331), (b, 332)):
                ws.send_text(orjson.dumps({"type": "configure", "config": config | {"seed": seed}}).decode())
            for ws in (a, b):
                kinds = [receive_json(ws)["type"] for _ in range(2)]
                assert kinds == ["progress", "ready"], kinds
    finally:
        client.app.state.settings = settings
        engine.cache().clear()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_largest_runs_with_jacobian_norms_fit_the_default_budget_whatever_the_cell_threads(threads):
    """Cells side by side reserve their extra working memory only where there is room (engine._cells):
    what a configure needs to be admitted does not grow with GATEFLOW_CELL_THREADS."""
    before = engine._cell_threads
    engine.set_cell_threads(threads)
    try:
        budget = Settings().memory_budget_mb * 2**20
        for config in (
            RunConfig(seq_len=500, hidden_size=128, jacobian="on"),
            RunConfig(seq_len=500, hidden_size=128, num_layers=2, jacobian="on"),
        ):
            assert engine.estimate_bytes(config) + engine.working_bytes(config) < budget
    finally:
        engine.set_cell_threads(before)
