/**
 * The selected cell's equations with the current step's numbers filled in, for the mean over units
 * or for one unit k (hover a heatmap to look, click it or type the number to keep it). Means of products are shown as
 * means of the products, so the numbers on each line add up exactly. In a reverse direction the state
 * fed in is h_{t+1} (c_{t+1}), and the equations say so.
 *
 * Emits: "select" {cell}, "unit" {unit} from its own controls.
 */

import { CELL_COLOR, CELL_LABEL, SPEC, fmt } from "../config.js";
import { Emitter } from "../events.js";

const sub = (base, index) => `<var>${base}</var><sub>${index}</sub>`;
const T_ = (b) => sub(b, "t");

function num(value) {
  const bad = !Number.isFinite(value);
  return `<b class="num${bad ? " bad" : ""}">${fmt(value)}</b>`;
}

const mean = (a) => {
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
};
const mapPair = (a, b, f) => Array.from(a, (v, j) => f(v, b[j]));

// -- each cell's equations: its entry here, by its name in the cell registry -----------------------
// ctx: get(field) and prev(field) (this step's and the step before's values over units), pick (one
// unit's value or the mean), clamped(gate) (a note), pre(w, gate, hidden) (a gate's pre-activation),
// P_ (the previous step's symbol), unit (-1: the mean), avg ("mean " or ""), out (the lines),
// option(name) (a solver option of the run, its default when the run sets none: the CfC's timespan).

function lstmEquations(ctx) {
  const { get, prev, pick, clamped, pre, P_, unit, avg, out } = ctx;
  const [i, f, g, o, c, cp, h] = ["i", "f", "g", "o", "c"].map(get).concat([prev("c"), get("h")]);
  out.push(`${T_("i")} = σ(${pre(0, "i")}) = ${num(pick(i))}${clamped("i")}`);
  out.push(`${T_("f")} = σ(${pre(0, "f")}) = ${num(pick(f))}${clamped("f")}`);
  out.push(`${T_("g")} = tanh(${pre(0, "g")}) = ${num(pick(g))}${clamped("g")}`);
  out.push(`${T_("o")} = σ(${pre(0, "o")}) = ${num(pick(o))}${clamped("o")}`);
  if (unit >= 0) {
    out.push(
      `${T_("c")} = ${T_("f")} ⊙ ${P_("c")} + ${T_("i")} ⊙ ${T_("g")} = ${num(f[unit])} × ${num(cp[unit])} + ${num(i[unit])} × ${num(g[unit])} = ${num(c[unit])}`,
    );
    out.push(`${T_("h")} = ${T_("o")} ⊙ tanh(${T_("c")}) = ${num(o[unit])} × tanh(${num(c[unit])}) = ${num(h[unit])}`);
  } else {
    const keep = mean(mapPair(f, cp, (a, b) => a * b));
    const write = mean(mapPair(i, g, (a, b) => a * b));
    out.push(
      `${T_("c")} = ${T_("f")} ⊙ ${P_("c")} + ${T_("i")} ⊙ ${T_("g")}: ${avg}${num(keep)} kept + ${num(write)} written = ${num(mean(c))}`,
    );
    out.push(`${T_("h")} = ${T_("o")} ⊙ tanh(${T_("c")}) = ${avg}${num(mean(h))}`);
  }
}

function gruEquations(ctx) {
  const { get, prev, pick, clamped, pre, P_, unit, avg, out } = ctx;
  const [r, z, n, h, hp] = ["r", "z", "n", "h"].map(get).concat([prev("h")]);
  out.push(`${T_("r")} = σ(${pre(0, "r")}) = ${num(pick(r))}${clamped("r")}`);
  out.push(`${T_("z")} = σ(${pre(0, "z")}) = ${num(pick(z))}${clamped("z")}`);
  out.push(
    `${T_("n")} = tanh(${pre(0, "n", `${T_("r")} ⊙ (W<sub>hn</sub>${P_("h")} + b<sub>hn</sub>)`)}) = ${num(pick(n))}${clamped("n")}`,
  );
  if (unit >= 0) {
    out.push(
      `${T_("h")} = (1 − ${T_("z")}) ⊙ ${T_("n")} + ${T_("z")} ⊙ ${P_("h")} = (1 − ${num(z[unit])}) × ${num(n[unit])} + ${num(z[unit])} × ${num(hp[unit])} = ${num(h[unit])}`,
    );
  } else {
    const fresh = mean(mapPair(z, n, (a, b) => (1 - a) * b));
    const kept = mean(mapPair(z, hp, (a, b) => a * b));
    out.push(
      `${T_("h")} = (1 − ${T_("z")}) ⊙ ${T_("n")} + ${T_("z")} ⊙ ${P_("h")}: ${avg}${num(fresh)} new + ${num(kept)} kept = ${num(mean(h))}`,
    );
  }
}

