/**
 * What the side panels (the highway's, the attention's: each its own form and request, apart from the
 * sequence run) share:
 *   - their ready-made settings (GET /api/highway/lessons, /api/attention/lessons): a button for each
 *     above the panel's plots, and the chosen one's words read aloud in class; the lessons menu at the
 *     top lists them too (main.js), under the panel's name;
 *   - their settings in the page's state (state.js "highway", "attention"): a copied link carries them
 *     and a room's students follow the teacher's (room.js);
 *   - their requests (SidePanel): a debounce, a status line, the newest answer only, refusals in words;
 *   - the form's numbers read and checked against spec.json's limits (readNumbers);
 *   - "train both": the training form (TrainingForm) and the two models' loss curves (drawLosses).
 */

import { PLOTLY_CONFIG, fmt } from "../config.js";
import { panelValues } from "../state.js";
import { logAxis } from "../ticks.js";

/** The lessons the server lists at ``url``; none when it does not answer (the panel works without). */
export async function fetchLessons(url) {
  try {
    const response = await fetch(url);
    return response.ok ? await response.json() : [];
  } catch {
    return [];
  }
}

export class LessonButtons {
  /** host: the element the buttons go in; pick(lesson): fill the panel's form with lesson.config and run. */
  constructor(host, pick) {
    this.host = host;
    this.pick = pick;
    this.lessons = [];
    this.words = document.createElement("p");
    this.words.className = "panel-lesson-text";
  }

  show(lessons) {
    this.lessons = lessons;
    const buttons = lessons.map((lesson) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip panel-lesson";
      b.dataset.lesson = lesson.name;
      b.textContent = `Lesson: ${lesson.title}`;
      b.addEventListener("click", () => this.choose(lesson.name));
      return b;
    });
    this.host.replaceChildren(...buttons, this.words);
  }

  /** Apply the lesson called ``name``: its words shown, the panel's form filled and run; false: none. */
  choose(name) {
    const lesson = this.lessons.find((l) => l.name === name);
    if (!lesson) return false;
    this.words.textContent = lesson.description;
    this.pick(lesson);
    return true;
  }

  /** The settings changed by hand: the words no longer describe what is shown. */
  clear() {
    this.words.textContent = "";
  }
}

/** The plots' type and heights, px: the projector's (``large``) or a laptop's, as the run's views use. */
export function typeSizes(large) {
  return large ? { font: 17, plot: 400, row: 280 } : { font: 13, plot: 320, row: 220 };
}

/** Put a config's values into a panel's form (checkboxes checked, the rest as text). */
export function fillForm(form, config) {
  for (const [key, value] of Object.entries(config)) {
    const input = form.elements.namedItem(key);
    if (!input) continue;
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = String(value);
  }
}

/**
 * Keep a panel's settings in the page's state under ``key``: the panel's own runs are written there
 * (``remember``), and settings that arrive there (a link, the teacher's room view) fill its form and run.
 * panel: {form, values, lessonButtons, load()}; defaults: the panel's defaults (spec.json).
 */
export class PanelState {
  constructor(panel, state, key, defaults) {
    this.panel = panel;
    this.state = state;
    this.key = key;
    this.defaults = defaults;
    state.on("change", (keys) => {
      if (keys.includes(key)) this.follow();
      if (keys.includes("large")) panel.render(); // projector mode: the plots' type grows
    });
  }

  /** Projector mode: big type for the back of the room. */
  large() {
    return Boolean(this.state.get("large"));
  }

  /** The settings the page starts with: the link's, else the defaults. */
  initial() {
    return { ...this.state.get(this.key) };
  }

  /** A run of the panel's succeeded with ``config``: the link and the room say so. */
  remember(config) {
    this.state.set({ [this.key]: panelValues(this.defaults, config) });
  }

  follow() {
    const wanted = this.state.get(this.key);
    if (JSON.stringify(wanted) === JSON.stringify(panelValues(this.defaults, this.panel.values))) return;
    fillForm(this.panel.form, wanted);
    this.panel.lessonButtons.clear();
    this.panel.load();
  }
}

const DEBOUNCE_MS = 250; // a setting typed digit by digit asks once

/** What a side panel view is built on: its status line, its debounced requests, the newest answer only. */
export class SidePanel {
  constructor(root, status) {
    this.root = root;
    this.status = status;
    this.requests = 0; // the newest request's number: an older answer that arrives late is dropped
  }

  setStatus(text, kind = "info") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  /** A lesson's settings into the form (and the training form's), then run, or train when it trains. */
  applyLesson(lesson) {
    fillForm(this.form, lesson.config);
    if (lesson.training) {
      this.training.fill(lesson.training);
      this.train();
    } else this.load();
  }

  /**
   * "Train both": the panel's settings and its training form's (either refused by name when out of
   * range) POSTed to ``url`` (a few seconds), then both models shown trained; ``words``: busy(config,
   * training) and done(training, seconds), the status while it trains and after.
   */
  async trainAt(url, words) {
    const { config, error, field } = this.read();
    const { training, error: trainError, field: trainField } = this.training.read();
    markInvalid(this.form, field);
    markInvalid(this.training.form, trainField);
    if (error || trainError) return this.setStatus(error || trainError, "error");
    clearTimeout(this.timer);
    const n = ++this.requests;
    this.training.busy = true;
    this.setStatus(words.busy(config, training));
    const body = await this.post(url, { config, training }, n, "training");
    this.training.busy = false;
    if (!body) return;
    this.show(config, body);
    this.setStatus(words.done(training, body.training.seconds.toFixed(1)));
  }

