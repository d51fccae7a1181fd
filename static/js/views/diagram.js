/**
 * One cell diagram per compared cell (SVG), gates lit by their mean activation at the cursor:
 * sigmoid gates on the 0..1 sequential scale, g / n / pre-activations / states on the diverging
 * scale. Hover (or focus) a part for its numbers: mean, min, max over units and the chosen unit.
 * Each part's accessible name says the same in words ("forget gate f: mean 0.52 at t = 10"). In
 * the reverse direction of a bidirectional net the state fed in comes from t+1, and it says so.
 *
 * Emits: "select" {cell} when a diagram is clicked.
 */

import { CELL_COLOR, CELL_LABEL, GATE_LABEL, SIGMOID_GATES, UNBOUNDED_GATES, fmt, valueColor } from "../config.js";
import { Emitter } from "../events.js";
import { stats } from "../run.js";
import { cellSvg, cellWords, previousStep } from "./diagram_svg.js";

function partLabel(part, reverse) {
  const prev = previousStep(reverse);
  // the reverse direction reads the sequence from the end: the state fed in is the next step's
  const fed = (name, symbol) =>
    reverse ? `${name} fed in, ${symbol}_{${prev}} (reverse direction: from the step after)` : `previous ${name} ${symbol}_{${prev}}`;
  const labels = {
    c: "cell state c_t",
    c_prev: fed("cell state", "c"),
    h: "hidden state h_t",
    h_prev: fed("hidden state", "h"),
    x: "input x_t",
    h_node: "hidden state h_t",
  };
  return GATE_LABEL[part] || labels[part] || part;
}

export class DiagramView extends Emitter {
  constructor(root) {
    super();
    this.root = root;
    this.cards = [];
    this.builtFor = null; // run id and direction the cards were drawn for
    this.key = null;
    this.partStats = []; // per cell: part -> {mean, min, max, unit value}
    this.tooltip = document.createElement("div");
    this.tooltip.className = "tooltip";
    this.tooltip.hidden = true;
    this.tooltip.setAttribute("role", "status");
    document.body.append(this.tooltip);
  }

  build(run, reverse) {
    this.reverse = reverse;
    this.cards = run.cells.map((cell, k) => {
      const card = document.createElement("figure");
      card.className = "cell-card";
      card.dataset.cell = cell.name;
      card.dataset.index = String(k);
      card.style.setProperty("--cell-color", CELL_COLOR[cell.name] || "#888");
      card.innerHTML = `
        <figcaption><span class="cell-name"></span><span class="cell-loss"></span></figcaption>
        ${cellSvg(cell.name, { reverse })}
        <p class="cell-words"></p>`;
      card.querySelector(".cell-name").textContent = CELL_LABEL[cell.name] || cell.name;
      card.querySelector(".cell-loss").textContent = `loss ${fmt(cell.loss)}`;
      card.addEventListener("click", () => this.emit("select", { cell: k }));
      for (const part of card.querySelectorAll("[data-part]")) {
        const show = () => this.showTooltip(k, part.dataset.part, part);
        part.addEventListener("mouseenter", show);
        part.addEventListener("focus", show);
        part.addEventListener("mouseleave", () => (this.tooltip.hidden = true));
        part.addEventListener("blur", () => (this.tooltip.hidden = true));
      }
      return card;
    });
    this.root.replaceChildren(...this.cards);
  }

  update(model) {
    const { run, state, t } = model;
    if (!run || !run.complete) return;
    const ld = run.ld(state.get("layer"), state.get("dir"));
    const reverse = run.isReverse(ld);
    if (`${run.id}|${reverse}` !== this.builtFor) {
      this.builtFor = `${run.id}|${reverse}`;
      this.key = null;
      this.build(run, reverse);
    }
    const unit = model.unit ?? state.get("unit");
    const sel = state.get("sel");
    const key = `${t}|${ld}|${unit}|${sel}`;
    if (key === this.key) return;
    this.key = key;
    this.partStats = run.cells.map((cell, k) => this.paint(run, k, ld, t, unit, sel));
  }

