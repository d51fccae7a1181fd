/**
 * Highway gates across depth: a highway stack beside a plain stack of the same width and the same H
 * weights (POST /api/highway, models/highway.py), the forget gate's lesson turned from time to depth.
 * Its own small form (it is not the sequence run); three parts:
 *   - ||dL/dy_l|| against the layer l (0: the input x) for both stacks on one log axis, with each
 *     stack's fit ("10x smaller every k layers back") and where the input ends up;
 *   - the highway's carry gate 1 − T_l of every unit and layer (cividis, 0..1); a click picks the
 *     layer and unit the equations show;
 *   - both layers' equations at that layer and unit with their numbers, and above the plots the
 *     diagram of that unit in both stacks (highway_diagram.js): the carry path's width its gate's share.
 *
 * Names, colours and the form's limits come from spec.json ("highway"), which the server builds from
 * models.limits. The numbers arrive as JSON: non-finite values as "NaN" / "Infinity" strings (revived).
 */

import { PLOTLY_CONFIG, SEQUENTIAL, SPEC, fmt } from "../config.js";
import { revive } from "../socket.js";
import { highwayDiagram } from "./highway_diagram.js";
import {
  LessonButtons,
  PanelState,
  SidePanel,
  TrainingForm,
  drawLosses,
  equationLine,
  fetchLessons,
  fillForm,
  markInvalid,
  readNumbers,
  subscript,
  typeSizes,
} from "./side_panel.js";
import { logAxis } from "../ticks.js";

const HW = SPEC.highway;
const STACK = HW.stacks;
const FIELDS = [
  { key: "layers", label: "layers", step: 1 },
  { key: "width", label: "width", step: 1 },
  { key: "carry_bias", label: "carry bias b<sub>T</sub>", step: 0.5 },
  { key: "gain", label: "H's weight gain", step: 0.1 },
  { key: "seed", label: "seed", step: 1 },
];

/** "highway: 2.2×10⁻¹" style numbers for sentences. */
const num = (v) => fmt(v, 3);

/**
 * Both stacks' equations at layer l (1..L) and unit j: [{stack, parts}], parts strings and {num} values
 * (shown in .num spans), the highway's adding up to its y_l.
 */
export function equationLines(body, layer, unit) {
  const [hw, plain] = body.stacks;
  const act = body.config.activation;
  const t = hw.gate[layer - 1][unit];
  const below = `y${sub(layer - 1)}`;
  return [
    {
      stack: "highway",
      parts: [
        `y${sub(layer)} = H·T + ${below}·(1 − T) = `,
        { num: hw.h[layer - 1][unit] }, " · ", { num: t }, " + ", { num: hw.y[layer - 1][unit] }, " · ", { num: 1 - t },
        " = ", { num: hw.y[layer][unit] },
        `   (T = σ(W_T ${below} + b_T): it carries ${num(1 - t)} of its input through)`,
      ],
    },
    {
      stack: "plain",
      parts: [
        `y${sub(layer)} = H(${below}) = ${act}(W_H ${below} + b_H) = `, { num: plain.y[layer][unit] },
        `   (from its own ${below} = `, { num: plain.y[layer - 1][unit] }, ")",
      ],
    },
  ];
}

const sub = subscript;

