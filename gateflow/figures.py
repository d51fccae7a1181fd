"""The page's views as Plotly figures, for a notebook: from traces, with the page's own description.

    import gateflow
    from gateflow import figures
    task = gateflow.tasks.adding(seq_len=60, seed=0)
    traces = {}
    for cell in ("rnn_tanh", "lstm"):
        net = gateflow.build(cell, input_size=2, hidden_size=16, seed=0)
        readout = gateflow.tasks.make_readout(net.output_size, task.output_size, seed=0)
        traces[cell] = net.trace(task.x, loss=task.loss_fn(readout, "last"))
    figures.gradient_flow(traces)             # ‖∂L/∂h_t‖ per cell on a log axis, with the fitted decays
    figures.jacobian_norms(traces)            # ‖∂h_last/∂h_t‖₂
    figures.input_gradients(traces)           # ‖∂L/∂x_t‖: how much the answer can learn from each input
    figures.heatmap(traces, "h")              # unit × time, one column per cell
    figures.gates(traces)                     # every gate of every cell

Titles, axis names, curve names, colours and colour scales come from the page's ``spec.json``
(static/js/views.json with the cell registry's names, colours and gates; app.schemas.VIEW_SPEC), the
description the page's views read (static/js/config.js): a name or a colour changed there changes both, and
tests/e2e/test_figures_match_page.py compares the two figures of one run.

``traces`` is a Trace, a list of them (named by their cell), or a dict name -> Trace. Every figure
shows one layer-direction (``layer``, ``direction``: -1 is the top layer, 1 the reverse direction) of
one batch element (``batch``). NaN, inf and exact zeros are data: a log axis cannot draw them, so
they are marked on a strip of their own below the plot, never dropped without a word.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import decay as _decay
from . import models as _models

FONT = 13
MARK_KINDS = ("inf", "-inf", "NaN", "0")  # what a log axis cannot show, in strip order
MARK_HOVER = {"inf": "inf (overflow)", "-inf": "−inf", "NaN": "NaN (not a number)", "0": "exactly 0"}


def spec() -> dict:
    """The views' description the page reads: the cell registry's cells and gates, colour scales, the
    gradient plots, the heatmaps' fields (app.schemas.VIEW_SPEC, the page's /static/js/spec.json)."""
    from . import _app

    return _app("schemas").VIEW_SPEC


# -- what is plotted ------------------------------------------------------------------------------------
def _named(traces) -> dict[str, _models.Trace]:
    if isinstance(traces, _models.Trace):
        return {label(traces.cell): traces}
    if isinstance(traces, Mapping):
        out = dict(traces)
    elif isinstance(traces, Sequence) and not isinstance(traces, str):
        out = {}
        for tr in traces:
            name = label(tr.cell)
            out[name if name not in out else f"{name} #{len(out) + 1}"] = tr
    else:
        raise TypeError(
            f"traces: a Trace, a list of Traces or a dict name -> Trace, not {type(traces).__name__}"
        )
    for name, tr in out.items():
        if not isinstance(tr, _models.Trace):
            raise TypeError(f"traces[{name!r}]: a Trace (net.trace(...)), not {type(tr).__name__}")
    if not out:
        raise ValueError("traces: nothing to plot")
    return out


def label(cell: str) -> str:
    """A cell's name on screen: "RNN (tanh)", "LSTM" (the key itself for a name spec.json lacks)."""
    return spec()["cells"].get(cell, {}).get("label", cell)


def color(cell: str) -> str:
    return spec()["cells"].get(cell, {}).get("color", "#555555")


def _display_name(name: str, tr: _models.Trace) -> str:
    """A dict's key as the legend says it: a cell's own name ("lstm") reads as its label."""
    return label(name) if name == tr.cell else name


def _ld(tr: _models.Trace, layer: int, direction: int) -> int:
    if not -tr.num_layers <= layer < tr.num_layers:
        raise ValueError(
            f"layer: {layer} is outside the allowed range {-tr.num_layers} .. {tr.num_layers - 1}"
        )
    if direction not in range(tr.num_directions):
        raise ValueError(f"direction: {direction} is outside the allowed range 0 .. {tr.num_directions - 1}")
    return tr.index(layer, direction)


