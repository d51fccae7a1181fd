/**
 * What the training views share: a Plotly figure drawn once and then updated with Plotly.react, a
 * layout in the page's type sizes (projector mode: bigger), a log axis with ticks that read true
 * (ticks.js), unplottable values (NaN, inf, 0) put on the labelled strips of gradient_marks.js, and a
 * plot's caption and empty state in words.
 */

import { CELL_COLOR, CELL_LABEL, PLOTLY_CONFIG } from "../config.js";
import { logAxis as ticksLogAxis } from "../ticks.js";

export const cellName = (name) => CELL_LABEL[name] || name;

/** Font size, plot height and margins for a training plot. */
export function sizes(large, { height = 260, tall = 1 } = {}) {
  const font = large ? 17 : 13;
  return { font, height: Math.round((large ? height * 1.3 : height) * tall) };
}

/** A figure in `host`: created on first use, updated in place after. */
export class Figure {
  constructor(host, plotly, name) {
    this.plotly = plotly;
    this.gd = document.createElement("div");
    this.gd.className = "plot";
    this.gd.dataset.name = name;
    this.gd.setAttribute("role", "img");
    host.append(this.gd);
    this.drawn = false;
  }

  draw(traces, layout) {
    if (layout.showlegend) fitLegend(traces, layout, this.gd.parentElement.clientWidth);
    if (!this.drawn) {
      this.plotly.newPlot(this.gd, traces, layout, PLOTLY_CONFIG);
      this.drawn = true;
    } else {
      this.plotly.react(this.gd, traces, layout, PLOTLY_CONFIG);
    }
    this.gd.dataset.traces = String(traces.length);
  }

  /** `empty` saying `text` in place of the plot; with `text` null, the plot again. */
  placeholder(empty, text) {
    this.gd.hidden = text !== null;
    empty.hidden = text === null;
    if (text !== null) empty.textContent = text;
  }

  on(event, handler) {
    if (this.drawn) this.gd.on(event, handler);
  }

  purge() {
    if (this.drawn) this.plotly.purge(this.gd);
    this.drawn = false;
  }
}

/**
 * Room under the plot for the x title and a horizontal legend of as many rows as its entries need
 * at this width (Plotly wraps it; a legend taller than its margin pushes into the axis title).
 */
function fitLegend(traces, layout, width) {
  const font = layout.legend?.font?.size || layout.font.size;
  const items = traces.filter((t) => t.showlegend !== false && t.name);
  // Plotly wraps a horizontal legend entry by entry, within the plot area's width
  const usable = Math.max(150, (width || 600) - layout.margin.l - layout.margin.r);
  let rows = 1;
  let x = 0;
  for (const t of items) {
    const w = 44 + t.name.length * font * 0.55;
    if (x > 0 && x + w > usable) {
      rows += 1;
      x = 0;
    }
    x += w;
  }
  const bottom = Math.round(font * 3.8 + rows * font * 1.8);
  // the plot area keeps its height: the figure grows by what the legend needs beyond the default
  layout.height += Math.max(0, bottom - layout.margin.b);
  layout.margin = { ...layout.margin, b: bottom };
}

/** The log axis over the values shown (finite, > 0), a little padded, with readable ticks. */
export function logAxis(values, plotPx, font, extra = []) {
  return ticksLogAxis([...values, ...extra], plotPx, font, { pad: 0.06, minPad: 0.05, spacing: 2 });
}

/** The layout every training plot starts from (Figure.draw makes room for its legend). */
export function baseLayout({ font, height, title, xTitle, yaxis, uirevision, legend = true }) {
  return {
    uirevision,
    height,
    margin: { l: font * 4.6, r: 14, t: title ? font * 2.2 : 10, b: legend ? font * 5.6 : font * 3.2 },
    font: { size: font },
    title: title ? { text: title, x: 0, xanchor: "left", font: { size: font } } : undefined,
    showlegend: legend,
    legend: { orientation: "h", x: 0, xref: "paper", y: 0, yref: "container", yanchor: "bottom", font: { size: font - 1 } },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    hoverlabel: { font: { size: font } },
    xaxis: { title: { text: xTitle, standoff: 4 }, zeroline: false, gridcolor: "#eeeeee" },
    yaxis,
  };
}

/**
 * The training-step axis: up to the budget (how far along, at a glance), but not so far that the
 * steps taken are squeezed into a corner: a budget more than a few times the steps done waits.
 */
