/**
 * The settings form: every RunConfig field, built from GET /api/cells (choices, limits) with the
 * protocol's values as fallback, plus the view's layer / direction choice.
 *
 * Values that do not parse are sent as typed: the server's error names the field and the range,
 * and shows next to the field (showErrors). Fields that do not apply (forget bias without an LSTM,
 * the text of a sine task) are hidden unless they hold an error.
 *
 * Emits: "config" {partial} when a config field changes, "view" {partial} for layer / direction.
 */

import { CELL_CLAMPABLE, CELL_LABEL, CELL_NAMES, FALLBACK_OPTIONS, KNOB_FIELDS } from "./config.js";
import { Emitter } from "./events.js";
import { MODEL_FILES } from "./upload.js";

// the fields your own uploaded model fixes (its weights are trained, not drawn from these)
// an uploaded model's own: its cells, sizes and drawn weights (a solver option is how it runs, so it stays)
const FIXED_BY_MODEL = [
  "cells",
  "hidden_size",
  "num_layers",
  "bidirectional",
  "init",
  "spectral_radius",
  ...KNOB_FIELDS.filter((k) => k.default === null).map((k) => k.key),
];

const FIELDS = [
  { key: "weights", type: "model", label: "Your trained model" },
  { key: "cells", type: "cells", label: "Cells to compare (1 to 3)" },
  { key: "hidden_size", type: "int", label: "Hidden size H" },
  { key: "num_layers", type: "int", label: "Layers" },
  { key: "bidirectional", type: "bool", label: "Bidirectional" },
  { key: "task", type: "select", label: "Task" },
  { key: "seq_len", type: "int", label: "Sequence length T", tasks: ["sine", "adding", "copy", "delayed_recall"] },
  { key: "text", type: "text", label: "Text (T = length − 1)", tasks: ["text"], load: { kind: "text", accept: ".txt,.md,text/plain", label: "Load a text file…" } },
  { key: "values", type: "floats", label: "Numbers, row by row", tasks: ["sequence"], load: { kind: "csv", accept: ".csv,.tsv,.txt,text/csv", label: "Load a CSV…" } },
  { key: "columns", type: "int", label: "Numbers per step (input size)", tasks: ["sequence"] },
  { key: "period", type: "float", label: "Sine period", tasks: ["sine"] },
  { key: "noise", type: "float", label: "Noise", tasks: ["sine"], step: "0.05" },
  { key: "adding_form", type: "select", label: "Adding problem form", tasks: ["adding"] },
  { key: "copy_len", type: "int", label: "Symbols to copy", tasks: ["copy"] },
  { key: "loss", type: "select", label: "Loss on" },
  { key: "seed", type: "int", label: "Seed" },
  { key: "init", type: "select", label: "Weight initialisation" },
  { key: "spectral_radius", type: "optfloat", label: "Spectral radius of W_hh", placeholder: "as initialised", step: "0.1" },
  // each cell's init options, from the cell registry (the LSTM's forget-gate bias, ...)
  // and the continuous-time cells' solver options (a blank one is ncps' default)
  ...KNOB_FIELDS.map((k) => ({
    ...k,
    type: "optfloat",
    placeholder: k.default === null ? "as initialised" : `${k.default} (ncps' default)`,
    step: k.integer ? "1" : k.default === null ? "0.5" : "0.1",
  })),
  { key: "clamp", type: "clamp", label: "Clamp a gate to a constant" },
  { key: "jacobian", type: "select", label: "Jacobian norms ‖∂h_T/∂h_t‖" },
  { key: "device", type: "select", label: "Device" },
];

const OPTION_LABEL = {
  loss: { last: "the last step", sum: "every step (sum)", task: "the task's own (mean)" },
  adding_form: { le: "Le et al. 2015", hochreiter: "Hochreiter 1997" },
  jacobian: { auto: "when quick (smaller runs)", on: "always (slow on large runs)", off: "never" },
};

const parseInt_ = (s) => (/^\s*-?\d+\s*$/.test(s) ? Number(s) : s);
const parseFloat_ = (s) => (s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s);

export class Controls extends Emitter {
  constructor(form) {
    super();
    this.form = form;
    form.addEventListener("submit", (e) => e.preventDefault()); // Enter applies fields, never navigates
    this.options = { ...FALLBACK_OPTIONS };
    this.clampable = { ...CELL_CLAMPABLE };
    this.limits = {};
    this.inputs = new Map();
    this.errors = new Map();
    this.build();
  }

