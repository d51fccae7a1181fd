/**
 * Gradient flow through time for the chosen layer and direction, every compared cell in one plot on
 * a log y axis:
 *   - ||dL/dh_t|| (solid) and ||dL/dc_t|| (LSTM, dashed) against t, from ready.cells[i].curves;
 *   - ||dh_last/dh_t||_2 (jacobian_norm, solid) and ||dc_last/dc_t|| (dashed) in a second plot, where
 *     "last" is that direction's last state: h_{T−1} going forward, h_0 in a reverse direction.
 * Under each plot the fitted decay per cell for that same layer-direction, in words, and a text
 * summary; under both, the server's notes on each cell. inf, NaN and exact zeros sit on labelled
 * rows beside the log axis (gradient_marks.js). A run without Jacobians says why, and offers to
 * compute them. In backward-pass play the curves are revealed from where backpropagation starts.
 *
 * Emits: "seek" {t} on click; "config" {jacobian: "on"} from the Jacobian panel's button.
 */

import { CELL_COLOR, PLOTLY_CONFIG, SPEC } from "../config.js";
import { Emitter } from "../events.js";
import { logAxis } from "../ticks.js";
import { CursorOverlay } from "./cursor_overlay.js";
import { markKind, markRows, markTraces, withStrips } from "./gradient_marks.js";
import { cellLabel, decayList, plotSummary, summaryBox, swatch } from "./gradient_words.js";

/** A spec text with its placeholders filled: {last} is a direction's last step, {T-1} the run's. */
const fill = (text, run, ld) => text.replaceAll("{last}", run.isReverse(ld) ? "0" : "T−1").replaceAll("{T-1}", String(run.T - 1));

// The two plots as spec.json describes them (gateflow.figures draws the same ones in a notebook).
const PLOTS = SPEC.gradients.map((plot) => ({
  id: plot.id,
  // a direction's last state: t = T−1 going forward, t = 0 reading the sequence from the end
  caption: (run, ld) => fill(plot.caption[run.isReverse(ld) ? "reverse" : "forward"], run, ld),
  title: (run, ld) => fill(plot.title, run, ld),
  labels: (run, ld) => plot.labels.map((label) => fill(label, run, ld)),
  yTitle: plot.y_title,
  solid: plot.solid,
  dashed: plot.dashed,
  decay: plot.decay,
  decayC: plot.decay_c,
  // ||dL/dx_t|| is one curve per cell whichever layer and direction is shown: the input feeds them all
  ofInput: Boolean(plot.of_input),
  curveNames: plot.curve_names || SPEC.curve_names,
}));

