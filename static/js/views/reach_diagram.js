/**
 * The attention panel's diagram: how step t reaches an earlier step j in each model, drawn over the
 * sequence's steps 0 .. T-1.
 *
 *   attention   an arc from every step j <= t to step t, its width the weight a_tj (the head shown):
 *               one hop, whatever the distance;
 *   recurrent   the chain x_j -> h_j -> h_(j+1) -> ... -> h_t the cell's state passes along, every link
 *               coloured by ||dL/dx|| of its step (log scale, the same for both rows), so the fading is
 *               seen where the chain is long.
 *
 * Markup only (an SVG string): the view puts it in the page and binds the clicks (data-step on the dots).
 * Each arc and dot says its numbers in a <title>, for a screen reader and a hover.
 */

import { fmt } from "../config.js";

const W = 1000; // the viewBox's width; the SVG scales to the panel
const PAD = 40;
const ROW_ATT = 175; // the attention row's baseline (arcs rise above it)
const ROW_RNN = 232; // the recurrent row
const H = 290;

/** viridis-like ramp for log10 of a norm in [lo, hi]: dark (small) to yellow (large). */
function ramp(value, lo, hi) {
  const stops = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  if (!(value > 0) || !Number.isFinite(value)) return "#bbbbbb";
  const f = hi > lo ? Math.min(1, Math.max(0, (Math.log10(value) - lo) / (hi - lo))) : 1;
  const k = Math.min(stops.length - 2, Math.floor(f * (stops.length - 1)));
  return f >= 1 ? stops[stops.length - 1] : stops[k];
}

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");

/**
 * The SVG for query step t, key step j, head ``head`` of ``body`` (POST /api/attention's answer);
 * labels: {attention, compared} names; colours: {attention}. Returns markup.
 */
export function reachDiagram(body, { t, j, head }, labels, colour) {
  const T = body.config.length;
  const x = (k) => PAD + (T === 1 ? 0 : (k * (W - 2 * PAD)) / (T - 1));
  const row = body.weights[head][t];
  const top = Math.max(...row.filter(Number.isFinite), 1e-12);
  const marked = new Set(body.training ? body.training.markers : []);
  const norms = [...body.grad_x_norm, ...body.compared.grad_x_norm].filter((v) => v > 0 && Number.isFinite(v));
  const hi = Math.log10(Math.max(...norms, 1e-300));
  const lo = Math.max(Math.log10(Math.min(...norms, 1)), hi - 40); // at most 40 decades of colour
  const parts = [];
  // attention: arcs from every j <= t to t, widths by weight (the chosen j on top, in red)
  const arcs = [];
  for (let k = 0; k <= t; k += 1) {
    const a = row[k];
    if (!(a > 0)) continue;
    const x0 = x(k);
    const x1 = x(t);
    const rise = Math.min(ROW_ATT - 45, 12 + Math.abs(x1 - x0) * 0.35);
    const width = 0.4 + 9 * (a / top);
    const chosen = k === j;
    const d = k === t ? `M ${x1 - 6} ${ROW_ATT} a 6 6 0 1 1 12 0` : `M ${x0} ${ROW_ATT} Q ${(x0 + x1) / 2} ${ROW_ATT - 2 * rise} ${x1} ${ROW_ATT}`;
    const arc = `<path class="reach-arc${chosen ? " chosen" : ""}" data-step="${k}" data-weight="${a}" d="${d}" stroke="${chosen ? "#d00000" : colour}"
      stroke-width="${width.toFixed(2)}" stroke-opacity="${chosen ? 1 : 0.25 + 0.75 * (a / top)}" fill="none"><title>a(${t},${k}) = ${fmt(a, 3)}</title></path>`;
    if (chosen) arcs.push(arc);
    else arcs.unshift(arc);
  }
  parts.push(...arcs);
  // the recurrent chain: a link per step from j's input to t, coloured by ||dL/dx|| of its step
  const other = body.compared.grad_x_norm;
  for (let k = 0; k < T - 1; k += 1) {
    const inReach = k >= j && k < t;
    parts.push(
      `<line class="reach-link${inReach ? " in-reach" : ""}" x1="${x(k)}" y1="${ROW_RNN}" x2="${x(k + 1)}" y2="${ROW_RNN}"
        stroke="${ramp(other[k], lo, hi)}" stroke-width="${inReach ? 6 : 3}"/>`,
    );
  }
  // the steps: dots on both rows, coloured by each model's ||dL/dx_k||; clicking picks j
  for (let k = 0; k < T; k += 1) {
    const r = k === j || k === t || marked.has(k) ? 5 : T > 120 ? 1.8 : 3;
    const ring = marked.has(k) ? ' stroke="#009E73" stroke-width="3"' : k === j ? ' stroke="#d00000" stroke-width="2"' : "";
    parts.push(
      `<circle class="reach-dot" data-step="${k}" cx="${x(k)}" cy="${ROW_ATT}" r="${r}" fill="${ramp(body.grad_x_norm[k], lo, hi)}"${ring}><title>step ${k}: ${esc(labels.attention)} ‖∂L/∂x‖ = ${fmt(body.grad_x_norm[k], 3)}</title></circle>`,
      `<circle class="reach-dot" data-step="${k}" cx="${x(k)}" cy="${ROW_RNN}" r="${r}" fill="${ramp(other[k], lo, hi)}"${ring}><title>step ${k}: ${esc(labels.compared)} ‖∂L/∂x‖ = ${fmt(other[k], 3)}</title></circle>`,
    );
  }
  const hops = t - j;
  parts.push(
    `<text class="reach-label" x="${PAD}" y="22">${esc(labels.attention)}: step ${t} reads step ${j} in one hop, weight ${fmt(row[j], 3)} (‖∂L/∂x${j}‖ ${fmt(body.grad_x_norm[j], 3)})</text>`,
    `<text class="reach-label" x="${PAD}" y="${ROW_RNN + 30}">${esc(labels.compared)}: step ${j} reaches step ${t} through ${hops} step${hops === 1 ? "" : "s"} of its state (‖∂L/∂x${j}‖ ${fmt(other[j], 3)})</text>`,
    `<text class="reach-axis" x="${x(0)}" y="${H - 2}">step 0</text>`,
    `<text class="reach-axis" x="${x(T - 1)}" y="${H - 2}" text-anchor="end">step ${T - 1}</text>`,
  );
  return `<svg class="reach-svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="How step ${t} reaches step ${j}: attention in one hop, the recurrent cell through ${hops} steps">${parts.join("")}</svg>`;
}