  /** Take the server's description of cells, choices and limits (GET /api/cells). */
  describe(info) {
    if (info.options) this.options = { ...this.options, ...info.options };
    if (info.cells) for (const c of info.cells) this.clampable[c.name] = c.clampable || {};
    if (info.limits) this.limits = info.limits;
    this.build();
  }

  build() {
    const frag = document.createDocumentFragment();
    this.inputs.clear();
    for (const spec of FIELDS) frag.append(this.field(spec));
    this.form.replaceChildren(frag);
    this.clampKey = null;
    if (this.lastState) this.render(this.lastState);
    // the server may have answered before GET /api/cells did: keep its errors on the new form
    for (const [field, message] of this.errors) this.mark(field, message);
  }

  field(spec) {
    const wrap = document.createElement("div");
    wrap.className = "field";
    wrap.dataset.field = spec.key;
    const id = `cfg-${spec.key}`;
    const limit = this.limits[spec.key];
    // (a list's count bound is no range to show: values holds rows of `columns` numbers)
    const range = limit && spec.type !== "floats" ? ` <small>${limit.min} – ${limit.max}</small>` : "";
    const label = `<label for="${id}">${spec.label}${range}</label>`;
    if (spec.type === "cells") {
      wrap.innerHTML = `<span class="label">${spec.label}</span><div class="cell-choices">${CELL_NAMES.map(
        (c) => `<label class="check"><input type="checkbox" name="cells" value="${c}"> ${CELL_LABEL[c]}</label>`,
      ).join("")}</div>`;
      wrap.addEventListener("change", () => this.changed("cells"));
    } else if (spec.type === "bool") {
      wrap.innerHTML = `<label class="check"><input id="${id}" type="checkbox"> ${spec.label}</label>`;
    } else if (spec.type === "select") {
      const labels = OPTION_LABEL[spec.key] || {};
      const opts = (this.options[spec.key] || []).map((o) => `<option value="${o}">${labels[o] || o}</option>`);
      wrap.innerHTML = `${label}<select id="${id}">${opts.join("")}</select>`;
    } else if (spec.type === "model") {
      wrap.innerHTML =
        `<span class="label">${spec.label}</span><div class="model-line"><span class="model-name"></span></div>` +
        `<div class="model-actions">` +
        `<select class="model-nonlinearity" title="A plain RNN's nonlinearity (its weights cannot tell)"><option value="tanh">if a plain RNN: tanh</option><option value="relu">if a plain RNN: ReLU</option></select>` +
        `<button type="button" class="model-clear">Use fresh nets</button></div>`;
      const load = fileButton("Load weights…", MODEL_FILES, (file) =>
        this.emit("upload", { file, nonlinearity: wrap.querySelector(".model-nonlinearity").value }),
      );
      load.title = "A torch.nn.RNN, LSTM or GRU you trained: its state_dict saved with torch.save or safetensors";
      wrap.querySelector(".model-actions").prepend(load);
      wrap.querySelector(".model-clear").addEventListener("click", () => {
        this.clearError("weights");
        this.emit("config", { weights: null });
      });
      this.modelBox = wrap;
    } else if (spec.type === "clamp") {
      wrap.innerHTML = `<span class="label">${spec.label}</span><div class="clamps"></div>`;
      this.clampBox = wrap.querySelector(".clamps");
    } else {
      const numeric = spec.type === "int" || spec.type === "float" || spec.type === "optfloat";
      const attrs = numeric
        ? `type="number" inputmode="decimal" step="${spec.step || (spec.type === "int" ? "1" : "any")}"` +
          (limit ? ` min="${limit.min}" max="${limit.max}"` : "")
        : `type="text" spellcheck="false"`;
      wrap.innerHTML = `${label}<input id="${id}" ${attrs} placeholder="${spec.placeholder || ""}">`;
    }
    if (spec.load) {
      // your data: a file read into this field (a CSV through POST /api/data, a text as it is)
      const { label: text, accept, kind } = spec.load;
      wrap.append(fileButton(text, accept, (file) => this.emit("data", { file, kind, field: spec.key })));
    }
    const error = document.createElement("div");
    error.className = "field-error";
    error.setAttribute("role", "alert");
    wrap.append(error);
    const input = wrap.querySelector(`#${id}`);
    if (input) {
      input.addEventListener("change", () => this.changed(spec.key));
      this.inputs.set(spec.key, input);
    }
    wrap.spec = spec;
    return wrap;
  }