  /** Run ``load`` after a pause in the typing. */
  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), DEBOUNCE_MS);
  }

  /**
   * POST ``payload`` to ``url`` as request number ``n``: its JSON answer, or null when there is nothing
   * to show (no answer, a refusal: the status says which, naming the field; or a newer request was made).
   */
  async post(url, payload, n, what = "settings") {
    let response;
    try {
      response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    } catch (err) {
      if (n === this.requests) this.setStatus(`the server did not answer (${err.message}); the plots show the last run`, "error");
      return null;
    }
    const body = await response.json().catch(() => null);
    if (n !== this.requests) return null;
    if (!response.ok) {
      const detail = body?.detail?.[0];
      this.setStatus(detail?.msg || `the server refused the ${what} (${response.status})`, "error");
      return null;
    }
    return body;
  }
}

/**
 * The numeric fields of ``form`` ([{key}]) within ``limits`` ({key: {min, max}}), whole numbers but the
 * keys in ``floats``: {values} or, for the first one out of range, {error, field} naming it and its range
 * (``prefix`` before the name: "training." for the training form's, as the server names them).
 */
export function readNumbers(form, fields, limits, floats = new Set(), prefix = "") {
  const values = {};
  for (const { key } of fields) {
    const input = form.elements.namedItem(key);
    const lim = limits[key];
    const value = Number(input.value);
    const integral = !floats.has(key);
    if (input.value.trim() === "" || !Number.isFinite(value) || value < lim.min || value > lim.max || (integral && !Number.isInteger(value))) {
      const whole = integral ? " (whole numbers)" : "";
      return { error: `${prefix}${key}: ${input.value || "empty"} is outside the allowed range ${lim.min} .. ${lim.max}${whole}`, field: key };
    }
    values[key] = value;
  }
  return { values };
}

/** Mark the input called ``field`` (none: every input unmarked) in ``form``. */
export function markInvalid(form, field) {
  for (const input of form.querySelectorAll("input")) input.classList.toggle("invalid", input.name === field);
}

const SUBS = "₀₁₂₃₄₅₆₇₈₉";
/** A number as Unicode subscript digits: y${subscript(10)} is y₁₀. */
export const subscript = (n) => String(n).replace(/[0-9]/g, (c) => SUBS[c]);

/**
 * One line of a panel's equations: ``parts`` are strings and {num} values, each value in a .num span
 * (shown to 3 digits, its full value in the title); the line's border in ``colour``, ``data`` its
 * dataset (the tests find lines by it).
 */
export function equationLine(parts, colour, data = {}, lead = "") {
  const p = document.createElement("p");
  p.className = "hw-eq-line";
  Object.assign(p.dataset, data);
  p.style.borderColor = colour;
  if (lead) p.append(lead);
  for (const part of parts) {
    if (typeof part === "string") p.append(part);
    else {
      const span = document.createElement("span");
      span.className = "num";
      span.textContent = fmt(part.num, 3);
      span.title = String(part.num);
      p.append(span);
    }
  }
  return p;
}

const TRAINING_FIELDS = [
  { key: "steps", label: "steps", step: 50 },
  { key: "lr", label: "learning rate", step: 0.001 },
  { key: "batch_size", label: "batch", step: 1 },
];

/** A side panel's "train both" form: its button and the training's numbers (spec.json's training). */
export class TrainingForm {
  constructor(form, spec, label, onSubmit) {
    this.form = form;
    this.spec = spec;
    const parts = TRAINING_FIELDS.map(({ key, label: name, step }) => {
      const lim = spec.limits[key];
      return `<label>${name} <input type="number" name="${key}" min="${lim.min}" max="${lim.max}" step="${step}" value="${spec.defaults[key]}"
        title="${lim.min} to ${lim.max}"></label>`;
    });
    form.innerHTML = `<button type="submit" class="chip train-go">${label}</button> ${parts.join(" ")}`;
    this.button = form.querySelector(".train-go");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      onSubmit();
    });
  }

  /** {training} or, for the first number out of range, {error, field} naming it as the server does. */
  read() {
    const { values, error, field } = readNumbers(this.form, TRAINING_FIELDS, this.spec.limits, new Set(["lr"]), "training.");
    return error ? { error, field } : { training: values };
  }

  fill(training) {
    fillForm(this.form, training);
  }

  set busy(on) {
    this.button.disabled = on;
  }
}

/**
 * Both models' training losses against the step on a log axis, the no-learning baseline dotted:
 * curves [{label, color, losses, held_out}]; type: typeSizes' sizes.
 */
export function drawLosses(plotly, host, curves, baseline, title, type) {
  const traces = curves.map((c) => ({
    type: "scatter",
    mode: "lines",
    name: `${c.label}: held-out ${fmt(c.held_out, 3)}`,
    x: c.losses.map((_, k) => k + 1),
    y: c.losses.map((v) => (Number.isFinite(v) && v > 0 ? v : null)),
    line: { color: c.color, width: 2 },
    hovertemplate: `${c.label}, step %{x}: loss %{y:.3g}<extra></extra>`,
  }));
  const height = type.row + 40;
  const margin = { l: 68, r: 12, t: 30, b: 70 };
  const all = [...curves.flatMap((c) => c.losses), baseline];
  const layout = {
    height,
    margin,
    font: { size: type.font },
    title: { text: title, x: 0, xanchor: "left", font: { size: type.font } },
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    xaxis: { title: { text: "training step", standoff: 4 } },
    yaxis: { ...logAxis(all, height - margin.t - margin.b, type.font), title: { text: "loss" } },
    shapes: [{ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: baseline, y1: baseline, line: { color: "#444", width: 1, dash: "dot" } }],
  };
  plotly.react(host, traces, layout, PLOTLY_CONFIG);
}
