/**
 * The checkpoint bar, under the player in Train mode (and whenever the views show trained weights):
 * which weights the views below show, in words ("weights after 590 training steps" or "untrained
 * nets"), and a slider over the checkpoint steps the server keeps, with "Before training"
 * and "Latest" beside it and a "follow" switch (the choice moves with the newest checkpoint).
 *
 * Emits: "choose" {step} (null: the newest, and follow it), "follow" {on}.
 */

import { Emitter } from "../events.js";
import { cellName } from "./training_plot.js";

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** "after 590 training steps" for ready.trained, with the cells whose checkpoint differs named. */
export function trainedWords(trained) {
  if (!trained) return "untrained nets (as initialised)";
  const steps = Object.values(trained.steps || {});
  const main = steps.length ? Math.max(...steps) : trained.step;
  const others = Object.entries(trained.steps || {}).filter(([, s]) => s !== main);
  const unit = main === 1 ? "step" : "steps";
  const aside = others.length ? ` (${others.map(([c, s]) => `${cellName(c)}: after ${s}`).join(", ")})` : "";
  return `weights after ${main} training ${unit}${aside}`;
}

export class CheckpointBar extends Emitter {
  constructor(root) {
    super();
    this.root = root;
    root.innerHTML = `
      <span class="ckpt-words" role="status" aria-live="polite"></span>
      <button type="button" class="ckpt-first" title="The weights before any training step">Before training</button>
      <input class="ckpt-slider" type="range" min="0" max="0" value="0" step="1" aria-label="Training step of the weights the views show">
      <output class="ckpt-readout"></output>
      <button type="button" class="ckpt-latest" title="The newest checkpoint">Latest</button>
      <label class="ckpt-follow" title="Move with the newest checkpoint while training runs (the views catch up every second or few)"><input type="checkbox"> follow training</label>`;
    this.words = root.querySelector(".ckpt-words");
    this.slider = root.querySelector(".ckpt-slider");
    this.readout = root.querySelector(".ckpt-readout");
    this.first = root.querySelector(".ckpt-first");
    this.latest = root.querySelector(".ckpt-latest");
    this.followBox = root.querySelector(".ckpt-follow input");
    this.steps = [];
    this.slider.addEventListener("input", () => {
      const step = this.steps[Number(this.slider.value)];
      if (step !== undefined) {
        setText(this.readout, `step ${step}`);
        this.emit("choose", { step });
      }
    });
    this.first.addEventListener("click", () => this.steps.length && this.emit("choose", { step: this.steps[0] }));
    this.latest.addEventListener("click", () => this.emit("choose", { step: null }));
    this.followBox.addEventListener("change", () => this.emit("follow", { on: this.followBox.checked }));
  }

  /** model: {state, run, training, coach} */
  render({ state, run, training: record, coach }) {
    const trained = run ? run.trained : null;
    const show = state.get("mode") === "train" || Boolean(trained);
    if (this.root.hidden === show) this.root.hidden = !show;
    document.body.classList.toggle("shows-trained", Boolean(trained));
    if (!show) return;
    // following a running training, the views catch up quietly: no flicker on the projector
    const opening = coach.picked && coach.opening !== null ? ` · opening step ${coach.opening}…` : "";
    const stale = trained && (trained.train_id !== record.id || !record.alive) ? " of a training that is gone" : "";
    setText(this.words, `Views below: ${trainedWords(trained)}${stale}${opening}`);
    this.words.dataset.trained = trained ? String(trained.step) : "";
    this.root.dataset.kind = trained ? "trained" : "untrained";
    const steps = record.alive ? record.checkpoints : [];
    if (JSON.stringify(steps) !== JSON.stringify(this.steps)) {
      this.steps = steps.slice();
      this.slider.max = String(Math.max(0, steps.length - 1));
    }
    const none = steps.length === 0;
    this.slider.disabled = none;
    this.first.disabled = none;
    this.latest.disabled = none;
    this.followBox.disabled = none;
    this.followBox.checked = coach.follow;
    const chosen = coach.chosen;
    let index = steps.indexOf(chosen);
    if (index < 0) index = steps.length - 1;
    if (!this.slider.matches(":active") && this.slider.value !== String(Math.max(0, index))) this.slider.value = String(Math.max(0, index));
    setText(this.readout, none ? (record.alive ? "no checkpoints yet" : "no training to pick from") : `step ${chosen ?? steps[steps.length - 1]} (${index + 1} of ${steps.length})`);
    this.slider.setAttribute("aria-valuetext", none ? "no checkpoints" : `training step ${chosen}`);
  }
}
