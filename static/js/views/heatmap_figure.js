/**
 * What one heatmap shows, apart from where the view puts it: per-plot statistics, the colour
 * ranges, the Plotly figure of one (cell, quantity) and its sentence for screen readers.
 *
 * Colour ranges. Sigmoid gates live on 0..1. A signed quantity gets a symmetric range; with
 * "range: shared" the cells share one range per quantity, but only the cells whose largest |value|
 * are within 10x of each other: a shared range ten times wider than a plot's own values would
 * paint it white (the exploding preset: a tanh RNN's |h| <= 1 next to a ReLU RNN's 2e20). A cell
 * set apart gets its own range and its title says so.
 *
 * Gradients in "log" mode show log10 |value| on a sequential scale (a gradient that vanishes to
 * 1e-12 stays visible instead of white), from the largest magnitude down to the smallest non-zero
 * one, at most 16 decades (smaller ones take the floor's colour, its tick says "≤"); the cells share that scale when their largest magnitudes are within
 * 4 decades. Exact zeros, which have no logarithm, are white; NaN and inf are gaps (black). The
 * hover shows the true signed value.
 */

import { CELL_LABEL, DIVERGING, GATE_LABEL, MAGNITUDE, NONFINITE_BG, SEQUENTIAL, SIGMOID_GATES, SPEC, ZERO_COLOR, fmt } from "../config.js";
import { exponentTicks, powerLabel } from "../ticks.js";

export const SHARE_WITHIN_DECADES = SPEC.heatmaps.share_within_decades;
export const LOG_FLOOR_DECADES = SPEC.heatmaps.log_floor_decades;
const FIELDS = SPEC.heatmaps.fields;

export const isGradient = (field) => field.startsWith("grad_");

/** "0.99", "2×10²⁰": a value as a title or a note says it. */
export function reach(value) {
  if (!Number.isFinite(value) || value <= 0) return fmt(value);
  return powerLabel(Number(value.toPrecision(2)));
}

/** Mean, min, max, largest |v|, smallest non-zero |v|, zeros and non-finite count of one (T, H) slice. */
export function sliceStats(data, ld, T, H) {
  const out = { mean: NaN, min: NaN, max: NaN, maxAbs: 0, minAbs: Infinity, zeros: 0, nonfinite: 0, count: T * H };
  if (!data) return out;
  let sum = 0;
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let j = ld * T * H, end = (ld + 1) * T * H; j < end; j++) {
    const v = data[j];
    if (!Number.isFinite(v)) {
      out.nonfinite += 1;
      continue;
    }
    sum += v;
    n += 1;
    if (v < min) min = v;
    if (v > max) max = v;
    const a = Math.abs(v);
    if (a === 0) out.zeros += 1;
    else {
      if (a > out.maxAbs) out.maxAbs = a;
      if (a < out.minAbs) out.minAbs = a;
    }
  }
  if (n) Object.assign(out, { mean: sum / n, min, max });
  return out;
}

/**
 * The colour range of every plot. `plots`: [{id, k, field, stats}]; returns id -> {range, log, own,
 * reach, label}, where `own` marks a plot that "shared" mode had to set apart from the other cells.
 */
export function colourRanges(plots, { scale, gscale }) {
  const out = new Map();
  const byField = new Map();
  for (const p of plots) {
    if (SIGMOID_GATES.has(p.field)) {
      out.set(p.id, { range: [0, 1], log: false, own: false, reach: p.stats.maxAbs });
      continue;
    }
    const log = isGradient(p.field) && gscale === "log";
    if (!byField.has(p.field)) byField.set(p.field, { log, plots: [] });
    byField.get(p.field).plots.push(p);
  }
  for (const { log, plots: these } of byField.values()) {
    const groups = scale === "local" ? these.map((p) => [p]) : comparableGroups(these, log ? SHARE_WITHIN_DECADES.log : SHARE_WITHIN_DECADES.linear);
    for (const group of groups) {
      const top = Math.max(...group.map((p) => p.stats.maxAbs));
      let range;
      if (log) {
        const hi = top > 0 ? Math.log10(top) : 0;
        const smallest = Math.min(...group.map((p) => p.stats.minAbs));
        let lo = Number.isFinite(smallest) ? Math.floor(Math.log10(smallest)) : hi - 1;
        lo = Math.max(lo, Math.floor(hi - LOG_FLOOR_DECADES));
        range = [lo, hi > lo ? hi : lo + 1];
      } else range = [-(top || 1), top || 1];
      const own = scale !== "local" && group.length === 1 && these.length > 1;
      for (const p of group) out.set(p.id, { range, log, own, reach: p.stats.maxAbs });
    }
  }
  return out;
}

