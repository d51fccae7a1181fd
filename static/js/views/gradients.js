/**
 * Gradient flow through time, every compared cell in one plot on a log y axis:
 *   - ||dL/dh_t|| (solid) and ||dL/dc_t|| (LSTM, dashed) against t, from ready.cells[i].curves;
 *   - ||dh_T/dh_t||_2 (jacobian_norm, solid) and ||dc_T/dc_t|| (dashed) in a second plot.
 * Under each plot the fitted decay per cell, in words. Non-finite points are gaps on the line with
 * a marker and its label ("inf", "NaN") at the top of the plot; exact zeros, which a log axis
 * cannot draw, get a "0" marker at the bottom. In backward-pass play the curves are revealed right
 * to left: what backpropagation has not reached yet is masked.
 *
 * Emits: "seek" {t} on click.
 */

import { CELL_COLOR, CELL_LABEL, PLOTLY_CONFIG, fmt } from "../config.js";
import { Emitter } from "../events.js";
import { CursorOverlay } from "./cursor_overlay.js";

const PLOTS = [
  {
    id: "grad",
    caption: "How much the loss still feels each step",
    title: "‖∂L/∂h_t‖ (solid), ‖∂L/∂c_t‖ (dashed)",
    yTitle: "gradient norm",
    solid: "grad_h_norm",
    dashed: "grad_c_norm",
    decay: "grad_h",
  },
  {
    id: "jacobian",
    caption: "How much the last state depends on each step",
    title: "‖∂h_T/∂h_t‖₂ (solid), ‖∂c_T/∂c_t‖₂ (dashed)",
    yTitle: "Jacobian norm",
    solid: "jacobian_norm",
    dashed: "jacobian_norm_c",
    decay: "jacobian",
  },
];

