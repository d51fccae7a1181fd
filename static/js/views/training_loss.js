/**
 * Loss curves while the cells learn: per cell the held-out loss (bold) and the training batches'
 * loss (faint, behind it) against the training step, on a log axis; the no-memory baseline (the
 * task's `baseline`, a guess that ignores the past) as a dashed line labelled with its value, its
 * source in words under the plot. A loss that is NaN or inf sits on a labelled strip above the axis,
 * and a cell that diverged gets a dotted line at that step (its legend entry names the step).
 */

import { CELL_COLOR, fmt } from "../config.js";
import { markKind, markRows, withStrips } from "./gradient_marks.js";
import { Figure, cellName, sizes, stepLayout, stripTraces, thin } from "./training_plot.js";

const MAX_POINTS = 1500; // training-batch points per cell: enough for the eye, cheap to redraw

export class LossPlot {
  constructor(root, plotly) {
    this.caption = document.createElement("figcaption");
    this.caption.textContent =
      "Held-out loss of each net as it learns (log scale; faint: the training batches). Below the dashed line " +
      "a net uses its memory; on it, it does no better than a guess that ignores the past.";
    this.empty = document.createElement("p");
    this.empty.className = "plot-empty";
    this.figure = new Figure(root, plotly, "train-loss");
    this.baseline = document.createElement("p");
    this.baseline.className = "baseline-text";
    root.prepend(this.caption);
    root.append(this.empty, this.baseline);
    this.figure.gd.after(this.empty);
  }

  update(record, large, config) {
    const task = record.task;
    const anyVal = record.cells.some((c) => c.valLoss.length || c.loss.length);
    if (!record.exists || !anyVal) {
      this.figure.placeholder(
        this.empty,
        record.exists
          ? record.running
            ? "Training started: the first losses appear after a few steps."
            : "No steps taken yet: Resume or Step +1 trains."
          : `No training yet. Press Start to train ${(config.cells || []).map(cellName).join(" and ")} on the ${config.task} task ` +
              `(T = ${config.seq_len}): each net's held-out loss appears here, against the loss of a guess that ignores the past.`,
      );
      this.baseline.hidden = true;
      return;
    }
    this.figure.placeholder(this.empty, null);
    const { font, height } = sizes(large, { height: 300 });
    const traces = [];
    const values = [];
    const marks = [];
    record.cells.forEach((cell, k) => {
      const color = CELL_COLOR[cell.name];
      const label = cellName(cell.name);
      const keep = thin(cell.steps.length, MAX_POINTS, (i) => !Number.isFinite(cell.loss[i])) || null;
      const idx = keep || cell.steps.map((_, i) => i);
      const plotY = (v, x) => {
        const kind = markKind(v);
        if (!kind) return v;
        marks.push({ cell: k, x, kind });
        return null;
      };
      traces.push({
        type: "scatter",
        mode: "lines",
        x: idx.map((i) => cell.steps[i]),
        y: idx.map((i) => (markKind(cell.loss[i]) ? null : cell.loss[i])),
        name: `${label}, training batches`,
        legendgroup: cell.name,
        showlegend: false,
        opacity: 0.3,
        line: { color, width: 1 },
        meta: { cell: cell.name, quantity: "loss" },
        hovertemplate: `${label} step %{x}: training-batch loss %{y:.3g}<extra></extra>`,
      });
      for (const i of idx) if (!markKind(cell.loss[i])) values.push(cell.loss[i]);
      const y = cell.valLoss.map((v, i) => plotY(v, cell.valSteps[i]));
      for (const v of y) if (v !== null) values.push(v);
      traces.push({
        type: "scatter",
        mode: cell.valSteps.length > 1 ? "lines" : "markers",
        x: cell.valSteps.slice(),
        y,
        name: cell.bad ? `${label} (diverged at step ${cell.bad.step})` : label,
        legendgroup: cell.name,
        line: { color, width: 3.5 },
        marker: { color, size: 8 },
        meta: { cell: cell.name, quantity: "val_loss" },
        hovertemplate: `${label} step %{x}: held-out loss %{y:.3g}<extra></extra>`,
      });
    });
    const rows = markRows(marks);
    traces.push(...stripTraces(record.cells, marks, rows, "loss"));
    const baseline = task && Number.isFinite(task.baseline) && task.baseline > 0 ? task.baseline : null;
    const lines = baseline ? [{ y: baseline, color: "#333", text: `no-memory baseline ${fmt(baseline)}` }] : [];
    const layout = stepLayout(record, { font, height, values, yTitle: task?.loss_name || "loss", uirevision: "train-loss", lines });
    for (const cell of record.cells) {
      if (!cell.bad) continue;
      layout.shapes.push({ type: "line", xref: "x", x0: cell.bad.step, x1: cell.bad.step, yref: "paper", y0: 0, y1: 1, line: { color: CELL_COLOR[cell.name], dash: "dot", width: 2 } });
    }
    this.figure.draw(traces, withStrips(layout, rows, font + 9));
    this.figure.gd.dataset.baseline = baseline === null ? "" : String(baseline);
    this.baseline.hidden = !task;
    this.baseline.textContent = task
      ? `Dashed line: the no-memory baseline, ${fmt(task.baseline)} (${task.loss_name}) — ${task.baseline_text}.`
      : "";
  }
}
