/**
 * Attention, reaching back without gates: one layer of causal self-attention beside an untrained
 * recurrent cell of the same width, on the same input and the same last-step loss (POST
 * /api/attention, models/attention.py). Its own small form (it is not the sequence run); four plots:
 *   - ||dL/dx_t|| of both models against how many steps back x_t is, on one log axis, with each
 *     curve's fit: flat for attention, exponential for the tanh RNN;
 *   - the T x T map of one head's weights a_tj (row t: what step t reads from the steps j <= t);
 *     a click picks the query step t and the key step j;
 *   - row t's weights over the earlier steps, the chosen j marked;
 *   - the equations at (t, j) with their numbers: the weight, o_t = sum_j a_tj v_j for one unit, and
 *     both models' gradient at x_j;
 * and above them the diagram of how step t reaches step j in each model (reach_diagram.js): one hop
 * for attention, the chain of states for the recurrent cell.
 *
 * "Train both" (POST /api/attention/train) trains the two side by side on the adding problem (Le et al.
 * 2015) and shows them trained on one held-out sequence: the same four parts with its two marked steps
 * drawn in, and both training losses against the step.
 *
 * Names, colours, limits and defaults come from spec.json ("attention" and the cells), the lessons from
 * GET /api/attention/lessons. Non-finite numbers arrive as "NaN" / "Infinity" strings (revived).
 */

import { CELL_LABEL, CELL_NAMES, CELL_COLOR, PLOTLY_CONFIG, SEQUENTIAL, SPEC, fmt } from "../config.js";
import { revive } from "../socket.js";
import { reachDiagram } from "./reach_diagram.js";
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

const AT = SPEC.attention;
const FIELDS = [
  { key: "length", label: "steps T", step: 1 },
  { key: "width", label: "width", step: 1 },
  { key: "heads", label: "heads", step: 1 },
  { key: "focus", label: "focus (W<sub>q</sub> gain)", step: 0.5 },
  { key: "seed", label: "seed", step: 1 },
];
const FLOATS = new Set(["focus"]);
const LAG = 200; // the lesson's "200 steps back", quoted in the words when the run is that long

const num = (v) => fmt(v, 3);
const sub = subscript;

/** The largest ``count`` weights of a row: [{j, a}] in decreasing order. */
export function topWeights(row, count = 3) {
  return row
    .map((a, j) => ({ j, a }))
    .sort((p, q) => q.a - p.a)
    .slice(0, count);
}

/**
 * The equations at query step t, key step j, head h (unit i of o_t, the head's first): parts are strings
 * and {num} values (shown in .num spans). o_t[i] is summed here from the wire's weights and values, and
 * shown beside the server's, so a student sees the sum add up.
 */
export function equationLines(body, t, j, head) {
  const { width, heads } = body.config;
  const d = width / heads;
  const i = head * d;
  const row = body.weights[head][t];
  const v = body.values;
  const top = topWeights(row);
  const sum = row.reduce((acc, a, k) => acc + a * v[k][i], 0);
  const lines = [
    {
      kind: "weight",
      parts: [
        `a${sub(t)},${sub(j)} = softmax over j ≤ ${t} of q${sub(t)}·k${sub(j)}/√${d} = `, { num: row[j] },
        `   (uniform would be 1/${t + 1} = `, { num: 1 / (t + 1) }, ")",
      ],
    },
    {
      kind: "top",
      parts: [`step ${t}'s largest weights (head ${head + 1}): `, ...top.flatMap(({ j: k, a }, n) => [n ? ", " : "", `j = ${k}: `, { num: a }])],
    },
    {
      kind: "sum",
      parts: [
        `o${sub(t)}[${i}] = Σⱼ a${sub(t)}ⱼ vⱼ[${i}] = `,
        ...top.flatMap(({ j: k, a }) => [{ num: a }, " · ", { num: v[k][i] }, " + "]),
        `… (${t + 1} terms) = `, { num: sum }, "   (server: ", { num: body.attended[t][i] }, ")",
      ],
    },
  ];
  return lines;
}

/**
 * The map's top colour: the 99th percentile of the weights in rows t >= 4, so the first rows (a_00 = 1,
 * a_1j near 1/2) do not paint every later row, whose weights sit near 1/(t + 1), in the darkest colour.
 * The hover shows every weight's value.
 */
export function colourTop(rows) {
  const values = rows.slice(4).flat().filter(Number.isFinite).sort((a, b) => a - b);
  if (!values.length) return 1;
  return values[Math.min(values.length - 1, Math.floor(0.99 * values.length))] || 1;
}

