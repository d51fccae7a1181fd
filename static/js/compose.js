/**
 * One slide-ready image of a whole section: a title (the section's heading and the run it shows,
 * t = cursor included), then every plot, cell diagram and sentence of the section where it sits on
 * screen, with margins and type sized for the back of the room. Out: an SVG document (its text
 * stays text), or a PNG rasterized from it at 2x.
 *
 * Plots are Plotly.toImage SVGs of a copy of each figure with its fonts raised to 16 px or more and
 * the cursor (and the dimmed "not seen yet" columns) added as layout shapes. Cell diagrams are
 * cloned with their computed styles inlined. Text is wrapped here with canvas measureText. All of
 * it works offline: nothing is fetched, images are data: URLs inside the document.
 */

import { layoutText, readRuns, textStyle } from "./compose_text.js";

export const WIDTH = 1280; // the composed image, in CSS px (a 16:9 slide's width); PNG at 2x
export const PNG_SCALE = 2;
const MARGIN = 44;
const COLUMN_GAP = 28;
const ROW_GAP = 14;
const MIN_PLOT_FONT = 16;
const MAX_SVG_WIDTH = 640; // a single cell diagram does not fill the slide
const CURSOR = "#d00000";

// what a picture of the section leaves out: controls, the overlays we redraw, what is folded away
const SKIP = "button, input, select, textarea, label, summary, .panel-head, .modebar-container, .overlay-cursor, .overlay-mask, .tooltip, script, style";

const escapeXml = (s) => String(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]);

function visible(el) {
  if (el.hidden || el.closest("details:not([open])")) return false;
  if (el.checkVisibility && !el.checkVisibility({ checkVisibilityCSS: true })) return false;
  const cs = getComputedStyle(el);
  if (cs.display === "none" || cs.visibility === "hidden") return false;
  const r = el.getBoundingClientRect();
  return r.width > 2 && r.height > 2; // a screen-reader-only box is 1 px
}

const BLOCKS = "div, p, ul, ol, li, figure, section, table, svg, canvas, h1, h2, h3, h4, h5, h6, .js-plotly-plot";

/** The section's DOM as a tree of plots, drawings, texts and rows of them. */
function collect(el) {
  if (el.matches(SKIP) || !visible(el)) return null;
  const rect = el.getBoundingClientRect();
  if (el.classList.contains("js-plotly-plot")) return { kind: "plot", el, rect };
  if (el instanceof SVGSVGElement) return { kind: "svg", el, rect };
  if (!el.querySelector(BLOCKS) && el.textContent.trim()) return { kind: "text", el, rect, runs: readRuns(el), style: textStyle(el) };
  const children = [...el.children].map(collect).filter(Boolean);
  if (!children.length) return null;
  const cs = getComputedStyle(el);
  // a card's coloured top border (the cell's colour) comes along
  const bar = parseFloat(cs.borderTopWidth) >= 4 ? cs.borderTopColor : null;
  if (children.length === 1 && !bar) return children[0];
  return { kind: "rows", el, rect, rows: arrange(children), bar };
}

/** Group children into rows as they sit on screen: side by side when they overlap vertically. */
function arrange(children) {
  const rows = [];
  for (const child of children) {
    const row = rows[rows.length - 1];
    const last = row && row[row.length - 1];
    const beside = last && child.rect.top < Math.max(...row.map((c) => c.rect.bottom)) - 4 && child.rect.left >= last.rect.right - 4;
    if (beside) row.push(child);
    else rows.push([child]);
  }
  return rows;
}

/** Lay a node out in `width`: resolves to {height, draw(x, y) -> markup}. */
async function layout(node, width, ctx) {
  if (node.kind === "text") return layoutText(node.runs, node.style, width);
  if (node.kind === "plot") return layoutPlot(node, width, ctx);
  if (node.kind === "svg") return layoutSvg(node, width);
  const top = node.bar ? 8 : 0;
  const pad = node.bar ? 10 : 0;
  const inner = width - 2 * pad;
  const rows = [];
  for (const row of node.rows) {
    const total = row.reduce((s, c) => s + c.rect.width, 0);
    const free = inner - COLUMN_GAP * (row.length - 1);
    const widths = row.map((c) => (free * c.rect.width) / total);
    const boxes = await Promise.all(row.map((c, j) => layout(c, widths[j], ctx)));
    rows.push({ boxes, widths, height: Math.max(...boxes.map((b) => b.height)) });
  }
  const height = top + pad + rows.reduce((s, r) => s + r.height, 0) + ROW_GAP * (rows.length - 1) + pad;
  return {
    height,
    draw(x, y) {
      let out = node.bar ? `<rect x="${x}" y="${y}" width="${width}" height="${height}" rx="8" fill="#fff" stroke="#d6d6d0" stroke-width="2"/><rect x="${x}" y="${y}" width="${width}" height="${top}" rx="3" fill="${node.bar}"/>` : "";
      let yy = y + top + pad;
      for (const row of rows) {
        let xx = x + pad;
        row.boxes.forEach((box, j) => {
          out += box.draw(xx, yy);
          xx += row.widths[j] + COLUMN_GAP;
        });
        yy += row.height + ROW_GAP;
      }
      return out;
    },
  };
}

