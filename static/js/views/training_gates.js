/**
 * Gates over training: per gated cell, the mean of each sigmoid gate (solid) and the fraction of its
 * values saturated, below 0.1 or above 0.9 (dashed), in the top layer's forward direction on the
 * probe sequence, against the training step. The candidates (g, n: tanh, not a gate's 0..1) are
 * left out. A plain RNN has no gates, and the view says so.
 *
 * Emits: "later" {ms} when an update waits for its turn.
 */

import { CELL_COLOR, GATE_COLOR, GATE_LABEL, SIGMOID_GATES } from "../config.js";
import { Emitter } from "../events.js";
import { Figure, Throttle, baseLayout, cellName, sizes } from "./training_plot.js";

export class TrainGatesView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    this.plotly = plotly;
    this.body = root.querySelector(".gates-body");
    this.empty = document.createElement("p");
    this.empty.className = "plot-empty";
    this.grid = document.createElement("div");
    this.grid.className = "gates-grid";
    this.notes = document.createElement("p");
    this.notes.className = "gates-notes";
    this.body.append(this.empty, this.grid, this.notes);
    this.figures = new Map();
    this.throttle = new Throttle(300);
  }

  update(model) {
    const { training: record, state } = model;
    if (state.get("mode") !== "train" || this.root.hidden) return;
    const large = Boolean(state.get("large"));
    const key = JSON.stringify([record.id, record.version, model.chosen, large]);
    if (!this.throttle.due(key, !record.running)) {
      if (this.throttle.wait > 0) this.emit("later", { ms: this.throttle.wait });
      return;
    }
    this.render(record, model.chosen, large);
  }

  render(record, chosen, large) {
    const ld = record.topLd;
    const gated = [];
    const plain = [];
    for (const cell of record.cells) {
      if (!cell.probes.length) continue;
      const gates = Object.keys(cell.probes[0].gate_mean || {}).filter((g) => SIGMOID_GATES.has(g));
      (gates.length ? gated : plain).push({ cell, gates });
    }
    this.empty.hidden = gated.length + plain.length > 0;
    this.empty.textContent = record.exists
      ? "Waiting for the first gate record…"
      : "Once training starts: how open each gate of the LSTM and GRU is, on average, and how often it is fully shut or fully open.";
    for (const [name, fig] of this.figures) {
      if (gated.some((g) => g.cell.name === name)) continue;
      fig.purge();
      fig.gd.parentElement.remove();
      this.figures.delete(name);
    }
    this.grid.style.setProperty("--columns", String(Math.max(1, gated.length)));
    for (const { cell, gates } of gated) {
      let fig = this.figures.get(cell.name);
      if (!fig) {
        const host = document.createElement("div");
        host.className = "gates-plot";
        this.grid.append(host);
        fig = new Figure(host, this.plotly, "train-gates");
        fig.gd.dataset.cell = cell.name;
        this.figures.set(cell.name, fig);
      }
      const { traces, layout } = this.figure(cell, gates, ld, chosen, large);
      fig.draw(traces, layout);
    }
    this.notes.textContent = plain.map(({ cell }) => `${cellName(cell.name)} has no gates: its state is rewritten whole at every step.`).join(" ");
    this.notes.hidden = plain.length === 0;
  }

  figure(cell, gates, ld, chosen, large) {
    const { font, height } = sizes(large, { height: 270 });
    const steps = cell.probes.map((p) => p.step);
    const traces = [];
    for (const gate of gates) {
      const color = GATE_COLOR[gate];
      const name = GATE_LABEL[gate] || gate;
      traces.push({
        type: "scatter",
        mode: "lines",
        x: steps,
        y: cell.probes.map((p) => finiteOrNull(p.gate_mean?.[gate]?.[ld])),
        name,
        legendgroup: gate,
        line: { color, width: 3 },
        meta: { cell: cell.name, gate, quantity: "gate_mean" },
        hovertemplate: `${cellName(cell.name)} ${name}, step %{x}: mean %{y:.3f}<extra></extra>`,
      });
      if (!cell.probes[0].saturated || !(gate in cell.probes[0].saturated)) continue;
      traces.push({
        type: "scatter",
        mode: "lines",
        x: steps,
        y: cell.probes.map((p) => finiteOrNull(p.saturated?.[gate]?.[ld])),
        name: `${gate}: saturated`,
        legendgroup: gate,
        showlegend: false, // one legend entry says what dashed means
        line: { color, width: 2, dash: "dash" },
        meta: { cell: cell.name, gate, quantity: "saturated" },
        hovertemplate: `${cellName(cell.name)} ${name}, step %{x}: %{y:.0%} of values < 0.1 or > 0.9<extra></extra>`,
      });
    }
    traces.push({
      type: "scatter",
      mode: "lines",
      x: [null],
      y: [null],
      name: "dashed: saturated (< 0.1 or > 0.9)",
      line: { color: "#666", width: 2, dash: "dash" },
      hoverinfo: "skip",
      meta: { legend: "saturated" },
    });
    const layout = baseLayout({
      font,
      height,
      title: `<b>${cellName(cell.name)}</b>: gate mean (solid), saturated fraction (dashed)`,
      xTitle: "training step",
      yaxis: { range: [-0.03, 1.03], title: { text: "0 = shut … 1 = open" }, gridcolor: "#e4e4e4", zeroline: false, fixedrange: true },
      uirevision: `train-gates-${cell.name}`,
    });
    layout.title.font = { size: font, color: CELL_COLOR[cell.name] };
    if (chosen !== null && chosen !== undefined) {
      layout.shapes = [{ type: "line", xref: "x", x0: chosen, x1: chosen, yref: "paper", y0: 0, y1: 1, line: { color: "#d00000", width: 2 } }];
    }
    return { traces, layout };
  }
}

const finiteOrNull = (v) => (Number.isFinite(v) ? v : null);
