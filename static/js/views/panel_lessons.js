/**
 * A side panel's ready-made settings (GET /api/highway/lessons, /api/attention/lessons): a button for
 * each above the panel's plots, and the chosen one's words read aloud in class. The lessons menu at the
 * top lists them too (main.js), under the panel's name.
 */

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

/** Put a config's values into a panel's form (checkboxes checked, the rest as text). */
export function fillForm(form, config) {
  for (const [key, value] of Object.entries(config)) {
    const input = form.elements.namedItem(key);
    if (!input) continue;
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = String(value);
  }
}