export class HighwayView extends SidePanel {
  /** state: the page's state, where the panel's settings live for links and rooms (none: the defaults). */
  constructor(root, plotly, state = null) {
    super(root, root.querySelector(".hw-status"));
    this.plotly = plotly;
    this.form = root.querySelector(".hw-form");
    this.gradHost = root.querySelector('[data-name="highway-gradient"]');
    this.carryHost = root.querySelector('[data-name="highway-carry"]');
    this.decay = root.querySelector(".hw-decay");
    this.eq = root.querySelector(".hw-eq");
    this.diagram = root.querySelector(".hw-diagram");
    this.lessonButtons = new LessonButtons(root.querySelector(".panel-lessons"), (lesson) => this.applyLesson(lesson));
    this.training = new TrainingForm(root.querySelector(".hw-train"), HW.training, "Train both stacks on a task", () => this.train());
    this.trainHost = root.querySelector('[data-name="highway-training"]');
    this.trainFigure = root.querySelector(".hw-training-figure");
    this.link = state ? new PanelState(this, state, "highway", HW.defaults) : null;
    this.values = this.link ? this.link.initial() : { ...HW.defaults };
    this.body = null;
    this.pick = null; // {layer, unit} the equations show
    this.buildForm();
    fillForm(this.form, this.values);
    // the plots were sized when first drawn; the page around them settles later (the run's panels
    // arrive, the sidebar folds): follow the column's width
    this.widths = new ResizeObserver(() => {
      if (!this.body) return;
      for (const gd of [this.gradHost, this.carryHost, this.trainHost]) if (gd.data) this.plotly.Plots.resize(gd);
    });
    this.widths.observe(root.querySelector(".hw-plots"));
  }

  buildForm() {
    const parts = FIELDS.map(({ key, label, step }) => {
      const lim = HW.limits[key];
      return `<label>${label} <input type="number" name="${key}" min="${lim.min}" max="${lim.max}" step="${step}" value="${this.values[key]}"
        title="${lim.min} to ${lim.max}"></label>`;
    });
    const acts = HW.activations.map((a) => `<option${a === this.values.activation ? " selected" : ""}>${a}</option>`).join("");
    parts.push(`<label>H <select name="activation">${acts}</select></label>`);
    parts.push(`<label>dtype <select name="dtype"><option>float32</option><option>float64</option></select></label>`);
    this.form.innerHTML = parts.join(" ");
    this.form.addEventListener("input", () => this.edited());
    this.form.addEventListener("change", () => this.edited());
    this.form.addEventListener("submit", (ev) => ev.preventDefault());
  }

  /** The lessons' buttons (GET /api/highway/lessons); the list, for the lessons menu. */
  async loadLessons() {
    this.lessonButtons.show(await fetchLessons("/api/highway/lessons"));
    return this.lessonButtons.lessons;
  }

  /** A setting changed by hand: the lesson's words no longer hold; run it after a pause. */
  edited() {
    this.lessonButtons.clear();
    this.schedule();
  }

  /** The form's values, or the first field out of range with a message naming it and its range. */
  read() {
    const { values, error, field } = readNumbers(this.form, FIELDS, HW.limits, new Set(["carry_bias", "gain"]));
    if (error) return { error, field };
    return { config: { ...values, activation: this.form.elements.activation.value, dtype: this.form.elements.dtype.value } };
  }

  /** Ask the server for both stacks with the form's settings; keep the last good picture on an error. */
  async load() {
    const { config, error, field } = this.read();
    markInvalid(this.form, field);
    if (error) return this.setStatus(error, "error");
    const n = ++this.requests;
    this.setStatus("computing…");
    const body = await this.post("/api/highway", config, n);
    if (!body) return;
    this.show(config, body);
    this.setStatus("");
  }

  /**
   * Train both stacks with the panel's settings (POST /api/highway/train: a few seconds), then show them
   * trained on the panel's input; the last good picture stays on an error.
   */
  async train() {
    return this.trainAt("/api/highway/train", {
      busy: (config, training) => `training both stacks for ${training.steps} steps to fit y = tanh(A x): a few seconds…`,
      done: (training, seconds) => `trained ${training.steps} steps in ${seconds} s: both stacks are shown trained; change a setting to see them untrained again`,
    });
  }

  /** Show an answer (untrained, or trained: body.training set) for ``config``. */
  show(config, body) {
    this.values = config;
    if (this.link) this.link.remember(config);
    this.body = revive(body);
    const L = config.layers;
    if (!this.pick || this.pick.layer > L || this.pick.unit >= config.width) this.pick = { layer: Math.min(L, 10), unit: 0 };
    this.render();
  }

