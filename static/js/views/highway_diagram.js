/**
 * The highway panel's diagram: one unit of one layer of each stack, with the numbers of the run.
 *
 *   highway   y_(l-1) splits: the carry path straight along the top through × (1 − T), and the
 *             transform path through H and × T below it; the two meet at + and leave as y_l. Each
 *             path's width is its gate's share, so a negative transform bias draws a thick carry line.
 *   plain     y_(l-1) -> H -> y_l: no path around H.
 *
 * Markup only (an SVG string, viewBox 1000 x 260); every number has a data-part hook and a <title>.
 */

import { fmt } from "../config.js";

const sub = (base, index) => `${base}<tspan class="sub" dy="5">${index}</tspan><tspan dy="-5"></tspan>`;
const num = (v) => fmt(v, 3);

function box(part, x, y, w, h, name, value, colour) {
  return `<g class="hw-box" data-part="${part}" role="img" aria-label="${part} ${num(value)}">
    <rect x="${x}" y="${y}" width="${w}" height="${h}" rx="7" fill="#ffffff" stroke="${colour}" stroke-width="2.5"/>
    <text x="${x + w / 2}" y="${y + h / 2 - 4}" text-anchor="middle" class="hw-box-name">${name}</text>
    <text x="${x + w / 2}" y="${y + h / 2 + 16}" text-anchor="middle" class="hw-box-value">${num(value)}</text>
  </g>`;
}

const op = (symbol, cx, cy) =>
  `<g aria-hidden="true"><circle cx="${cx}" cy="${cy}" r="13" fill="#ffffff" stroke="#444" stroke-width="2"/><text x="${cx}" y="${cy + 6}" text-anchor="middle" class="hw-op">${symbol}</text></g>`;

/**
 * The SVG for layer ``layer`` (1..L) and unit ``unit`` of ``body`` (POST /api/highway's answer);
 * stacks: spec.json's highway.stacks (labels, colours). Returns markup.
 */
export function highwayDiagram(body, layer, unit, stacks, activation) {
  const [hw, plain] = body.stacks;
  const t = hw.gate[layer - 1][unit];
  const carry = 1 - t;
  const below = hw.y[layer - 1][unit];
  const h = hw.h[layer - 1][unit];
  const out = hw.y[layer][unit];
  const cHw = stacks.highway.color;
  const cPlain = stacks.plain.color;
  const wCarry = (1 + 11 * carry).toFixed(1);
  const wTransform = (1 + 11 * t).toFixed(1);
  const parts = [
    // highway: carry along the top (y = 60), transform through H (y = 130)
    `<text x="20" y="24" class="hw-diagram-label">${stacks.highway.label}, layer ${layer}, unit ${unit}</text>`,
    `<text x="20" y="66" class="hw-state" data-part="y_below">${sub("y", `${layer - 1}`)} = ${num(below)}</text>`,
    `<path d="M 170 60 L 640 60" stroke="${cHw}" stroke-width="${wCarry}" fill="none" data-part="carry-path"><title>carry path: 1 − T = ${num(carry)}</title></path>`,
    `<path d="M 170 60 L 200 60 L 200 130 L 285 130" stroke="${cHw}" stroke-width="${wTransform}" fill="none" stroke-opacity="0.8" data-part="transform-path"><title>transform path: T = ${num(t)}</title></path>`,
    box("H", 285, 105, 180, 50, `H = ${activation}(W·y + b)`, h, cHw),
    `<path d="M 465 130 L 527 130" stroke="${cHw}" stroke-width="${wTransform}" fill="none" stroke-opacity="0.8"/>`,
    op("×", 540, 130),
    `<text x="540" y="172" text-anchor="middle" class="hw-gate" data-part="T">T = σ(W_T·y + b_T) = ${num(t)}</text>`,
    `<path d="M 553 130 L 660 130 L 660 75" stroke="${cHw}" stroke-width="${wTransform}" fill="none" stroke-opacity="0.8"/>`,
    op("×", 480, 60),
    `<text x="480" y="40" text-anchor="middle" class="hw-gate" data-part="carry">1 − T = ${num(carry)}</text>`,
    op("+", 660, 60),
    `<path d="M 673 60 L 760 60" stroke="${cHw}" stroke-width="3" fill="none"/>`,
    `<text x="770" y="66" class="hw-state" data-part="y_out">${sub("y", `${layer}`)} = ${num(out)}</text>`,
    // plain: y -> H -> y (y = 225)
    `<text x="20" y="205" class="hw-diagram-label">${stacks.plain.label}</text>`,
    `<text x="20" y="236" class="hw-state" data-part="plain_below">${sub("y", `${layer - 1}`)} = ${num(plain.y[layer - 1][unit])}</text>`,
    `<path d="M 170 230 L 285 230" stroke="${cPlain}" stroke-width="3" fill="none"/>`,
    box("plain-H", 285, 205, 180, 50, `H = ${activation}(W·y + b)`, plain.h[layer - 1][unit], cPlain),
    `<path d="M 465 230 L 760 230" stroke="${cPlain}" stroke-width="3" fill="none"/>`,
    `<text x="770" y="236" class="hw-state" data-part="plain_out">${sub("y", `${layer}`)} = ${num(plain.y[layer][unit])}</text>`,
  ];
  return `<svg class="hw-svg" viewBox="0 0 1000 262" role="img" aria-label="Layer ${layer}, unit ${unit}: the highway carries ${num(carry)} of its input around H; the plain stack has only H">${parts.join("")}</svg>`;
}