  paint(run, k, ld, t, unit, sel) {
    const cell = run.cells[k];
    const card = this.cards[k];
    card.classList.toggle("selected", k === sel);
    const parts = {};
    const grab = (part, values) => {
      if (!values) return;
      parts[part] = { ...stats(values), unit: unit >= 0 && unit < values.length ? values[unit] : null };
    };
    for (const gate of cell.gates) grab(gate, run.at(k, gate, ld, t));
    grab("h", run.at(k, "h", ld, t));
    grab("h_prev", run.previous(k, "h", ld, t));
    if (cell.hasC) {
      grab("c", run.at(k, "c", ld, t));
      grab("c_prev", run.previous(k, "c", ld, t));
    }
    parts.h_node = parts.h;
    const at = `at t = ${t}`;
    for (const el of card.querySelectorAll("[data-part]")) {
      const name = el.dataset.part;
      const s = parts[name];
      const label = partLabel(name, this.reverse);
      if (name === "x") {
        const input = run.input.labels?.[t] ?? "";
        el.querySelector(".state-value").textContent = input;
        el.setAttribute("aria-label", `${label}: ${input === "" ? "no label" : input} ${at}`);
        continue;
      }
      if (!s) {
        el.setAttribute("aria-label", `${label}: no value ${at}`);
        continue;
      }
      const chosen = s.unit !== null ? `unit ${unit} ${fmt(s.unit, 2)}, ` : "";
      const bad = s.nonfinite ? `, ${s.nonfinite} of ${s.count} units NaN or inf` : "";
      el.setAttribute("aria-label", `${label}: ${chosen}mean ${fmt(s.mean, 2)}${bad} ${at}`);
      const shown = s.unit !== null ? s.unit : s.mean;
      const sigmoid = SIGMOID_GATES.has(name);
      const range = UNBOUNDED_GATES.has(name) ? 3 : name === "c" || name === "c_prev" ? 2 : 1;
      const { fill, text } = valueColor(Math.max(-range, Math.min(range, shown)), { signed: !sigmoid, range });
      const shape = el.querySelector("rect, ellipse");
      if (shape) {
        shape.style.fill = Number.isFinite(shown) ? fill : "#9e9e9e";
        const valueText = el.querySelector(".gate-value");
        if (valueText) {
          valueText.textContent = fmt(shown, 2);
          valueText.style.fill = text;
        }
        const nameText = el.querySelector(".gate-name");
        if (nameText) nameText.style.fill = text;
        const nodeText = el.querySelector(":scope > text");
        if (name === "h_node" && nodeText) nodeText.style.fill = text;
      }
      const value = el.querySelector(".state-value");
      if (value) value.textContent = fmt(shown, 2);
      el.classList.toggle("nonfinite", !Number.isFinite(shown));
    }
    card.querySelector(".cell-words").textContent = this.words(cell, parts, unit);
    const where = run.L > 1 || run.dirs > 1 ? `, layer ${Math.floor(ld / run.dirs) + 1}${this.reverse ? ", reverse direction" : run.dirs > 1 ? ", forward direction" : ""}` : "";
    card.querySelector(".cell-svg").setAttribute("aria-label", `${CELL_LABEL[cell.name] || cell.name} cell diagram ${at}${where}`);
    card.dataset.t = String(t);
    return parts;
  }

  /** One sentence a student can read aloud about what the cell does at this step. */
  words(cell, parts, unit) {
    const v = (p) => (parts[p] ? (parts[p].unit !== null ? parts[p].unit : parts[p].mean) : NaN);
    const who = unit >= 0 ? `unit ${unit}` : "on average";
    const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : fmt(x));
    return cellWords(cell.name, who, v, pct);
  }

  showTooltip(k, part, el) {
    const s = this.partStats[k]?.[part];
    const label = partLabel(part, this.reverse);
    let html = `<strong>${label}</strong>`;
    if (part === "x") html += "<br>the input at this step";
    else if (!s) html += "<br>no value";
    else {
      html += `<br>mean over ${s.count} units: ${fmt(s.mean)}<br>min ${fmt(s.min)} · max ${fmt(s.max)}`;
      if (s.nonfinite) html += `<br><span class="bad">${s.nonfinite} value(s) NaN/inf</span>`;
      if (s.unit !== null) html += `<br>chosen unit: ${fmt(s.unit)}`;
    }
    this.tooltip.innerHTML = html;
    const r = el.getBoundingClientRect();
    this.tooltip.style.left = `${window.scrollX + r.left + r.width / 2}px`;
    this.tooltip.style.top = `${window.scrollY + r.top - 8}px`;
    this.tooltip.hidden = false;
  }
}
