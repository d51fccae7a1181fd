/**
 * Visual constants and fallbacks: cell and gate names and colours and the colour-blind-safe scales
 * (from spec.json, the views' description the notebook's figures read too, which the server serves
 * with its cell registry's cells, gates and options), protocol options.
 *
 * Colours are Okabe-Ito (safe for the common colour-vision deficiencies). Signed quantities
 * (h, c, g, n, pre-activations, gradients) use a diverging purple-orange scale with a neutral
 * centre; sigmoid gates use a 0..1 sequential scale (cividis); norms sit on log axes.
 */

import SPEC from "./spec.json" with { type: "json" };

/** The views' description (spec.json), shared with gateflow.figures in Python. */
export { SPEC };

export const CELL_NAMES = Object.keys(SPEC.cells);
const byCell = (key) => Object.fromEntries(Object.entries(SPEC.cells).map(([name, cell]) => [name, cell[key]]));
const byGate = (key) => Object.fromEntries(Object.entries(SPEC.gates).map(([name, gate]) => [name, gate[key]]));

export const CELL_LABEL = byCell("label");
export const CELL_COLOR = byCell("color");
// Gate identity colours (borders, labels); their fill shows the activation.
export const GATE_COLOR = byGate("color");
export const GATE_LABEL = byGate("label");
// Gates squashed by a sigmoid live in 0..1; the rest are signed.
export const SIGMOID_GATES = new Set(Object.keys(SPEC.gates).filter((gate) => SPEC.gates[gate].sigmoid));
// Gates no activation squashes (a pre-activation, the CfC's time slope and offset): a wider colour range.
export const UNBOUNDED_GATES = new Set(Object.keys(SPEC.gates).filter((gate) => SPEC.gates[gate].activation === "none"));

// Signed quantities: diverging PuOr, negative = purple, positive = orange, white centre.
export const DIVERGING = SPEC.scales.diverging;
// Sigmoid gates: cividis, sequential and perceptually uniform.
export const SEQUENTIAL = SPEC.scales.sequential;
// Magnitudes on a log scale (gradient heatmaps): viridis, whose ends differ from cividis's so a
// gradient never reads as a gate.
export const MAGNITUDE = SPEC.scales.magnitude;
// An exact zero on a log scale (it has no logarithm): off the colour scale, said in the title.
export const ZERO_COLOR = SPEC.scales.zero;
// Where NaN / Inf land in a heatmap: the plot background shows through the gap.
export const NONFINITE_BG = SPEC.scales.nonfinite;

// Protocol defaults and choices, used until GET /api/cells answers (and if it never does).
export const FALLBACK_OPTIONS = {
  init: ["torch", "xavier", "orthogonal", "identity"],
  task: ["text", "sequence", "sine", "adding", "copy", "delayed_recall"],
  loss: ["last", "sum", "task"],
  device: ["cpu", "cuda", "auto"],
  adding_form: ["le", "hochreiter"],
  jacobian: ["auto", "on", "off"],
};

// Each cell's gates, clamp ranges and init options (the server's cell registry, in spec.json)
export const CELL_GATES = byCell("gates");
export const CELL_CLAMPABLE = byCell("clampable");
export const CELL_HAS_C = byCell("has_cell_state");
// A cell's init options ("forget_bias") as settings-form fields: {key, label, cells}
export const KNOB_FIELDS = Object.entries(SPEC.knobs).map(([key, knob]) => ({
  key,
  label: knob.label,
  integer: knob.integer,
  default: knob.default, // a solver option's value when the run sets none (null: an init option)
  cells: CELL_NAMES.filter((c) => SPEC.cells[c].knobs.includes(key)),
}));

export const SPEEDS = [0.5, 1, 2, 5, 10, 20, 30, 60];

/**
 * The one Plotly config every view passes to newPlot / react. Nothing may leave the machine:
 * Plotly's "Share chart" button uploads the figure to Plotly's cloud (showSendToCloud and
 * plotlyServerURL default to it), so both are off and the button removed; a plot is exported
 * with its section's export button (one composed image), so the per-plot camera goes too.
 */
export const PLOTLY_CONFIG = {
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  showEditInChartStudio: false,
  showLink: false,
  plotlyServerURL: "",
  modeBarButtonsToRemove: ["select2d", "lasso2d", "sendChartToCloud", "sendDataToCloud", "editInChartStudio", "toImage"],
};

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function interpolate(stops, u) {
  const x = Math.min(1, Math.max(0, u));
  for (let k = 1; k < stops.length; k++) {
    if (x <= stops[k][0]) {
      const [x0, c0] = stops[k - 1];
      const [x1, c1] = stops[k];
      const w = x1 === x0 ? 0 : (x - x0) / (x1 - x0);
      const a = hexToRgb(c0);
      const b = hexToRgb(c1);
      return a.map((v, j) => Math.round(v + (b[j] - v) * w));
    }
  }
  return hexToRgb(stops[stops.length - 1][1]);
}

const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
const luminance = (c) => (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;

/** Fill and readable text colour for a value; NaN/Inf get a neutral grey (the label says which). */
export function valueColor(value, { signed, range = 1 }) {
  if (!Number.isFinite(value)) return { fill: "#9e9e9e", text: "#000" };
  const u = signed ? 0.5 + value / (2 * range) : value / range;
  const c = interpolate(signed ? DIVERGING : SEQUENTIAL, u);
  return { fill: rgb(c), text: luminance(c) > 0.55 ? "#111" : "#fff" };
}

/** A number for humans: 3 significant digits, exponent for tiny/huge, the words for non-finite. */
export function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  if (value === 0) return "0";
  const a = Math.abs(value);
  if (a >= 1e4 || a < 1e-3) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}
