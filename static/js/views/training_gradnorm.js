/**
 * The global gradient norm (every parameter's gradient, before clipping) per cell against the
 * training step, on a log axis; the steps where it was over the clip threshold (and scaled down to
 * it) as red dots, the threshold as a dashed line; a norm that is NaN or inf on a labelled strip.
 */

import { CELL_COLOR, fmt } from "../config.js";
import { markKind, markRows, withStrips } from "./gradient_marks.js";
import { Figure, cellName, sizes, stepLayout, stripTraces, thin } from "./training_plot.js";

const MAX_POINTS = 1500;
const MAX_CLIPPED = 1500; // red dots per cell
const CLIPPED = "#d00000";

export class GradNormPlot {
  constructor(root, plotly) {
    this.caption = document.createElement("figcaption");
    root.append(this.caption);
    this.figure = new Figure(root, plotly, "train-grad-norm");
    this.empty = document.createElement("p");
    this.empty.className = "plot-empty";
    root.append(this.empty);
  }

  /** `clip`: the state's threshold, shown until a training echoes its own. */
  update(record, large, stateClip) {
    const clip = record.exists && record.settings ? record.settings.clip : stateClip;
    this.caption.textContent =
      "How big each net's whole gradient is at every step, before clipping (log scale). " +
      (clip === null || clip === undefined
        ? "Clipping is off."
        : `Red dots: steps over the clip threshold (dashed, ${fmt(clip)}), scaled down to it.`);
    if (!record.exists || !record.cells.some((c) => c.steps.length)) {
      this.figure.placeholder(this.empty, record.exists ? (record.running ? "Waiting for the first steps…" : "No steps taken yet.") : "The gradient norm of each step appears here once training starts.");
      return;
    }
    this.figure.placeholder(this.empty, null);
    const { font, height } = sizes(large, { height: 300 });
    const traces = [];
    const values = [];
    const marks = [];
    const clippedX = [];
    const clippedY = [];
    const clippedCell = [];
    let clippedCount = 0;
    record.cells.forEach((cell, k) => {
      const label = cellName(cell.name);
      const idx = thin(cell.steps.length, MAX_POINTS, (i) => !Number.isFinite(cell.gradNorm[i])) || cell.steps.map((_, i) => i);
      const x = [];
      const y = [];
      for (const i of idx) {
        const v = cell.gradNorm[i];
        const kind = markKind(v);
        x.push(cell.steps[i]);
        if (kind) {
          marks.push({ cell: k, x: cell.steps[i], kind });
          y.push(null);
        } else {
          y.push(v);
          values.push(v);
        }
      }
      // every clipped step while they are few enough to draw (SVG markers); past that, a thinned few
      let clipped = 0;
      for (const was of cell.clipped) if (was) clipped += 1;
      clippedCount += clipped;
      const every = Math.max(1, Math.ceil(clipped / MAX_CLIPPED));
      let nth = 0;
      cell.clipped.forEach((was, i) => {
        if (!was || markKind(cell.gradNorm[i])) return;
        if (nth++ % every) return;
        clippedX.push(cell.steps[i]);
        clippedY.push(cell.gradNorm[i]);
        clippedCell.push(label);
      });
      traces.push({
        type: "scatter",
        mode: "lines",
        x,
        y,
        name: label,
        line: { color: CELL_COLOR[cell.name], width: 2 },
        meta: { cell: cell.name, quantity: "grad_norm" },
        hovertemplate: `${label} step %{x}: ‖∇‖ = %{y:.3g}<extra>before clipping</extra>`,
      });
    });
    if (clippedX.length) {
      traces.push({
        type: "scatter",
        mode: "markers",
        x: clippedX,
        y: clippedY,
        customdata: clippedCell,
        name: `clipped (${clippedCount} steps)`,
        marker: { color: CLIPPED, size: large ? 6 : 5 },
        meta: { quantity: "clipped" },
        hovertemplate: `%{customdata} step %{x}: ‖∇‖ = %{y:.3g}, clipped to ${fmt(clip)}<extra></extra>`,
      });
    }
    const rows = markRows(marks);
    traces.push(...stripTraces(record.cells, marks, rows, "‖∇‖"));
    const lines = clip === null || clip === undefined ? [] : [{ y: clip, color: CLIPPED, text: `clip = ${fmt(clip)}` }];
    const layout = stepLayout(record, { font, height, values, yTitle: "‖∇‖ before clipping", uirevision: "train-grad-norm", lines });
    this.figure.draw(traces, withStrips(layout, rows, font + 9));
  }
}
