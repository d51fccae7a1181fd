/**
 * Wiring: state <-> URL, socket -> run -> views (rendered at most once per animation frame),
 * controls -> configure, player bar and keyboard -> player, view events -> state / player.
 * Views never call each other; they emit events that land here.
 */

import { Controls, renderLayerChoice } from "./controls.js";
import { SPEEDS } from "./config.js";
import { downloadPlot, downloadSvg, downloadTrace } from "./export.js";
import { Player } from "./player.js";
import { Run } from "./run.js";
import { Socket } from "./socket.js";
import { State } from "./state.js";
import { DiagramView } from "./views/diagram.js";
import { EquationsView } from "./views/equations.js";
import { GradientView } from "./views/gradients.js";
import { HeatmapView } from "./views/heatmaps.js";
import { SequenceView } from "./views/sequence.js";

const Plotly = window.Plotly;
const $ = (sel) => document.querySelector(sel);

const state = new State();
state.fromHash(location.hash);

const socket = new Socket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
const player = new Player(socket, state);
const controls = new Controls($("#config-form"));
const views = {
  diagram: new DiagramView($("#diagrams")),
  equations: new EquationsView($("#equations")),
  gradients: new GradientView($("#gradients"), Plotly),
  sequence: new SequenceView($("#sequence")),
  heatmaps: new HeatmapView($("#heatmaps"), Plotly),
};

let run = null; // the run on display
let pendingRun = null; // `ready` received, bulk not yet
let restoreT = state.get("t") > 0 ? state.get("t") : null; // a cursor to restore after the next ready
let restoreTimer = null;
let presets = [];
const errors = []; // server errors, for the test hook
let framesRendered = 0;
let hoverUnit = null; // a unit under the pointer in a heatmap: shown until the pointer leaves
const timings = { renders: 0, totalMs: 0, maxMs: 0, firstRunRenderMs: null, lastRunRenderMs: null, renderedRunId: null, views: {} };

// ---- status line -------------------------------------------------------------------------------

function setStatus(text, kind = "info") {
  const el = $("#status");
  el.textContent = text;
  el.dataset.kind = kind;
}

function showEmpty(text) {
  const el = $("#empty");
  el.hidden = Boolean(run) || !text;
  el.textContent = text || "";
}

// ---- rendering, coalesced into animation frames -------------------------------------------------

let renderQueued = false;
let controlsDirty = true; // the form shows config fields only: redraw it when one changes
function schedule() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function render() {
  renderQueued = false;
  if (controlsDirty) {
    controlsDirty = false;
    controls.render(state);
  }
  renderPlayer();
  if (!run) return;
  const started = performance.now();
  const t = Math.max(0, Math.min(run.T - 1, state.get("t")));
  const model = { run, state, t, unit: hoverUnit };
  const newRun = timings.renderedRunId !== run.id;
  for (const [name, view] of Object.entries(views)) {
    const viewStarted = performance.now();
    try {
      view.update(model);
    } catch (err) {
      console.error(`gateflow: the ${name} view failed`, err);
    }
    if (newRun) timings.views[name] = Math.round(performance.now() - viewStarted);
  }
  renderLayerChoice($("#layer-choice"), run, state, (partial) => state.set(partial));
  framesRendered += 1;
  const ms = performance.now() - started;
  if (timings.renderedRunId !== run.id) {
    timings.renderedRunId = run.id;
    timings.lastRunRenderMs = ms;
    if (timings.firstRunRenderMs === null) timings.firstRunRenderMs = ms;
  } else {
    timings.renders += 1;
    timings.totalMs += ms;
    timings.maxMs = Math.max(timings.maxMs, ms);
  }
}