def _at(values, ld: int, batch: int):
    """One layer-direction and batch element of a (L*dirs, T, B, ...) tensor, on the CPU."""
    if not 0 <= batch < values.shape[2]:
        raise ValueError(f"batch: {batch} is outside the allowed range 0 .. {values.shape[2] - 1}")
    return values[ld, :, batch].detach().to("cpu")


def _curve(values, ld: int, batch: int) -> np.ndarray | None:
    """A per-step norm, float64, as the page's curves."""
    return None if values is None else _at(values, ld, batch).double().numpy()


def _units(values, ld: int, batch: int) -> np.ndarray:
    """(T, H), float32 as the page receives them."""
    return _at(values, ld, batch).float().numpy()


def _mark_kind(v: float) -> str | None:
    if math.isfinite(v) and v > 0:
        return None
    if math.isnan(v):
        return "NaN"
    if v == 0:
        return "0"
    return "inf" if v > 0 else "-inf"


def _fill(text: str, reverse: bool, T: int) -> str:
    return text.replace("{last}", "0" if reverse else "T−1").replace("{T-1}", str(T - 1))


# -- the gradient view's two plots ----------------------------------------------------------------------
def gradient_flow(traces, *, layer: int = -1, direction: int = 0, batch: int = 0) -> go.Figure:
    """‖∂L/∂h_t‖ (solid) and, for an LSTM, ‖∂L/∂c_t‖ (dashed) against t on a log axis, one colour per
    cell, and under it each curve's fitted decay in the page's words ("10x smaller every 4 steps
    back")."""
    return _norm_figure(_named(traces), spec()["gradients"][0], layer, direction, batch)


def jacobian_norms(traces, *, layer: int = -1, direction: int = 0, batch: int = 0) -> go.Figure:
    """‖∂h_last/∂h_t‖₂ (solid) and ‖∂c_last/∂c_t‖₂ (dashed): how much the last state depends on each
    step, within one layer-direction. A trace made with ``jacobian=False`` has none: say so."""
    return _norm_figure(_named(traces), spec()["gradients"][1], layer, direction, batch)


def input_gradients(traces, *, batch: int = 0) -> go.Figure:
    """‖∂L/∂x_t‖ against t on a log axis, every cell on one axis: how much the answer can still learn
    from the input at t, the curve every architecture has (exponential for the tanh RNN, slower for
    the LSTM and GRU), with each fit in the page's words."""
    return _norm_figure(_named(traces), spec()["gradients"][2], -1, 0, batch)


def _norm_figure(named: dict, plot: dict, layer: int, direction: int, batch: int) -> go.Figure:
    first = next(iter(named.values()))
    reverse = direction == 1
    T = first.h.shape[1]
    fig = go.Figure()
    marks = []  # (name, colour, t, kind, quantity)
    fits = []
    curve_names = plot.get("curve_names", spec()["curve_names"])
    for name, tr in named.items():
        ld = _ld(tr, layer, direction)
        shown = _display_name(name, tr)
        for key, dash, curve_name in (
            (plot["solid"], "solid", curve_names["solid"]),
            (plot["dashed"], "dash", curve_names["dashed"]),
        ):
            field = getattr(tr, key) if key else None
            if field is not None and plot.get("of_input"):  # the input's: (T, B), the same for every layer
                field = field.unsqueeze(0).expand(tr.h.shape[0], *field.shape)
            values = _curve(field, ld, batch)
            if values is None:
                continue
            y = []
            for t, v in enumerate(values):
                kind = _mark_kind(float(v))
                y.append(float(v) if kind is None else None)
                if kind is not None:
                    marks.append((shown, color(tr.cell), t, kind, key))
            fig.add_trace(
                go.Scatter(
                    x=list(range(len(values))),
                    y=y,
                    mode="lines",
                    name=f"{shown} {curve_name}",
                    meta={"cell": tr.cell, "quantity": key},
                    line={"color": color(tr.cell), "dash": dash, "width": 3 if dash == "solid" else 2},
                    hovertemplate=f"{shown} t=%{{x}}: %{{y:.3g}}<extra>{key}</extra>",
                )
            )
            fit = _decay.fit_decay_by_t(values, reverse=reverse)
            fits.append((shown if dash == "solid" else f"{shown}, c", fit.text))
    if not fig.data:
        missing = f"{plot['y_title']}: not computed for these traces (trace with jacobian=True)"
        _note(fig, missing, x=0.5, y=0.5)
    fig.update_layout(
        title={
            "text": _fill(plot["title"], reverse, T),
            "x": 0,
            "xanchor": "left",
            "y": 0.98,
            "yref": "container",
        },
        font={"size": FONT},
        height=380 + 20 * len(fits),
        margin={"l": 70, "r": 12, "t": 84, "b": 70 + 20 * len(fits)},
        plot_bgcolor="#ffffff",
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        xaxis={"title": {"text": "t"}, "range": [-0.5, T - 0.5], "zeroline": False},
        yaxis={
            "title": {"text": plot["y_title"]},
            "type": "log",
            "gridcolor": "#e4e4e4",
            "exponentformat": "power",
        },
        meta={
            "view": plot["id"],
            "caption": _fill(plot["caption"]["reverse" if reverse else "forward"], reverse, T),
        },
    )
    _add_marks(fig, marks)
    for k, (who, text) in enumerate(fits):  # under the plot, as the page lists them
        _note(
            fig,
            f"<b>{who}</b>: {text}",
            x=0,
            xanchor="left",
            y=0,
            yanchor="top",
            yshift=-40 - 20 * k,
            font={"size": FONT - 1},
            align="left",
        )
    return fig


