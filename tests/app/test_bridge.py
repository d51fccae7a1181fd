"""app/engine.py: the decay fit, numbers on the wire, frames and bulk against the engine, CSV, cache."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import threading
import time

import numpy as np
import orjson
import pytest
import torch
from wire_helpers import decode_binary, reference_trace, split_bulk, split_frame

import models
from app import engine
from app.schemas import Decay, RunConfig


# -- the decay fit on the wire (the fit itself: tests/models/test_decay.py) -------------------------
def test_decay_wire_form_has_exactly_the_schema_fields():
    norm = 10.0 ** ((np.arange(60) - 59) / 12.5)
    wire = engine.fit_decay(norm)
    assert Decay.model_validate(wire).model_dump() == wire
    assert wire == {
        "steps_per_decade": pytest.approx(12.5),
        "direction": "decays",
        "span": 60,
        "factor": pytest.approx(10 ** (-59 / 12.5)),
        "text": "10x smaller every 12.5 steps back",
        "explanation": None,
    }
    assert engine.fit_decay(np.zeros(10))["factor"] is None
    huge = engine.fit_decay(10.0 ** np.linspace(300, -300, 100))  # a change of 1e600: no inf on the wire
    assert huge["direction"] == "grows" and huge["factor"] is None and orjson.dumps(huge)


# -- JSON numbers ---------------------------------------------------------------------------------
def test_nonfinite_values_travel_as_strings_never_null():
    values = np.array([[1.5, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    text = engine.dumps({"v": engine.json_safe(values)})
    assert orjson.loads(text) == {"v": [[1.5, "NaN"], ["Infinity", "-Infinity"]]}
    assert b"null" not in text
    assert engine.wire_float(float("nan")) == "NaN" and engine.wire_float(-math.inf) == "-Infinity"
    finite = np.array([0.1, 2.0], dtype=np.float32)
    assert orjson.loads(engine.dumps(engine.json_safe(finite))) == pytest.approx([0.1, 2.0])


# -- frames and bulk ------------------------------------------------------------------------------
def test_frames_and_bulk_equal_the_engine_trace():
    config = RunConfig(
        cells=["rnn_tanh", "lstm", "gru"],
        hidden_size=6,
        num_layers=2,
        bidirectional=True,
        seq_len=12,
        seed=3,
        clamp={"f": 0.9, "z": 0.2},
    )
    run = engine.compute_run(config)
    ready = orjson.loads(run.ready_json)
    assert ready["T"] == 12 and ready["num_directions"] == 2
    references = {cell: reference_trace(config, cell) for cell in config.cells}
    for t in (0, 5, 11):
        kind, t_sent, sent_ms, values = decode_binary(run.frame_bytes(t))
        assert (kind, t_sent) == (1, t) and sent_ms > 1.6e12
        frame = split_frame(values, ready["frame_layout"])
        task = None
        for i, cell in enumerate(config.cells):
            task, tr = references[cell]
            # every unit's values are in the bulk block (checked below), not repeated in each frame
            assert not {(i, name) for name in ("h", "c", *tr.gates, "grad_h", "grad_c")} & set(frame)
            for name in engine.NORMS:
                tensor = getattr(tr, name)
                if tensor is None:
                    assert (i, name) not in frame
                else:  # frames are float32; the ready message's curves carry the float64 norms exactly
                    np.testing.assert_array_equal(frame[(i, name)], tensor[:, t, 0].float().numpy())
                    curves = np.array(ready["cells"][i]["curves"][name], dtype=np.float64)
                    np.testing.assert_array_equal(curves, tensor[:, :, 0].numpy())
        np.testing.assert_array_equal(frame[(None, "x")], task.x[t, 0].numpy())
    kind, t_sent, _, values = decode_binary(run.bulk_bytes())
    assert (kind, t_sent) == (2, 0)
    bulk = split_bulk(values, ready["bulk_layout"])
    _, tr = reference_trace(config, "lstm")
    np.testing.assert_array_equal(bulk[(1, "c")], tr.c[:, :, 0].numpy())
    np.testing.assert_array_equal(bulk[(1, "f")], np.full((4, 12, 6), 0.9, np.float32))
    np.testing.assert_array_equal(
        bulk[(2, "grad_h")], reference_trace(config, "gru")[1].grad_h[:, :, 0].numpy()
    )


def test_ready_curves_and_decay_match_the_trace():
    config = RunConfig(cells=["rnn_tanh"], seq_len=30)
    run = engine.compute_run(config)
    ready = orjson.loads(run.ready_json)
    _, tr = reference_trace(config, "rnn_tanh")
    cell = ready["cells"][0]
    np.testing.assert_allclose(cell["curves"]["grad_h_norm"], tr.grad_h_norm[:, :, 0].numpy(), rtol=1e-6)
    assert cell["curves"]["grad_c_norm"] is None
    assert cell["loss"] == pytest.approx(float(tr.loss), rel=1e-6)
    assert cell["decay"]["grad_h"] == engine.fit_decay(tr.grad_h_norm[-1, :, 0].numpy())
    assert ready["input"]["labels"] == models.tasks.adding(30).input_labels


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA where there is none")
def test_engine_value_errors_name_the_field():
    with pytest.raises(engine.EngineError) as info:
        engine.compute_run(RunConfig(device="cuda"))
    assert info.value.field == "device" and str(info.value).startswith("device:")


# -- CSV ------------------------------------------------------------------------------------------
def test_csv_rows_match_the_trace():
    config = RunConfig(cells=["lstm"], hidden_size=3, seq_len=5, bidirectional=True)
    run = engine.compute_run(config)
    rows = list(csv.DictReader(io.StringIO(engine.trace_csv(run))))
    assert list(rows[0]) == list(engine.CSV_COLUMNS)
    _, tr = reference_trace(config, "lstm")
    by_key = {(r["quantity"], r["layer"], r["direction"], r["t"], r["unit"]): r["value"] for r in rows}
    assert float(by_key[("c", "0", "1", "2", "1")]) == pytest.approx(float(tr.c[1, 2, 0, 1]), rel=1e-7)
    assert float(by_key[("jacobian_norm", "0", "0", "3", "")]) == pytest.approx(
        float(tr.jacobian_norm[0, 3, 0]), rel=1e-7
    )
    # the input's gradient: no layer or direction (the input feeds them all), D = 2 inputs of the adding task
    assert float(by_key[("grad_x", "", "", "3", "1")]) == pytest.approx(float(tr.grad_x[3, 0, 1]), rel=1e-6)
    assert float(by_key[("grad_x_norm", "", "", "2", "")]) == pytest.approx(
        float(tr.grad_x_norm[2, 0]), rel=1e-12
    )
    per_unit = 2 * 5 * 3 * (2 + 4 + 2)  # dirs * T * H * (h, c, 4 gates, grad_h, grad_c)
    norms = 2 * 5 * 4  # dirs * T * (grad_h_norm, grad_c_norm, jacobian_norm, jacobian_norm_c)
    inputs = 5 * 2 + 5  # T * D of grad_x, T of grad_x_norm
    assert len(rows) == per_unit + norms + inputs


def test_csv_writes_nonfinite_as_words():
    config = RunConfig(cells=["rnn_relu"], init="identity", spectral_radius=2.0, seq_len=100)
    text = engine.trace_csv(engine.compute_run(config))
    assert ",NaN\n" in text or ",Infinity\n" in text


# -- the cache ------------------------------------------------------------------------------------
def test_cache_computes_a_config_once_for_many_threads():
    cache = engine.RunCache(4)
    config = RunConfig(cells=["gru"], seq_len=40, seed=12345)
    runs = []
    threads = [threading.Thread(target=lambda: runs.append(cache.get(config))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert cache.computed == 1 and len(runs) == 8 and all(r is runs[0] for r in runs)
    for seed in range(5):
        cache.get(RunConfig(cells=["gru"], seq_len=10, seed=seed))
    assert cache.computed == 6
    cache.get(config)  # evicted: the least recently used of 5 new ones pushed it out
    assert cache.computed == 7
    disabled = engine.RunCache(0)
    disabled.get(config)
    disabled.get(config)
    assert disabled.computed == 2


def _same(x, y, where: str) -> None:
    """x and y equal to the last bit, NaN equal to NaN, float32 not float64."""
    if isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            _same(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, list | tuple):
        assert len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _same(u, v, f"{where}[{i}]")
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), where
    elif isinstance(x, float):
        assert x == y or (math.isnan(x) and math.isnan(y)), where
    else:
        assert x == y, where


BASE = dict(  # growing curves too (radius 1.3), whose notes quote the step Jacobians' norms
    cells=["rnn_tanh", "lstm", "gru"],
    seq_len=30,
    hidden_size=6,
    num_layers=2,
    bidirectional=True,
    seed=7,
    init="orthogonal",
    spectral_radius=1.3,
    jacobian="on",
)


@pytest.mark.parametrize(
    "change, reused",
    [
        ({"forget_bias": 2.0}, ["rnn_tanh", "gru"]),
        ({"update_bias": -1.0}, ["rnn_tanh", "lstm"]),
        ({"clamp": {"f": 1.0}}, ["rnn_tanh", "gru"]),
        ({"clamp": {"z": 0.0, "n": 0.5}}, ["rnn_tanh", "lstm"]),
        ({"cells": ["gru", "lstm"]}, ["gru", "lstm"]),
        ({"cells": ["lstm", "ltc"], "timespan": 0.5, "ode_unfolds": 3}, ["lstm"]),
        ({"seed": 8}, []),
        ({"hidden_size": 7}, []),
        ({"spectral_radius": 1.2}, []),
        ({"loss": "sum"}, []),
        ({"jacobian": "off"}, []),
        ({"adding_form": "hochreiter"}, []),
    ],
)
def test_a_run_takes_from_the_cache_only_the_cells_it_would_compute_the_same(change, reused):
    """A slider of one cell's option recomputes that cell alone; every cell of the run, reused or
    not, is what a run computed from nothing shows, to the last bit."""
    cache = engine.RunCache(4)
    first = cache.get(RunConfig(**BASE))
    config = RunConfig.model_validate(BASE | change)
    run = cache.get(config)
    assert cache.computed == 2 and cache.cells_reused == len(reused)
    before = {c.cell: c for c in first.cells}
    assert [c.cell for c in run.cells if c is before.get(c.cell)] == [c for c in config.cells if c in reused]
    fresh = engine.compute_run(config)  # no cache: every cell computed
    for ours, theirs in zip(run.cells, fresh.cells, strict=True):
        for f in dataclasses.fields(ours):
            _same(getattr(ours, f.name), getattr(theirs, f.name), f"{ours.cell}.{f.name}")
    assert run.bulk_payload == fresh.bulk_payload
    ready, ready_fresh = orjson.loads(run.ready_json), orjson.loads(fresh.ready_json)
    for r in (ready, ready_fresh):
        r.pop("compute_ms", None)
    assert ready == ready_fresh


# -- one run's cells side by side (engine._cells) ----------------------------------------------------
@pytest.fixture
def cell_threads():
    """engine.set_cell_threads for one test, then back to what it was."""
    before = engine._cell_threads
    yield engine.set_cell_threads
    engine.set_cell_threads(before)


def test_cells_computed_side_by_side_are_the_cells_computed_one_after_another(cell_threads):
    config = RunConfig(**BASE | {"hidden_size": 48, "seq_len": 60})  # H = 48: the block sweeps
    cell_threads(1)
    alone = engine.compute_run(config)
    cell_threads(3)
    together = engine.compute_run(config)
    assert [c.cell for c in together.cells] == config.cells
    for ours, theirs in zip(together.cells, alone.cells, strict=True):
        for f in dataclasses.fields(ours):
            _same(getattr(ours, f.name), getattr(theirs, f.name), f"{ours.cell}.{f.name}")
    assert together.bulk_payload == alone.bulk_payload


def test_every_cell_thread_is_in_the_run_s_cancel_scope_and_a_cancel_stops_them(cell_threads):
    cell_threads(2)
    event, seen, started = threading.Event(), {}, threading.Barrier(2, timeout=10)
    b_cancelled = threading.Event()

    def compute(name):
        seen[name] = threading.current_thread().name
        started.wait()  # both threads at work at once: "b" is not taken back by the caller
        if name == "a":
            event.set()  # the run is cancelled while "b" runs in the pool
        else:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not b_cancelled.is_set():
                try:
                    models.cancel.check()
                except models.cancel.Cancelled:
                    b_cancelled.set()
        return name

    with models.cancel.scope(event):
        assert engine._cells(["a", "b"], compute) == {"a": "a", "b": "b"}
    assert seen["b"].startswith("gateflow-cell") and b_cancelled.is_set()
    with models.cancel.scope(event), pytest.raises(models.cancel.Cancelled):
        engine.compute_run(RunConfig(**BASE))


def test_cells_no_pool_thread_has_started_are_computed_by_the_run_s_own_thread(cell_threads):
    """A pool busy with another run's cell: this run does not wait for it."""
    cell_threads(2)
    engine._cells(["warm", "up"], lambda name: name)  # the pool exists
    hold = threading.Event()
    busy = engine._cell_pool.submit(hold.wait, 10)
    try:
        where = {}
        out = engine._cells(["a", "b", "c"], lambda n: where.setdefault(n, threading.current_thread()))
        assert set(out) == {"a", "b", "c"}
        assert set(where.values()) == {threading.current_thread()}
    finally:
        hold.set()
        busy.result()