export class AttentionView extends SidePanel {
  /** state: the page's state, where the panel's settings live for links and rooms (none: the defaults). */
  constructor(root, plotly, state = null) {
    super(root, root.querySelector(".at-status"));
    this.plotly = plotly;
    this.form = root.querySelector(".at-form");
    this.lessonButtons = new LessonButtons(root.querySelector(".panel-lessons"), (lesson) => this.applyLesson(lesson));
    this.trainHost = root.querySelector('[data-name="attention-training"]');
    this.trainFigure = root.querySelector(".at-training-figure");
    this.diagram = root.querySelector(".at-diagram");
    this.diagram.addEventListener("click", (ev) => {
      const dot = ev.target.closest("[data-step]");
      if (dot && this.body) this.choose(this.pick.t, Number(dot.dataset.step), this.pick.head);
    });
    this.gradHost = root.querySelector('[data-name="attention-gradient"]');
    this.mapHost = root.querySelector('[data-name="attention-weights"]');
    this.rowHost = root.querySelector('[data-name="attention-row"]');
    this.decay = root.querySelector(".at-decay");
    this.eq = root.querySelector(".at-eq");
    this.link = state ? new PanelState(this, state, "attention", AT.defaults) : null;
    this.values = this.link ? this.link.initial() : { ...AT.defaults };
    this.body = null;
    this.pick = null; // {t, j, head}: the query step, the key step, the head the map shows
    this.buildForm();
    fillForm(this.form, this.values);
    this.training = new TrainingForm(root.querySelector(".at-train"), AT.training, "Train both on the adding problem", () => this.train());
    this.widths = new ResizeObserver(() => {
      if (!this.body) return;
      for (const gd of [this.gradHost, this.mapHost, this.rowHost, this.trainHost]) if (gd.data) this.plotly.Plots.resize(gd);
    });
    this.widths.observe(root.querySelector(".at-plots"));
  }

  buildForm() {
    const parts = FIELDS.map(({ key, label, step }) => {
      const lim = AT.limits[key];
      return `<label>${label} <input type="number" name="${key}" min="${lim.min}" max="${lim.max}" step="${step}" value="${this.values[key]}"
        title="${lim.min} to ${lim.max}"></label>`;
    });
    const options = (list, chosen, label = (x) => x) =>
      list.map((x) => `<option value="${x}"${x === chosen ? " selected" : ""}>${label(x)}</option>`).join("");
    parts.push(`<label>positions <select name="positions">${options(AT.positions, this.values.positions)}</select></label>`);
    parts.push(`<label><input type="checkbox" name="residual"${this.values.residual ? " checked" : ""}> residual</label>`);
    parts.push(`<label><input type="checkbox" name="layer_norm"${this.values.layer_norm ? " checked" : ""}> layer norm</label>`);
    parts.push(`<label>beside <select name="compare">${options(CELL_NAMES, this.values.compare, (c) => CELL_LABEL[c])}</select></label>`);
    parts.push(`<label>dtype <select name="dtype">${options(["float32", "float64"], this.values.dtype)}</select></label>`);
    this.form.innerHTML = parts.join(" ");
    this.form.addEventListener("input", () => this.edited());
    this.form.addEventListener("change", () => this.edited());
    this.form.addEventListener("submit", (ev) => ev.preventDefault());
  }

  /**
   * Train both models on the adding problem with the panel's settings (POST /api/attention/train: a few
   * seconds), then show them trained on a held-out sequence; the last good picture stays on an error.
   */
  async train() {
    return this.trainAt("/api/attention/train", {
      busy: (config, training) => `training both models for ${training.steps} steps on the adding problem (T = ${config.length}): a few seconds…`,
      done: (training, seconds) => `trained ${training.steps} steps in ${seconds} s: both models are shown trained, on a held-out sequence; change a setting to see them untrained again`,
    });
  }

  /** The lessons' buttons (GET /api/attention/lessons); the list, for the lessons menu. */
  async loadLessons() {
    this.lessonButtons.show(await fetchLessons("/api/attention/lessons"));
    return this.lessonButtons.lessons;
  }

