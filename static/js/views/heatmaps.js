/**
 * Heatmaps, unit x time, of h, c, each gate and the gradients, one column per compared cell,
 * from the bulk block. The cursor is a line; during forward play the columns after it are dimmed
 * (the net has not seen them yet), during the backward pass the gradient columns before it are.
 *
 * Emits: "seek" {t}, "unit" {cell, unit} on click; "hover-unit" {unit} (null when the pointer
 * leaves); "view" {fields} | {scale} from its own toggles.
 */

import { CELL_COLOR, CELL_LABEL, PLOTLY_CONFIG, DIVERGING, GATE_LABEL, NONFINITE_BG, SEQUENTIAL, SIGMOID_GATES } from "../config.js";
import { Emitter } from "../events.js";
import { maxAbs } from "../run.js";
import { CursorOverlay } from "./cursor_overlay.js";

const FIELD_CHOICES = [
  ["h", "h"],
  ["c", "c"],
  ["gates", "gates"],
  ["grad_h", "∂L/∂h"],
  ["grad_c", "∂L/∂c"],
];

const TITLE = {
  h: "h — hidden state",
  c: "c — cell state",
  grad_h: "∂L/∂h_t — gradient reaching h",
  grad_c: "∂L/∂c_t — gradient reaching c",
};

const isGradient = (field) => field.startsWith("grad_");

