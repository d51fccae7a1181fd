/**
 * What a log axis cannot draw, drawn beside it: inf, NaN and exact zeros of the per-step norms.
 *
 * They get rows of their own, a strip above the plot (one row per non-finite kind present) and a
 * strip below it (exact zeros), each row on its own hidden y axis and named once by that axis's
 * tick label: "inf", "NaN", "0". Labels in a column that Plotly lays out can never print over each
 * other (the old labels at the top of the plot read "NaInf"), and every mark keeps its t and its
 * cell's colour, with the kind in its hover text.
 */

import { CELL_COLOR } from "../config.js";
import { cellLabel } from "./gradient_words.js";

const TOP_KINDS = ["inf", "-inf", "NaN"];
const LABEL = { inf: "inf", "-inf": "−inf", NaN: "NaN", 0: "0" };
const HOVER = { inf: "inf (overflow)", "-inf": "−inf", NaN: "NaN (not a number)", 0: "exactly 0" };
const GAP_PX = 8; // between a strip and the plot

/** The kind of a value a log axis cannot show, or null if it can. */
export function markKind(v) {
  if (Number.isFinite(v) && v > 0) return null;
  if (Number.isNaN(v)) return "NaN";
  if (v === 0) return "0";
  return v > 0 ? "inf" : "-inf"; // a negative finite norm cannot happen; -inf is its nearest kind
}

/** The rows the marks need: kinds above the plot (top first) and below it. */
export function markRows(marks) {
  const kinds = new Set(marks.map((m) => m.kind));
  return { top: TOP_KINDS.filter((k) => kinds.has(k)), bottom: kinds.has("0") ? ["0"] : [] };
}

/** One marker trace per kind, on its row's axis (y2 above, y3 below); cells side by side in a row. */
export function markTraces(run, marks, rows) {
  const out = [];
  const n = run.cells.length;
  for (const [axis, kinds] of [
    ["y2", rows.top],
    ["y3", rows.bottom],
  ]) {
    kinds.forEach((kind, j) => {
      const these = marks.filter((m) => m.kind === kind);
      const row = kinds.length - 1 - j; // the first kind on the top row
      out.push({
        type: "scatter",
        mode: "markers",
        yaxis: axis,
        x: these.map((m) => m.t),
        // cells a little apart within the row, so two cells marked at one t both show
        y: these.map((m) => row + (n > 1 ? (m.cell / (n - 1) - 0.5) * 0.4 : 0)),
        marker: {
          symbol: kind === "0" ? "line-ew-open" : "x-thin-open",
          size: 8,
          color: these.map((m) => CELL_COLOR[run.cells[m.cell].name]),
          line: { width: 2 },
        },
        customdata: these.map((m) => `${cellLabel(run.cells[m.cell])}${m.dashed ? " (c)" : ""}`),
        name: kind === "0" ? "exactly 0 (off the log axis)" : `${LABEL[kind]}: not a finite number`,
        meta: { nonfinite: kind },
        hovertemplate: `%{customdata} t=%{x}: ${HOVER[kind]}<extra></extra>`,
      });
    });
  }
  return out;
}

/**
 * Make room for the strips in a layout whose plot area is `plotPx` high: the height grows by the
 * strips, the log axis keeps its pixels, and the x axis stays at the very bottom.
 */
export function withStrips(layout, rows, rowPx) {
  const topPx = rows.top.length ? rows.top.length * rowPx + GAP_PX : 0;
  const bottomPx = rows.bottom.length ? rows.bottom.length * rowPx + GAP_PX : 0;
  if (!topPx && !bottomPx) return layout;
  const plotPx = layout.height - layout.margin.t - layout.margin.b;
  const height = layout.height + topPx + bottomPx;
  const P = plotPx + topPx + bottomPx;
  const strip = (kinds, domain) => ({
    domain,
    range: [-0.5, kinds.length - 0.5],
    tickmode: "array",
    tickvals: kinds.map((_, j) => kinds.length - 1 - j),
    ticktext: kinds.map((k) => LABEL[k]),
    tickfont: { color: "#b00020", size: layout.font.size },
    showgrid: false,
    zeroline: false,
    fixedrange: true,
    showline: false,
    anchor: "x",
  });
  const shapes = [];
  const band = (yref) => ({
    type: "rect",
    layer: "below",
    xref: "paper",
    x0: 0,
    x1: 1,
    yref,
    y0: 0,
    y1: 1,
    fillcolor: "#fbeeee",
    line: { width: 0 },
  });
  const out = {
    ...layout,
    height,
    yaxis: { ...layout.yaxis, domain: [bottomPx / P, 1 - topPx / P] },
    xaxis: { ...layout.xaxis, anchor: "free", position: 0 },
  };
  if (rows.top.length) {
    out.yaxis2 = strip(rows.top, [1 - (topPx - GAP_PX) / P, 1]);
    shapes.push(band("y2 domain"));
  }
  if (rows.bottom.length) {
    out.yaxis3 = strip(rows.bottom, [0, (bottomPx - GAP_PX) / P]);
    shapes.push(band("y3 domain"));
  }
  out.shapes = [...(layout.shapes || []), ...shapes];
  return out;
}
