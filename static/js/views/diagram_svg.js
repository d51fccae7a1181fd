/**
 * The SVG drawing of each cell type, as markup with `data-part` hooks the diagram view lights up.
 *
 *   LSTM  the cell-state highway c_{t-1} -> x f -> + i*g -> c_t on top; gates i, f, g, o fed by
 *         h_{t-1} and x_t; h_t = o * tanh(c_t).
 *   GRU   h_{t-1} -> x z -> + (1-z)*n -> h_t on top; r scales the hidden part of n's input.
 *   RNN   h_t = tanh(pre) (or relu), pre = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh.
 *   fused-input RNN   z = [x_t, 1, h_{t-1}] stacked, pre = W z (one matmul), h_t = tanh(pre).
 *   CfC   four linear maps of [x_t, h_{t-1}]: heads f1, f2 (tanh), time slope t_a and offset t_b; the time
 *         gate ti = σ(t_a·Δt + t_b) mixes the heads, h_t = f1 (1 − ti) + ti f2 (no path keeps h_{t-1}).
 *   LTC   the membrane voltage h_{t-1} carried along the top through × keep (the share the ODE solver's
 *         unfolds pass straight on), plus the drive toward the synapses' reversal potentials; tau, the
 *         time constant, from the conductances x_t and h_{t-1} open through their sigmoid synapses.
 *
 * In the reverse direction of a bidirectional net a step starts from the state at t+1, and the
 * labels say so. Every lit part is an image with an accessible name (the view fills in its value);
 * wires and operators are drawing only, hidden from screen readers.
 */

import { CELL_GATES, CELL_HAS_C, fmt } from "../config.js";

// the step a state comes from: t-1 going forward, t+1 in the reverse direction
export const previousStep = (reverse) => (reverse ? "t+1" : "t−1");

const sub = (base, index) => `${base}<tspan class="sub" dy="5">${index}</tspan>`;

function gateBox(name, cx, cy, fn) {
  return `<g class="gate" data-part="${name}" tabindex="0" role="img">
    <rect x="${cx - 27}" y="${cy - 21}" width="54" height="42" rx="6"/>
    <text class="gate-name" x="${cx}" y="${cy - 4}">${name}</text>
    <text class="gate-value" x="${cx}" y="${cy + 14}"></text>
    <text class="gate-fn" x="${cx}" y="${cy + 33}">${fn}</text>
  </g>`;
}

const op = (symbol, cx, cy) =>
  `<g class="op" aria-hidden="true"><circle cx="${cx}" cy="${cy}" r="11"/><text x="${cx}" y="${cy + 5}">${symbol}</text></g>`;

// A state label with its value under it, e.g. c_{t-1} at the highway's left end.
function stateLabel(part, html, x, y, anchor = "start") {
  return `<g class="state" data-part="${part}" tabindex="0" role="img">
    <text class="state-name" x="${x}" y="${y}" text-anchor="${anchor}">${html}</text>
    <text class="state-value" x="${x}" y="${y + 18}" text-anchor="${anchor}"></text>
  </g>`;
}

const wire = (d, cls = "wire") => `<path class="${cls}" d="${d}" aria-hidden="true"/>`;
const body = `<rect class="cell-body" x="34" y="22" width="352" height="186" rx="14" aria-hidden="true"/>`;

function lstm(prev) {
  return `
    ${body}
    ${wire("M10,52 H109 M131,52 H202 M224,52 H410", "highway")}
    ${wire("M120,109 V63")}
    ${wire("M182,109 V92 H202 M244,109 V92 H224 M213,81 V63")}
    ${wire("M360,52 V79 M360,101 V119 M333,130 H349 M371,130 H410")}
    ${wire("M10,186 H306 M120,151 V186 M182,151 V186 M244,151 V186 M306,151 V186 M70,232 V186")}
    ${op("×", 120, 52)}${op("+", 213, 52)}${op("×", 213, 92)}${op("×", 360, 130)}
    <g class="op tanh" aria-hidden="true"><ellipse cx="360" cy="90" rx="20" ry="11"/><text x="360" y="94">tanh</text></g>
    ${gateBox("f", 120, 130, "σ")}${gateBox("i", 182, 130, "σ")}${gateBox("g", 244, 130, "tanh")}${gateBox("o", 306, 130, "σ")}
    ${stateLabel("c_prev", sub("c", prev), 4, 26)}
    ${stateLabel("c", sub("c", "t"), 416, 26, "end")}
    ${stateLabel("h_prev", sub("h", prev), 4, 162)}
    ${stateLabel("h", sub("h", "t"), 416, 104, "end")}
    ${stateLabel("x", sub("x", "t"), 80, 226)}`;
}

