"""docs/notebooks/tour.ipynb runs top to bottom in a real Jupyter kernel (nbclient, ipykernel), and what
it shows is checked: its figures' numbers against the same traces made here, the fitted decays, the
trained LSTM's parity with torch.nn.LSTM, and the live widget's output."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

import gateflow
from gateflow import figures

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "tour.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    return {tag: cell for cell in nb.cells for tag in cell.metadata.get("tags", [])}


def outputs(cell, kind: str) -> list:
    return [o["data"][kind] for o in cell.outputs if kind in o.get("data", {})]


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def curves(figure: dict) -> dict[str, list]:
    return {d["name"]: d["y"] for d in figure["data"] if d.get("meta", {}).get("quantity")}


def same_curves(shown: dict, ours, rel: float = 1e-12) -> None:
    expected = {d.name: list(d.y) for d in ours.data if d.meta and "quantity" in d.meta}
    assert shown.keys() == expected.keys()
    for name, ys in expected.items():
        for a, b in zip(shown[name], ys, strict=True):
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=rel), name


def the_tour_traces() -> dict:
    torch.set_num_threads(1)
    task = gateflow.tasks.adding(seq_len=60, seed=0)
    out = {}
    for cell in ("rnn_tanh", "lstm"):
        net = gateflow.build(cell, input_size=2, hidden_size=16, seed=0)
        head = gateflow.tasks.make_readout(net.output_size, task.output_size, seed=0)
        out[cell] = net.trace(task.x, loss=task.loss_fn(head, "last"))
    return out


def test_its_figures_are_the_same_traces_drawn_by_gateflow_figures(executed):
    traces = the_tour_traces()
    (figure,) = outputs(executed["compare"], PLOTLY)
    same_curves(curves(figure), figures.gradient_flow(traces))
    assert figure["layout"]["yaxis"]["type"] == "log"
    colours = [d["line"]["color"] for d in figure["data"][:2]]
    assert colours == [figures.color("rnn_tanh"), figures.color("lstm")]
    (jacobian,) = outputs(executed["jacobian"], PLOTLY)
    same_curves(curves(jacobian), figures.jacobian_norms(traces))
    (heatmap,) = outputs(executed["heatmap"], PLOTLY)
    ours = figures.heatmap(traces, "grad_h", gradient_scale="log")
    for shown, mine in zip(heatmap["data"], ours.data, strict=True):
        assert (shown["zmin"], shown["zmax"]) == (mine.zmin, mine.zmax)
        assert shown["z"] == [list(row) for row in mine.z]
    (gates,) = outputs(executed["gates"], PLOTLY)
    assert {d["meta"]["field"] for d in gates["data"]} == {"pre", "i", "f", "g", "o"}


def test_its_fitted_decays_are_the_engine_s(executed):
    printed = dict(re.findall(r"^(RNN \(tanh\)|LSTM)\s+(.+)$", text(executed["fits"]), flags=re.M))
    for cell, trace in the_tour_traces().items():
        fit = gateflow.decay.fit_decay(trace.grad_h_norm[0, :, 0].numpy())
        assert printed[figures.label(cell)] == fit.text
    # the RNN forgets faster than the LSTM on this task: fewer steps per factor of 10
    steps = {k: float(re.search(r"every ([\d.]+) steps", v).group(1)) for k, v in printed.items()}
    assert steps["RNN (tanh)"] < steps["LSTM"]


def test_your_lstm_is_torch_s_own_and_learned(executed):
    out = text(executed["your-lstm"])
    loss = float(re.search(r"training loss, last 20 steps: ([\d.]+)", out).group(1))
    difference = float(re.search(r"output: ([\deE.+-]+)", out).group(1))
    assert loss < 0.05  # the no-memory guess scores about 1/6
    assert difference <= 1e-6
    (figure,) = outputs(executed["your-lstm"], PLOTLY)
    assert set(curves(figure)) == {"trained LSTM (h)", "trained LSTM (c)"}


def test_the_page_s_run_and_the_widget(executed):
    (figure,) = outputs(executed["page"], PLOTLY)
    settings = {"cells": ["rnn_tanh", "lstm", "gru"], "task": "adding", "seq_len": 40, "hidden_size": 16}
    page = gateflow.traces(settings)
    same_curves(curves(figure), figures.gradient_flow(page))
    (view,) = outputs(executed["widget"], "application/vnd.jupyter.widget-view+json")
    assert view["model_id"]
