/**
 * The gradient through depth and time at once: per compared cell, a heatmap of log10 ||dL/dh_t||
 * with one row per layer-direction (top layer at the top, → above ←) and one column per step, from
 * ready.cells[i].curves.grad_h_norm (L*dirs, T). Exact zeros, inf and NaN are no colour of the
 * scale: they get colours of their own, a legend line with their counts and hover text that names
 * them. Beside each row, the fitted decay of that layer-direction. A one-layer, one-direction net
 * has nothing to add to the gradient plot above, and the view says so.
 *
 * Emits: "seek" {t} and "view" {layer, dir} on a click (the row becomes the chosen one).
 */

import { CELL_COLOR, MAGNITUDE, PLOTLY_CONFIG, ZERO_COLOR, fmt } from "../config.js";
import { Emitter } from "../events.js";
import { exponentTicks } from "../ticks.js";
import { CursorOverlay } from "./cursor_overlay.js";
import { markKind } from "./gradient_marks.js";
import { cellLabel, decayWords, describeCurve, summaryBox, swatch } from "./gradient_words.js";

// Colours outside the (viridis) scale, for values a log scale cannot place.
export const SPECIAL = {
  0: { color: ZERO_COLOR, label: "exactly 0", legend: "white: exactly 0", code: 0 },
  inf: { color: "#d00000", label: "inf", legend: "red: inf", code: 1 },
  NaN: { color: "#e23cf0", label: "NaN", legend: "magenta: NaN", code: 2 },
};
export const SPECIAL_SCALE = [
  [0, SPECIAL[0].color],
  [1 / 3, SPECIAL[0].color],
  [1 / 3, SPECIAL.inf.color],
  [2 / 3, SPECIAL.inf.color],
  [2 / 3, SPECIAL.NaN.color],
  [1, SPECIAL.NaN.color],
];

/** The SPECIAL kind of a norm a log scale cannot place, or null (a norm is never negative: -inf reads as inf). */
function specialKind(v) {
  const kind = markKind(v);
  return kind === "-inf" ? "inf" : kind;
}

/**
 * A word on each long run of zeros, inf or NaN in a row ("exactly 0" across the blank stretch), so
 * a projected picture explains itself; short runs have the legend and their hover text.
 */
function runLabels(special, T, font) {
  const out = [];
  const minRun = Math.max(4, Math.ceil(T / 8));
  special.forEach((codes, r) => {
    let t = 0;
    while (t < T) {
      const code = codes[t];
      let end = t;
      while (end + 1 < T && codes[end + 1] === code) end += 1;
      if (code !== null && end - t + 1 >= minRun) {
        const kind = Object.values(SPECIAL).find((s) => s.code === code);
        out.push({
          xref: "x",
          x: (t + end) / 2,
          yref: "y",
          y: r,
          text: `${kind.label}, t = ${t}…${end}`,
          showarrow: false,
          font: { size: font - 1, color: code === 0 ? "#555" : "#fff" },
        });
      }
      t = end + 1;
    }
  });
  return out;
}

const frame = (row) => ({
  type: "rect",
  xref: "paper",
  x0: 0,
  x1: 1,
  yref: "y",
  y0: row - 0.5,
  y1: row + 0.5,
  line: { color: "#111", width: 2 },
});