  /** The form's values, or the first field out of range with a message naming it and its range. */
  read() {
    const { values: out, error, field } = readNumbers(this.form, FIELDS, AT.limits, FLOATS);
    if (error) return { error, field };
    if (out.width % out.heads !== 0) {
      const fits = [1, 2, 3, 4].filter((n) => n <= AT.limits.heads.max && out.width % n === 0);
      return { error: `heads: ${out.heads} does not divide the width ${out.width}; allowed here: ${fits.join(", ")}`, field: "heads" };
    }
    for (const key of ["positions", "compare", "dtype"]) out[key] = this.form.elements.namedItem(key).value;
    for (const key of ["residual", "layer_norm"]) out[key] = this.form.elements.namedItem(key).checked;
    return { config: out };
  }

  /** A setting changed by hand: the lesson's words no longer hold; run it after a pause. */
  edited() {
    this.lessonButtons.clear();
    this.schedule();
  }

  /** Ask the server for both models with the form's settings; keep the last good picture on an error. */
  async load() {
    const { config, error, field } = this.read();
    markInvalid(this.form, field);
    if (error) return this.setStatus(error, "error");
    const n = ++this.requests;
    this.setStatus("computing…");
    const body = await this.post("/api/attention", config, n);
    if (!body) return;
    this.show(config, body);
    this.setStatus("");
  }

  /** Show an answer (untrained, or trained: body.training set) for ``config``. */
  show(config, body) {
    this.values = config;
    if (this.link) this.link.remember(config);
    this.body = revive(body);
    const T = config.length;
    // a new length starts at the loss's step and the input LAG steps back (or the first marked step)
    const marked = body.training ? body.training.markers[0] : null;
    if (!this.pick || this.pick.T !== T || this.pick.head >= config.heads || marked !== null) {
      this.pick = { T, t: T - 1, j: marked ?? Math.max(0, T - 1 - LAG), head: 0 };
    }
    this.render();
  }

  render() {
    if (!this.body) return;
    this.type = typeSizes(this.link?.large());
    const [att, other] = this.curves();
    this.diagram.innerHTML = reachDiagram(this.body, this.pick, { attention: att.label, compared: other.label }, AT.color);
    this.drawGradient();
    this.drawMap();
    this.drawRow();
    this.drawTraining();
    this.writeDecay();
    this.writeEquations();
    this.root.dataset.loaded = String(this.requests);
    this.root.dataset.trained = this.body.training ? "1" : "";
  }

  /** [{name, label, color, norm}] for the attention and the compared cell. */
  curves() {
    const b = this.body;
    const cell = b.compared.cell;
    return [
      { name: "attention", label: AT.label, legend: `${AT.legend}${b.training ? ", trained" : ""}`, color: AT.color, norm: b.grad_x_norm, decay: b.decay },
      { name: cell, label: CELL_LABEL[cell], legend: `${CELL_LABEL[cell]}, ${b.training ? "trained" : "untrained"}`, color: CELL_COLOR[cell], norm: b.compared.grad_x_norm, decay: b.compared.decay },
    ];
  }

  /** Vertical lines at the trained run's marked steps (the adding problem's two numbers), on key axes. */
  markerShapes(yref = "paper") {
    const tr = this.body.training;
    if (!tr) return [];
    return tr.markers.map((j) => ({ type: "line", xref: "x", yref, x0: j, x1: j, y0: 0, y1: 1, line: { color: "#009E73", width: 2, dash: "dash" } }));
  }

  /** Both models' training loss against the step (log axis), with the guess-the-mean baseline. */
  drawTraining() {
    const tr = this.body.training;
    this.trainFigure.hidden = !tr;
    if (!tr) return;
    const [att, other] = this.curves();
    const curves = [
      { label: att.label, color: att.color, losses: tr.losses, held_out: tr.val_loss },
      { label: other.label, color: other.color, losses: tr.compared_losses, held_out: tr.compared_val_loss },
    ];
    const title = `training loss on the adding problem (guessing the mean sum: ${num(tr.baseline)})`;
    drawLosses(this.plotly, this.trainHost, curves, tr.baseline, title, this.type);
  }