/**
 * The layout of a log-scale plot over training steps: the y axis fitted to `values` and to each
 * reference line, the x axis the steps shown, a dashed line and its label for each of `lines`
 * ({y, color, text}).
 */
export function stepLayout(record, { font, height, values, yTitle, uirevision, lines = [] }) {
  const yaxis = { ...logAxis(values, height - font * 8, font, lines.map((l) => l.y)), title: { text: yTitle } };
  const layout = baseLayout({ font, height, xTitle: "training step", yaxis, uirevision });
  layout.xaxis.range = [0, stepsShown(record)];
  layout.shapes = [];
  layout.annotations = [];
  for (const { y, color, text } of lines) {
    const line = hline(y, { color, text, font });
    layout.shapes.push(line.shape);
    layout.annotations.push(line.note);
  }
  return layout;
}

export function stepsShown(record) {
  const step = Math.max(record.step, 1);
  return Math.max(step, Math.min(record.budget || step, Math.max(4 * step, 50)));
}

/** A horizontal line across the plot at y, labelled at its right end (above the line). */
export function hline(y, { color = "#333", dash = "dash", width = 2, text = "", font = 13, yref = "y" } = {}) {
  // under the curves: a curve that sits on the line stays visible
  const shape = { type: "line", xref: "paper", x0: 0, x1: 1, yref, y0: y, y1: y, line: { color, dash, width }, layer: "below" };
  const note = text
    ? {
        xref: "paper",
        x: 1,
        xanchor: "right",
        yref,
        y: yref === "y" && y > 0 ? Math.log10(y) : y,
        yanchor: "bottom",
        text,
        showarrow: false,
        font: { size: font - 1, color },
        bgcolor: "rgba(255,255,255,0.85)",
      }
    : null;
  return { shape, note };
}

/** Every k-th point of long parallel lists, keeping the last one and every flagged index. */
export function thin(n, maxPoints, keep = () => false) {
  if (n <= maxPoints) return null;
  const every = Math.ceil(n / maxPoints);
  const out = [];
  for (let k = 0; k < n; k++) if (k % every === 0 || k === n - 1 || keep(k)) out.push(k);
  return out;
}

const STRIP_LABEL = { inf: "inf", "-inf": "−inf", NaN: "NaN", 0: "0" };

/**
 * Values a log axis cannot draw, as marks on the labelled strips of gradient_marks.js (withStrips):
 * marks [{cell, x, kind}] (kind from markKind), one trace per kind, the cell's colour, "step" in the
 * hover text.
 */
export function stripTraces(cells, marks, rows, what, xName = "step") {
  const out = [];
  const n = cells.length;
  for (const [axis, kinds] of [
    ["y2", rows.top],
    ["y3", rows.bottom],
  ]) {
    kinds.forEach((kind, j) => {
      const these = marks.filter((m) => m.kind === kind);
      const row = kinds.length - 1 - j;
      out.push({
        type: "scatter",
        mode: "markers",
        yaxis: axis,
        x: these.map((m) => m.x),
        y: these.map((m) => row + (n > 1 ? (m.cell / (n - 1) - 0.5) * 0.4 : 0)),
        marker: {
          symbol: kind === "0" ? "line-ew-open" : "x-thin-open",
          size: 9,
          color: these.map((m) => CELL_COLOR[cells[m.cell].name]),
          line: { width: 2 },
        },
        customdata: these.map((m) => cellName(cells[m.cell].name)),
        name: kind === "0" ? `${what} = 0 (off the log axis)` : `${what} = ${STRIP_LABEL[kind]}`,
        meta: { nonfinite: kind },
        hovertemplate: `%{customdata} ${xName} %{x}: ${what} = ${STRIP_LABEL[kind]}<extra></extra>`,
      });
    });
  }
  return out;
}

/**
 * Redraws at most every `ms` while training runs (it sends ~10 updates a second): `due(key)` says
 * whether to draw now; when it says no, `wait` is how long until it would say yes.
 */
export class Throttle {
  constructor(ms = 250) {
    this.ms = ms;
    this.key = null;
    this.at = 0;
    this.wait = 0;
  }

  due(key, urgent = false) {
    if (key === this.key) return false;
    const now = performance.now();
    this.wait = this.at + this.ms - now;
    if (!urgent && this.wait > 0) return false;
    this.key = key;
    this.at = now;
    this.wait = 0;
    return true;
  }
}
