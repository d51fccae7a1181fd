/**
 * The Training panel's controls: Start, Pause / Resume, Step, Reset, and the training settings
 * (optimizer, learning rate, momentum, batch size, clip threshold, step budget, probe interval).
 *
 * The learning rate, the clip and the budget change live (train_set); the others apply at the next
 * Start, and the field says so while a training with another value runs. A value that does not
 * parse is sent as typed: the server's error names the field and shows beside it (showError).
 *
 * Emits: "set" {key: value} (a state key of kind "train"), "command" {type: start | pause | resume
 * | step | reset}.
 */

import { Emitter } from "../events.js";

export const LIVE_KEYS = ["lr", "clip", "budget"];

const FIELDS = [
  { key: "opt", label: "Optimizer", type: "select", options: [["adam", "Adam"], ["sgd", "SGD (momentum)"]], setting: "optimizer" },
  { key: "lr", label: "Learning rate", type: "float", step: "any", setting: "lr", title: "Changed live: the next step uses it" },
  { key: "momentum", label: "Momentum", type: "float", step: "0.05", setting: "momentum", when: (s) => s.get("opt") === "sgd" },
  { key: "batch", label: "Batch size", type: "int", step: "1", setting: "batch_size" },
  { key: "clip", label: "Clip ‖∇‖ at", type: "optfloat", step: "any", placeholder: "off", setting: "clip", title: "The global gradient norm's cap; empty: no clipping. Changed live" },
  { key: "budget", label: "Step budget", type: "int", step: "100", setting: "steps", title: "Training pauses here; changed live" },
  { key: "probe", label: "Record every", type: "int", step: "1", setting: "probe_every", suffix: "steps", title: "A gradient-flow record (one row of the movie) every so many steps" },
];

const parseNumber = (s, int) => {
  const text = s.trim();
  if (int) return /^-?\d+$/.test(text) ? Number(text) : text;
  return text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
};

export class TrainControls extends Emitter {
  constructor(root) {
    super();
    this.root = root;
    this.inputs = new Map();
    this.errors = new Map();
    const buttons = document.createElement("div");
    buttons.className = "train-buttons";
    buttons.setAttribute("role", "group");
    buttons.setAttribute("aria-label", "Training");
    this.buttons = {};
    for (const [type, text, title] of [
      ["start", "▶ Start", "A fresh training of the current settings (drops the previous one)"],
      ["pause", "❚❚ Pause", "Pause the training"],
      ["step", "Step +1", "One training step, then pause"],
      ["reset", "Reset", "Drop the training: the views show the untrained nets again"],
    ]) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.command = type;
      b.id = `btn-train-${type}`;
      b.textContent = text;
      b.title = title;
      if (type === "start") b.className = "primary";
      b.addEventListener("click", () => this.emit("command", { type: b.dataset.command }));
      buttons.append(b);
      this.buttons[type] = b;
    }
    const form = document.createElement("form");
    form.className = "train-form";
    form.autocomplete = "off";
    form.addEventListener("submit", (ev) => ev.preventDefault());
    for (const spec of FIELDS) form.append(this.field(spec));
    root.append(buttons, form);
    this.form = form;
  }

  field(spec) {
    const wrap = document.createElement("div");
    wrap.className = "tfield";
    wrap.dataset.field = spec.key;
    const id = `train-${spec.key}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = spec.label;
    let input;
    if (spec.type === "select") {
      input = document.createElement("select");
      for (const [value, text] of spec.options) input.append(new Option(text, value));
    } else {
      input = document.createElement("input");
      input.type = "text";
      input.inputMode = "decimal";
      input.spellcheck = false;
      input.placeholder = spec.placeholder || "";
      input.size = 6;
    }
    input.id = id;
    if (spec.title) input.title = spec.title;
    input.addEventListener("change", () => this.changed(spec));
    wrap.append(label, input);
    if (spec.suffix) wrap.append(Object.assign(document.createElement("span"), { className: "suffix", textContent: spec.suffix }));
    const note = document.createElement("div");
    note.className = "tfield-note";
    const error = document.createElement("div");
    error.className = "field-error";
    error.setAttribute("role", "alert");
    wrap.append(note, error);
    wrap.spec = spec;
    this.inputs.set(spec.key, input);
    return wrap;
  }

  read(spec) {
    const raw = this.inputs.get(spec.key).value;
    if (spec.type === "select") return raw;
    if (spec.type === "optfloat") return raw.trim() === "" || raw.trim().toLowerCase() === "off" ? null : parseNumber(raw, false);
    return parseNumber(raw, spec.type === "int");
  }

  changed(spec) {
    this.clearError(spec.key);
    this.emit("set", { [spec.key]: this.read(spec) });
  }

  /** Show the state's settings, the buttons the training's status allows, and what waits for Start. */
  render(state, record) {
    const exists = record.alive;
    const running = record.running;
    for (const wrap of this.form.querySelectorAll(".tfield")) {
      const spec = wrap.spec;
      const input = this.inputs.get(spec.key);
      const v = state.get(spec.key);
      if (document.activeElement !== input) {
        const text = v === null || v === undefined ? "" : String(v);
        if (input.value !== text) input.value = text;
      }
      wrap.hidden = spec.when ? !spec.when(state) && !wrap.classList.contains("has-error") : false;
      // a setting that only a new training takes: say so while one runs with another value
      const trained = exists && record.settings ? record.settings[spec.setting] : undefined;
      const waits = exists && !LIVE_KEYS.includes(spec.key) && trained !== undefined && JSON.stringify(trained) !== JSON.stringify(v);
      const note = wrap.querySelector(".tfield-note");
      const text = waits ? `this training: ${trained ?? "off"}; applies at the next Start` : "";
      if (note.textContent !== text) note.textContent = text;
    }
    // called at every animation frame: the DOM is written only where something changed
    const set = (el, prop, value) => {
      if (el[prop] !== value) el[prop] = value;
    };
    const b = this.buttons;
    set(b.start, "textContent", exists ? "↻ Start over" : "▶ Start");
    const paused = exists && !running;
    set(b.pause, "textContent", paused ? "▶ Resume" : "❚❚ Pause");
    if (b.pause.dataset.command !== (paused ? "resume" : "pause")) b.pause.dataset.command = paused ? "resume" : "pause";
    set(b.pause, "title", paused ? "Go on training up to the step budget" : "Pause the training");
    // the server's training of this session only (not a classroom teacher's, followed or left)
    const own = record.alive && !record.teacher;
    b.pause.disabled = !own || (paused && record.status === "done" && record.step >= record.budget);
    b.reset.disabled = !own;
  }

  /** Mark a field with the server's message; false when the field is not here. */
  showError(key, message) {
    const wrap = this.form.querySelector(`[data-field="${CSS.escape(key)}"]`);
    if (!wrap) return false;
    wrap.classList.add("has-error");
    wrap.hidden = false;
    wrap.querySelector(".field-error").textContent = message;
    this.errors.set(key, message);
    return true;
  }

  clearError(key = null) {
    for (const wrap of this.form.querySelectorAll(".tfield.has-error")) {
      if (key && wrap.dataset.field !== key) continue;
      wrap.classList.remove("has-error");
      wrap.querySelector(".field-error").textContent = "";
      this.errors.delete(wrap.dataset.field);
    }
  }
}