function gru(prev) {
  return `
    ${body}
    ${wire("M10,52 H99 M121,52 H269 M291,52 H410", "highway")}
    ${wire("M24,52 V186 H280 M60,232 V186")}
    ${wire("M110,109 V63 M110,92 H224 M246,92 H269 M280,109 V103 M280,81 V63")}
    ${wire("M227,130 H253", "wire arrow")}
    ${wire("M200,151 V186 M110,151 V186 M280,151 V186")}
    ${op("×", 110, 52)}${op("+", 280, 52)}${op("×", 280, 92)}${op("1−", 235, 92)}
    ${gateBox("z", 110, 130, "σ")}${gateBox("r", 200, 130, "σ")}${gateBox("n", 280, 130, "tanh")}
    <text class="note" x="240" y="123" text-anchor="middle" aria-hidden="true">r⊙</text>
    ${stateLabel("h_prev", sub("h", prev), 30, 26)}
    ${stateLabel("h", sub("h", "t"), 416, 26, "end")}
    ${stateLabel("x", sub("x", "t"), 70, 226)}`;
}

function rnn(nonlinearity, prev) {
  return `
    ${body}
    ${wire("M10,120 H110 M170,232 V142 M230,120 H266 M314,120 H410")}
    <g class="gate wide" data-part="pre" tabindex="0" role="img">
      <rect x="110" y="98" width="120" height="44" rx="6"/>
      <text class="gate-name" x="170" y="115">W·[x, h] + b</text>
      <text class="gate-value" x="170" y="133"></text>
    </g>
    <g class="op tanh" data-part="h_node" role="img"><ellipse cx="290" cy="120" rx="24" ry="14"/><text x="290" y="125">${nonlinearity}</text></g>
    ${stateLabel("h_prev", sub("h", prev), 4, 92)}
    ${stateLabel("h", sub("h", "t"), 416, 92, "end")}
    ${stateLabel("x", sub("x", "t"), 180, 226)}`;
}

// The fused-input RNN: x_t, a constant 1 and h_{t-1} stacked into one vector z, one matmul, tanh.
function fusedRnn(prev) {
  return `
    ${body}
    ${wire("M10,70 H156 V108 M108,232 V132 M168,120 H180 M298,120 H306 M354,120 H410")}
    <g class="op stack" aria-hidden="true">
      <rect x="96" y="108" width="72" height="24" rx="3"/>
      ${wire("M120,108 V132 M144,108 V132")}
      <text x="108" y="125">x</text><text x="132" y="125">1</text><text x="156" y="125">h</text>
    </g>
    <text class="note" x="116" y="152" aria-hidden="true">z = [x, 1, h]</text>
    <g class="gate wide" data-part="pre" tabindex="0" role="img">
      <rect x="180" y="98" width="118" height="44" rx="6"/>
      <text class="gate-name" x="239" y="115">one matmul W·z</text>
      <text class="gate-value" x="239" y="133"></text>
    </g>
    <g class="op tanh" data-part="h_node" role="img"><ellipse cx="330" cy="120" rx="24" ry="14"/><text x="330" y="125">tanh</text></g>
    ${stateLabel("h_prev", sub("h", prev), 4, 42)}
    ${stateLabel("h", sub("h", "t"), 416, 92, "end")}
    ${stateLabel("x", sub("x", "t"), 118, 226)}`;
}

// The CfC: x_t and h_{t-1} on one bus into four boxes; t_a·Δt + t_b -> σ -> the time gate ti, which mixes
// the heads f1 and f2 into h_t. Nothing carries h_{t-1} around the boxes.
function cfc(prev) {
  return `
    ${body}
    ${wire("M10,196 H292 M60,232 V196 M86,196 V171 M148,196 V171 M210,196 V171 M272,196 V171")}
    ${wire("M86,129 V98 H106 M148,129 V98 H128 M117,87 V73 M144,52 H200 M210,129 V74 M272,129 V74 M330,52 H410")}
    ${op("+", 117, 98)}
    <text class="note" x="124" y="86" aria-hidden="true">σ</text>
    ${gateBox("ta", 86, 150, "")}${gateBox("tb", 148, 150, "")}${gateBox("f1", 210, 150, "tanh")}${gateBox("f2", 272, 150, "tanh")}
    ${gateBox("ti", 117, 52, "")}
    <g class="gate wide" data-part="h_node" tabindex="0" role="img">
      <rect x="200" y="30" width="130" height="44" rx="6"/>
      <text class="gate-name" x="265" y="47">f1 + ti·(f2 − f1)</text>
      <text class="gate-value" x="265" y="65"></text>
    </g>
    ${stateLabel("h_prev", sub("h", prev), 4, 170)}
    ${stateLabel("h", sub("h", "t"), 416, 26, "end")}
    ${stateLabel("x", sub("x", "t"), 70, 226)}`;
}