// Write only what changed: replacing a text node, even with the same text, costs a re-layout.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function renderPlayer() {
  const t = state.get("t");
  const T = run ? run.T : 0;
  const scrub = $("#scrub");
  const max = String(Math.max(0, T - 1));
  if (scrub.max !== max) scrub.max = max;
  if (!scrub.matches(":active") && scrub.value !== String(t)) scrub.value = String(t);
  const readout = $("#t-readout");
  setText(readout, T ? `t = ${t} / ${T - 1}` : "t = –");
  readout.dataset.t = String(t);
  const play = $("#btn-play");
  setText(play, player.playing ? "❚❚ Pause" : "▶ Play");
  play.setAttribute("aria-pressed", String(player.playing));
  const backward = state.get("pass") === "backward";
  $("#btn-backward").setAttribute("aria-pressed", String(backward));
  $("#btn-forward").setAttribute("aria-pressed", String(!backward));
  setText(
    $("#pass-note"),
    backward
      ? "Backward pass: the gradient travels from the loss back to t = 0; ahead of it, not computed yet."
      : "Forward pass: the net reads one step at a time; dimmed steps are not seen yet.",
  );
  const large = Boolean(state.get("large"));
  document.documentElement.classList.toggle("large", large);
  document.body.classList.toggle("large", large);
  document.body.classList.toggle("side-hidden", !state.get("side"));
  $("#btn-large").setAttribute("aria-pressed", String(large));
  const speed = $("#speed");
  if (speed.value !== String(state.get("rate"))) speed.value = String(state.get("rate"));
}

// ---- URL ---------------------------------------------------------------------------------------

let urlTimer = null;
function scheduleUrl() {
  clearTimeout(urlTimer);
  urlTimer = setTimeout(() => history.replaceState(null, "", state.toHash()), 120);
}

state.on("change", (keys) => {
  scheduleUrl();
  if (keys.some((k) => k in state.config())) controlsDirty = true;
  if (keys.includes("preset") || keys.some((k) => k in state.config())) renderPreset();
  if (keys.includes("large")) {
    // Plotly sizes its fonts from layout: the views re-render on the new key; then fit the width
    requestAnimationFrame(() => window.dispatchEvent(new Event("resize")));
  }
  schedule();
});

// ---- the server -----------------------------------------------------------------------------------

let configureTimer = null;
function configureSoon(delay = 250) {
  clearTimeout(configureTimer);
  configureTimer = setTimeout(configure, delay);
}

function configure() {
  clearTimeout(configureTimer);
  if (run && restoreT === null) restoreT = state.get("t");
  if (!socket.send({ type: "configure", config: state.config() })) {
    setStatus("not connected: the settings will be sent when the connection is back", "error");
    return;
  }
  setStatus("computing…", "busy");
}

socket.on("open", () => {
  setStatus("connected", "info");
  configure();
});
socket.on("close", () => {
  setStatus("connection lost — reconnecting…", "error");
  player.playing = false;
  if (!run) showEmpty("Waiting for the Gateflow server…");
});
socket.on("progress", (msg) => setStatus(`computing… ${Math.round((msg.fraction || 0) * 100)}%`, "busy"));
socket.on("ready", (msg) => {
  pendingRun = new Run(msg);
});
socket.on("bulk", ({ fields }) => {
  if (!pendingRun) return;
  pendingRun.attachBulk(fields);
  run = pendingRun;
  pendingRun = null;
  onRun();
});
socket.on("frame", (frame) => {
  if (!run) return;
  if (restoreT !== null) {
    if (frame.t !== restoreT) return; // the t = 0 frame that follows ready: the seek's frame is next
    restoreT = null;
  }
  state.set({ t: frame.t });
  document.body.dataset.frames = String(socket.stats.frames);
  schedule();
});
socket.on("state", () => schedule());
socket.on("error", (msg) => onServerError(msg));

function onRun() {
  controls.clearErrors();
  player.setLength(run.T);
  state.setConfig(run.config || {});
  const sel = state.get("sel");
  if (sel >= run.cells.length) state.set({ sel: 0 });
  if (run.dirs < 2 && state.get("dir")) state.set({ dir: 0 });
  showEmpty("");
  $("#empty").hidden = true;
  const finite = run.nonfinite.length === 0;
  setStatus(
    `${run.cells.map((c) => c.name).join(" · ")} · H = ${run.H} · T = ${run.T} · computed in ${Math.round(run.computeMs || 0)} ms` +
      (finite ? "" : ` · ${run.nonfinite.join(", ")}: some values are NaN or inf (marked in red)`),
    finite ? "info" : "warn",
  );
  document.body.dataset.runId = run.id;
  document.body.classList.add("has-run");
  if (restoreT !== null) {
    const target = Math.min(restoreT, run.T - 1);
    if (target > 0) {
      restoreT = target;
      socket.send({ type: "seek", t: target });
      clearTimeout(restoreTimer);
      restoreTimer = setTimeout(() => (restoreT = null), 2000);
    } else {
      restoreT = null;
      state.set({ t: 0 });
    }
  }
  schedule();
}