def test_an_error_in_a_cell_thread_reaches_the_run(cell_threads):
    cell_threads(2)

    def compute(name):
        if name == "b":
            raise ValueError("hidden_size: boom")
        return name

    with pytest.raises(ValueError, match="boom"):
        engine._cells(["a", "b"], compute)
    assert engine._cells(["a", "c"], lambda n: n) == {"a": "a", "c": "c"}  # the pool still works


def test_an_error_in_one_cell_stops_the_others_before_it_is_raised(cell_threads):
    cell_threads(2)
    started, stopped = threading.Event(), threading.Event()

    def compute(name):
        if name == "a":
            assert started.wait(10)
            raise ValueError("hidden_size: boom")
        started.set()
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                models.cancel.check()
                time.sleep(0.001)
        except models.cancel.Cancelled:
            stopped.set()
            raise
        return name

    with pytest.raises(ValueError, match="boom"):
        engine._cells(["a", "b"], compute)
    assert stopped.is_set()  # "b" had stopped when the error came out: nothing runs on after the run


def test_cells_side_by_side_hold_their_working_memory_under_the_budget(cell_threads):
    cell_threads(2)
    together, held = threading.Barrier(2, timeout=10), []

    def meet(name):
        held.append(engine.computing_bytes())
        together.wait()  # passed only by two threads at work at once
        return name

    before = engine.computing_bytes()
    roomy = engine.memory_in_use() + 10**6
    assert engine.within_budget(roomy, lambda: engine._cells(["a", "b"], meet, 10**5))() == {
        "a": "a",
        "b": "b",
    }
    assert min(held) == before + 10**5  # the second cell's working memory, counted while it runs
    assert engine.computing_bytes() == before
    where = {}  # no room for a second cell's working memory: one after another, on this thread

    def record(name):
        where[name] = (threading.current_thread(), engine.computing_bytes())
        return name

    tight = engine.memory_in_use() + 10**5 - 1
    engine.within_budget(tight, lambda: engine._cells(["a", "b"], record, 10**5))()
    assert set(where.values()) == {(threading.current_thread(), before)}  # nothing more reserved


def test_a_run_computed_while_another_is_keeps_its_cells_on_its_own_thread(cell_threads):
    """Under load every run keeps to one thread: side by side costs more CPU time in all."""
    cell_threads(2)
    where = {}
    with engine._computing(), engine._computing():  # this run and another
        engine._cells(["a", "b", "c"], lambda n: where.setdefault(n, threading.current_thread()))
    assert set(where.values()) == {threading.current_thread()}
    together = threading.Barrier(2, timeout=10)  # passed only by two threads at work at once

    def meet(name):
        together.wait()
        return name

    with engine._computing():  # this run alone
        assert engine._cells(["a", "b"], meet) == {"a": "a", "b": "b"}


def test_the_cell_threads_are_no_more_than_the_cores_the_server_may_use(monkeypatch, cell_threads):
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: {0})  # e.g. taskset -c 0
    cell_threads(4)
    assert engine._cell_threads == 1
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    cell_threads(4)
    assert engine._cell_threads == 3
    cell_threads(2)
    assert engine._cell_threads == 2
