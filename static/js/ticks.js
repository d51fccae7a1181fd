/**
 * Tick values and labels that we choose ourselves for log scales, because Plotly's own on a narrow
 * log range label 0.2 as "2" (its minor-digit labels) and crowd "1" against "9".
 *
 *   logTicks(lo, hi)       a log axis from lo to hi (> 0): {tickvals, ticktext} in data units;
 *   exponentTicks(lo, hi)  a colour bar whose values are log10 exponents: {tickvals, ticktext}.
 *   logRange(values, plotPx, font, opts)  a padded log10 range over the positive finite values and
 *                          the ticks that fit plotPx: {range, ticks}.
 *   logAxis(values, plotPx, font, opts)   the same as a Plotly log axis (range, our ticks, grid).
 *
 * Wide ranges get one tick per decade (or per few decades), 10ⁿ; one to three decades get 1, 2, 5
 * per decade (1, 3 or 1 alone where fewer fit); under a decade, evenly spaced round values. Labels
 * are the numbers themselves (0.2, 0.5, 1, 20) where short, else 2×10⁻⁵.
 */

const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const sup = (n) => String(n).replace(/[-0-9]/g, (c) => SUPERSCRIPT[c]);

/** "10⁻⁵", "2×10⁻⁵", or plain "0.2" / "50" where that is short and exact. */
export function powerLabel(value) {
  if (!Number.isFinite(value) || value <= 0) return String(value);
  const k = Math.floor(Math.log10(value) + 1e-9);
  const m = Number((value / 10 ** k).toPrecision(3));
  if (k >= -3 && k <= 4) return String(Number(value.toPrecision(3)));
  return m === 1 ? `10${sup(k)}` : `${m}×10${sup(k)}`;
}

function niceStep(raw) {
  const k = Math.floor(Math.log10(raw));
  const f = raw / 10 ** k;
  const nice = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10; // 0.1 / 5 is 0.0200…02
  return nice * 10 ** k;
}

export function logTicks(lo, hi, maxTicks = 8) {
  if (!(lo > 0) || !(hi > 0) || !Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  if (hi < lo) [lo, hi] = [hi, lo];
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  let values = [];
  if (b - a >= 3) {
    const decades = decadeTicks(a, b, maxTicks);
    return { tickvals: decades.map((k) => 10 ** k), ticktext: decades.map(decadeLabel) };
  } else if (b - a >= 1) {
    // 1, 2, 5 per decade; where that is more than fits, 1 and 3; then the decades alone
    for (const mantissas of [[1, 2, 5], [1, 3], [1]]) {
      values = [];
      for (let k = Math.floor(a) - 1; k <= Math.ceil(b); k++) {
        for (const m of mantissas) {
          const v = m * 10 ** k;
          if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) values.push(v);
        }
      }
      if (values.length <= maxTicks) break;
    }
  } else {
    const step = niceStep((hi - lo) / Math.max(2, maxTicks - 3));
    if (!(step > 0)) values = [lo];
    else for (let v = Math.ceil(lo / step) * step; v <= hi * (1 + 1e-9); v += step) values.push(Number(v.toPrecision(12)));
  }
  if (!values.length) values = [lo, hi];
  return { tickvals: values, ticktext: values.map(powerLabel) };
}

/** Ticks for a colour bar of log10 values from lo to hi (exponents): 10ⁿ at integers. */
export function exponentTicks(lo, hi, maxTicks = 6) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  if (hi < lo) [lo, hi] = [hi, lo];
  const tickvals = decadeTicks(lo, hi, maxTicks);
  if (!tickvals.length) return { tickvals: [lo, hi], ticktext: [powerLabel(10 ** lo), powerLabel(10 ** hi)] };
  return { tickvals, ticktext: tickvals.map(decadeLabel) };
}

const decadeLabel = (k) => (k === 0 ? "1" : `10${sup(k)}`);

/** Integer exponents in [a, b], every 1, 2, 5, 10, 20 or 50 decades, at multiples of that step. */
function decadeTicks(a, b, maxTicks) {
  const k0 = Math.ceil(a - 1e-9);
  const k1 = Math.floor(b + 1e-9);
  const every = [1, 2, 5, 10, 20, 50, 100].find((e) => Math.floor(k1 / e) - Math.ceil(k0 / e) + 1 <= maxTicks) || 100;
  const out = [];
  for (let k = Math.ceil(k0 / every) * every; k <= k1; k += every) out.push(k);
  return out;
}

/**
 * The log10 range over the positive, finite ``values`` (1e-3 .. 1 when there are none), padded by
 * ``pad`` of its span (at least ``minPad`` decades), and ticks spaced about ``spacing`` fonts apart.
 */
export function logRange(values, plotPx, font, { pad = 0.05, minPad = 0.02, spacing = 1.9 } = {}) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!(Number.isFinite(v) && v > 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) [lo, hi] = [1e-3, 1];
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  const margin = Math.max(pad * (b - a), minPad);
  const range = [a - margin, b + margin];
  const ticks = logTicks(10 ** range[0], 10 ** range[1], Math.max(3, Math.floor(plotPx / (font * spacing))));
  return { range, ticks };
}

/** A Plotly log y axis over ``values`` with logRange's range and ticks (add its title). */
export function logAxis(values, plotPx, font, opts) {
  const { range, ticks } = logRange(values, plotPx, font, opts);
  return {
    type: "log",
    range,
    autorange: false,
    tickmode: "array",
    tickvals: ticks.tickvals,
    ticktext: ticks.ticktext,
    gridcolor: "#e4e4e4",
  };
}