// ---- plots ----------------------------------------------------------------------------------------

/** A copy of an object with every font (font, tickfont, ...) at least `min` px; data arrays are shared. */
function raiseFonts(value, min) {
  if (Array.isArray(value)) {
    // annotations, shapes: a list of objects; z, x, customdata: numbers, kept as they are
    const objects = value.length && value[0] && typeof value[0] === "object" && !Array.isArray(value[0]) && !ArrayBuffer.isView(value[0]);
    return objects ? value.map((v) => raiseFonts(v, min)) : value;
  }
  if (!value || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    if (/font$/i.test(key) && v && typeof v === "object") out[key] = { ...v, size: Math.max(v.size || 0, min) };
    else out[key] = raiseFonts(v, min);
  }
  return out;
}

const raiseInlineSizes = (html, min) => html.replace(/font-size:\s*(\d+(?:\.\d+)?)px/g, (_, px) => `font-size:${Math.max(Number(px), min)}px`);

/** Where the page's overlay shows the cursor and the dimmed columns, as Plotly shapes. */
function cursorShapes(gd, t) {
  const host = gd.parentElement;
  const line = host?.querySelector(":scope > .overlay-cursor");
  if (!line || line.hidden || t === null || t === undefined) return [];
  const shapes = [{ type: "line", xref: "x", yref: "paper", x0: t, x1: t, y0: 0, y1: 1, line: { color: CURSOR, width: 3 }, layer: "above" }];
  const mask = host.querySelector(":scope > .overlay-mask");
  const xa = gd._fullLayout?.xaxis;
  if (mask && !mask.hidden && xa) {
    const [x0, x1] = xa.range;
    const before = mask.getBoundingClientRect().left - gd.getBoundingClientRect().left - xa._offset < 2;
    const [a, b] = before ? [x0, t - 0.5] : [t + 0.5, x1];
    if (b > a) shapes.push({ type: "rect", xref: "x", yref: "paper", x0: a, x1: b, y0: 0, y1: 1, fillcolor: "rgba(255,255,255,0.62)", line: { width: 0 }, layer: "above" });
  }
  return shapes;
}

async function layoutPlot(node, width, ctx) {
  const gd = node.el;
  const full = gd._fullLayout || {};
  const base = full.font?.size || 12;
  const grow = Math.max(MIN_PLOT_FONT / base, Math.min(1.5, width / node.rect.width), 1);
  const height = Math.round(Math.min(node.rect.height * grow, node.rect.height * 1.8));
  const layoutCopy = raiseFonts(JSON.parse(JSON.stringify(gd.layout || {})), MIN_PLOT_FONT);
  layoutCopy.font = { ...(layoutCopy.font || {}), size: Math.max(base, MIN_PLOT_FONT) };
  const title = layoutCopy.title;
  let titleLines = 0;
  if (title && title.text) {
    title.text = raiseInlineSizes(title.text, MIN_PLOT_FONT);
    title.font = { ...(title.font || {}), size: Math.max(title.font?.size || 0, MIN_PLOT_FONT + 2) };
    titleLines = title.text.split(/<br\s*\/?>/i).length;
  }
  // side margins hold labels and notes set in the page's type: they grow with it
  const fontGrowth = Math.max(1, MIN_PLOT_FONT / base);
  const margin = { ...(layoutCopy.margin || {}) };
  margin.t = Math.max(margin.t || 0, titleLines ? titleLines * (MIN_PLOT_FONT + 8) + 10 : 12);
  margin.l = Math.max((margin.l || 0) * fontGrowth, 56);
  margin.b = Math.max(margin.b || 0, 40);
  margin.r = Math.max((margin.r || 0) * fontGrowth, 12);
  Object.assign(layoutCopy, {
    margin,
    width: Math.round(width),
    height,
    paper_bgcolor: "#ffffff",
    shapes: [...(layoutCopy.shapes || []), ...cursorShapes(gd, ctx.t)],
  });
  // a plot too small on screen for axis titles can ask for them on the slide: layout.meta.exportAxes
  const titles = layoutCopy.meta?.exportAxes || [];
  ["xaxis", "yaxis"].forEach((axis, j) => {
    layoutCopy[axis] = { ...(layoutCopy[axis] || {}), automargin: true };
    if (titles[j]) layoutCopy[axis].title = { text: titles[j], standoff: 6, font: { size: MIN_PLOT_FONT } };
  });
  const data = (gd.data || []).map((trace) => raiseFonts(trace, MIN_PLOT_FONT));
  const url = await ctx.plotly.toImage({ data, layout: layoutCopy, config: { staticPlot: true } }, { format: "svg", width: Math.round(width), height, scale: 1 });
  return {
    height,
    draw: (x, y) => `<image x="${x}" y="${y}" width="${Math.round(width)}" height="${height}" xlink:href="${escapeXml(url)}"/>`,
  };
}