export class GradientView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    this.plotly = plotly;
    this.key = null;
    this.plots = PLOTS.map((spec) => {
      const box = root.querySelector(`[data-plot="${spec.id}"]`);
      const gd = box.querySelector(".plot");
      const decay = box.querySelector(".decay");
      const where = document.createElement("p");
      where.className = "decay-where";
      decay.before(where);
      const summary = summaryBox(`summary-${spec.id}`);
      decay.after(summary.details);
      gd.setAttribute("role", "img");
      gd.setAttribute("aria-describedby", summary.body.id);
      return { spec, box, gd, host: box.querySelector(".plot-host"), decay, where, summary, drawn: false, overlay: null };
    });
    this.missing = this.buildMissing(this.plots[1]);
    this.notes = document.createElement("ul");
    this.notes.className = "cell-notes";
    root.querySelector(".grad-plots").after(this.notes);
  }

  /** The Jacobian panel of a run without Jacobians: why, and a button to compute them. */
  buildMissing(plot) {
    const box = document.createElement("div");
    box.className = "plot-missing";
    box.hidden = true;
    const reason = document.createElement("p");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = "Compute ‖∂h/∂h‖ for this run";
    button.addEventListener("click", () => {
      button.disabled = true;
      button.textContent = "computing ‖∂h/∂h‖…";
      this.emit("config", { jacobian: "on" });
    });
    box.append(reason, button);
    plot.host.after(box);
    return { box, reason, button };
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
      this.renderNotes(run);
    }
    // backpropagation reaches a reverse direction's steps from t = 0 upwards
    const side = state.get("pass") === "backward" ? (run.isReverse(ld) ? "after" : "before") : null;
    for (const plot of this.plots) if (plot.overlay && !plot.host.hidden) plot.overlay.draw(model.t, side);
  }

  render(plot, run, shownLd, large) {
    const { spec } = plot;
    const ld = spec.ofInput ? 0 : shownLd;
    plot.box.querySelector("figcaption").textContent = spec.caption(run, ld);
    plot.box.dataset.ld = String(ld);
    plot.box.dataset.reverse = String(run.isReverse(ld));
    const fits = decayList(run, ld, spec.decay, { kind: spec.decayC, label: "c" });
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = spec.ofInput ? "the input (every layer and direction it feeds)" : run.where(ld, { top: true });
    const shared = document.createElement("span");
    shared.className = "decay-shared";
    shared.textContent = fits.shared ? ` (${fits.shared})` : "";
    plot.where.replaceChildren("Fits for ", where, shared, ":");
    plot.decay.replaceChildren(...fits.items);
    plot.summary.body.textContent = plotSummary(run, ld, spec);
    const absent = run.cells.every((_, k) => !run.curve(k, spec.solid, ld));
    if (spec.id === "jacobian") this.showMissing(run, absent);
    if (absent) return; // no empty axes: the message stands in the plot's place
    const figure = this.figure(spec, run, ld, large);
    const { traces, layout } = figure;
    if (!plot.drawn) {
      this.plotly.newPlot(plot.gd, traces, layout, PLOTLY_CONFIG);
      plot.drawn = true;
      plot.overlay = new CursorOverlay(plot.gd, "not reached by the backward pass yet");
      plot.gd.on("plotly_afterplot", () => plot.overlay.measure());
      plot.gd.on("plotly_click", (ev) => {
        const point = ev.points && ev.points[0];
        if (point) this.emit("seek", { t: Math.round(point.x) });
      });
    } else {
      this.plotly.react(plot.gd, traces, layout, PLOTLY_CONFIG);
    }
    plot.overlay.measure();
    plot.gd.dataset.traces = String(traces.length);
  }

  /** The traces and layout of one plot: curves on the log axis, unplottable points on strips. */
  figure(spec, run, ld, large) {
    const { traces, positives, marks } = curveTraces(run, ld, spec);
    const rows = markRows(marks);
    traces.push(...markTraces(run, marks, rows));
    const font = large ? 17 : 13;
    const margin = { l: 68, r: 12, t: 30, b: large ? 96 : 76 };
    const height = large ? 340 : 250;
    const yaxis = { ...logAxis(positives, height - margin.t - margin.b, font), title: { text: spec.yTitle } };
    const layout = {
      uirevision: spec.id,
      height,
      margin,
      font: { size: font },
      title: { text: spec.title(run, ld), x: 0, xanchor: "left", font: { size: font } },
      showlegend: true,
      legend: { orientation: "h", x: 0, xref: "paper", y: 0, yref: "container", yanchor: "bottom", font: { size: font - 1 } },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      xaxis: { title: { text: "t", standoff: 4 }, range: [-0.5, run.T - 0.5], zeroline: false },
      yaxis,
    };
    return { traces, layout: withStrips(layout, rows, font + 9) };
  }

  showMissing(run, absent) {
    const plot = this.plots[1];
    plot.host.hidden = absent;
    plot.decay.hidden = absent;
    plot.where.hidden = absent;
    this.missing.box.hidden = !absent;
    if (!absent) return;
    const info = run.jacobian;
    const reason =
      info?.reason ||
      (info?.mode === "off"
        ? "The Jacobian norms are switched off for this run."
        : "The Jacobian norms were not computed for this run.");
    this.missing.reason.textContent = reason;
    plot.summary.body.textContent = `The Jacobian norms were not computed for this run. ${reason}`;
    const offer = !info || info.mode !== "on";
    this.missing.button.hidden = !offer;
    this.missing.button.disabled = false;
    this.missing.button.textContent = "Compute ‖∂h/∂h‖ for this run";
  }

  renderNotes(run) {
    const items = [];
    run.cells.forEach((cell) => {
      for (const note of cell.notes || []) {
        const li = document.createElement("li");
        li.dataset.cell = cell.name;
        const name = document.createElement("strong");
        name.textContent = `${cellLabel(cell)}: `;
        li.append(swatch(CELL_COLOR[cell.name]), name, note);
        items.push(li);
      }
    });
    this.notes.replaceChildren(...items);
    this.notes.hidden = items.length === 0;
  }
}

/** Curves of one plot (solid and dashed per cell) and the points a log axis cannot show. */
function curveTraces(run, ld, spec) {
  const traces = [];
  const positives = [];
  const marks = []; // {cell, t, kind, dashed}
  const x = Array.from({ length: run.T }, (_, t) => t);
  run.cells.forEach((cell, k) => {
    for (const [quantity, dash] of [
      [spec.solid, "solid"],
      [spec.dashed, "dash"],
    ]) {
      const curve = run.curve(k, quantity, ld);
      if (!curve) continue;
      const y = Array.from(curve, (raw, t) => {
        const v = Number(raw);
        const kind = markKind(v);
        if (!kind) {
          positives.push(v);
          return v;
        }
        marks.push({ cell: k, t, kind, dashed: dash === "dash" });
        return null;
      });
      traces.push({
        type: "scatter",
        mode: "lines",
        x,
        y,
        name: `${cellLabel(cell)} ${spec.curveNames[dash === "dash" ? "dashed" : "solid"]}`,
        meta: { cell: cell.name, quantity },
        line: { color: CELL_COLOR[cell.name], dash, width: dash === "solid" ? 3 : 2 },
        hovertemplate: `${cellLabel(cell)} t=%{x}: %{y:.3g}<extra>${quantity}</extra>`,
      });
    }
  });
  return { traces, positives, marks };
}
