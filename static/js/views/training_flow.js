/**
 * The gradient-flow movie: per cell a heatmap of log10 ||dL/dh_t|| with one column per step t of the
 * fixed probe sequence and one row per gradient record (training step, going up), from the probes'
 * grad_h_norm of the top layer's forward direction (row L*dirs − dirs). Exact zeros, inf and NaN are
 * no colour of the scale: they get the depth view's colours of their own, counted in the legend.
 * A red line marks the checkpoint the views below show (the playhead); under the heatmaps, the
 * record at that step as a curve against t (log axis), beside the one before training (dotted).
 *
 * Emits: "later" {ms} when an update waits for its turn (redraws are throttled while training runs).
 */

import { CELL_COLOR, MAGNITUDE, fmt } from "../config.js";
import { Emitter } from "../events.js";
import { exponentTicks } from "../ticks.js";
import { SPECIAL, SPECIAL_SCALE } from "./depth.js";
import { markKind, markRows, withStrips } from "./gradient_marks.js";
import { swatch } from "./gradient_words.js";
import { Figure, Throttle, baseLayout, cellName, logAxis, sizes, stripTraces, thin } from "./training_plot.js";

const PLAYHEAD = "#d00000";
const MAX_ROWS = 400; // heatmap rows per cell

function specialKind(v) {
  const kind = markKind(v);
  return kind === "-inf" ? "inf" : kind;
}

