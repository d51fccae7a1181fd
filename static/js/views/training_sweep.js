/**
 * The length sweep: each cell trains a fixed number of steps at each sequence length T, from the
 * same start; the plot shows the final held-out loss against T per cell (log axis), with the
 * no-memory baseline of each T dashed, filled in as the runs finish; the run in progress is named.
 * Its inputs (the lengths, the steps per run) and its button live here.
 *
 * Emits: "set" {lengths | sweep_steps} (state keys), "sweep" (start one), "stop".
 */

import { CELL_COLOR, fmt } from "../config.js";
import { Emitter } from "../events.js";
import { Figure, baseLayout, cellName, logAxis, sizes } from "./training_plot.js";

const parseLengths = (s) =>
  s
    .split(/[,\s]+/)
    .filter((x) => x !== "")
    .map((x) => (/^\d+$/.test(x) ? Number(x) : x));

export class SweepView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    const body = root.querySelector(".sweep-body");
    body.innerHTML = `
      <form class="sweep-form" autocomplete="off">
        <div class="tfield" data-field="lengths"><label for="sweep-lengths">Lengths T</label><input id="sweep-lengths" type="text" size="14" spellcheck="false" title="The sequence lengths to train at, comma-separated"><div class="field-error" role="alert"></div></div>
        <div class="tfield" data-field="sweep_steps"><label for="sweep-steps">Steps per run</label><input id="sweep-steps" type="text" inputmode="numeric" size="6"><div class="field-error" role="alert"></div></div>
        <button type="button" class="primary" id="btn-sweep" title="Train each net at each length; ends the current training (one job at a time)">Run the sweep</button>
        <button type="button" id="btn-sweep-stop" hidden>Stop</button>
      </form>
      <p class="sweep-status" role="status" aria-live="polite"></p>`;
    this.form = body.querySelector("form");
    this.form.addEventListener("submit", (ev) => ev.preventDefault());
    this.lengths = body.querySelector("#sweep-lengths");
    this.steps = body.querySelector("#sweep-steps");
    this.button = body.querySelector("#btn-sweep");
    this.stop = body.querySelector("#btn-sweep-stop");
    this.stop.addEventListener("click", () => this.emit("stop"));
    this.status = body.querySelector(".sweep-status");
    this.lengths.addEventListener("change", () => {
      this.clearError("lengths");
      this.emit("set", { lengths: parseLengths(this.lengths.value) });
    });
    this.steps.addEventListener("change", () => {
      this.clearError("sweep_steps");
      const v = this.steps.value.trim();
      this.emit("set", { sweep_steps: /^\d+$/.test(v) ? Number(v) : v });
    });
    this.button.addEventListener("click", () => {
      this.clearError();
      this.emit("sweep");
    });
    this.figure = new Figure(body, plotly, "sweep");
    this.baseline = document.createElement("p");
    this.baseline.className = "baseline-text";
    body.append(this.baseline);
    this.key = null;
  }

  update(model) {
    const { state, sweep } = model;
    if (state.get("mode") !== "train" || this.root.hidden) return;
    for (const [input, v] of [
      [this.lengths, state.get("lengths")],
      [this.steps, state.get("sweep_steps")],
    ]) {
      const text = Array.isArray(v) ? v.join(", ") : String(v);
      if (document.activeElement !== input && input.value !== text) input.value = text;
    }
    const large = Boolean(state.get("large"));
    const key = JSON.stringify([sweep, large]);
    if (key === this.key) return;
    this.key = key;
    this.render(sweep, large);
  }

  render(sweep, large) {
    const running = sweep && sweep.status === "running";
    this.button.textContent = running ? "Start the sweep over" : "Run the sweep";
    this.stop.hidden = !running;
    this.status.textContent = this.statusText(sweep);
    this.status.dataset.kind = sweep && sweep.status === "lost" ? "error" : running ? "busy" : "info";
    const points = sweep ? sweep.points || [] : [];
    this.figure.gd.hidden = !sweep;
    this.baseline.hidden = !sweep;
    if (!sweep) return;
    const { font, height } = sizes(large, { height: 280 });
    const cells = sweep.config?.cells || [...new Set(points.map((p) => p.cell))];
    const traces = [];
    const values = [];
    for (const name of cells) {
      const mine = points.filter((p) => p.cell === name).sort((a, b) => a.T - b.T);
      const y = mine.map((p) => (Number.isFinite(p.val_loss) && p.val_loss > 0 ? p.val_loss : null));
      for (const v of y) if (v !== null) values.push(v);
      traces.push({
        type: "scatter",
        mode: "lines+markers",
        x: mine.map((p) => p.T),
        y,
        name: cellName(name),
        line: { color: CELL_COLOR[name], width: 3 },
        marker: { color: CELL_COLOR[name], size: large ? 11 : 9 },
        meta: { cell: name, quantity: "val_loss" },
        hovertemplate: `${cellName(name)} T = %{x}: held-out loss %{y:.3g} after ${sweep.sweep?.steps ?? "?"} steps<extra></extra>`,
      });
    }
    // the baseline of each T (the copy task's falls as T grows)
    const byT = new Map();
    for (const p of points) if (Number.isFinite(p.baseline) && p.baseline > 0) byT.set(p.T, p.baseline);
    const baseT = [...byT.keys()].sort((a, b) => a - b);
    if (baseT.length) {
      values.push(...byT.values());
      traces.push({
        type: "scatter",
        mode: baseT.length > 1 ? "lines" : "markers",
        x: baseT,
        y: baseT.map((T) => byT.get(T)),
        name: "no-memory baseline",
        line: { color: "#333", width: 2, dash: "dash" },
        marker: { color: "#333", symbol: "line-ew-open", size: 14 },
        meta: { quantity: "baseline" },
        hovertemplate: "T = %{x}: no-memory baseline %{y:.3g}<extra></extra>",
      });
    }
    const lengths = sweep.sweep?.lengths || baseT;
    const current = sweep.current;
    const layout = baseLayout({
      font,
      height,
      xTitle: "sequence length T",
      yaxis: { ...logAxis(values, height - font * 8, font), title: { text: "held-out loss" } },
      uirevision: "sweep",
    });
    layout.xaxis = { ...layout.xaxis, tickmode: "array", tickvals: lengths, range: [Math.min(...lengths) * 0.8 - 2, Math.max(...lengths) * 1.05 + 2] };
    if (running && current) {
      layout.shapes = [{ type: "line", xref: "x", x0: current.T, x1: current.T, yref: "paper", y0: 0, y1: 1, line: { color: CELL_COLOR[current.cell] || "#888", width: 2, dash: "dot" } }];
      layout.annotations = [
        {
          xref: "x",
          x: current.T,
          yref: "paper",
          y: 1,
          yanchor: "top",
          xanchor: current.T > (Math.min(...lengths) + Math.max(...lengths)) / 2 ? "right" : "left",
          text: `training ${cellName(current.cell)} at T = ${current.T}…`,
          showarrow: false,
          font: { size: font - 1, color: "#333" },
          bgcolor: "rgba(255,255,255,0.85)",
        },
      ];
    }
    this.figure.draw(traces, layout);
    const same = baseT.every((T) => fmt(byT.get(T)) === fmt(byT.get(baseT[0])));
    this.baseline.textContent = !baseT.length
      ? ""
      : same
        ? `Dashed: the no-memory baseline, ${fmt(byT.get(baseT[0]))} at every T.`
        : `Dashed: the no-memory baseline at each T (${baseT.map((T) => `${fmt(byT.get(T))} at T = ${T}`).join(", ")}).`;
  }

  statusText(sweep) {
    if (!sweep) return "No sweep yet: Run the sweep trains each net for the steps above at each length, and plots where each one falls back to the baseline.";
    const total = (sweep.sweep?.lengths?.length || 0) * (sweep.config?.cells?.length || 0);
    const done = (sweep.points || []).length;
    const msg = sweep.message ? ` ${sweep.message}` : "";
    if (sweep.status === "lost") return `The connection was lost: the sweep stopped after ${done} of ${total} runs.`;
    if (sweep.status === "running") {
      const c = sweep.current;
      const now = c ? ` Now: ${cellName(c.cell)} at T = ${c.T}, step ${c.step ?? 0} of ${sweep.sweep?.steps ?? "?"}.` : "";
      return `Sweep running: ${done} of ${total} runs done.${now}${msg}`;
    }
    if (sweep.status === "stopped") return `Sweep stopped after ${done} of ${total} runs.${msg}`;
    return `Sweep done: ${done} runs, ${sweep.sweep?.steps ?? "?"} steps each.${msg}`;
  }

  showError(key, message) {
    const wrap = this.form.querySelector(`[data-field="${CSS.escape(key)}"]`);
    if (!wrap) return false;
    wrap.classList.add("has-error");
    wrap.querySelector(".field-error").textContent = message;
    return true;
  }

  clearError(key = null) {
    for (const wrap of this.form.querySelectorAll(".has-error")) {
      if (key && wrap.dataset.field !== key) continue;
      wrap.classList.remove("has-error");
      wrap.querySelector(".field-error").textContent = "";
    }
  }
}