export class GradientView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    this.plotly = plotly;
    this.key = null;
    this.plots = PLOTS.map((spec) => {
      const box = root.querySelector(`[data-plot="${spec.id}"]`);
      box.querySelector("figcaption").textContent = spec.caption;
      return {
        spec,
        gd: box.querySelector(".plot"),
        decay: box.querySelector(".decay"),
        drawn: false,
        overlay: null,
      };
    });
  }

  update(model) {
    const { run, state } = model;
    if (!run || !run.complete) return;
    const ld = run.ld(state.get("layer"), state.get("dir"));
    const large = state.get("large");
    const key = JSON.stringify([run.id, ld, large]);
    if (key !== this.key) {
      this.key = key;
      for (const plot of this.plots) this.render(plot, run, ld, large);
    }
    // backpropagation reaches a reverse direction's steps from t = 0 upwards
    const reverse = run.dirs > 1 && ld % 2 === 1;
    const side = state.get("pass") === "backward" ? (reverse ? "after" : "before") : null;
    for (const plot of this.plots) if (plot.overlay) plot.overlay.draw(model.t, side);
  }

  render(plot, run, ld, large) {
    const { spec } = plot;
    const traces = [];
    const positives = [];
    const marks = []; // {cell, t, kind: "inf"|"NaN"|"0"}
    const x = Array.from({ length: run.T }, (_, t) => t);
    run.cells.forEach((cell, k) => {
      for (const [quantity, dash] of [
        [spec.solid, "solid"],
        [spec.dashed, "dash"],
      ]) {
        const curve = run.curve(k, quantity, ld);
        if (!curve) continue;
        const y = curve.map((v, t) => {
          if (Number.isFinite(v) && v > 0) {
            positives.push(v);
            return v;
          }
          marks.push({ cell: k, t, kind: Number.isNaN(v) ? "NaN" : v === 0 ? "0" : v > 0 ? "inf" : "-inf" });
          return null;
        });
        traces.push({
          type: "scatter",
          mode: "lines",
          x,
          y,
          name: `${CELL_LABEL[cell.name] || cell.name} ${quantity.includes("_c") ? "(c)" : "(h)"}`,
          meta: { cell: cell.name, quantity },
          line: { color: CELL_COLOR[cell.name], dash, width: dash === "solid" ? 3 : 2 },
          hovertemplate: `${CELL_LABEL[cell.name] || cell.name} t=%{x}: %{y:.3g}<extra>${quantity}</extra>`,
        });
      }
    });
    traces.push(...this.markTraces(run, marks, positives));
    const font = large ? 17 : 13;
    const layout = {
      uirevision: spec.id,
      height: large ? 340 : 250,
      margin: { l: 64, r: 12, t: 30, b: large ? 84 : 64 },
      font: { size: font },
      title: { text: spec.title, x: 0, xanchor: "left", font: { size: font } },
      showlegend: true,
      legend: { orientation: "h", x: 0, y: large ? -0.22 : -0.25, yanchor: "top", font: { size: font - 1 } },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      xaxis: { title: { text: "t", standoff: 4 }, range: [-0.5, run.T - 0.5], zeroline: false },
      yaxis: { type: "log", title: { text: spec.yTitle }, exponentformat: "power", gridcolor: "#e4e4e4" },
    };
    const config = PLOTLY_CONFIG;
    if (!plot.drawn) {
      this.plotly.newPlot(plot.gd, traces, layout, config);
      plot.drawn = true;
      plot.overlay = new CursorOverlay(plot.gd, "not reached by the backward pass yet");
      plot.gd.on("plotly_afterplot", () => plot.overlay.measure());
      plot.gd.on("plotly_click", (ev) => {
        const point = ev.points && ev.points[0];
        if (point) this.emit("seek", { t: Math.round(point.x) });
      });
    } else {
      this.plotly.react(plot.gd, traces, layout, config);
    }
    plot.overlay.measure();
    plot.gd.dataset.traces = String(traces.length);
    this.renderDecay(plot, run);
  }

  /** One marker trace per kind of non-plottable point, at the top (inf, NaN) or bottom (0). */
  markTraces(run, marks, positives) {
    if (!marks.length) return [];
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of positives) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!Number.isFinite(lo)) {
      lo = 1e-3;
      hi = 1;
    }
    const top = hi * 10;
    const bottom = lo / 10;
    const out = [];
    for (const kind of ["inf", "-inf", "NaN", "0"]) {
      const these = marks.filter((m) => m.kind === kind);
      if (!these.length) continue;
      // Label only where a run of marks starts, so a long inf stretch reads as one label.
      const text = these.map((m, j) => (j === 0 || these[j - 1].t !== m.t - 1 || these[j - 1].cell !== m.cell ? kind : ""));
      out.push({
        type: "scatter",
        mode: "markers+text",
        x: these.map((m) => m.t),
        y: these.map(() => (kind === "0" ? bottom : top)),
        text,
        // labels to the right of the first mark of a run, so none is cut at the plot's left edge
        textposition: kind === "0" ? "top right" : "bottom right",
        textfont: { color: "#b00020", size: 14 },
        marker: {
          symbol: kind === "0" ? "line-ew-open" : "x-thin-open",
          size: 7,
          color: these.map((m) => CELL_COLOR[run.cells[m.cell].name]),
          line: { width: 1.5 },
        },
        name: kind === "0" ? "exactly 0 (off the log axis)" : `${kind}: not a finite number`,
        meta: { nonfinite: kind },
        hovertemplate: `t=%{x}: ${kind}<extra></extra>`,
      });
    }
    return out;
  }

  renderDecay(plot, run) {
    const items = run.cells.map((cell) => {
      const decay = cell.decay?.[plot.spec.decay];
      const text = decay ? decay.text : "no fit for this cell";
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = CELL_COLOR[cell.name];
      const name = document.createElement("strong");
      name.textContent = `${CELL_LABEL[cell.name] || cell.name}: `;
      const words = document.createElement("span");
      words.textContent = text;
      li.append(swatch, name, words);
      li.dataset.cell = cell.name;
      if (decay && decay.steps_per_decade !== null && decay.steps_per_decade !== undefined) {
        li.dataset.stepsPerDecade = String(decay.steps_per_decade);
        li.title = `fitted on the top layer: ${fmt(decay.steps_per_decade)} steps per factor of 10 (${decay.direction})`;
      }
      return li;
    });
    plot.decay.replaceChildren(...items);
  }
}