/**
 * Cells whose largest |value| lie within `decades` of the group's largest share a range; a plot
 * with nothing to show (all zero or non-finite) joins the first group, since its colour is the same
 * on any range.
 */
function comparableGroups(plots, decades) {
  const sized = plots.filter((p) => p.stats.maxAbs > 0).sort((a, b) => b.stats.maxAbs - a.stats.maxAbs);
  const empty = plots.filter((p) => !(p.stats.maxAbs > 0));
  const groups = [];
  for (const p of sized) {
    const group = groups[groups.length - 1];
    if (group && Math.log10(group[0].stats.maxAbs) - Math.log10(p.stats.maxAbs) <= decades + 1e-9) group.push(p);
    else groups.push([p]);
  }
  if (!groups.length) return empty.length ? [empty] : [];
  groups[0].push(...empty);
  return groups;
}

/** Where in the net: "layer 1", "layer 2, reverse direction". */
export function whereLabel(run, ld) {
  const layer = Math.floor(ld / run.dirs) + 1;
  const dir = run.dirs > 1 ? (run.isReverse(ld) ? ", reverse direction" : ", forward direction") : "";
  return `layer ${layer}${dir}`;
}

/** One sentence a screen reader says for the plot. */
export function summary(run, k, field, ld, stats, colour) {
  const cell = run.cells[k];
  const who = `${CELL_LABEL[cell.name] || cell.name}, ${FIELDS[field]?.quantity || GATE_LABEL[field] || field}, ${whereLabel(run, ld)}`;
  const over = `over ${run.T} steps and ${run.H} units`;
  const notes = [];
  if (stats.nonfinite) notes.push(`${stats.nonfinite} values NaN or inf, shown black`);
  let body;
  if (colour.log) {
    body = stats.maxAbs > 0 ? `magnitude from ${fmt(stats.minAbs)} to ${fmt(stats.maxAbs)} ${over}, coloured on a log scale` : `no non-zero value ${over}`;
    if (stats.zeros) notes.push(`${stats.zeros} exact zeros, shown white`);
  } else body = `mean ${fmt(stats.mean)}, range ${fmt(stats.min)} to ${fmt(stats.max)} ${over}`;
  if (colour.own) notes.push("its own colour range");
  return `${who}: ${body}${notes.length ? "; " + notes.join("; ") : ""}.`;
}