export class TrainFlowView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    this.plotly = plotly;
    this.body = root.querySelector(".flow-body");
    this.empty = document.createElement("p");
    this.empty.className = "plot-empty";
    this.grid = document.createElement("div");
    this.grid.className = "flow-grid";
    this.legend = document.createElement("p");
    this.legend.className = "depth-legend";
    this.lineHost = document.createElement("figure");
    this.lineHost.className = "flow-line";
    this.lineCaption = document.createElement("figcaption");
    this.lineHost.append(this.lineCaption);
    this.line = new Figure(this.lineHost, plotly, "train-flow-line");
    this.body.append(this.empty, this.grid, this.legend, this.lineHost);
    this.maps = new Map(); // cell -> Figure
    this.throttle = new Throttle(300);
  }

  update(model) {
    const { training: record, state } = model;
    if (state.get("mode") !== "train" || this.root.hidden) return;
    const chosen = model.chosen;
    const large = Boolean(state.get("large"));
    const key = JSON.stringify([record.id, record.version, chosen, large]);
    if (!this.throttle.due(key, !record.running)) {
      if (this.throttle.wait > 0) this.emit("later", { ms: this.throttle.wait });
      return;
    }
    this.render(record, chosen, large);
  }

  render(record, chosen, large) {
    const withProbes = record.cells.filter((c) => c.probes.length);
    this.grid.hidden = this.lineHost.hidden = this.legend.hidden = withProbes.length === 0;
    this.empty.hidden = withProbes.length > 0;
    if (!withProbes.length) {
      this.empty.textContent = record.exists
        ? "Waiting for the first gradient record (one every few steps)…"
        : "Once training starts, each net gets a picture here: one row per gradient record, going up as training goes on, one column per step t. Watch whether the colour reaches back to t = 0.";
      for (const fig of this.maps.values()) fig.purge();
      this.maps.clear();
      this.grid.replaceChildren();
      return;
    }
    const ld = record.topLd;
    const range = this.range(withProbes, ld);
    const counts = { 0: 0, inf: 0, NaN: 0 };
    for (const [name, fig] of this.maps) {
      if (withProbes.some((c) => c.name === name)) continue;
      fig.purge();
      fig.gd.parentElement.remove();
      this.maps.delete(name);
    }
    // the columns first: Plotly measures its host when it draws
    this.grid.style.setProperty("--columns", String(withProbes.length));
    withProbes.forEach((cell, k) => {
      let fig = this.maps.get(cell.name);
      if (!fig) {
        const host = document.createElement("div");
        host.className = "flow-map";
        this.grid.append(host);
        fig = new Figure(host, this.plotly, "train-flow");
        fig.gd.dataset.cell = cell.name;
        this.maps.set(cell.name, fig);
      }
      const last = k === withProbes.length - 1;
      const { data, layout } = this.heatmap(cell, ld, range, chosen, large, counts, last);
      fig.draw(data, layout);
    });
    this.renderLegend(counts);
    this.renderLine(record, withProbes, ld, chosen, large);
  }

  /** log10 range over every cell's finite, positive norms: one colour means one size in every cell. */
  range(cells, ld) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const cell of cells) {
      for (const p of cell.probes) {
        for (const v of p.grad_h_norm?.[ld] || []) {
          if (!(Number.isFinite(v) && v > 0)) continue;
          const e = Math.log10(v);
          if (e < lo) lo = e;
          if (e > hi) hi = e;
        }
      }
    }
    if (!Number.isFinite(lo)) return [-1, 0];
    if (hi - lo < 0.5) return [lo - 0.25, hi + 0.25];
    return [lo, hi];
  }

  heatmap(cell, ld, [zmin, zmax], chosen, large, counts, colorbar) {
    const label = cellName(cell.name);
    // a long training's records, thinned to rows a screen can show (the first and last kept)
    const keep = thin(cell.probes.length, MAX_ROWS);
    const probes = keep ? keep.map((i) => cell.probes[i]) : cell.probes;
    const T = Math.max(...probes.map((p) => (p.grad_h_norm?.[ld] || []).length));
    const x = Array.from({ length: T }, (_, t) => t);
    const y = probes.map((p) => p.step);
    const z = [];
    const special = [];
    const text = [];
    let anySpecial = false;
    for (const p of probes) {
      const row = p.grad_h_norm?.[ld] || [];
      const zr = new Array(T).fill(null);
      const sr = new Array(T).fill(null);
      const tr = new Array(T);
      for (let t = 0; t < T; t++) {
        const v = row[t];
        const kind = specialKind(v);
        if (kind) {
          sr[t] = SPECIAL[kind].code;
          counts[kind] += 1;
          anySpecial = true;
          tr[t] = `${label}, step ${p.step}, t=${t}: ‖∂L/∂h_t‖ is ${SPECIAL[kind].label}`;
        } else {
          zr[t] = Math.log10(v);
          tr[t] = `${label}, step ${p.step}, t=${t}: ‖∂L/∂h_t‖ = ${fmt(v)}`;
        }
      }
      z.push(zr);
      special.push(sr);
      text.push(tr);
    }
    const { font, height } = sizes(large, { height: 280 });
    const ticks = exponentTicks(zmin, zmax, 5);
    const data = [
      {
        type: "heatmap",
        x,
        y,
        z,
        text,
        zmin,
        zmax,
        zauto: false,
        colorscale: MAGNITUDE,
        showscale: colorbar,
        hoverongaps: false,
        hovertemplate: "%{text}<extra></extra>",
        colorbar: {
          title: { text: "‖∂L/∂h<sub>t</sub>‖", side: "top", font: { size: font - 1 } },
          tickmode: "array",
          tickvals: ticks.tickvals,
          ticktext: ticks.ticktext,
          tickfont: { size: font - 2 },
          thickness: 12,
          outlinewidth: 0,
        },
        meta: { cell: cell.name, quantity: "log10 grad_h_norm" },
      },
    ];
    if (anySpecial) {
      data.push({
        type: "heatmap",
        x,
        y,
        z: special,
        text,
        zmin: -0.5,
        zmax: 2.5,
        zauto: false,
        colorscale: SPECIAL_SCALE,
        showscale: false,
        hoverongaps: false,
        hovertemplate: "%{text}<extra></extra>",
        meta: { special: true },
      });
    }
    const layout = baseLayout({
      font,
      height,
      title: `<b>${label}</b>`,
      xTitle: "t (step of the probe sequence)",
      yaxis: { title: { text: "training step" }, zeroline: false, showgrid: false },
      uirevision: `train-flow-${cell.name}`,
      legend: false,
    });
    layout.title.font = { size: font + 1, color: CELL_COLOR[cell.name] };
    layout.xaxis = { ...layout.xaxis, range: [-0.5, T - 0.5], showgrid: false };
    layout.margin.r = colorbar ? font * 5 : 10;
    if (chosen !== null && chosen !== undefined) {
      layout.shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: chosen, y1: chosen, line: { color: PLAYHEAD, width: 3 } }];
      layout.annotations = [
        {
          xref: "paper",
          x: 0,
          xanchor: "left",
          yref: "y",
          y: chosen,
          yanchor: chosen > (y[y.length - 1] || 0) / 2 ? "top" : "bottom",
          text: `step ${chosen}`,
          showarrow: false,
          font: { size: font - 1, color: "#fff" },
          bgcolor: PLAYHEAD,
        },
      ];
    }
    return { data, layout };
  }

  renderLegend(counts) {
    const parts = [document.createTextNode("colour: ‖∂L/∂h_t‖ on a log scale, dark = small, yellow = large; the red line is the checkpoint shown below. ")];
    for (const kind of ["0", "inf", "NaN"]) {
      if (!counts[kind]) continue;
      const item = document.createElement("span");
      item.className = "depth-special";
      item.dataset.kind = kind;
      const box = swatch(SPECIAL[kind].color);
      box.classList.add("outlined");
      item.append(box, `${SPECIAL[kind].legend} (${counts[kind]} cells of the picture) `);
      parts.push(item);
    }
    this.legend.replaceChildren(...parts);
  }

  /** The record at the chosen step against t, beside the first one (before training), per cell. */
  renderLine(record, cells, ld, chosen, large) {
    const { font, height } = sizes(large, { height: 260 });
    const traces = [];
    const values = [];
    const marks = [];
    let shownStep = null;
    cells.forEach((cell, k) => {
      const label = cellName(cell.name);
      const first = cell.probes[0];
      const at = record.probeAt(cell, chosen === null || chosen === undefined ? Infinity : chosen);
      shownStep = at ? at.step : shownStep;
      for (const [probe, dash] of [
        [first, "dot"],
        [at, "solid"],
      ]) {
        if (!probe || (dash === "dot" && at && at.step === first.step)) continue;
        const row = probe.grad_h_norm?.[ld] || [];
        const y = row.map((v, t) => {
          if (markKind(v)) {
            if (dash === "solid") marks.push({ cell: k, x: t, kind: markKind(v) });
            return null;
          }
          values.push(v);
          return v;
        });
        traces.push({
          type: "scatter",
          mode: "lines",
          x: row.map((_, t) => t),
          y,
          name: dash === "dot" ? `${label}, before training` : label,
          showlegend: dash !== "dot", // the caption and one grey entry say what dotted means
          line: { color: CELL_COLOR[cell.name], width: dash === "solid" ? 3 : 1.5, dash },
          meta: { cell: cell.name, step: probe.step, quantity: "grad_h_norm" },
          hovertemplate: `${label} step ${probe.step}, t=%{x}: ‖∂L/∂h_t‖ = %{y:.3g}<extra></extra>`,
        });
      }
    });
    this.lineCaption.textContent =
      shownStep === null
        ? ""
        : `‖∂L/∂h_t‖ against t at training step ${shownStep} (solid) and before training (dotted): a flatter curve means the loss still feels the early steps.`;
    if (traces.some((tr) => tr.line.dash === "dot")) {
      traces.push({
        type: "scatter",
        mode: "lines",
        x: [null],
        y: [null],
        name: "dotted: before training",
        line: { color: "#666", width: 1.5, dash: "dot" },
        hoverinfo: "skip",
        meta: { legend: "before" },
      });
    }
    const rows = markRows(marks);
    traces.push(...stripTraces(cells, marks, rows, "‖∂L/∂h_t‖", "t"));
    const yaxis = { ...logAxis(values, height - font * 8, font), title: { text: "‖∂L/∂h_t‖" } };
    const layout = baseLayout({ font, height, xTitle: "t (step of the probe sequence)", yaxis, uirevision: "train-flow-line" });
    this.line.draw(traces, withStrips(layout, rows, font + 9));
    this.line.gd.dataset.step = shownStep === null ? "" : String(shownStep);
  }
}