  /** Both stacks' training losses against the step, the no-learning baseline dotted. */
  drawTraining() {
    const tr = this.body.training;
    this.trainFigure.hidden = !tr;
    if (!tr) return;
    const curves = [
      { label: STACK.highway.label, color: STACK.highway.color, losses: tr.losses, held_out: tr.val_loss },
      { label: STACK.plain.label, color: STACK.plain.color, losses: tr.plain_losses, held_out: tr.plain_val_loss },
    ];
    const title = `training loss fitting y = tanh(A x) (guessing each output's mean: ${num(tr.baseline)})`;
    drawLosses(this.plotly, this.trainHost, curves, tr.baseline, title, this.type);
  }

  render() {
    if (!this.body) return;
    this.type = typeSizes(this.link?.large());
    this.diagram.innerHTML = highwayDiagram(this.body, this.pick.layer, this.pick.unit, STACK, this.body.config.activation);
    this.drawGradient();
    this.drawCarry();
    this.drawTraining();
    this.writeDecay();
    this.writeEquations();
    this.root.dataset.loaded = String(this.requests);
    this.root.dataset.trained = this.body.training ? "1" : "";
  }

  drawGradient() {
    const body = this.body;
    const L = body.config.layers;
    const layers = Array.from({ length: L + 1 }, (_, l) => l);
    const traces = body.stacks.map((s) => ({
      type: "scatter",
      mode: "lines+markers",
      name: STACK[s.name].legend,
      x: layers,
      y: s.grad_norm.map((v) => (Number.isFinite(v) && v > 0 ? v : null)),
      line: { color: STACK[s.name].color, width: 2.5 },
      marker: { size: 4 },
      hovertemplate: `${STACK[s.name].label}, layer %{x}: ‖∂L/∂y‖ = %{y:.3e}<extra></extra>`,
    }));
    const positives = body.stacks.flatMap((s) => s.grad_norm);
    const margin = { l: 68, r: 12, t: 30, b: 80 };
    const height = this.type.plot;
    const layout = {
      height,
      margin,
      font: { size: this.type.font },
      title: { text: HW.grad_title, x: 0, xanchor: "left", font: { size: this.type.font } },
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      xaxis: { title: { text: "layer l (0 = the input x; the gradient flows right to left)", standoff: 4 }, range: [-0.5, L + 0.5], zeroline: false },
      yaxis: { ...logAxis(positives, height - margin.t - margin.b, this.type.font), title: { text: "‖∂L/∂y<sub>l</sub>‖" } },
      shapes: [this.cursorShape()],
    };
    this.plotly.react(this.gradHost, traces, layout, PLOTLY_CONFIG);
    this.gradHost.dataset.traces = String(traces.length);
  }

  cursorShape() {
    const layer = this.pick.layer;
    return { type: "line", xref: "x", yref: "paper", x0: layer, x1: layer, y0: 0, y1: 1, line: { color: "#444", width: 1, dash: "dot" } };
  }