def _note(fig: go.Figure, text: str, **where) -> None:
    """A line of text at a place on the figure's paper."""
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", **where)


def _add_marks(fig: go.Figure, marks: list) -> None:
    """NaN, inf and exact zeros on a strip below the log axis, a row per kind, in the cell's colour."""
    kinds = [k for k in MARK_KINDS if any(m[3] == k for m in marks)]
    if not kinds:
        return
    strip = min(0.06 * len(kinds), 0.25)
    fig.update_layout(
        yaxis={"domain": [strip + 0.04, 1]},
        yaxis2={
            "domain": [0, strip],
            "range": [-0.5, len(kinds) - 0.5],
            "tickmode": "array",
            "tickvals": list(range(len(kinds))),
            "ticktext": [k.replace("-inf", "−inf") for k in kinds],
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
        },
    )
    for row, kind in enumerate(kinds):
        these = [m for m in marks if m[3] == kind]
        fig.add_trace(
            go.Scatter(
                x=[m[2] for m in these],
                y=[row] * len(these),
                yaxis="y2",
                mode="markers",
                name=kind,
                showlegend=False,
                marker={
                    "symbol": "x-thin-open",
                    "size": 9,
                    "color": [m[1] for m in these],
                    "line": {"width": 2},
                },
                text=[f"{m[0]} {m[4]} at t={m[2]}: {MARK_HOVER[kind]}" for m in these],
                hovertemplate="%{text}<extra></extra>",
                meta={"marks": kind},
            )
        )


# -- heatmaps -------------------------------------------------------------------------------------------
def _stats(z: np.ndarray) -> dict:
    finite = z[np.isfinite(z)]
    nonzero = np.abs(finite[finite != 0])
    return {
        "max_abs": float(np.abs(finite).max()) if finite.size else 0.0,
        "min_abs": float(nonzero.min()) if nonzero.size else math.inf,
        "zeros": int((finite == 0).sum()),
        "nonfinite": int(z.size - finite.size),
    }


def _ranges(plots: list[dict], shared: bool, log: bool) -> None:
    """The page's colour ranges (heatmap_figure.js colourRanges): sigmoid gates 0..1; a signed field a
    symmetric range shared by the cells within 10x (log: 4 decades) of the largest, the rest their own;
    log10 |value| from the largest down to the smallest non-zero, at most 16 decades."""
    sigmoid = {g for g, info in spec()["gates"].items() if info["sigmoid"]}
    within = spec()["heatmaps"]["share_within_decades"]
    floor = spec()["heatmaps"]["log_floor_decades"]
    by_field: dict[str, list[dict]] = {}
    for p in plots:
        if p["field"] in sigmoid:
            p.update(range=(0.0, 1.0), log=False, own=False)
        else:
            by_field.setdefault(p["field"], []).append(p)
    for field, these in by_field.items():
        is_log = log and field.startswith("grad_")
        span = within["log" if is_log else "linear"]
        if not shared:
            groups = [[p] for p in these]
        else:
            sized = sorted(
                (p for p in these if p["stats"]["max_abs"] > 0), key=lambda p: -p["stats"]["max_abs"]
            )
            groups = []
            for p in sized:
                top = groups[-1][0]["stats"]["max_abs"] if groups else None
                if top and math.log10(top) - math.log10(p["stats"]["max_abs"]) <= span + 1e-9:
                    groups[-1].append(p)
                else:
                    groups.append([p])
            empty = [p for p in these if not p["stats"]["max_abs"] > 0]
            if groups:
                groups[0].extend(empty)
            elif empty:
                groups = [empty]
        for group in groups:
            top = max(p["stats"]["max_abs"] for p in group)
            if is_log:
                hi = math.log10(top) if top > 0 else 0.0
                smallest = min(p["stats"]["min_abs"] for p in group)
                lo = math.floor(math.log10(smallest)) if math.isfinite(smallest) else hi - 1
                lo = max(lo, math.floor(hi - floor))
                rng = (float(lo), hi if hi > lo else lo + 1.0)
            else:
                rng = (-(top or 1.0), top or 1.0)
            own = shared and len(group) == 1 and len(these) > 1
            for p in group:
                p.update(range=rng, log=is_log, own=own)


