/**
 * One computed run, as the views read it: the `ready` message plus the bulk block, with accessors
 * for "the H values of field f of cell k, layer-direction ld, at step t" and small statistics.
 *
 * Bulk arrays are (L*dirs, T, H) flat, layer-major and direction-minor like torch's h_n.
 */

/**
 * ||dL/dx_t|| is one curve per cell (the input feeds every layer-direction of the bottom layer): it
 * stands in every layer-direction's place, so the plots read it as they read any other curve.
 */
function withInput(curves, inputGrad, count) {
  if (!inputGrad) return curves;
  return { ...curves, grad_x_norm: Array.from({ length: count }, () => inputGrad.norm) };
}

export class Run {
  constructor(ready) {
    this.id = ready.run_id;
    this.config = ready.config;
    this.T = ready.T;
    this.H = ready.hidden_size;
    this.L = ready.num_layers;
    this.dirs = ready.num_directions;
    this.input = ready.input || { labels: [], target_labels: [] };
    this.computeMs = ready.compute_ms;
    // trained weights on display (Train mode's train_open): {train_id, step, steps: {cell: step}}; null: untrained
    this.trained = ready.trained || null;
    this.cells = (ready.cells || []).map((c) => ({
      name: c.cell,
      gates: c.gates || [],
      hasC: Boolean(c.has_cell_state),
      loss: Number(c.loss),
      curves: withInput(c.curves || {}, c.input_grad, this.L * this.dirs),
      decay: c.decay || {},
      // per layer-direction, when the server sends them; the input's fit is every one's
      decays: Array.isArray(c.decays) ? c.decays.map((d) => ({ ...d, grad_x: c.input_grad ? c.input_grad.decay : null })) : null,
      notes: Array.isArray(c.notes) ? c.notes : [],
      nonfinite: c.nonfinite || {},
      bulk: {},
    }));
    // ||dh/dh|| Jacobians: {mode, computed, reason}; an older server says nothing (null)
    this.jacobian = ready.jacobian || null;
    // notes on the run's settings, [{field, text}]: a setting that changes nothing, a loss a direction never sees
    this.notes = Array.isArray(ready.notes) ? ready.notes : [];
    this.complete = false;
  }

  attachBulk(fields) {
    for (const entry of fields) {
      const cell = this.cells[entry.cell];
      if (cell) cell.bulk[entry.field] = entry.data;
    }
    this.complete = true;
    this.nonfinite = this.findNonfinite();
  }

  /**
   * Which cells hold NaN/inf anywhere: the server's flags, the curves and the bulk. The flags alone
   * miss a norm that overflows float32 although every unit's value is finite (the ReLU RNN of the
   * exploding preset: grad_h finite, ||grad_h|| = inf).
   */
  findNonfinite() {
    const found = [];
    for (const cell of this.cells) {
      let bad = Object.values(cell.nonfinite).some(Boolean);
      for (const curves of Object.values(cell.curves)) {
        if (bad || !curves) continue;
        bad = curves.some((curve) => curve.some((v) => !Number.isFinite(v)));
      }
      for (const data of Object.values(cell.bulk)) {
        if (bad) break;
        for (let k = 0; k < data.length; k++) {
          if (!Number.isFinite(data[k])) {
            bad = true;
            break;
          }
        }
      }
      if (bad) found.push(cell.name);
    }
    return found;
  }

  /** Index on the first axis for (layer, direction); layer -1 is the top. */
  ld(layer, dir) {
    const l = layer < 0 ? this.L + layer : Math.min(layer, this.L - 1);
    const d = this.dirs > 1 ? Math.min(Math.max(dir, 0), 1) : 0;
    return Math.max(0, l) * this.dirs + d;
  }

  /** The H values of `field` at step t, or null when the cell has no such field. */
  at(cellIndex, field, ld, t) {
    const data = this.cells[cellIndex]?.bulk[field];
    if (!data || t < 0 || t >= this.T) return null;
    const start = (ld * this.T + t) * this.H;
    return data.subarray(start, start + this.H);
  }

  /**
   * The fitted decay of `kind` ("grad_h", "grad_c", "jacobian", "jacobian_c") for one layer-direction:
   * from `decays[ld]`; a server without them sent the top layer's forward fit only (`decay`), so any
   * other layer-direction has none (undefined: not sent; null: sent as "no such curve").
   */
  decay(cellIndex, ld, kind) {
    const cell = this.cells[cellIndex];
    if (!cell) return undefined;
    if (cell.decays) return cell.decays[ld] ? cell.decays[ld][kind] ?? null : undefined;
    return ld === this.ld(-1, 0) ? cell.decay[kind] : undefined;
  }

  /** True when layer-direction ld reads the sequence from the end. */
  isReverse(ld) {
    return this.dirs > 1 && ld % this.dirs === 1;
  }

  /** "layer 2, reverse ←" (or "layer 1" for a one-direction net); `top` marks the top layer. */
  where(ld, { top = false } = {}) {
    const layer = Math.floor(ld / this.dirs);
    const name = `layer ${layer + 1}${top && this.L > 1 && layer === this.L - 1 ? " (top)" : ""}`;
    if (this.dirs < 2) return name;
    return `${name}, ${this.isReverse(ld) ? "reverse ←" : "forward →"}`;
  }

  /** The state a step starts from: t-1 going forward, t+1 in the reverse direction, zeros outside. */
  previous(cellIndex, field, ld, t) {
    const prevT = this.isReverse(ld) ? t + 1 : t - 1;
    return this.at(cellIndex, field, ld, prevT) || new Float32Array(this.H);
  }

  /** The curve of a per-step norm for one layer-direction, or null. */
  curve(cellIndex, name, ld) {
    const curves = this.cells[cellIndex]?.curves[name];
    return curves ? curves[ld] || null : null;
  }
}

/** Mean, min, max and count of non-finite values of an array. */
export function stats(values) {
  let sum = 0;
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let nonfinite = 0;
  let firstBad = null;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      nonfinite += 1;
      if (firstBad === null) firstBad = v;
      continue;
    }
    sum += v;
    n += 1;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  // A mean over units with an inf or NaN in it is that inf or NaN: say so rather than hide it.
  const mean = nonfinite ? (Number.isNaN(firstBad) ? NaN : firstBad) : n ? sum / n : NaN;
  return { mean, min: n ? min : NaN, max: n ? max : NaN, nonfinite, count: values.length };
}

/** Largest finite |value| of an array (0 if none). */
export function maxAbs(values) {
  let m = 0;
  for (const v of values) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}
