/**
 * The Training panel, at the top of the views in Train mode: its controls (training_controls.js),
 * where the training stands in words (running: step N of the budget and steps/s; paused; done;
 * diverged, naming the cell, the step and the value; busy or another error from the server), what
 * is being trained with which settings (the server's echo, so a live change shows once it took),
 * and two plots: the loss curves (training_loss.js) and the global gradient norm
 * (training_gradnorm.js).
 *
 * A server error shows beside its field, or in the panel when it has none here (busy, a clamped
 * gate, a setting of the settings form).
 *
 * Emits: "command" {type}, "set" {key: value} (from the controls), "later" {ms} (a throttled redraw).
 */

import { fmt } from "../config.js";
import { Emitter } from "../events.js";
import { TrainControls } from "./training_controls.js";
import { GradNormPlot } from "./training_gradnorm.js";
import { LossPlot } from "./training_loss.js";
import { Throttle, cellName } from "./training_plot.js";

const seconds = (s) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s < 10 ? s.toFixed(1) : Math.round(s)} s`);

/** What a config trains on, in words: "RNN (tanh) and LSTM on adding, T = 30, H = 16". */
export function trainedWhat(config) {
  if (!config) return "";
  const cells = (config.cells || []).map(cellName);
  const names = cells.length > 1 ? `${cells.slice(0, -1).join(", ")} and ${cells[cells.length - 1]}` : cells[0];
  const layers = config.num_layers > 1 ? `, ${config.num_layers} layers` : "";
  return `${names} on ${config.task.replace("_", " ")}, T = ${config.seq_len}, H = ${config.hidden_size}${layers}`;
}

/** The settings the panel's words name (trainedWhat): read one by one, not state.config(), which
 * copies every field (a text of 100,000 characters too) and ran at every animation frame. */
function namedConfig(state) {
  const out = {};
  for (const key of ["cells", "task", "seq_len", "hidden_size", "num_layers"]) out[key] = state.get(key);
  return out;
}

export function settingsWords(s) {
  if (!s) return "";
  const opt = s.optimizer === "sgd" ? `SGD (momentum ${fmt(s.momentum)})` : "Adam";
  return `${opt}, learning rate ${fmt(s.lr)}, batch ${s.batch_size}, clip ${s.clip === null ? "off" : fmt(s.clip)}`;
}

export class TrainingView extends Emitter {
  constructor(root, plotly) {
    super();
    this.root = root;
    const body = root.querySelector(".train-body");
    const top = document.createElement("div");
    top.className = "train-top";
    body.append(top);
    this.controls = new TrainControls(top);
    // an error stays until the user acts on it (or another training starts)
    this.controls.on("command", (cmd) => {
      this.hideError();
      this.emit("command", cmd);
    });
    this.controls.on("set", (partial) => {
      this.hideError();
      this.emit("set", partial);
    });
    this.status = document.createElement("p");
    this.status.className = "train-status";
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    this.error = document.createElement("p");
    this.error.className = "train-error";
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    this.what = document.createElement("p");
    this.what.className = "train-what";
    const plots = document.createElement("div");
    plots.className = "train-plots";
    const lossBox = document.createElement("figure");
    lossBox.dataset.plot = "train-loss";
    const normBox = document.createElement("figure");
    normBox.dataset.plot = "train-grad-norm";
    plots.append(lossBox, normBox);
    body.append(this.status, this.error, this.what, plots);
    this.loss = new LossPlot(lossBox, plotly);
    this.norm = new GradNormPlot(normBox, plotly);
    this.throttle = new Throttle(250);
    this.errorId = null;
  }

  update(model) {
    const { training: record, state } = model;
    if (state.get("mode") !== "train" || this.root.hidden) return;
    this.controls.render(state, record);
    this.renderStatus(record, state);
    const large = Boolean(state.get("large"));
    const named = namedConfig(state);
    const key = JSON.stringify([record.id, record.version, large, named, state.get("clip")]);
    if (!this.throttle.due(key, !record.running)) {
      if (this.throttle.wait > 0) this.emit("later", { ms: this.throttle.wait });
      return;
    }
    this.loss.update(record, large, named);
    this.norm.update(record, large, state.get("clip"));
  }

  renderStatus(record, state) {
    const { text, kind } = statusText(record, state);
    if (this.status.textContent !== text) this.status.textContent = text;
    this.status.dataset.kind = kind;
    this.root.dataset.status = record.status || "none";
    const what = record.exists && record.config ? `Training ${trainedWhat(record.config)} · ${settingsWords(record.settings)}` : "";
    if (this.what.textContent !== what) this.what.textContent = what;
    this.what.hidden = !what;
    this.what.dataset.lr = record.settings ? String(record.settings.lr) : "";
    if (this.errorId !== null && this.errorId !== record.id) this.hideError();
  }

  /** A server error about the training: on its field when it has one here, and in the panel. */
  showError(key, message, trainingId) {
    const onField = key ? this.controls.showError(key, message) : false;
    if (onField) return true; // said once, where the value is
    this.error.textContent = message;
    this.error.hidden = false;
    this.errorId = trainingId;
    return false;
  }

  hideError() {
    this.error.hidden = true;
    this.errorId = null;
  }

  clearErrors() {
    this.controls.clearError();
  }
}

/** Where the training stands, in one sentence, and how to show it (info, busy, warn, error). */
export function statusText(record, state) {
  const said = ownStatusText(record, state);
  const teachers = record.teacher && record.status !== "left" && record.exists;
  return teachers ? { ...said, text: `The teacher's training. ${said.text}` } : said;
}