/** The Plotly figure of one heatmap. */
export function heatmapFigure(run, k, field, ld, stats, colour, large) {
  const { T, H } = run;
  const data = run.cells[k].bulk[field];
  const { log } = colour;
  const z = [];
  const signed = log ? [] : null; // the true values, for the hover of a log plot
  const zeros = log && stats.zeros ? [] : null;
  for (let u = 0; u < H; u++) {
    z.push(new Array(T).fill(null));
    if (signed) signed.push(new Array(T));
    if (zeros) zeros.push(new Array(T).fill(null));
  }
  if (data) {
    const base = ld * T * H;
    for (let t = 0; t < T; t++) {
      const row = base + t * H;
      for (let u = 0; u < H; u++) {
        const v = data[row + u];
        if (signed) signed[u][t] = v;
        if (!Number.isFinite(v)) continue;
        if (!log) z[u][t] = v;
        else if (v !== 0) z[u][t] = Math.log10(Math.abs(v));
        else if (zeros) zeros[u][t] = 1;
      }
    }
  }
  const font = large ? 16 : 12;
  const sigmoid = SIGMOID_GATES.has(field);
  const [lo, hi] = colour.range;
  const ticks = log ? exponentTicks(lo, hi, 5) : null;
  if (ticks && stats.minAbs < 10 ** lo) {
    // values under the floor take its colour: its tick says "at most" (and has room of its own)
    const room = (hi - lo) / 5;
    const keep = ticks.tickvals.map((v, j) => [v, ticks.ticktext[j]]).filter(([v]) => v - lo >= room);
    ticks.tickvals = [lo, ...keep.map(([v]) => v)];
    ticks.ticktext = [`≤${powerLabel(10 ** lo)}`, ...keep.map(([, text]) => text)];
  }
  const symbol = FIELDS[field]?.symbol || field;
  const traces = [
    {
      type: "heatmap",
      z,
      zmin: lo,
      zmax: hi,
      zauto: false,
      colorscale: log ? MAGNITUDE : sigmoid ? SEQUENTIAL : DIVERGING,
      colorbar: {
        thickness: 8,
        len: 1,
        outlinewidth: 0,
        exponentformat: "power",
        tickfont: { size: font - 2 },
        ...(ticks ? { tickmode: "array", tickvals: ticks.tickvals, ticktext: ticks.ticktext } : {}),
      },
      hovertemplate: log
        ? `t=%{x}, unit %{y}<br>${symbol} = %{customdata:.3g}<extra></extra>`
        : `t=%{x}, unit %{y}<br>${symbol} = %{z:.3g}<extra></extra>`,
      hoverongaps: true,
      meta: { cell: run.cells[k].name, field, scale: log ? "log" : "linear" },
      ...(signed ? { customdata: signed } : {}),
    },
  ];
  if (zeros) {
    traces.push({
      type: "heatmap",
      z: zeros,
      zmin: 0,
      zmax: 1,
      colorscale: [
        [0, ZERO_COLOR],
        [1, ZERO_COLOR],
      ],
      showscale: false,
      hoverinfo: "skip",
      meta: { cell: run.cells[k].name, field, zeros: true },
    });
  }
  const head = FIELDS[field]?.title || `${field} — ${GATE_LABEL[field] || field}`;
  const notes = [];
  if (log) notes.push("log₁₀ |·|");
  if (colour.own) notes.push(`own colour range: values reach ${reach(colour.reach)}`);
  if (stats.nonfinite) notes.push(`■ black = NaN/inf (${stats.nonfinite})`);
  if (log && stats.zeros) notes.push(`□ white = exactly 0 (${stats.zeros})`);
  const alarm = stats.nonfinite > 0;
  // the notes on a second line: a plot is a third of a slide wide, one line would run off it
  const title = notes.length ? `${head}<br><span style="font-size:${font - 1}px;color:${alarm ? "#b00020" : "#555"}">${notes.join("  ·  ")}</span>` : head;
  const extra = notes.length ? font + 4 : 0;
  return {
    data: traces,
    layout: {
      uirevision: "heatmap",
      meta: { exportAxes: ["t", "unit"] }, // no room for axis titles on screen; a slide has it
      height: (large ? 170 : 130) + extra,
      margin: { l: 40, r: 6, t: 24 + extra, b: 24 },
      font: { size: font },
      title: { text: title, x: 0, xanchor: "left", font: { size: font, color: alarm ? "#b00020" : "#222" } },
      plot_bgcolor: NONFINITE_BG,
      paper_bgcolor: "rgba(0,0,0,0)",
      xaxis: { range: [-0.5, T - 0.5], showgrid: false, zeroline: false, ticks: "outside", ticklen: 3 },
      yaxis: { range: [-0.5, H - 0.5], showgrid: false, zeroline: false, title: { text: "" } },
    },
  };
}