// inside: what the nonlinearity is applied to, as written (the fused form writes one product)
function rnnEquations(fn, ctx, inside = null) {
  const { get, pick, P_, unit, out } = ctx;
  const [p, h] = ["pre", "h"].map(get);
  const sum = inside ?? `W<sub>ih</sub>${T_("x")} + b<sub>ih</sub> + W<sub>hh</sub>${P_("h")} + b<sub>hh</sub>`;
  out.push(`${T_("h")} = ${fn}(${sum}) = ${fn}(${num(pick(p))}) = ${num(pick(h))}`);
  if (unit < 0) out.push(`<span class="note">(mean of ${fn} over units, not ${fn} of the mean)</span>`);
}

function fusedEquations(ctx) {
  ctx.out.push(
    `z<sub>t</sub> = [${T_("x")}, 1, ${ctx.P_("h")}], W = [W<sub>ih</sub>, b<sub>ih</sub> + b<sub>hh</sub>, W<sub>hh</sub>]: the input, a constant 1 and the state stacked, and one matrix`,
  );
  rnnEquations("tanh", ctx, "W z<sub>t</sub>");
}

// The CfC at the run's timespan Δt: two tanh heads and a time gate between them, all from [x_t, h_{t−1}]
function cfcEquations(ctx) {
  const { get, pick, P_, unit, avg, out, option } = ctx;
  const dt = Number(option("timespan"));
  const timesDt = (v) => (dt === 1 ? num(v) : `${num(v)} × ${fmt(dt)}`); // Δt: a setting, not a result
  const [f1, f2, ta, tb, ti, h] = ["f1", "f2", "ta", "tb", "ti", "h"].map(get);
  const z = `[${T_("x")}, ${P_("h")}]`;
  const head = (k) => sub("f", `${k},t`);
  const [tA, tB, tI] = [sub("t", "a"), sub("t", "b"), T_("ti")];
  out.push(`${head(1)} = tanh(W<sub>1</sub>${z} + b<sub>1</sub>) = ${num(pick(f1))}`);
  out.push(`${head(2)} = tanh(W<sub>2</sub>${z} + b<sub>2</sub>) = ${num(pick(f2))}`);
  out.push(`${tA} = W<sub>a</sub>${z} + b<sub>a</sub> = ${num(pick(ta))}, ${tB} = W<sub>b</sub>${z} + b<sub>b</sub> = ${num(pick(tb))}`);
  if (unit >= 0) {
    out.push(`${tI} = σ(${tA} · Δt + ${tB}), Δt = ${fmt(dt)}: σ(${timesDt(ta[unit])} + ${num(tb[unit])}) = ${num(ti[unit])}`);
    out.push(
      `${T_("h")} = ${head(1)} ⊙ (1 − ${tI}) + ${tI} ⊙ ${head(2)} = ${num(f1[unit])} × (1 − ${num(ti[unit])}) + ${num(ti[unit])} × ${num(f2[unit])} = ${num(h[unit])}`,
    );
  } else {
    out.push(`${tI} = σ(${tA} · Δt + ${tB}), Δt = ${fmt(dt)}: ${avg}${num(mean(ti))}`);
    const from1 = mean(mapPair(f1, ti, (a, b) => a * (1 - b)));
    const from2 = mean(mapPair(f2, ti, (a, b) => a * b));
    out.push(
      `${T_("h")} = ${head(1)} ⊙ (1 − ${tI}) + ${tI} ⊙ ${head(2)}: ${avg}${num(from1)} from f<sub>1</sub> + ${num(from2)} from f<sub>2</sub> = ${num(mean(h))}`,
    );
  }
}