export class HeatmapView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    this.plotly = plotly;
    this.toolbar = root.querySelector(".hm-toolbar");
    this.grid = root.querySelector(".hm-grid");
    this.plots = []; // {gd, overlay, field}
    this.key = null;
    this.buildToolbar();
  }

  buildToolbar() {
    const fields = document.createElement("div");
    fields.className = "chips";
    fields.setAttribute("role", "group");
    fields.setAttribute("aria-label", "quantities shown");
    for (const [field, label] of FIELD_CHOICES) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.dataset.field = field;
      b.textContent = label;
      b.addEventListener("click", () => {
        const current = new Set(this.fields || []);
        if (current.has(field)) current.delete(field);
        else current.add(field);
        const ordered = FIELD_CHOICES.map(([f]) => f).filter((f) => current.has(f));
        this.emit("view", { fields: ordered.length ? ordered : ["h"] });
      });
      fields.append(b);
    }
    const scale = document.createElement("button");
    scale.type = "button";
    scale.className = "chip scale-toggle";
    scale.title = "Colour range: one range per quantity across the compared cells, or each plot its own";
    scale.textContent = "range: shared";
    scale.addEventListener("click", () => this.emit("view", { scale: this.scale === "local" ? "shared" : "local" }));
    this.scaleButton = scale;
    this.toolbar.append(fields, scale);
  }

  /** Rows for one cell: the chosen quantities that this cell has, gates expanded. */
  rows(cell, fields) {
    const out = [];
    for (const f of fields) {
      if (f === "h" || f === "grad_h") out.push(f);
      else if ((f === "c" || f === "grad_c") && cell.hasC) out.push(f);
      else if (f === "gates") out.push(...cell.gates);
    }
    return out;
  }

  update(model) {
    const { run, state } = model;
    if (!run || !run.complete) return;
    this.fields = state.get("fields");
    this.scale = state.get("scale");
    for (const b of this.toolbar.querySelectorAll("[data-field]")) {
      b.setAttribute("aria-pressed", String(this.fields.includes(b.dataset.field)));
    }
    this.scaleButton.textContent = this.scale === "local" ? "range: each plot" : "range: shared";
    const ld = run.ld(state.get("layer"), state.get("dir"));
    const key = JSON.stringify([run.id, this.fields, this.scale, ld, state.get("large")]);
    if (key !== this.key) {
      this.key = key;
      this.render(run, ld, state.get("large"));
    }
    const pass = state.get("pass");
    this.lastT = model.t;
    // a reverse direction reads the sequence from the end: what it has not seen lies before t
    const reverse = run.dirs > 1 && ld % 2 === 1;
    const unseen = reverse ? "before" : "after";
    const unreached = reverse ? "after" : "before";
    for (const p of this.plots) {
      const side = isGradient(p.field) ? (pass === "backward" ? unreached : null) : pass === "forward" ? unseen : null;
      p.side = side;
      if (p.overlay) p.overlay.draw(model.t, side);
    }
  }

  /**
   * Lay out one host per (cell, quantity), then draw the plots a few per animation frame: a
   * 3-cell, H=128, T=500 run is a dozen 64k-cell heatmaps, and drawing them in one go would
   * freeze the page for seconds on a slow laptop.
   */
  render(run, ld, large) {
    const ranges = this.ranges(run, ld);
    const existing = new Map(this.plots.map((p) => [p.id, p]));
    const keep = new Set();
    const columns = [];
    const queue = [];
    run.cells.forEach((cell, k) => {
      let column = this.grid.querySelector(`.hm-column[data-cell="${k}"]`);
      if (!column) {
        column = document.createElement("div");
        column.className = "hm-column";
        column.dataset.cell = String(k);
        column.innerHTML = `<h3 class="hm-cell"></h3>`;
      }
      const head = column.querySelector(".hm-cell");
      head.textContent = CELL_LABEL[cell.name] || cell.name;
      head.style.borderColor = CELL_COLOR[cell.name] || "#888";
      columns.push(column);
      for (const field of this.rows(cell, this.fields)) {
        const id = `${k}:${field}`;
        keep.add(id);
        let plot = existing.get(id);
        if (!plot) {
          const host = document.createElement("div");
          host.className = "hm-plot";
          host.style.minHeight = `${large ? 170 : 130}px`;
          const gd = document.createElement("div");
          gd.className = "plot";
          gd.dataset.cell = cell.name;
          gd.dataset.field = field;
          host.append(gd);
          plot = { id, gd, host, field, overlay: null, drawn: false };
        }
        column.append(plot.host);
        plot.pending = () => this.figure(run, k, field, ld, ranges, large);
        existing.set(id, plot);
        queue.push(plot);
      }
    });
    this.grid.replaceChildren(...columns);
    this.grid.style.setProperty("--columns", String(run.cells.length));
    for (const [id, plot] of existing) {
      if (keep.has(id)) continue;
      if (plot.drawn) this.plotly.purge(plot.gd);
      plot.host.remove(); // a reused column keeps its children: a quantity the new cell lacks goes
    }
    this.plots = queue;
    this.root.dataset.pending = String(queue.length);
    this.drain(queue.slice());
  }

  drain(queue) {
    const token = (this.drainToken = {});
    const step = () => {
      if (token !== this.drainToken) return; // a newer render took over
      const started = performance.now();
      while (queue.length && performance.now() - started < 25) {
        const plot = queue.shift();
        plot.figure = plot.pending();
        plot.pending = null;
        this.draw(plot);
      }
      this.root.dataset.pending = String(queue.length);
      if (queue.length) requestAnimationFrame(step);
      else this.emit("drawn", {});
    };
    step();
  }

  draw(plot) {
    const { data, layout } = plot.figure;
    const config = PLOTLY_CONFIG;
    if (!plot.drawn) {
      this.plotly.newPlot(plot.gd, data, layout, config);
      plot.drawn = true;
      plot.overlay = new CursorOverlay(plot.gd);
      plot.gd.on("plotly_afterplot", () => plot.overlay.measure());
      plot.gd.on("plotly_hover", (ev) => {
        const point = ev.points && ev.points[0];
        if (point) this.emit("hover-unit", { unit: Math.round(point.y) });
      });
      plot.gd.on("plotly_unhover", () => this.emit("hover-unit", { unit: null }));
      plot.gd.on("plotly_click", (ev) => {
        const point = ev.points && ev.points[0];
        if (!point) return;
        this.emit("seek", { t: Math.round(point.x) });
        this.emit("unit", { cell: Number(plot.id.split(":")[0]), unit: Math.round(point.y) });
      });
    } else {
      this.plotly.react(plot.gd, data, layout, config);
    }
    plot.overlay.measure();
    plot.overlay.draw(this.lastT ?? 0, plot.side ?? null);
  }

  /** Colour ranges: sigmoid gates 0..1; signed fields symmetric, shared across cells or per plot. */
  ranges(run, ld) {
    const shared = {};
    run.cells.forEach((cell, k) => {
      for (const field of this.rows(cell, this.fields)) {
        const data = run.cells[k].bulk[field];
        if (!data) continue;
        const m = maxAbs(data.subarray(ld * run.T * run.H, (ld + 1) * run.T * run.H));
        shared[field] = Math.max(shared[field] || 0, m);
      }
    });
    return shared;
  }

  figure(run, k, field, ld, sharedRanges, large) {
    const cell = run.cells[k];
    const { T, H } = run;
    const data = cell.bulk[field];
    const z = [];
    let nonfinite = 0;
    for (let u = 0; u < H; u++) z.push(new Array(T));
    if (data) {
      const base = ld * T * H;
      for (let t = 0; t < T; t++) {
        const row = base + t * H;
        for (let u = 0; u < H; u++) {
          const v = data[row + u];
          if (Number.isFinite(v)) z[u][t] = v;
          else {
            z[u][t] = null;
            nonfinite += 1;
          }
        }
      }
    }
    const sigmoid = SIGMOID_GATES.has(field);
    let range;
    if (sigmoid) range = [0, 1];
    else {
      const local = data ? maxAbs(data.subarray(ld * T * H, (ld + 1) * T * H)) : 1;
      const m = (this.scale === "local" ? local : sharedRanges[field]) || 1;
      range = [-m, m];
    }
    const font = large ? 16 : 12;
    const title = (TITLE[field] || `${field} — ${GATE_LABEL[field] || field}`) + (nonfinite ? `  ■ black = NaN/inf (${nonfinite})` : "");
    return {
      data: [
        {
          type: "heatmap",
          z,
          zmin: range[0],
          zmax: range[1],
          zauto: false,
          colorscale: sigmoid ? SEQUENTIAL : DIVERGING,
          colorbar: { thickness: 8, len: 1, outlinewidth: 0, exponentformat: "power", tickfont: { size: font - 2 } },
          hovertemplate: `t=%{x}, unit %{y}<br>${field} = %{z:.3g}<extra></extra>`,
          hoverongaps: true,
        },
      ],
      layout: {
        uirevision: "heatmap",
        height: large ? 170 : 130,
        margin: { l: 40, r: 6, t: 24, b: 24 },
        font: { size: font },
        title: { text: title, x: 0, xanchor: "left", font: { size: font, color: nonfinite ? "#b00020" : "#222" } },
        plot_bgcolor: NONFINITE_BG,
        paper_bgcolor: "rgba(0,0,0,0)",
        xaxis: { range: [-0.5, T - 0.5], showgrid: false, zeroline: false, ticks: "outside", ticklen: 3 },
        yaxis: { range: [-0.5, H - 0.5], showgrid: false, zeroline: false, title: { text: "" } },
      },
    };
  }
}
