/**
 * What the side panels (the highway's, the attention's: each its own form and request, apart from the
 * sequence run) share:
 *   - their ready-made settings (GET /api/highway/lessons, /api/attention/lessons): a button for each
 *     above the panel's plots, and the chosen one's words read aloud in class; the lessons menu at the
 *     top lists them too (main.js), under the panel's name;
 *   - their settings in the page's state (state.js "highway", "attention"): a copied link carries them
 *     and a room's students follow the teacher's (room.js).
 */

import { panelValues } from "../state.js";

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
