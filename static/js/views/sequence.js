/**
 * The input and target strip: one column per step (characters for text, numbers otherwise), the
 * cursor's column highlighted and kept in view. Steps without a target show a faint dot.
 *
 * Emits: "seek" {t} when a step is clicked.
 */

import { Emitter } from "../events.js";

export class SequenceView extends Emitter {
  constructor(root) {
    super();
    this.root = root;
    this.strip = root.querySelector(".strip");
    this.caption = root.querySelector(".strip-caption");
    this.columns = [];
    this.runId = null;
    this.current = -1;
    this.strip.addEventListener("click", (ev) => {
      const col = ev.target.closest("[data-step]");
      if (col) this.emit("seek", { t: Number(col.dataset.step) });
    });
  }

  build(run) {
    const labels = run.input.labels || [];
    const targets = run.input.target_labels || [];
    const task = run.input.task || run.config?.task || "";
    const text = task === "text";
    const frag = document.createDocumentFragment();
    const head = document.createElement("div");
    head.className = "strip-head";
    head.innerHTML = `<span>t</span><span>input</span><span>target</span>`;
    frag.append(head);
    this.columns = [];
    for (let t = 0; t < run.T; t++) {
      const col = document.createElement("div");
      col.className = "step";
      col.dataset.step = String(t);
      const index = document.createElement("span");
      index.className = "step-t";
      index.textContent = String(t);
      const input = document.createElement("span");
      input.className = "step-in";
      input.textContent = show(labels[t], text);
      const target = document.createElement("span");
      target.className = "step-target";
      const tl = targets[t];
      target.textContent = tl === undefined || tl === "" ? "·" : show(tl, text);
      if (tl === undefined || tl === "") target.classList.add("none");
      col.append(index, input, target);
      frag.append(col);
      this.columns.push(col);
    }
    this.strip.replaceChildren(frag);
    this.strip.classList.toggle("text", text);
    this.caption.textContent = describe(task, run);
    this.current = -1;
  }

  update(model) {
    const { run, t } = model;
    if (!run || !run.complete) return;
    if (run.id !== this.runId) {
      this.runId = run.id;
      this.build(run);
    }
    if (t === this.current) return;
    if (this.columns[this.current]) this.columns[this.current].classList.remove("cursor");
    const col = this.columns[t];
    if (!col) return;
    col.classList.add("cursor");
    this.current = t;
    // Keep the cursor in view, turning the page only when it nears an edge: the text stands still
    // to be read, and a still strip costs no repaint while playing.
    const view = this.strip.clientWidth;
    const x = col.offsetLeft - this.strip.scrollLeft;
    const head = this.strip.firstElementChild?.offsetWidth || 0;
    if (x < head + col.offsetWidth || x > view - 2 * col.offsetWidth) {
      const forward = model.state.get("pass") !== "backward";
      const anchor = forward ? head + 0.15 * (view - head) : 0.85 * view;
      this.strip.scrollLeft = Math.max(0, col.offsetLeft - anchor);
    }
  }
}

// Make spaces and newlines visible in a text task.
function show(label, text) {
  if (label === undefined || label === null) return "";
  if (!text) return String(label);
  if (label === " ") return "␣";
  if (label === "\n") return "↵";
  return String(label);
}

function describe(task, run) {
  const what = {
    text: "characters; the target is the next character",
    sequence: "your numbers, a row per step; the target is the next row",
    sine: "a sine wave; the target is its next clean value",
    adding: "values with two marked (*) ones; the target is their sum, at the last step",
    copy: "symbols to remember, then blanks and a recall cue; the target is to repeat the symbols",
    delayed_recall: "one symbol at t = 0, then blanks; the target is that symbol, at the last step",
  }[task];
  return `${task} task, T = ${run.T}${what ? ": " + what : ""}`;
}