function onServerError(msg) {
  errors.push(msg);
  const text = msg.message || msg.code || "error";
  const onField = controls.showError(msg.field, text);
  const where = msg.field && !onField ? `${msg.field}: ` : "";
  setStatus(`${where}${text}${run ? " — still showing the previous run" : ""}`, "error");
  if (!run) showEmpty(`Nothing to show yet: ${where}${text}. Fix the highlighted setting or pick a preset.`);
  restoreT = null;
  schedule();
}

// ---- presets -------------------------------------------------------------------------------------

function renderPreset() {
  const name = state.get("preset");
  const preset = presets.find((p) => p.name === name);
  const select = $("#preset");
  if (select.value !== name) select.value = preset ? name : "";
  const desc = $("#preset-desc");
  if (!preset) {
    desc.textContent = "";
    desc.hidden = true;
    return;
  }
  const config = state.config();
  const modified = Object.entries(preset.config).some(([k, v]) => k in config && JSON.stringify(config[k]) !== JSON.stringify(v));
  desc.hidden = false;
  desc.innerHTML = `<strong></strong> <span></span>${modified ? ' <em class="note">(settings changed since)</em>' : ""}`;
  desc.querySelector("strong").textContent = preset.title;
  desc.querySelector("span").textContent = preset.description;
}

function applyPreset(name) {
  const preset = presets.find((p) => p.name === name);
  if (!preset) {
    state.set({ preset: "" });
    return;
  }
  state.set({ preset: name, t: 0, sel: 0, unit: -1, layer: -1, dir: 0 });
  state.setConfig(preset.config);
  restoreT = null;
  configure();
}

async function loadDescriptions() {
  try {
    const [cells, list] = await Promise.all([
      fetch("/api/cells").then((r) => (r.ok ? r.json() : Promise.reject(new Error(`/api/cells: ${r.status}`)))),
      fetch("/api/presets").then((r) => (r.ok ? r.json() : Promise.reject(new Error(`/api/presets: ${r.status}`)))),
    ]);
    controls.describe(cells);
    presets = list;
    const select = $("#preset");
    for (const p of presets) {
      const option = document.createElement("option");
      option.value = p.name;
      option.textContent = p.title;
      select.append(option);
    }
    renderPreset();
    schedule();
  } catch (err) {
    setStatus(`could not load the cell descriptions (${err.message}); using built-in choices`, "warn");
  }
}

// ---- the page's own controls -----------------------------------------------------------------------

controls.on("config", (partial) => {
  state.set(partial);
  configureSoon();
});

for (const view of Object.values(views)) {
  view.on("seek", ({ t }) => {
    restoreT = null;
    player.seek(t);
  });
  view.on("unit", ({ unit }) => state.set({ unit }));
  view.on("hover-unit", ({ unit }) => {
    hoverUnit = unit;
    schedule();
  });
  view.on("select", ({ cell }) => state.set({ sel: cell }));
  view.on("view", (partial) => state.set(partial));
}

function command(fn) {
  return () => {
    restoreT = null;
    fn();
  };
}

$("#btn-play").addEventListener("click", command(() => player.toggle()));
$("#btn-forward").addEventListener("click", command(() => player.play(1)));
$("#btn-backward").addEventListener("click", command(() => player.play(-1)));
$("#btn-step").addEventListener("click", command(() => player.step(1)));
$("#btn-back").addEventListener("click", command(() => player.step(-1)));
$("#btn-home").addEventListener("click", command(() => player.home()));
$("#btn-end").addEventListener("click", command(() => player.end()));
$("#scrub").addEventListener("input", (ev) => {
  restoreT = null;
  const t = Number(ev.target.value);
  state.set({ t });
  player.seek(t);
});
const speed = $("#speed");
for (const s of SPEEDS) speed.append(new Option(`${s} steps/s`, String(s)));
speed.addEventListener("change", () => player.setRate(Number(speed.value)));
player.on("change", () => schedule());