/** Long hover text in lines of about 70 characters (Plotly does not wrap). */
function wrap(text, width = 70) {
  const lines = [];
  for (const paragraph of text.split("<br>")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line && line.length + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines.join("<br>");
}

/** Rows from the top: the top layer first, its forward direction above its reverse one. */
export function depthRows(run) {
  const rows = [];
  for (let layer = run.L - 1; layer >= 0; layer--) {
    for (let dir = 0; dir < run.dirs; dir++) {
      const arrow = run.dirs > 1 ? (dir ? " ←" : " →") : "";
      rows.push({ ld: layer * run.dirs + dir, layer, dir, label: `layer ${layer + 1}${arrow}` });
    }
  }
  return rows;
}

export class DepthView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    this.plotly = plotly;
    this.body = root.querySelector(".depth-body");
    this.message = document.createElement("p");
    this.message.className = "depth-message";
    this.grid = document.createElement("div");
    this.grid.className = "depth-grid";
    this.legend = document.createElement("p");
    this.legend.className = "depth-legend";
    this.summary = summaryBox("summary-depth");
    this.body.append(this.message, this.grid, this.legend, this.summary.details);
    this.plots = []; // {gd, host, overlay, drawn}
    this.key = null;
  }

  update(model) {
    const { run, state } = model;
    if (!run || !run.complete) return;
    const ld = run.ld(state.get("layer"), state.get("dir"));
    const large = state.get("large");
    const key = JSON.stringify([run.id, ld, large]);
    if (key !== this.key) {
      this.key = key;
      this.render(run, ld, large);
    }
    // one mask cannot tell both directions' unreached steps apart: bidirectional nets get the line only
    const side = state.get("pass") === "backward" && run.dirs === 1 ? "before" : null;
    for (const p of this.plots) if (p.overlay) p.overlay.draw(model.t, side);
  }

  render(run, ld, large) {
    const stacked = run.L > 1 || run.dirs > 1;
    this.root.dataset.stacked = String(stacked);
    this.message.hidden = stacked;
    this.grid.hidden = !stacked;
    this.legend.hidden = !stacked;
    this.summary.details.hidden = !stacked;
    if (!stacked) {
      this.message.textContent =
        "One layer, one direction: the gradient plot above shows all of it. Stack layers (num_layers > 1) " +
        "or read both ways (bidirectional) to see the gradient through depth.";
      return;
    }
    const rows = depthRows(run);
    const range = this.range(run);
    const tally = { counts: { 0: 0, inf: 0, NaN: 0 }, asides: new Set() };
    while (this.plots.length > run.cells.length) {
      const p = this.plots.pop();
      this.plotly.purge(p.gd);
      p.host.remove();
    }
    run.cells.forEach((cell, k) => {
      let plot = this.plots[k];
      if (!plot) {
        const host = document.createElement("div");
        host.className = "plot-host depth-plot";
        const gd = document.createElement("div");
        gd.className = "plot";
        gd.setAttribute("role", "img");
        gd.setAttribute("aria-describedby", this.summary.body.id);
        host.append(gd);
        this.grid.append(host);
        plot = { k, gd, host, overlay: null, drawn: false };
        this.plots.push(plot);
      }
      plot.gd.dataset.cell = cell.name;
      plot.gd.dataset.name = "depth";
      const { data, layout } = this.figure(run, k, rows, ld, range, large, tally);
      if (!plot.drawn) {
        this.plotly.newPlot(plot.gd, data, layout, PLOTLY_CONFIG);
        plot.drawn = true;
        plot.overlay = new CursorOverlay(plot.gd);
        plot.gd.on("plotly_afterplot", () => plot.overlay.measure());
        plot.gd.on("plotly_click", (ev) => {
          const point = ev.points && ev.points[0];
          if (!point) return;
          const row = this.rows[Math.round(point.y)];
          this.emit("seek", { t: Math.round(point.x) });
          if (row) this.emit("view", { layer: row.layer, dir: row.dir });
        });
      } else {
        this.plotly.react(plot.gd, data, layout, PLOTLY_CONFIG);
      }
      plot.overlay.measure();
    });
    this.rows = rows;
    this.renderLegend(tally);
    this.summary.body.textContent = this.describe(run, rows);
  }

  /** log10 range over every cell's finite, positive norms: one colour means one size everywhere. */
  range(run) {
    let lo = Infinity;
    let hi = -Infinity;
    run.cells.forEach((_, k) => {
      for (let ld = 0; ld < run.L * run.dirs; ld++) {
        for (const raw of run.curve(k, "grad_h_norm", ld) || []) {
          const v = Number(raw);
          if (!(Number.isFinite(v) && v > 0)) continue;
          const e = Math.log10(v);
          if (e < lo) lo = e;
          if (e > hi) hi = e;
        }
      }
    });
    if (!Number.isFinite(lo)) return [-1, 0];
    if (hi - lo < 0.5) return [lo - 0.25, hi + 0.25];
    return [lo, hi];
  }

  figure(run, k, rows, ld, [zmin, zmax], large, tally) {
    const { counts } = tally;
    const cell = run.cells[k];
    const T = run.T;
    const z = [];
    const special = [];
    const text = [];
    let anySpecial = false;
    for (const row of rows) {
      const curve = run.curve(k, "grad_h_norm", row.ld) || [];
      const zr = new Array(T).fill(null);
      const sr = new Array(T).fill(null);
      const tr = new Array(T);
      for (let t = 0; t < T; t++) {
        const v = Number(curve[t]);
        const kind = specialKind(v);
        if (kind) {
          sr[t] = SPECIAL[kind].code;
          counts[kind] += 1;
          anySpecial = true;
          tr[t] = `${row.label}, t=${t}: ‖∂L/∂h_t‖ is ${SPECIAL[kind].label}`;
        } else {
          zr[t] = Math.log10(v);
          tr[t] = `${row.label}, t=${t}: ‖∂L/∂h_t‖ = ${fmt(v)}`;
        }
      }
      z.push(zr);
      special.push(sr);
      text.push(tr);
    }
    const font = large ? 16 : 12;
    const rowPx = large ? 34 : 26;
    const plotPx = Math.max(rows.length * rowPx, 84);
    // beside each row its fit, a closing parenthesis (a reverse row's "back is toward higher t")
    // moved to the legend under a "*"; the whole sentence and its explanation on hover
    const fits = rows.map((row) => {
      const fit = decayWords(run, k, row.ld, "grad_h");
      const aside = fit.decay ? fit.text.match(/\s*\(([^()]*)\)$/) : null;
      if (aside) tally.asides.add(aside[1]);
      const hover = [fit.text, fit.explanation].filter(Boolean).join("<br>");
      return { text: aside ? `${fit.text.slice(0, aside.index)} *` : fit.text, full: fit.text, hover };
    });
    const longest = Math.max(...fits.map((f) => f.text.length));
    const margin = { l: large ? 110 : 84, r: Math.round(longest * (font - 1) * 0.56) + 96, t: font + 14, b: font + 26 };
    const ticks = exponentTicks(zmin, zmax, Math.max(2, Math.floor(plotPx / (font * 1.7))));
    const y = rows.map((_, r) => r);
    const x = Array.from({ length: T }, (_, t) => t);
    const selected = rows.findIndex((row) => row.ld === ld);
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
        ygap: 2,
        hoverongaps: false,
        hovertemplate: "%{text}<extra></extra>",
        colorbar: {
          title: { text: "‖∂L/∂h<sub>t</sub>‖", side: "top", font: { size: font - 1 } },
          tickmode: "array",
          tickvals: ticks.tickvals,
          ticktext: ticks.ticktext,
          tickfont: { size: font - 2 },
          thickness: 10,
          outlinewidth: 0,
          xref: "container",
          x: 1,
          xanchor: "right",
          len: 1,
        },
        meta: { quantity: "log10 grad_h_norm" },
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
        ygap: 2,
        hoverongaps: false,
        hovertemplate: "%{text}<extra></extra>",
        meta: { special: true },
      });
    }
    return {
      data,
      layout: {
        uirevision: "depth",
        height: plotPx + margin.t + margin.b,
        margin,
        font: { size: font },
        title: {
          text: `<b>${cellLabel(cell)}</b>`,
          x: 0,
          xanchor: "left",
          font: { size: font + 1, color: CELL_COLOR[cell.name] },
        },
        paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "#ffffff",
        xaxis: {
          range: [-0.5, T - 0.5],
          showgrid: false,
          zeroline: false,
          ticks: "outside",
          ticklen: 3,
          title: { text: "t", standoff: 2 },
        },
        yaxis: {
          range: [rows.length - 0.5, -0.5],
          tickmode: "array",
          tickvals: y,
          ticktext: rows.map((row, r) => (r === selected ? `<b>${row.label}</b>` : row.label)),
          showgrid: false,
          zeroline: false,
          fixedrange: true,
          ticks: "",
        },
        annotations: [...runLabels(special, T, font), ...fits.map((fit, r) => ({
          xref: "paper",
          x: 1,
          xanchor: "left",
          xshift: 6,
          yref: "y",
          y: r,
          text: fit.text,
          hovertext: wrap(fit.hover),
          meta: { fit: fit.full },
          showarrow: false,
          font: { size: font - 1, color: "#333" },
        }))],
        // the chosen layer-direction (the one the plots above show) framed
        shapes: selected >= 0 ? [frame(selected)] : [],
      },
    };
  }

  renderLegend({ counts, asides }) {
    const parts = [document.createTextNode("colour: log scale, dark = small, yellow = large. ")];
    for (const aside of asides) parts.push(document.createTextNode(`* ${aside}. `));
    for (const kind of ["0", "inf", "NaN"]) {
      if (!counts[kind]) continue;
      const item = document.createElement("span");
      item.className = "depth-special";
      item.dataset.kind = kind;
      const box = swatch(SPECIAL[kind].color);
      box.classList.add("outlined");
      item.append(box, `${SPECIAL[kind].legend} (${counts[kind]} steps) `);
      parts.push(item);
    }
    this.legend.replaceChildren(...parts);
  }

  describe(run, rows) {
    return run.cells
      .map((cell, k) => {
        const each = rows.map((row) => {
          const curve = run.curve(k, "grad_h_norm", row.ld);
          if (!curve) return `${row.label}: not sent`;
          const fit = decayWords(run, k, row.ld, "grad_h");
          return `${row.label}: ${describeCurve(curve, run.isReverse(row.ld))}${fit.decay ? ` (${fit.text})` : ""}`;
        });
        return `${cellLabel(cell)}, ‖∂L/∂h_t‖ by layer: ${each.join("; ")}.`;
      })
      .join(" ");
  }
}