// The LTC: h_{t-1} on the top line through × keep and + the drive; x_t and h_{t-1} on one bus below,
// opening the conductances that set keep, the drive and tau.
function ltc(prev) {
  return `
    ${body}
    ${wire("M10,52 H109 M131,52 H202 M224,52 H410", "highway")}
    ${wire("M24,52 V196 H318 M60,232 V196")}
    ${wire("M120,109 V63 M120,151 V196 M213,109 V63 M213,151 V196 M318,151 V196")}
    ${op("×", 120, 52)}${op("+", 213, 52)}
    ${gateBox("keep", 120, 130, "Π cm/den")}
    <g class="op stack" aria-hidden="true">
      <rect x="170" y="109" width="86" height="42" rx="6"/>
      <text x="213" y="126">drive to E,</text><text x="213" y="143">v_leak</text>
    </g>
    ${gateBox("tau", 318, 130, "cm / g")}
    <text class="note" x="96" y="190" aria-hidden="true">sigmoid synapses of x, h open conductances g</text>
    ${stateLabel("h_prev", sub("h", prev), 30, 26)}
    ${stateLabel("h", sub("h", "t"), 416, 26, "end")}
    ${stateLabel("x", sub("x", "t"), 70, 226)}`;
}

/** A cell without a drawing of its own: its gates in a row, fed by x_t and the previous state. */
function anyCell(gates, hasC, prev) {
  const w = Math.min(64, Math.floor(300 / Math.max(gates.length, 1)));
  const boxes = gates.map((g, j) => gateBox(g, 60 + w / 2 + j * (w + 6), 130, "")).join("");
  return `
    ${body}
    ${wire("M10,186 H400 M70,232 V186")}
    ${hasC ? stateLabel("c_prev", sub("c", prev), 4, 26) + stateLabel("c", sub("c", "t"), 416, 26, "end") : ""}
    ${boxes}
    ${stateLabel("h_prev", sub("h", prev), 4, 162)}
    ${stateLabel("h", sub("h", "t"), 416, 104, "end")}
    ${stateLabel("x", sub("x", "t"), 80, 226)}`;
}

// -- each cell's drawing and its sentence: its entry here, by its name in the cell registry ----------
// draw(prev) -> SVG markup; words(who, v, pct) -> one sentence a student can read aloud, where who is
// "unit 3" or "on average", v(part) the value shown, pct a value as a percentage
const rewritten = (who, v) => `${who}: no gate — the whole state is rewritten each step (h = ${fmt(v("h"), 2)}).`;
const CELLS = {
  rnn_tanh: { draw: (prev) => rnn("tanh", prev), words: rewritten },
  rnn_relu: { draw: (prev) => rnn("relu", prev), words: rewritten },
  rnn_fused: {
    draw: fusedRnn,
    words: (who, v) => `${who}: one matmul on [x, 1, h], then tanh — no gate, the whole state is rewritten (h = ${fmt(v("h"), 2)}).`,
  },
  cfc: {
    draw: cfc,
    words: (who, v, pct) =>
      `${who}: time gate ti = ${pct(v("ti"))}, that far from head f1 (${fmt(v("f1"), 2)}) to head f2 (${fmt(v("f2"), 2)}); no gate keeps the old state (h = ${fmt(v("h"), 2)}).`,
  },
  ltc: {
    draw: ltc,
    words: (who, v, pct) =>
      `${who}: time constant τ = ${fmt(v("tau"), 2)} of a step; keeps a share ${fmt(v("keep"), 2)} of the old voltage, the synapses drive the rest (h = ${fmt(v("h"), 2)}).`,
  },
  lstm: {
    draw: lstm,
    words: (who, v, pct) =>
      `${who}: keeps ${pct(v("f"))} of the old memory, writes ${pct(v("i"))} of the candidate, shows ${pct(v("o"))} of it.`,
  },
  gru: {
    draw: gru,
    words: (who, v, pct) =>
      `${who}: keeps ${pct(v("z"))} of the old state, takes ${pct(1 - v("z"))} of the candidate (reset ${pct(v("r"))}).`,
  },
};

/** The diagram of a cell; `label` names the whole drawing (a group: its parts keep their names). */
export function cellSvg(cellName, { reverse = false, label = `${cellName} cell diagram` } = {}) {
  const prev = previousStep(reverse);
  const draw = CELLS[cellName]?.draw || ((p) => anyCell(CELL_GATES[cellName] || [], Boolean(CELL_HAS_C[cellName]), p));
  return `<svg class="cell-svg" viewBox="0 0 420 250" role="group" aria-label="${label}">${draw(prev)}</svg>`;
}

/** What the cell does at this step, in one sentence. */
export function cellWords(cellName, who, v, pct) {
  return CELLS[cellName] ? CELLS[cellName].words(who, v, pct) : `${who}: h = ${fmt(v("h"), 2)}.`;
}