  drawGradient() {
    const T = this.body.config.length;
    const lags = Array.from({ length: T }, (_, k) => k);
    const curves = this.curves();
    const traces = curves.map((c) => ({
      type: "scatter",
      mode: "lines",
      name: c.legend,
      x: lags,
      y: lags.map((k) => {
        const v = c.norm[T - 1 - k];
        return Number.isFinite(v) && v > 0 ? v : null;
      }),
      line: { color: c.color, width: 2.5 },
      hovertemplate: `${c.label}, x %{x} steps back: ‖∂L/∂x‖ = %{y:.3e}<extra></extra>`,
    }));
    const positives = curves.flatMap((c) => c.norm);
    const margin = { l: 68, r: 12, t: 30, b: 80 };
    const height = this.type.plot;
    const lag = T - 1 - this.pick.j;
    const layout = {
      height,
      margin,
      font: { size: this.type.font },
      title: { text: this.body.training ? `${AT.grad_title}, both trained` : AT.grad_title, x: 0, xanchor: "left", font: { size: this.type.font } },
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      xaxis: { title: { text: "steps back from the last step (0: the step the loss reads)", standoff: 4 }, range: [-0.5, T - 0.5], zeroline: false },
      yaxis: { ...logAxis(positives, height - margin.t - margin.b, this.type.font), title: { text: "‖∂L/∂x<sub>t</sub>‖" } },
      shapes: [
        { type: "line", xref: "x", yref: "paper", x0: lag, x1: lag, y0: 0, y1: 1, line: { color: "#444", width: 1, dash: "dot" } },
        ...this.markerShapes().map((m) => ({ ...m, x0: T - 1 - m.x0, x1: T - 1 - m.x1 })),
      ],
    };
    this.plotly.react(this.gradHost, traces, layout, PLOTLY_CONFIG);
    this.gradHost.dataset.traces = String(traces.length);
    if (!this.gradHost.dataset.bound) {
      this.gradHost.dataset.bound = "1";
      this.gradHost.on("plotly_click", (ev) => {
        const p = ev.points && ev.points[0];
        if (p) this.choose(this.body.config.length - 1, this.body.config.length - 1 - Math.round(p.x), this.pick.head);
      });
    }
  }

  drawMap() {
    const { length: T, heads } = this.body.config;
    const head = this.pick.head;
    const rows = this.body.weights[head];
    const z = rows.map((row) => Array.from({ length: T }, (_, j) => (j < row.length ? row[j] : null)));
    const zmax = colourTop(rows);
    const trace = {
      type: "heatmap",
      z,
      zmin: 0,
      zmax,
      colorscale: SEQUENTIAL,
      // the top colour holds every weight at or above zmax: its tick says so
      colorbar: {
        title: { text: "a<sub>tj</sub>", side: "right" },
        thickness: 12,
        tickvals: [0, zmax / 2, zmax],
        ticktext: ["0", num(zmax / 2), `≥ ${num(zmax)}`],
      },
      hovertemplate: "step t = %{y} reads step j = %{x} with weight %{z:.4f}<extra></extra>",
    };
    const { t, j } = this.pick;
    const layout = {
      height: this.type.plot,
      margin: { l: 56, r: 10, t: 30, b: 48 },
      font: { size: this.type.font },
      title: { text: `${AT.weights_title}${heads > 1 ? `, head ${head + 1} of ${heads}` : ""}`, x: 0, xanchor: "left", font: { size: this.type.font } },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#f4f4f4",
      xaxis: { title: { text: "key step j", standoff: 4 }, range: [-0.5, T - 0.5] },
      yaxis: { title: { text: "query step t" }, autorange: "reversed" },
      shapes: [
        { type: "line", xref: "x", yref: "y", x0: -0.5, x1: t + 0.5, y0: t, y1: t, line: { color: "#d00000", width: 1 } },
        { type: "rect", xref: "x", yref: "y", x0: j - 0.5, x1: j + 0.5, y0: t - 0.5, y1: t + 0.5, line: { color: "#d00000", width: 2 } },
        ...this.markerShapes(),
      ],
    };
    this.plotly.react(this.mapHost, [trace], layout, PLOTLY_CONFIG);
    if (!this.mapHost.dataset.bound) {
      this.mapHost.dataset.bound = "1";
      this.mapHost.on("plotly_click", (ev) => {
        const p = ev.points && ev.points[0];
        if (p) this.choose(Math.round(p.y), Math.round(p.x), this.pick.head);
      });
    }
  }