// The LTC at the run's timespan Δt: ncps' solver, U unfolds of Δt/U each, cm_t = U cm / Δt. Unrolled,
// h_t = keep ⊙ h_{t−1} + the drive toward the reversal potentials, exactly (keep: the product of the
// unfolds' cm_t / den), so the drive shown is h_t − keep ⊙ h_{t−1}.
function ltcEquations(ctx) {
  const { get, prev, pick, P_, unit, avg, out, option } = ctx;
  const [dt, U] = [Number(option("timespan")), Number(option("ode_unfolds"))];
  const [tau, keep, h, hp] = ["tau", "keep", "h"].map(get).concat([prev("h")]);
  const cm = "c<sub>m</sub>";
  const g = `g<sub>leak</sub> + Σ<sub>i</sub> w σ(σ(${P_("h")}<sub>,i</sub> − μ)) + Σ<sub>d</sub> w′ σ(σ′(${T_("x")}<sub>,d</sub> − μ′))`;
  const step = dt === 1 ? "of a step" : `time units, a step is Δt = ${fmt(dt)}`;
  out.push(`${T_("τ")} = ${cm} / (${g}) = ${num(pick(tau))} ${step}`);
  const cmT = dt === 1 ? `${U}${cm}` : `${U}${cm}/${fmt(dt)}`;
  const unfolds = U === 1 ? "the solver's one unfold" : `${U} unfolds`;
  out.push(`${T_("keep")} = Π over ${unfolds} of ${cmT} / (${cmT} + g + ε) = ${num(pick(keep))}`);
  if (unit >= 0) {
    const drive = h[unit] - keep[unit] * hp[unit];
    out.push(
      `${T_("h")} = ${T_("keep")} ⊙ ${P_("h")} + drive toward E, v<sub>leak</sub> = ${num(keep[unit])} × ${num(hp[unit])} + ${num(drive)} = ${num(h[unit])}`,
    );
  } else {
    const kept = mean(mapPair(keep, hp, (a, b) => a * b));
    out.push(
      `${T_("h")} = ${T_("keep")} ⊙ ${P_("h")} + drive toward E, v<sub>leak</sub>: ${avg}${num(kept)} kept + ${num(mean(h) - kept)} driven = ${num(mean(h))}`,
    );
  }
}

/** A cell without an entry of its own: each gate's and the state's value at this step. */
function anyEquations(ctx, cell) {
  const { get, pick, out } = ctx;
  for (const g of cell.gates) out.push(`${T_(g)} = ${num(pick(get(g)))}`);
  out.push(`${T_("h")} = ${num(pick(get("h")))}`);
  if (cell.hasC) out.push(`${T_("c")} = ${num(pick(get("c")))}`);
}

const EQUATIONS = {
  rnn_tanh: (ctx) => rnnEquations("tanh", ctx),
  rnn_relu: (ctx) => rnnEquations("relu", ctx),
  rnn_fused: fusedEquations,
  cfc: cfcEquations,
  ltc: ltcEquations,
  lstm: lstmEquations,
  gru: gruEquations,
};