def _domains(fig: go.Figure, row: int, col: int) -> tuple[list[float], list[float]]:
    """The paper coordinates of subplot (row, col), 0-based."""
    ref = fig.get_subplot(row + 1, col + 1)
    return list(ref.xaxis.domain), list(ref.yaxis.domain)


def _field_title(field: str) -> str:
    info = spec()["heatmaps"]["fields"].get(field)
    if info:
        return info["title"]
    return f"{field} — {spec()['gates'].get(field, {}).get('label', field)}"


def _values(tr: _models.Trace, field: str):
    if field in ("h", "c", "grad_h", "grad_c"):
        return getattr(tr, field)
    return tr.gates.get(field)


def heatmap(
    traces,
    field: str = "h",
    *,
    layer: int = -1,
    direction: int = 0,
    batch: int = 0,
    colour_range: str = "shared",
    gradient_scale: str = "linear",
) -> go.Figure:
    """Unit × time heatmaps of one field ("h", "c", "grad_h", "grad_c" or a gate "i", "f", "g", "o",
    "r", "z", "n", "pre"), one column per trace (one without the field is left out). ``colour_range``
    "shared" (the page's default) or "local"; ``gradient_scale`` "log" shows log10 |∂L/∂h|."""
    named = _named(traces)
    return _heatmaps(
        named, {name: [field] for name in named}, layer, direction, batch, colour_range, gradient_scale
    )


def gates(traces, *, layer: int = -1, direction: int = 0, batch: int = 0) -> go.Figure:
    """Every gate of every trace, unit × time: a column per trace, its gates down it (LSTM i, f, g, o;
    GRU r, z, n; a plain RNN its pre-activation). Sigmoid gates on 0..1 (cividis), the rest signed."""
    named = _named(traces)
    order = list(spec()["gates"])
    return _heatmaps(
        named,
        {name: sorted(tr.gates, key=order.index) for name, tr in named.items()},
        layer,
        direction,
        batch,
    )