$("#preset").addEventListener("change", (ev) => applyPreset(ev.target.value));
$("#btn-large").addEventListener("click", () => state.set({ large: !state.get("large") }));
$("#btn-side").addEventListener("click", () => state.set({ side: !state.get("side") }));
$("#btn-run").addEventListener("click", () => configure());
$("#btn-link").addEventListener("click", async () => {
  history.replaceState(null, "", state.toHash());
  try {
    await navigator.clipboard.writeText(location.href);
    setStatus("link copied: it opens this exact view", "info");
  } catch {
    setStatus(`copy this link: ${location.href}`, "info");
  }
});

async function exportTrace(format) {
  const config = run ? run.config : state.config();
  setStatus(`preparing the ${format.toUpperCase()} trace…`, "busy");
  try {
    const name = await downloadTrace(config, format);
    setStatus(`saved ${name}`, "info");
  } catch (err) {
    setStatus(`export failed: ${err.message}`, "error");
  }
}
$("#btn-json").addEventListener("click", () => exportTrace("json"));
$("#btn-csv").addEventListener("click", () => exportTrace("csv"));

document.addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-export]");
  if (!button) return;
  const target = document.querySelector(button.dataset.export);
  if (!target) return;
  const stamp = `t${state.get("t")}`;
  if (button.dataset.kind === "svg") {
    for (const svg of target.querySelectorAll("svg.cell-svg")) {
      const name = svg.closest("[data-cell]")?.dataset.cell || "cell";
      downloadSvg(svg, `gateflow-${name}-${stamp}.svg`);
    }
    return;
  }
  for (const gd of target.querySelectorAll(".js-plotly-plot")) {
    const name = [gd.dataset.cell, gd.dataset.field, gd.dataset.name].filter(Boolean).join("-") || "plot";
    downloadPlot(Plotly, gd, `gateflow-${name}-${stamp}`);
  }
});

// ---- keyboard: space play/pause, arrows step (shift: 10), Home/End ------------------------------------

document.addEventListener("keydown", (ev) => {
  const tag = ev.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || ev.target.isContentEditable) {
    if (ev.key === "Escape") ev.target.blur();
    return;
  }
  if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const n = ev.shiftKey ? 10 : 1;
  const actions = {
    " ": () => player.toggle(),
    ArrowRight: () => player.step(n),
    ArrowLeft: () => player.step(-n),
    Home: () => player.home(),
    End: () => player.end(),
  };
  const action = actions[ev.key];
  if (!action) return;
  ev.preventDefault();
  // a focused button would also "click" on the space's keyup: play, then toggle straight back
  if (ev.key === " " && ev.target.tagName === "BUTTON") ev.target.blur();
  command(action)();
});

// ---- a hash edited by hand (or a lesson link pasted into the same tab) --------------------------------

window.addEventListener("hashchange", () => {
  if (location.hash === state.toHash()) return;
  const before = JSON.stringify(state.config());
  state.fromHash(location.hash);
  restoreT = state.get("t");
  if (JSON.stringify(state.config()) !== before) configure();
  else if (run) player.seek(state.get("t"));
});

// ---- read-only hooks for tests and the benchmark ----------------------------------------------------

window.gateflow = Object.freeze({
  get state() {
    return state.snapshot();
  },
  get run() {
    return run && { id: run.id, T: run.T, H: run.H, L: run.L, dirs: run.dirs, cells: run.cells.map((c) => c.name) };
  },
  get frames() {
    return socket.stats.frames;
  },
  get rendered() {
    return framesRendered;
  },
  get playing() {
    return player.playing;
  },
  get timings() {
    return { ...timings, meanMs: timings.renders ? timings.totalMs / timings.renders : null };
  },
  get errors() {
    return errors.slice();
  },
  get presets() {
    return presets.map((p) => p.name);
  },
});

showEmpty("Connecting to the Gateflow server…");
schedule();
loadDescriptions();
socket.connect();
