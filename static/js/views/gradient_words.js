/**
 * Gradient curves in words, for the gradient plots and the depth view: the fitted decay of each
 * compared cell for one layer-direction (the server's sentence, its explanation, and what was
 * fitted in the tooltip), and the text summaries read from the very numbers on screen, for a
 * screen reader or a teacher's notes.
 */

import { CELL_COLOR, CELL_LABEL, fmt } from "../config.js";

export const cellLabel = (cell) => CELL_LABEL[cell.name] || cell.name;

export function swatch(color) {
  const el = document.createElement("span");
  el.className = "swatch";
  el.style.background = color;
  el.setAttribute("aria-hidden", "true");
  return el;
}

/** What a fit said, or why there is none: the sentence, its explanation and a tooltip. */
export function decayWords(run, k, ld, kind) {
  const decay = run.decay(k, ld, kind);
  if (decay === undefined) {
    return { text: "no fit sent for this layer and direction", explanation: null, title: "", decay: null };
  }
  if (!decay) return { text: "no fit: this curve was not computed", explanation: null, title: "", decay: null };
  const parts = [`fitted on ${run.where(ld, { top: true })}`];
  if (decay.steps_per_decade !== null && decay.steps_per_decade !== undefined) {
    parts.push(`${fmt(decay.steps_per_decade)} steps per factor of 10 (${decay.direction})`);
  } else parts.push(decay.direction);
  if (decay.span) parts.push(`${decay.span} steps fitted`);
  // factor: the fitted norm at the earliest fitted step over the one at the latest
  if (decay.factor !== null && decay.factor !== undefined) {
    parts.push(`×${fmt(decay.factor)} from the latest step back to the earliest`);
  }
  return { text: decay.text, explanation: decay.explanation || null, title: `${parts[0]}: ${parts.slice(1).join(", ")}`, decay };
}

/**
 * The fits of one layer-direction, one <li> per cell: "RNN (tanh): 10x smaller every 3.99 steps
 * back", the LSTM's cell-state fit beside its hidden one (`also`), and the fit's explanation under
 * it (open when short or when the curve is exactly zero, else behind "why?"). A parenthesis that
 * ends every sentence (a reverse direction's "back is toward higher t") is said once, as `shared`.
 */
export function decayList(run, ld, kind, also = null) {
  const rows = run.cells.map((cell, k) => ({
    cell,
    main: decayWords(run, k, ld, kind),
    second: also && cell.hasC ? decayWords(run, k, ld, also.kind) : null,
  }));
  const texts = rows.flatMap((r) => [r.main, r.second].filter((w) => w && w.decay).map((w) => w.text));
  const tails = texts.map((text) => (text.match(/\s*\(([^()]*)\)$/) || [])[1]);
  const shared = texts.length > 1 && tails.every((tail) => tail && tail === tails[0]) ? tails[0] : null;
  const words = (w) => (shared && w.decay ? w.text.slice(0, w.text.lastIndexOf("(")).trimEnd() : w.text);
  const items = rows.map(({ cell, main, second }) => {
    const li = document.createElement("li");
    li.dataset.cell = cell.name;
    const name = document.createElement("strong");
    name.textContent = `${cellLabel(cell)}: `;
    const text = document.createElement("span");
    text.className = "decay-text";
    text.textContent = words(main);
    li.append(swatch(CELL_COLOR[cell.name]), name, text);
    li.title = main.title;
    if (main.decay) {
      li.dataset.direction = main.decay.direction;
      if (main.decay.steps_per_decade !== null && main.decay.steps_per_decade !== undefined) {
        li.dataset.stepsPerDecade = String(main.decay.steps_per_decade);
      }
    }
    if (second && second.decay) {
      const c = document.createElement("span");
      c.className = "decay-also";
      c.textContent = `; ${also.label}: ${words(second)}`;
      c.title = second.title;
      li.append(c);
    }
    const reasons = [
      [main.decay && main.explanation, "why?"],
      [second?.decay && second.explanation, `why? (${also?.label})`],
    ].filter(([text], j, all) => text && (j === 0 || text !== all[0][0]));
    const zero = [main, second].some((w) => w?.decay?.direction === "zero");
    for (const [explanation, ask] of reasons) {
      const long = !zero && explanation.length > 160;
      const why = document.createElement(long ? "details" : "span");
      why.className = "decay-why";
      if (long) {
        const head = document.createElement("summary");
        head.textContent = reasons.length > 1 && ask === "why?" ? "why? (h)" : ask;
        why.append(head);
      }
      why.append(explanation);
      li.append(why);
    }
    return li;
  });
  return { items, shared };
}

/**
 * A curve going back from where its backward pass starts (t = T−1, or t = 0 in a reverse direction):
 * "falls from 0.398 at t = 59 to 3.91e-14 at t = 0; exactly 0 at 3 of 60 steps".
 */
export function describeCurve(curve, reverse) {
  const T = curve.length;
  const s = reverse ? 0 : T - 1;
  const f = reverse ? T - 1 : 0;
  const vs = Number(curve[s]);
  const vf = Number(curve[f]);
  let zeros = 0;
  let nan = 0;
  let inf = 0;
  for (const raw of curve) {
    const v = Number(raw);
    if (v === 0) zeros += 1;
    else if (Number.isNaN(v)) nan += 1;
    else if (!Number.isFinite(v)) inf += 1;
  }
  let verb = "goes";
  if (Number.isFinite(vs) && Number.isFinite(vf)) {
    verb = vf < vs / 1.26 ? "falls" : vf > vs * 1.26 ? "grows" : "stays about the same, going";
  }
  const out = [`${verb} from ${fmt(vs)} at t = ${s} to ${fmt(vf)} at t = ${f}`];
  if (zeros) out.push(`exactly 0 at ${zeros} of ${T} steps`);
  if (inf) out.push(`inf at ${inf} of ${T} steps`);
  if (nan) out.push(`NaN at ${nan} of ${T} steps`);
  return out.join("; ");
}

/**
 * The text summary of a plot of per-step norms: per cell, the solid curve (and the dashed one) in
 * words, then its fitted decay. `spec.labels(run, ld)` names the solid and dashed curves.
 */
export function plotSummary(run, ld, spec) {
  const reverse = run.isReverse(ld);
  const where = run.where(ld, { top: true });
  const sentences = [`${where[0].toUpperCase()}${where.slice(1)}.`];
  const [solidLabel, dashedLabel] = spec.labels(run, ld);
  run.cells.forEach((cell, k) => {
    const solid = run.curve(k, spec.solid, ld);
    if (!solid) {
      sentences.push(`${cellLabel(cell)}: ${solidLabel} not computed.`);
      return;
    }
    let sentence = `${cellLabel(cell)}: ${solidLabel} ${describeCurve(solid, reverse)}`;
    const dashed = run.curve(k, spec.dashed, ld);
    if (dashed) sentence += `; ${dashedLabel} ${describeCurve(dashed, reverse)}`;
    const fit = decayWords(run, k, ld, spec.decay);
    if (fit.decay) sentence += `; fit: ${fit.text}`;
    sentences.push(`${sentence}.`);
  });
  return sentences.join(" ");
}

/** A collapsed "Text summary" under a plot, described-by from the plot. */
export function summaryBox(id) {
  const details = document.createElement("details");
  details.className = "summary";
  const head = document.createElement("summary");
  head.textContent = "Text summary";
  const body = document.createElement("p");
  body.id = id;
  details.append(head, body);
  return { details, body };
}