  drawRow() {
    const { t, j, head } = this.pick;
    const row = this.body.weights[head][t];
    const steps = row.map((_, k) => k);
    const trace = {
      type: "bar",
      x: steps,
      y: row,
      marker: { color: steps.map((k) => (k === j ? "#d00000" : AT.color)) },
      hovertemplate: `a${sub(t)},ⱼ at j = %{x}: %{y:.4f}<extra></extra>`,
    };
    const layout = {
      height: this.type.row,
      margin: { l: 68, r: 12, t: 30, b: 44 },
      font: { size: this.type.font },
      title: { text: `${AT.row_title} (t = ${t}, head ${head + 1}); uniform would be 1/${t + 1}`, x: 0, xanchor: "left", font: { size: this.type.font } },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      bargap: 0,
      xaxis: { title: { text: "key step j", standoff: 4 }, range: [-0.5, this.body.config.length - 0.5] },
      yaxis: { title: { text: "a<sub>tj</sub>" }, rangemode: "tozero" },
      shapes: [
        { type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: 1 / (t + 1), y1: 1 / (t + 1), line: { color: "#444", width: 1, dash: "dot" } },
        { type: "line", xref: "x", yref: "paper", x0: j, x1: j, y0: 0, y1: 1, line: { color: "#d00000", width: 1, dash: "dot" } },
        ...this.markerShapes(),
      ],
    };
    this.plotly.react(this.rowHost, [trace], layout, PLOTLY_CONFIG);
    if (!this.rowHost.dataset.bound) {
      this.rowHost.dataset.bound = "1";
      this.rowHost.on("plotly_click", (ev) => {
        const p = ev.points && ev.points[0];
        if (p) this.choose(this.pick.t, Math.round(p.x), this.pick.head);
      });
    }
  }

  /** Show query step t, key step j (j <= t), head ``head`` everywhere. */
  choose(t, j, head) {
    if (!this.body) return;
    const { length, heads } = this.body.config;
    const tt = Math.max(0, Math.min(length - 1, t));
    this.pick = { T: length, t: tt, j: Math.max(0, Math.min(tt, j)), head: Math.max(0, Math.min(heads - 1, head)) };
    this.render();
  }

  writeDecay() {
    const T = this.body.config.length;
    const items = this.curves().map((c) => {
      const li = document.createElement("li");
      li.dataset.model = c.name === "attention" ? "attention" : "compared";
      li.innerHTML = `<span class="swatch" style="background:${c.color}"></span><strong>${c.label}</strong>: `;
      const one = c.norm[T - 2];
      let words = `${c.decay.text} (from one step back)`;
      if (T - 1 > LAG) {
        const far = c.norm[T - 1 - LAG];
        words += `; ${LAG} steps back ‖∂L/∂x‖ is ${num(far)}, ${num(far / one)} of its size one step back`;
      }
      li.append(words);
      return li;
    });
    const tr = this.body.training;
    if (tr) {
      const li = document.createElement("li");
      li.dataset.model = "training";
      const [att, other] = this.curves();
      li.textContent =
        `Trained ${tr.settings.steps} steps on the adding problem: held-out loss ${att.label} ${num(tr.val_loss)}, ${other.label} ${num(tr.compared_val_loss)} ` +
        `(guessing the mean sum: ${num(tr.baseline)}). On the held-out sequence shown, the marked steps are ${tr.markers.join(" and ")} (green dashes) and their sum ` +
        `is ${num(tr.target)}: ${att.label} answers ${num(tr.prediction)}, ${other.label} ${num(tr.compared_prediction)}.`;
      items.push(li);
    }
    const heads = this.body.config.heads;
    if (heads > 1) {
      const pickHead = document.createElement("li");
      pickHead.className = "at-heads";
      pickHead.append("Head shown: ");
      for (let h = 0; h < heads; h += 1) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "chip";
        b.textContent = `head ${h + 1}`;
        b.setAttribute("aria-pressed", String(h === this.pick.head));
        b.addEventListener("click", () => this.choose(this.pick.t, this.pick.j, h));
        pickHead.append(b, " ");
      }
      items.push(pickHead);
    }
    this.decay.replaceChildren(...items);
  }

  writeEquations() {
    const { t, j, head } = this.pick;
    const head_ = document.createElement("p");
    head_.className = "hw-eq-head";
    head_.textContent = `Query step t = ${t}, key step j = ${j}, head ${head + 1} (click the map, the row or the gradient plot to choose):`;
    const rows = equationLines(this.body, t, j, head).map(({ kind, parts }) => equationLine(parts, AT.color, { kind }));
    const T = this.body.config.length;
    const grads = document.createElement("p");
    grads.className = "hw-eq-line";
    grads.dataset.kind = "grad";
    const [att, other] = this.curves();
    grads.textContent = `‖∂L/∂x${sub(j)}‖ (${T - 1 - j} steps back from the loss): ${att.label} ${num(att.norm[j])}, ${other.label} ${num(other.norm[j])}`;
    this.eq.replaceChildren(head_, ...rows, grads);
  }
}
