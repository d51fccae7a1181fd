/**
 * Heatmaps, unit x time, of h, c, each gate and the gradients, one column per compared cell,
 * from the bulk block. The cursor is a line; during forward play the columns after it are dimmed
 * (the net has not seen them yet), during the backward pass the gradient columns before it are.
 * Colour ranges, the log scale of gradients and each plot's sentence: heatmap_figure.js.
 *
 * Emits: "seek" {t}, "unit" {cell, unit} on click; "hover-unit" {unit} (null when the pointer
 * leaves); "view" {fields} | {scale} | {gscale} from its own toggles.
 */

import { CELL_COLOR, CELL_LABEL, PLOTLY_CONFIG, SPEC } from "../config.js";
import { Emitter } from "../events.js";
import { CursorOverlay } from "./cursor_overlay.js";
import { SHARE_WITHIN_DECADES, colourRanges, heatmapFigure, isGradient, reach, sliceStats, summary } from "./heatmap_figure.js";

const FIELD_CHOICES = ["h", "c", "gates", "grad_h", "grad_c"].map((field) => [field, SPEC.heatmaps.fields[field]?.chip || field]);

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
    scale.title = "Colour range: one per quantity, shared by the cells whose values are within 10× of each other (the others get their own, and say so), or each plot its own";
    scale.textContent = "range: shared";
    scale.addEventListener("click", () => this.emit("view", { scale: this.scale === "local" ? "shared" : "local" }));
    this.scaleButton = scale;
    const gscale = document.createElement("button");
    gscale.type = "button";
    gscale.className = "chip gscale-toggle";
    gscale.title = "Gradient rows: log10 of the magnitude (a vanishing gradient stays visible) or the signed value on a linear scale";
    gscale.addEventListener("click", () => this.emit("view", { gscale: this.gscale === "log" ? "linear" : "log" }));
    this.gscaleButton = gscale;
    this.toolbar.append(fields, scale, gscale);
    // which plots "shared" had to give their own range: part of the section, so exports carry it
    this.note = document.createElement("p");
    this.note.className = "hm-note";
    this.note.hidden = true;
    this.root.insertBefore(this.note, this.grid);
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
    this.gscale = state.get("gscale");
    const ld = run.ld(state.get("layer"), state.get("dir"));
    const key = JSON.stringify([run.id, this.fields, this.scale, this.gscale, ld, state.get("large")]);
    if (key !== this.key) {
      // the toolbar shows only what the key holds: write it when the key changes, not every frame
      this.key = key;
      for (const b of this.toolbar.querySelectorAll("[data-field]")) {
        b.setAttribute("aria-pressed", String(this.fields.includes(b.dataset.field)));
      }
      this.scaleButton.textContent = this.scale === "local" ? "range: each plot" : "range: shared";
      this.gscaleButton.textContent = this.gscale === "log" ? "gradient: log |·|" : "gradient: linear";
      this.gscaleButton.hidden = !this.fields.some(isGradient);
      this.render(run, ld, state.get("large"));
    }
    const pass = state.get("pass");
    this.lastT = model.t;
    // a reverse direction reads the sequence from the end: what it has not seen lies before t
    const reverse = run.isReverse(ld);
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
    const specs = [];
    run.cells.forEach((cell, k) => {
      for (const field of this.rows(cell, this.fields)) {
        specs.push({ id: `${k}:${field}`, k, field, stats: sliceStats(cell.bulk[field], ld, run.T, run.H) });
      }
    });
    const colours = colourRanges(specs, { scale: this.scale, gscale: this.gscale });
    const byId = new Map(specs.map((p) => [p.id, p]));
    this.renderNote(run, specs, colours);
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
          const gd = document.createElement("div");
          gd.className = "plot";
          gd.dataset.field = field;
          host.append(gd);
          plot = { id, gd, host, field, overlay: null, drawn: false };
        }
        column.append(plot.host);
        plot.gd.dataset.cell = cell.name; // a reused column may hold another cell now
        plot.host.style.minHeight = `${large ? 170 : 130}px`;
        const { stats } = byId.get(id);
        const colour = colours.get(id);
        plot.host.setAttribute("role", "figure");
        plot.host.setAttribute("aria-label", summary(run, k, field, ld, stats, colour));
        plot.pending = () => heatmapFigure(run, k, field, ld, stats, colour, large);
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

  /** Say which plots "range: shared" set apart, and why, in words above the grid. */
  renderNote(run, specs, colours) {
    const apart = new Map(); // cell -> [field, reach]
    for (const p of specs) {
      const colour = colours.get(p.id);
      if (!colour.own) continue;
      const name = CELL_LABEL[run.cells[p.k].name] || run.cells[p.k].name;
      if (!apart.has(name)) apart.set(name, []);
      apart.get(name).push(`${p.field} up to ${reach(colour.reach)}`);
    }
    this.note.hidden = apart.size === 0;
    if (!apart.size) {
      this.note.textContent = "";
      return;
    }
    const list = [...apart].map(([name, items]) => `${name} (${items.join(", ")})`).join("; ");
    const factor = `${10 ** SHARE_WITHIN_DECADES.linear}×`;
    this.note.textContent = `Own colour range for ${list}: the other cells' values are more than ${factor} larger or smaller, and one range shared with them would wash these plots out.`;
  }
}