  /** Rebuild the clamp inputs for the gates of the chosen cells. */
  renderClamps(cells, clamp) {
    const gates = new Map();
    for (const c of cells) for (const [g, r] of Object.entries(this.clampable[c] || {})) gates.set(g, r);
    for (const g of Object.keys(clamp || {})) if (!gates.has(g)) gates.set(g, null);
    const key = JSON.stringify([...gates.keys()]);
    if (this.clampKey !== key) {
      this.clampKey = key;
      this.clampBox.replaceChildren(
        ...[...gates].map(([gate, r]) => {
          const label = document.createElement("label");
          label.className = "clamp";
          label.dataset.field = `clamp.${gate}`;
          const range = r ? `${r[0]} – ${r[1]}` : "";
          label.innerHTML = `<span>${gate}</span><input type="number" step="0.05" data-gate="${gate}" placeholder="free" title="${gate}: clamp to a value in ${range}; empty leaves the gate free"${r ? ` min="${r[0]}" max="${r[1]}"` : ""}><span class="field-error" role="alert"></span>`;
          label.querySelector("input").addEventListener("change", () => this.changed("clamp"));
          return label;
        }),
      );
      if (!gates.size) this.clampBox.textContent = "(no gates: the plain RNN has none)";
    }
    for (const input of this.clampBox.querySelectorAll("input[data-gate]")) {
      if (document.activeElement === input) continue;
      const v = clamp?.[input.dataset.gate];
      input.value = v === undefined || v === null ? "" : String(v);
    }
  }

  /** Your model's line, and the fields it fixes disabled while it is in use. */
  renderModel(weights) {
    const own = Boolean(weights);
    const name = this.modelBox.querySelector(".model-name");
    name.textContent = own
      ? this.modelInfo && this.modelInfo.weights === weights
        ? this.modelInfo.label
        : "a model uploaded earlier"
      : "none: fresh nets drawn from the seed";
    this.modelBox.classList.toggle("in-use", own);
    this.modelBox.querySelector(".model-clear").hidden = !own;
    for (const key of FIXED_BY_MODEL) {
      const wrap = this.form.querySelector(`.field[data-field="${key}"]`);
      if (!wrap) continue;
      for (const input of wrap.querySelectorAll("input, select")) input.disabled = own;
      wrap.classList.toggle("fixed", own);
      wrap.title = own ? "fixed by your model: choose Use fresh nets to change it" : "";
    }
  }

  /** Remember the uploaded model's description (its label) for the model line. */
  setModel(info, label) {
    this.modelInfo = { weights: info.weights, label };
    if (this.lastState) this.render(this.lastState);
  }

  read(key) {
    const spec = FIELDS.find((f) => f.key === key);
    if (key === "cells") return [...this.form.querySelectorAll('input[name="cells"]:checked')].map((i) => i.value);
    if (key === "clamp") {
      const out = {};
      for (const input of this.clampBox.querySelectorAll("input[data-gate]")) {
        if (input.value.trim() !== "") out[input.dataset.gate] = parseFloat_(input.value);
      }
      return out;
    }
    const input = this.inputs.get(key);
    const raw = input.value;
    switch (spec.type) {
      case "bool":
        return input.checked;
      case "int":
        return parseInt_(raw);
      case "float":
        return parseFloat_(raw);
      case "optfloat":
        return raw.trim() === "" ? null : parseFloat_(raw);
      case "floats":
        return raw
          .split(/[,\s]+/)
          .filter((s) => s !== "")
          .map(parseFloat_);
      default:
        return raw;
    }
  }

  changed(key) {
    this.clearError(key);
    this.emit("config", { [key]: this.read(key) });
  }