def _heatmaps(
    named, columns: dict, layer, direction, batch, colour_range="shared", gradient_scale="linear"
) -> go.Figure:
    """A column per trace, holding ``columns[name]``'s fields from the top down."""
    if colour_range not in ("shared", "local"):
        raise ValueError(f"colour_range: {colour_range!r} is not one of shared, local")
    if gradient_scale not in ("linear", "log"):
        raise ValueError(f"gradient_scale: {gradient_scale!r} is not one of linear, log")
    known = {"h", "c", "grad_h", "grad_c", *spec()["gates"]}
    fields = [field for name in named for field in columns[name]]
    for field in fields:
        if field not in known:
            raise ValueError(f"field: {field!r} is not one of {', '.join(sorted(known))}")
    n_rows = max(len(these) for these in columns.values())
    plots = []
    for col, (name, tr) in enumerate(named.items()):
        ld = _ld(tr, layer, direction)
        for row, field in enumerate(columns[name]):
            values = _values(tr, field)
            if values is None:
                continue
            z = _units(values, ld, batch).T  # (H, T): a row per unit
            plots.append(
                {"row": row, "col": col, "name": name, "tr": tr, "field": field, "z": z, "stats": _stats(z)}
            )
    if not plots:
        raise ValueError(f"field: none of the traces has {', '.join(dict.fromkeys(fields))}")
    _ranges(plots, colour_range == "shared", gradient_scale == "log")
    scales = spec()["scales"]
    sigmoid = {g for g, info in spec()["gates"].items() if info["sigmoid"]}
    titles = []
    for row in range(n_rows):
        for col, (name, tr) in enumerate(named.items()):
            p = next((p for p in plots if p["row"] == row and p["col"] == col), None)
            head = f"{_display_name(name, tr)}: {_field_title(p['field'])}" if p else ""
            notes = []
            if p and p["log"]:
                notes.append("log₁₀ |·|")
            if p and p["own"]:
                notes.append(f"own colour range: values reach {p['stats']['max_abs']:.2g}")
            if p and p["stats"]["nonfinite"]:
                notes.append(f"■ black = NaN/inf ({p['stats']['nonfinite']})")
            if p and p["log"] and p["stats"]["zeros"]:
                notes.append(f"□ white = exactly 0 ({p['stats']['zeros']})")
            titles.append(head + (f"<br><sup>{'  ·  '.join(notes)}</sup>" if notes else ""))
    fig = make_subplots(
        rows=n_rows,
        cols=len(named),
        subplot_titles=titles,
        horizontal_spacing=0.11,
        vertical_spacing=0.3 / n_rows,
    )
    T, H = plots[0]["z"].shape[1], plots[0]["z"].shape[0]
    for p in plots:
        z, lo, hi = p["z"], *p["range"]
        symbol = spec()["heatmaps"]["fields"].get(p["field"], {}).get("symbol", p["field"])
        shown = np.where(np.isfinite(z), z, np.nan).astype(np.float64)
        if p["log"]:
            with np.errstate(divide="ignore"):
                shown = np.where(shown != 0, np.log10(np.abs(shown)), np.nan)
        scale = (
            scales["magnitude"]
            if p["log"]
            else scales["sequential"]
            if p["field"] in sigmoid
            else scales["diverging"]
        )
        x_dom, y_dom = _domains(fig, p["row"], p["col"])
        # one colour bar per range: a range the cells of a row share is shown once, beside the last
        last = max(q["col"] for q in plots if q["row"] == p["row"] and q["range"] == p["range"])
        value = "customdata" if p["log"] else "z"  # a log plot's hover says the signed value
        fig.add_trace(
            go.Heatmap(
                z=[[None if not math.isfinite(v) else float(v) for v in row] for row in shown],
                customdata=z.astype(np.float64).tolist() if p["log"] else None,
                zmin=lo,
                zmax=hi,
                zauto=False,
                colorscale=scale,
                showscale=p["col"] == last,
                colorbar={
                    "thickness": 8,
                    "len": y_dom[1] - y_dom[0],
                    "x": x_dom[1] + 0.005,
                    "xanchor": "left",
                    "y": (y_dom[0] + y_dom[1]) / 2,
                    "outlinewidth": 0,
                    "exponentformat": "power",
                },
                hovertemplate=f"t=%{{x}}, unit %{{y}}<br>{symbol} = %{{{value}:.3g}}<extra></extra>",
                meta={"cell": p["tr"].cell, "field": p["field"], "scale": "log" if p["log"] else "linear"},
            ),
            row=p["row"] + 1,
            col=p["col"] + 1,
        )
        if p["log"] and p["stats"]["zeros"]:  # an exact zero has no logarithm: white, as on the page
            zeros = [[1 if v == 0 else None for v in row] for row in z.tolist()]
            white = [[0, scales["zero"]], [1, scales["zero"]]]
            fig.add_trace(
                go.Heatmap(z=zeros, zmin=0, zmax=1, colorscale=white, showscale=False, hoverinfo="skip"),
                row=p["row"] + 1,
                col=p["col"] + 1,
            )
    fig.update_xaxes(range=[-0.5, T - 0.5], showgrid=False, zeroline=False, title_text="t")
    fig.update_yaxes(range=[-0.5, H - 0.5], showgrid=False, zeroline=False, title_text="unit")
    fig.update_layout(
        height=140 + 230 * n_rows,
        font={"size": FONT},
        plot_bgcolor=scales["nonfinite"],
        margin={"l": 60, "r": 30, "t": 70, "b": 50},
        meta={"view": "heatmaps", "fields": list(dict.fromkeys(fields))},
    )
    return fig


__all__ = ["color", "gates", "gradient_flow", "heatmap", "jacobian_norms", "label", "spec"]