  drawCarry() {
    const body = this.body;
    const hw = body.stacks[0];
    const L = body.config.layers;
    const W = body.config.width;
    // rows: units; columns: layers 1..L
    const z = Array.from({ length: W }, (_, j) => hw.gate.map((row) => 1 - row[j]));
    const trace = {
      type: "heatmap",
      z,
      x: Array.from({ length: L }, (_, l) => l + 1),
      y: Array.from({ length: W }, (_, j) => j),
      zmin: 0,
      zmax: 1,
      colorscale: SEQUENTIAL,
      colorbar: { title: { text: "1 − T", side: "right" }, thickness: 12 },
      hovertemplate: "layer %{x}, unit %{y}: carry 1 − T = %{z:.3f}<extra></extra>",
    };
    const layout = {
      height: this.type.plot,
      margin: { l: 52, r: 10, t: 30, b: 48 },
      font: { size: this.type.font },
      title: { text: HW.carry_title, x: 0, xanchor: "left", font: { size: this.type.font } },
      paper_bgcolor: "rgba(0,0,0,0)",
      xaxis: { title: { text: "layer l", standoff: 4 } },
      yaxis: { title: { text: "unit" }, autorange: "reversed" },
      shapes: [
        { type: "rect", xref: "x", yref: "y", x0: this.pick.layer - 0.5, x1: this.pick.layer + 0.5, y0: this.pick.unit - 0.5, y1: this.pick.unit + 0.5, line: { color: "#d00000", width: 2 } },
      ],
    };
    this.plotly.react(this.carryHost, [trace], layout, PLOTLY_CONFIG);
    if (!this.carryHost.dataset.bound) {
      this.carryHost.dataset.bound = "1";
      this.carryHost.on("plotly_click", (ev) => {
        const p = ev.points && ev.points[0];
        if (p) this.choose(Math.round(p.x), Math.round(p.y));
      });
      this.gradHost.on("plotly_click", (ev) => {
        const p = ev.points && ev.points[0];
        if (p && p.x >= 1) this.choose(Math.round(p.x), this.pick.unit);
      });
    }
  }

  /** Show layer ``layer`` (1..L), unit ``unit`` in the equations and mark it in both plots. */
  choose(layer, unit) {
    if (!this.body) return;
    const { layers, width } = this.body.config;
    this.pick = { layer: Math.max(1, Math.min(layers, layer)), unit: Math.max(0, Math.min(width - 1, unit)) };
    this.render();
  }

  writeDecay() {
    const body = this.body;
    const items = body.stacks.map((s) => {
      const top = s.grad_norm[s.grad_norm.length - 1];
      const bottom = s.grad_norm[0];
      const ratio = bottom / top;
      const li = document.createElement("li");
      li.innerHTML = `<span class="swatch" style="background:${STACK[s.name].color}"></span><strong>${STACK[s.name].label}</strong>: `;
      li.append(`${s.decay.text}; at the input ‖∂L/∂x‖ is ${num(ratio)} of the top layer's (${num(bottom)} vs ${num(top)})`);
      li.dataset.stack = s.name;
      return li;
    });
    const mean = body.carry_mean;
    const lo = Math.min(...mean);
    const hi = Math.max(...mean);
    const carry = document.createElement("li");
    carry.textContent = `The highway's carry gates 1 − T average ${num(lo)} to ${num(hi)} per layer: each layer passes that share of its input through unchanged, and the gradient comes back along the same path.`;
    const tr = body.training;
    if (tr) {
      const li = document.createElement("li");
      li.dataset.stack = "training";
      li.textContent =
        `Trained ${tr.settings.steps} steps to fit a random teacher y = tanh(A x): held-out loss ${STACK.highway.label} ${num(tr.val_loss)}, ` +
        `${STACK.plain.label} ${num(tr.plain_val_loss)} (guessing each output's mean: ${num(tr.baseline)}). The plots show the trained stacks on the same input.`;
      items.push(li);
    }
    this.decay.replaceChildren(...items, carry);
  }

  writeEquations() {
    const { layer, unit } = this.pick;
    const lines = equationLines(this.body, layer, unit);
    const head = document.createElement("p");
    head.className = "hw-eq-head";
    head.textContent = `Layer ${layer}, unit ${unit} (click the carry-gate map to choose another):`;
    const rows = lines.map(({ stack, parts }) => equationLine(parts, STACK[stack].color, { stack }, `${STACK[stack].label}: `));
    const [hw, plain] = this.body.stacks;
    const grads = document.createElement("p");
    grads.className = "hw-eq-line";
    grads.textContent = `‖∂L/∂y${sub(layer)}‖: highway ${num(hw.grad_norm[layer])}, plain stack ${num(plain.grad_norm[layer])}`;
    this.eq.replaceChildren(head, ...rows, grads);
  }
}