  /** Show the state's values (not over a field the user is typing in). */
  render(state) {
    this.lastState = state;
    const cells = state.get("cells");
    const task = state.get("task");
    for (const box of this.form.querySelectorAll('input[name="cells"]')) box.checked = cells.includes(box.value);
    for (const [key, input] of this.inputs) {
      if (document.activeElement === input) continue;
      const v = state.get(key);
      if (input.type === "checkbox") input.checked = Boolean(v);
      else if (Array.isArray(v)) input.value = v.join(", ");
      else input.value = v === null || v === undefined ? "" : String(v);
    }
    this.renderClamps(Array.isArray(cells) ? cells : [], state.get("clamp"));
    this.renderModel(state.get("weights"));
    for (const wrap of this.form.querySelectorAll(".field")) {
      const spec = wrap.spec;
      let applies = true;
      if (spec.tasks && !spec.tasks.includes(task)) applies = false;
      if (spec.cells && !spec.cells.some((c) => cells.includes(c))) applies = false;
      wrap.hidden = !applies && !wrap.classList.contains("has-error");
    }
  }

  /** Mark a field with the server's message; false if no field of that name is on the form. */
  showError(field, message) {
    if (!field) return false;
    const target = this.mark(field, message);
    if (!target) return false;
    this.errors.set(field, message);
    target.scrollIntoView({ block: "nearest" });
    return true;
  }

  mark(field, message) {
    const target =
      this.form.querySelector(`[data-field="${CSS.escape(field)}"]`) ||
      this.form.querySelector(`[data-field="${CSS.escape(field.split(".")[0])}"]`);
    if (!target) return null;
    target.classList.add("has-error");
    target.hidden = false;
    const slot = target.querySelector(":scope > .field-error") || target.querySelector(".field-error");
    slot.textContent = message;
    return target;
  }

  clearError(key) {
    for (const field of [...this.errors.keys()]) {
      if (key && field.split(".")[0] !== key) continue;
      this.errors.delete(field);
    }
    for (const el of this.form.querySelectorAll(".has-error")) {
      const field = el.dataset.field;
      if (key && field.split(".")[0] !== key) continue;
      el.classList.remove("has-error");
      for (const slot of el.querySelectorAll(".field-error")) slot.textContent = "";
    }
  }

  clearErrors() {
    this.clearError(null);
  }

  /** The server's notes on the run's settings (a setting that changes nothing, say), by their field. */
  showNotes(notes) {
    const byField = new Map();
    for (const note of notes || []) if (note.field) byField.set(note.field.split(".")[0], note.text);
    for (const wrap of this.form.querySelectorAll(".field")) {
      let slot = wrap.querySelector(":scope > .field-note");
      const text = byField.get(wrap.dataset.field);
      if (!text) {
        slot?.remove();
        continue;
      }
      if (!slot) {
        slot = document.createElement("div");
        slot.className = "field-note";
        slot.setAttribute("role", "note");
        wrap.append(slot);
      }
      slot.textContent = text;
    }
  }
}

/** A button that opens a file chooser and hands the chosen file to ``onFile`` (the same file chosen
 * again is handed on again). */
function fileButton(text, accept, onFile) {
  const button = document.createElement("label");
  button.className = "button file-button";
  button.innerHTML = `<input type="file" accept="${accept}" hidden>`;
  button.append(text);
  const input = button.querySelector("input");
  input.addEventListener("change", () => {
    const chosen = input.files[0];
    input.value = "";
    if (chosen) onFile(chosen);
  });
  return button;
}

/** Layer and direction selects for a run (view state, not config). */
export function renderLayerChoice(root, run, state, emit) {
  const key = `${run.L}|${run.dirs}`;
  if (root.dataset.key !== key) {
    root.dataset.key = key;
    const layers = Array.from({ length: run.L }, (_, l) => `<option value="${l}">layer ${l + 1}${l === run.L - 1 ? " (top)" : ""}</option>`);
    root.innerHTML =
      (run.L > 1 ? `<label>Layer <select class="layer">${layers.join("")}</select></label>` : "") +
      (run.dirs > 1
        ? `<label>Direction <select class="dir"><option value="0">forward →</option><option value="1">reverse ←</option></select></label>`
        : "");
    root.querySelector(".layer")?.addEventListener("change", (ev) => emit({ layer: Number(ev.target.value) }));
    root.querySelector(".dir")?.addEventListener("change", (ev) => emit({ dir: Number(ev.target.value) }));
  }
  const layer = state.get("layer");
  const sel = root.querySelector(".layer");
  if (sel) sel.value = String(layer < 0 ? run.L + layer : Math.min(layer, run.L - 1));
  const dir = root.querySelector(".dir");
  if (dir) dir.value = String(state.get("dir") ? 1 : 0);
}
