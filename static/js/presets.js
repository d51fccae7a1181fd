/**
 * The lesson picker: presets from GET /api/presets in a select, the chosen one's title and
 * description shown above the player (marked when the settings have changed since).
 *
 * Emits: "apply" {name} when the user picks a preset.
 */

import { Emitter } from "./events.js";

// The lesson a cold start opens (no preset, no settings in the URL): its first screen shows the
// vanishing gradient next to an LSTM whose forget gate is open, and says why that matters.
export const START_LESSON = "rnn-vs-lstm";

/** True when `config` differs from the lesson's own settings in a field the lesson sets. */
export function lessonChanged(preset, config) {
  return Object.entries(preset.config).some(([k, v]) => k in config && JSON.stringify(config[k]) !== JSON.stringify(v));
}

export class PresetBox extends Emitter {
  constructor(select, description, state) {
    super();
    this.select = select;
    this.description = description;
    this.state = state;
    this.presets = [];
    select.addEventListener("change", () => this.emit("apply", { name: select.value }));
  }

  load(presets) {
    this.presets = presets;
    for (const p of presets) this.select.append(new Option(p.title, p.name));
    this.render();
  }

  find(name) {
    return this.presets.find((p) => p.name === name) || null;
  }

  get names() {
    return this.presets.map((p) => p.name);
  }

  render() {
    const name = this.state.get("preset");
    const preset = this.find(name);
    if (this.select.value !== name) this.select.value = preset ? name : "";
    const desc = this.description;
    if (!preset) {
      desc.textContent = "";
      desc.hidden = true;
      return;
    }
    const modified = lessonChanged(preset, this.state.config());
    desc.hidden = false;
    desc.innerHTML = `<strong></strong> <span></span>${modified ? ' <em class="note">(settings changed since)</em>' : ""}`;
    desc.querySelector("strong").textContent = preset.title;
    desc.querySelector("span").textContent = preset.description;
  }
}
