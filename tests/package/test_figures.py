"""gateflow.figures: every number it plots is the trace's, its names and colours are spec.json's (the
page's), NaN / inf / exact zeros are marked rather than dropped, and a wrong argument names itself.
That the page draws the same figures is tests/e2e/test_notebook_views.py's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gateflow
from gateflow import figures


@pytest.fixture(scope="module")
def traces():
    torch.set_num_threads(1)
    task = gateflow.tasks.adding(seq_len=30, batch=2, seed=3)
    out = {}
    for cell in ("rnn_tanh", "lstm", "gru"):
        net = gateflow.build(cell, input_size=2, hidden_size=6, num_layers=2, bidirectional=True, seed=1)
        head = gateflow.tasks.make_readout(net.output_size, task.output_size, seed=1)
        out[cell] = net.trace(task.x, loss=task.loss_fn(head, "last"))
    return out


def test_the_spec_names_the_engine_s_cells_and_gates():
    schemas = gateflow._app("schemas")
    assert list(figures.spec()["cells"]) == list(schemas.CELLS)
    assert set(figures.spec()["gates"]) == {g for gates in schemas.GATES.values() for g in gates}
    sigmoid = {g for g, info in figures.spec()["gates"].items() if info["sigmoid"]}
    # torch.nn's sigmoid gates, the CfC's time gate and the LTC's kept share; g, n, f1, f2 are tanh,
    # pre, ta, tb and the LTC's time constant unbounded
    assert sigmoid == {"i", "f", "o", "r", "z", "ti", "keep"}
    unbounded = {g for g, info in figures.spec()["gates"].items() if info["activation"] == "none"}
    assert unbounded == {"pre", "ta", "tb", "tau"}
    assert schemas.CELL_TITLE["rnn_tanh"] == figures.spec()["cells"]["rnn_tanh"]["title"]


@pytest.mark.parametrize("layer,direction", [(-1, 0), (0, 0), (0, 1)])
def test_gradient_curves_are_the_trace_s_norms(traces, layer, direction):
    fig = figures.gradient_flow(traces, layer=layer, direction=direction, batch=1)
    by_name = {d.name: d for d in fig.data}
    for cell, tr in traces.items():
        ld = tr.index(layer, direction)
        solid = by_name[f"{figures.label(cell)} (h)"]
        assert solid.line.color == figures.spec()["cells"][cell]["color"]
        np.testing.assert_array_equal(
            np.array(solid.y, dtype=float), tr.grad_h_norm[ld, :, 1].double().numpy()
        )
        if cell == "lstm":
            dashed = by_name["LSTM (c)"]
            assert dashed.line.dash == "dash"
            np.testing.assert_array_equal(
                np.array(dashed.y, dtype=float), tr.grad_c_norm[ld, :, 1].double().numpy()
            )
        # the fit in the page's words, in this direction's own order
        curve = tr.grad_h_norm[ld, :, 1].double().numpy()
        fit = gateflow.decay.fit_decay(curve[::-1] if direction else curve)
        assert any(
            a.text.startswith(f"<b>{figures.label(cell)}</b>: {fit.text}") for a in fig.layout.annotations
        )
    reverse = direction == 1
    assert fig.layout.meta["caption"].startswith("How much the loss")
    jac = figures.jacobian_norms(traces, layer=layer, direction=direction)
    assert ("h<sub>0</sub>" in jac.layout.title.text) == reverse
    assert ("h at t = 29" in jac.layout.meta["caption"]) == (not reverse)


def test_nan_inf_and_zero_are_marked_not_dropped(traces):
    tr = traces["rnn_tanh"]
    broken = gateflow.Trace(**{**tr.__dict__, "grad_h_norm": tr.grad_h_norm.clone()})
    top = tr.index(-1, 0)  # what the figure shows by default
    broken.grad_h_norm[top, 3, 0] = math.nan
    broken.grad_h_norm[top, 5, 0] = math.inf
    broken.grad_h_norm[top, 7, 0] = 0.0
    broken.grad_h_norm[top, 9, 0] = 1e-300  # data: on the log axis, not a mark
    fig = figures.gradient_flow({"broken": broken})
    curve = next(d for d in fig.data if d.name == "broken (h)")
    assert [curve.y[t] for t in (3, 5, 7)] == [None, None, None]
    assert curve.y[9] == 1e-300
    marks = {d.meta["marks"]: list(d.x) for d in fig.data if d.meta and "marks" in d.meta}
    assert marks == {"NaN": [3], "inf": [5], "0": [7]}
    assert list(fig.layout.yaxis2.ticktext) == ["inf", "NaN", "0"]


def test_heatmaps_share_a_range_within_10x_and_gates_live_on_0_1(traces):
    fig = figures.heatmap(traces, "h")
    plots = {d.meta["cell"]: d for d in fig.data}
    for cell, tr in traces.items():
        z = tr.h[tr.index(-1, 0), :, 0, :].float().numpy().T
        np.testing.assert_array_equal(np.array(plots[cell].z, dtype=np.float32), z)
    top = max(float(traces[c].h[-2, :, 0].abs().max()) for c in traces)
    assert {(d.zmin, d.zmax) for d in fig.data} == {(-top, top)}  # tanh states: all within 10x
    gates = figures.gates(traces)
    for d in gates.data:
        if d.meta["field"] in ("i", "f", "o", "r", "z"):
            assert (d.zmin, d.zmax) == (0.0, 1.0)
            assert [list(s) for s in d.colorscale] == figures.spec()["scales"]["sequential"]
    assert {d.meta["field"] for d in gates.data} == {"pre", "i", "f", "g", "o", "r", "z", "n"}


def test_a_cell_10x_apart_gets_its_own_range_and_log_gradients_keep_zeros_white(traces):
    tr = traces["lstm"]
    big = gateflow.Trace(**{**tr.__dict__, "h": tr.h * 1000})
    fig = figures.heatmap({"lstm": tr, "big": big}, "h")
    ranges = [(d.zmin, d.zmax) for d in fig.data]
    assert ranges[0] != ranges[1]
    assert "own colour range" in fig.layout.annotations[0].text
    zeroed = tr.grad_h.clone()
    zeroed[-2, 4, 0, :] = 0.0
    log = figures.heatmap(
        {"z": gateflow.Trace(**{**tr.__dict__, "grad_h": zeroed})}, "grad_h", gradient_scale="log"
    )
    main, white = log.data
    assert main.meta["scale"] == "log" and main.z[0][4] is None
    assert white.z[0][4] == 1 and white.colorscale[0][1] == figures.spec()["scales"]["zero"]
    assert "□ white = exactly 0 (6)" in log.layout.annotations[0].text


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda t: figures.gradient_flow(t, layer=2), "layer: 2 is outside the allowed range -2 .. 1"),
        (lambda t: figures.gradient_flow(t, direction=2), "direction: 2 is outside the allowed range 0 .. 1"),
        (lambda t: figures.gradient_flow(t, batch=5), "batch: 5 is outside the allowed range 0 .. 1"),
        (lambda t: figures.heatmap(t, "q"), "field: 'q' is not one of"),
        (
            lambda t: figures.heatmap(t, "h", colour_range="big"),
            "colour_range: 'big' is not one of shared, local",
        ),
        (lambda t: figures.gradient_flow([]), "traces: nothing to plot"),
        (lambda t: figures.gradient_flow(42), "traces: a Trace, a list of Traces or a dict"),
    ],
)
def test_a_wrong_argument_names_itself(traces, call, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        call(traces)


def test_a_trace_without_jacobians_says_so():
    net = gateflow.build("gru", input_size=2, hidden_size=4, seed=0)
    task = gateflow.tasks.adding(seq_len=8, seed=0)
    head = gateflow.tasks.make_readout(net.output_size, task.output_size, seed=0)
    tr = net.trace(task.x, loss=task.loss_fn(head, "last"), jacobian=False)
    fig = figures.jacobian_norms(tr)
    assert not fig.data
    assert "not computed" in fig.layout.annotations[0].text


def test_input_gradients_plots_every_cell_s_grad_x_norm():
    x = gateflow.tasks.adding(30, seed=0).x[:, :1]
    named = {c: gateflow.build(c, 2, 8, seed=1).trace(x) for c in ("rnn_tanh", "lstm")}
    fig = figures.input_gradients(named)
    assert fig.layout.meta["view"] == "input"
    for trace, tr in zip(fig.data, named.values(), strict=True):
        assert trace.meta["quantity"] == "grad_x_norm"
        assert list(trace.y) == tr.grad_x_norm[:, 0].double().tolist()
    assert "10x smaller every" in " ".join(a.text for a in fig.layout.annotations)