export class EquationsView extends Emitter {
  constructor(root) {
    super();
    this.root = root;
    this.tabs = root.querySelector(".eq-cells");
    this.body = root.querySelector(".eq-body");
    this.title = root.querySelector(".eq-title");
    this.unitInput = root.querySelector(".eq-unit");
    this.meanButton = root.querySelector(".eq-mean");
    this.key = null;
    this.runId = null;
    this.unitInput.addEventListener("change", () => {
      const v = Number(this.unitInput.value);
      this.emit("unit", { unit: Number.isInteger(v) && v >= 0 ? v : -1 });
    });
    this.meanButton.addEventListener("click", () => this.emit("unit", { unit: -1 }));
    this.tabs.addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-index]");
      if (b) this.emit("select", { cell: Number(b.dataset.index) });
    });
  }

  update(model) {
    const { run, state, t } = model;
    if (!run || !run.complete) return;
    const sel = Math.min(Math.max(0, state.get("sel")), run.cells.length - 1);
    const ld = run.ld(state.get("layer"), state.get("dir"));
    const chosen = model.unit ?? state.get("unit");
    const unit = chosen < run.H ? chosen : -1;
    const key = `${run.id}|${sel}|${ld}|${unit}|${t}`;
    if (key === this.key) return;
    this.key = key;
    if (run.id !== this.runId) {
      this.runId = run.id;
      this.tabs.replaceChildren(
        ...run.cells.map((cell, k) => {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "chip";
          b.dataset.index = String(k);
          b.style.setProperty("--cell-color", CELL_COLOR[cell.name]);
          b.textContent = CELL_LABEL[cell.name] || cell.name;
          return b;
        }),
      );
      this.unitInput.max = String(run.H - 1);
    }
    for (const b of this.tabs.children) b.setAttribute("aria-pressed", String(Number(b.dataset.index) === sel));
    if (document.activeElement !== this.unitInput) this.unitInput.value = unit >= 0 ? String(unit) : "";
    this.meanButton.setAttribute("aria-pressed", String(unit < 0));
    const cell = run.cells[sel];
    const layer = Math.floor(ld / run.dirs);
    const where = `layer ${layer + 1}${run.dirs > 1 ? (ld % 2 ? ", reverse direction" : ", forward direction") : ""}`;
    this.title.textContent = `${CELL_LABEL[cell.name]} at t = ${t} (${where}) — ${unit >= 0 ? `unit ${unit}` : `mean over ${run.H} units`}`;
    this.root.dataset.cell = cell.name;
    let lines;
    try {
      lines = this.lines(run, sel, cell, ld, t, unit);
    } catch (err) {
      console.warn("gateflow: equations", err);
      lines = ["<span class=\"note\">this run did not send the values these equations need</span>"];
    }
    this.body.innerHTML = lines.map((l) => `<div class="eq">${l}</div>`).join("");
  }

  lines(run, k, cell, ld, t, unit) {
    const get = (field) => run.at(k, field, ld, t);
    const prev = (field) => run.previous(k, field, ld, t);
    // the state a step starts from: h_{t−1} going forward; a reverse direction reads the sequence
    // from the end, so there it is h_{t+1} (run.previous picks the same step)
    const reverse = run.isReverse(ld);
    const P_ = (b) => sub(b, reverse ? "t+1" : "t−1");
    // one unit's value, or the mean over units of an array (or of an element-wise product)
    const pick = (arr) => (arr ? (unit >= 0 ? arr[unit] : mean(arr)) : NaN);
    const clamp = run.config?.clamp || {};
    const clamped = (g) => (g in clamp ? ` <span class="note">(clamped to ${fmt(Number(clamp[g]))})</span>` : "");
    const pre = (w, gate, hidden = `W<sub>h${gate}</sub>${P_("h")} + b<sub>h${gate}</sub>`) =>
      `W<sub>i${gate}</sub>${T_("x")} + b<sub>i${gate}</sub> + ${hidden}`;
    const out = [];
    const avg = unit >= 0 ? "" : "mean ";
    const option = (name) => run.config?.[name] ?? SPEC.knobs[name]?.default;
    const ctx = { get, prev, pick, clamped, pre, P_, unit, avg, out, option };
    (EQUATIONS[cell.name] || ((c) => anyEquations(c, cell)))(ctx);
    out.push(this.gradientLine(run, k, cell, ld, t, unit));
    if (reverse) {
      const from = cell.hasC ? `${P_("h")}, ${P_("c")}` : P_("h");
      const initial = t === run.T - 1 ? " (the initial state, zeros, at t = T−1)" : "";
      out.unshift(
        `<span class="note eq-reverse">reverse direction: reads the sequence from the end, so the state fed in is ${from}${initial}</span>`,
      );
    }
    return out;
  }

  gradientLine(run, k, cell, ld, t, unit) {
    const dh = run.curve(k, "grad_h_norm", ld);
    const dc = cell.hasC ? run.curve(k, "grad_c_norm", ld) : null;
    if (unit >= 0) {
      const gh = run.at(k, "grad_h", ld, t);
      const gc = cell.hasC ? run.at(k, "grad_c", ld, t) : null;
      return `backward: ∂L/∂${T_("h")}[${unit}] = ${num(gh ? gh[unit] : NaN)}${gc ? `, ∂L/∂${T_("c")}[${unit}] = ${num(gc[unit])}` : ""}`;
    }
    return `backward: ‖∂L/∂${T_("h")}‖ = ${num(dh ? Number(dh[t]) : NaN)}${dc ? `, ‖∂L/∂${T_("c")}‖ = ${num(Number(dc[t]))}` : ""}`;
  }
}