// ---- drawings ---------------------------------------------------------------------------------------

const INLINE = ["fill", "stroke", "stroke-width", "stroke-dasharray", "stroke-linecap", "opacity", "font-family", "font-size", "font-weight", "font-style", "text-anchor", "dominant-baseline", "display", "visibility"];

/** A standalone copy of an inline SVG: its computed look inlined (CSS classes mean nothing outside the page). */
export function standaloneSvg(svg, width, height) {
  const clone = svg.cloneNode(true);
  clone.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  clone.setAttribute("width", String(Math.round(width)));
  clone.setAttribute("height", String(Math.round(height)));
  clone.removeAttribute("class");
  const source = [svg, ...svg.querySelectorAll("*")];
  [clone, ...clone.querySelectorAll("*")].forEach((node, k) => {
    const cs = getComputedStyle(source[k]);
    node.setAttribute("style", INLINE.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(";"));
    node.removeAttribute("tabindex");
  });
  return new XMLSerializer().serializeToString(clone);
}

function layoutSvg(node, width) {
  const vb = node.el.viewBox?.baseVal;
  const aspect = vb && vb.width ? vb.height / vb.width : node.rect.height / node.rect.width;
  const w = Math.min(width, MAX_SVG_WIDTH);
  const h = Math.round(w * aspect);
  const url = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(standaloneSvg(node.el, w, h))}`;
  const x0 = (width - w) / 2;
  return { height: h, draw: (x, y) => `<image x="${x + x0}" y="${y}" width="${Math.round(w)}" height="${h}" xlink:href="${escapeXml(url)}"/>` };
}

// ---- the section --------------------------------------------------------------------------------------

/**
 * The composed image of a `.panel` section. `context`: {plotly, t, title, subtitle}; the title is
 * the section's heading unless given. Resolves to {svg, width, height}.
 */
export async function composeSection(section, context) {
  const ctx = { ...context };
  const width = WIDTH;
  const inner = width - 2 * MARGIN;
  const heading = context.title || section.querySelector(".panel-head h2, h2")?.textContent.trim() || "Gateflow";
  const head = [layoutText([{ text: heading, bold: true }], { size: 34, color: "#1a1a1a" }, inner)];
  if (context.subtitle) head.push(layoutText([{ text: context.subtitle }], { size: 21, color: "#444" }, inner));
  for (const legend of section.querySelectorAll(".panel-head .legend")) {
    if (visible(legend)) head.push(layoutText(readRuns(legend), { size: 18, color: "#444" }, inner));
  }
  const body = [...section.children].map(collect).filter(Boolean);
  const root = { kind: "rows", rect: section.getBoundingClientRect(), rows: body.map((b) => [b]) };
  const main = await layout(root, inner, ctx);
  let y = MARGIN;
  let out = "";
  for (const box of head) {
    out += box.draw(MARGIN, y);
    y += box.height;
  }
  y += 10;
  out += `<line x1="${MARGIN}" y1="${y}" x2="${width - MARGIN}" y2="${y}" stroke="#d6d6d0" stroke-width="2"/>`;
  y += 20;
  out += main.draw(MARGIN, y);
  y += main.height + MARGIN;
  const height = Math.ceil(y);
  const svg =
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<title>${escapeXml(heading)}${context.subtitle ? " — " + escapeXml(context.subtitle) : ""}</title>` +
    `<rect width="100%" height="100%" fill="#ffffff"/>${out}</svg>`;
  return { svg, width, height };
}

/** Rasterize a composed SVG (PNG_SCALE px per CSS px) on a white background. */
export async function svgToPng(svg, width, height, scale = PNG_SCALE) {
  const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml;charset=utf-8" }));
  try {
    const img = new Image();
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error("the browser could not draw the composed image"));
      img.src = url;
    });
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const g = canvas.getContext("2d");
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.drawImage(img, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("no PNG from the canvas"))), "image/png"));
  } finally {
    URL.revokeObjectURL(url);
  }
}