function ownStatusText(record, state) {
  const diverged = record.divergences(cellName);
  const advice = " — lower the learning rate or set a clip, then Resume (the weights are the last finite ones).";
  // the server's message on a divergence says what the sentence above says, with raw cell names
  const msg = record.message && !diverged.length ? ` ${record.message}` : "";
  if (record.status === "ended") {
    return { text: `This training ended at step ${record.step} when the length sweep started (the server runs one job per session). Its curves stay; Start trains again.`, kind: "warn" };
  }
  if (record.status === "left") {
    return { text: `The teacher's training, at step ${record.step}: you are exploring on your own. Start trains your own; “Back to the teacher” follows the class again.`, kind: "info" };
  }
  if (record.status === "lost") {
    return { text: `The connection was lost: the training stopped at step ${record.step}. Press Start to train again.`, kind: "error" };
  }
  if (!record.exists) {
    return { text: `Not trained yet. Start trains ${trainedWhat(namedConfig(state))}, side by side on the same batches.`, kind: "info" };
  }
  const of = `step ${record.step} of ${record.budget}`;
  const bad = diverged.length ? ` ${diverged.join("; ")}${advice}` : "";
  switch (record.status) {
    case "running": {
      const rate = record.stepsPerSecond ? ` · ${Math.round(record.stepsPerSecond)} steps/s` : "";
      return { text: `Training: ${of}${rate} · ${seconds(record.seconds)}.${bad}${msg}`, kind: diverged.length ? "warn" : "busy" };
    }
    case "paused":
      return { text: `Paused at ${of}.${bad}${msg}`, kind: diverged.length ? "warn" : "info" };
    case "done":
      return { text: `Done: ${record.step} steps (the budget) in ${seconds(record.seconds)}.${record.teacher ? "" : " Raise the budget and Resume to go on."}${bad}${msg}`, kind: diverged.length ? "warn" : "info" };
    case "diverged":
      return { text: `Diverged at ${of}:${bad || ` a loss or gradient became NaN or inf${advice}`}${msg}`, kind: "error" };
    default:
      return { text: `${record.status}: ${of}.${msg}`, kind: "info" };
  }
}
