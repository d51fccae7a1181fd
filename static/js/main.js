/**
 * Wiring: state <-> URL, socket -> run -> views (rendered at most once per animation frame),
 * controls -> configure, player bar and keyboard -> player, view events -> state / player, and in
 * Train mode the training panels -> coach (train.js) -> socket, its checkpoints -> the views' run.
 * In a classroom room (room.js) the teacher's cursor and view go out, a following student's come in;
 * whatever a student touches first detaches it from the teacher.
 * Views never call each other; they emit events that land here.
 */

import { Controls, renderLayerChoice } from "./controls.js";
import { downloadTrace, exportContext, installExportButtons } from "./export.js";
import { configFor, describeModel, readTable, uploadModel } from "./upload.js";
import { Player } from "./player.js";
import { PlayerBar } from "./playerbar.js";
import { PROJECTOR_FOLDED, Panels } from "./panels.js";
import { PresetBox, START_LESSON } from "./presets.js";
import { Room, roomInUrl, socketUrl } from "./room.js";
import { Run } from "./run.js";
import { ShareBox } from "./share.js";
import { Socket } from "./socket.js";
import { State, TRAIN_KEYS, isColdHash, lessonInHash, trainInHash } from "./state.js";
import { Coach } from "./train.js";
import { DepthView } from "./views/depth.js";
import { DiagramView } from "./views/diagram.js";
import { EquationsView } from "./views/equations.js";
import { GradientView } from "./views/gradients.js";
import { HeatmapView } from "./views/heatmaps.js";
import { AttentionView } from "./views/attention.js";
import { HighwayView } from "./views/highway.js";
import { SequenceView } from "./views/sequence.js";
import { TrainingView } from "./views/training.js";
import { CheckpointBar, trainedWords } from "./views/training_checkpoints.js";
import { LIVE_KEYS } from "./views/training_controls.js";
import { TrainFlowView } from "./views/training_flow.js";
import { TrainGatesView } from "./views/training_gates.js";
import { SweepView } from "./views/training_sweep.js";

const Plotly = window.Plotly;
const $ = (sel) => document.querySelector(sel);

const state = new State();
state.fromHash(location.hash);
// A lesson link (#preset=NAME, perhaps with settings on top) is configured once the presets have
// arrived. A cold start (no lesson, no settings) opens the start lesson: the first screen teaches.
let lessonFromLink = isColdHash(location.hash)
  ? { name: START_LESSON, config: {}, cold: true }
  : lessonInHash(location.hash);
if (lessonFromLink) lessonFromLink.train = trainInHash(location.hash);
// a student's link (/?room=CODE) shows the teacher's run, not a lesson of its own
const roomAsked = roomInUrl(location.search);
if (roomAsked.code && !roomAsked.token) lessonFromLink = null;

const socket = new Socket(socketUrl(location, roomAsked.code, roomAsked.token));
const player = new Player(state);
const room = new Room(socket, state, player, roomAsked);
/** The user took a control: a student who follows the teacher goes exploring alone first. */
function takeOver() {
  if (room.led) {
    room.detach();
    coach.leaveTeacher();
    setStatus("exploring on your own: “Back to the teacher” follows the class again", "info");
  }
}
const controls = new Controls($("#config-form"));
const presets = new PresetBox($("#preset"), $("#preset-desc"), state);
const playerBar = new PlayerBar(player, state, () => {
  restoreT = null;
  takeOver();
});
const panels = new Panels($(".views"), $("#folded"), (partial) => state.set(partial));
const share = new ShareBox($("#share-box"), $("#btn-share"), () => state.toHash());
const coach = new Coach(socket, state);
coach.led = () => room.led;
const checkpoints = new CheckpointBar($("#checkpoint-bar"));
const views = {
  training: new TrainingView($("#training"), Plotly),
  trainFlow: new TrainFlowView($("#train-flow"), Plotly),
  trainGates: new TrainGatesView($("#train-gates"), Plotly),
  sweep: new SweepView($("#sweep"), Plotly),
  diagram: new DiagramView($("#diagrams")),
  equations: new EquationsView($("#equations")),
  gradients: new GradientView($("#gradients"), Plotly),
  depth: new DepthView($("#depth"), Plotly),
  sequence: new SequenceView($("#sequence")),
  heatmaps: new HeatmapView($("#heatmaps"), Plotly),
};
// the highway stack over depth and causal self-attention beside a recurrent cell: each its own form,
// request and lessons, apart from the sequence run; their lessons are in the lessons menu too
const sidePanels = {
  highway: new HighwayView($("#highway"), Plotly, state),
  attention: new AttentionView($("#attention"), Plotly, state),
};
for (const panel of Object.values(sidePanels)) panel.load();
const PANEL_LESSON = "panel:"; // a menu value "panel:<panel>:<lesson>": a side panel's lesson

/** The side panels' lessons in the lessons menu, after the sequence run's, a group per panel; a pick
 * runs it in its panel. */
async function listPanelLessons() {
  const select = $("#preset");
  for (const [key, panel] of Object.entries(sidePanels)) {
    const lessons = await panel.loadLessons();
    if (!lessons.length) continue;
    const group = document.createElement("optgroup");
    group.label = `${panel.root.dataset.title} (its own panel)`;
    for (const lesson of lessons) group.append(new Option(lesson.title, `${PANEL_LESSON}${key}:${lesson.name}`));
    select.append(group);
  }
}

let run = null; // the run on display
let pendingRun = null; // `ready` received, bulk not yet
let restoreT = state.get("t") > 0 ? state.get("t") : null; // a cursor to restore after the next ready
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
  const trainModel = { run, state, training: coach.record, sweep: coach.sweep, chosen: coach.chosen, coach };
  checkpoints.render(trainModel);
  if (!run) return;
  const started = performance.now();
  const t = Math.max(0, Math.min(run.T - 1, state.get("t")));
  const model = { ...trainModel, t, unit: hoverUnit };
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

function renderPlayer() {
  playerBar.render(run ? run.T : 0);
  const large = Boolean(state.get("large"));
  document.documentElement.classList.toggle("large", large);
  document.body.classList.toggle("large", large);
  document.body.classList.toggle("side-hidden", !state.get("side"));
  $("#btn-large").setAttribute("aria-pressed", String(large));
  const training = state.get("mode") === "train";
  document.body.dataset.mode = training ? "train" : "explore";
  $("#btn-train").setAttribute("aria-pressed", String(training));
  // a panel shown again was measured while hidden: let Plotly fit it to its width
  if (panels.render(state.get("hide"))) requestAnimationFrame(() => window.dispatchEvent(new Event("resize")));
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
  if (keys.includes("preset") || keys.some((k) => k in state.config())) presets.render();
  if (keys.includes("large") || keys.includes("side") || keys.includes("mode")) {
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
  if (room.led) return; // the teacher's run is shown; a control touched detaches first (takeOver)
  if (run && restoreT === null) restoreT = state.get("t");
  coach.noteSent("configure");
  if (!socket.send({ type: "configure", config: state.config() })) {
    setStatus("not connected: the settings will be sent when the connection is back", "error");
    return;
  }
  setStatus("computing…", "busy");
}

socket.on("open", () => {
  setStatus(room.code ? `connected to class ${room.code}` : "connected", "info");
  if (!lessonFromLink && !room.led) configure();
});
// The page holds the whole run and owns the cursor: playback goes on while the server is away.
socket.on("close", () => {
  setStatus(`connection lost — reconnecting…${run ? " (the run on display keeps working)" : ""}`, "error");
  if (!run) showEmpty("Waiting for the Gateflow server…");
});
socket.on("progress", (msg) => {
  if (coach.opening === null) setStatus(`computing… ${Math.round((msg.fraction || 0) * 100)}%`, "busy");
});
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
socket.on("state", () => schedule());
// a student who follows reads the teacher's training settings in the panel (and Start repeats them)
socket.on("train", (msg) => {
  if (room.led && msg.settings) state.setTrain(msg.settings);
});
socket.on("error", (msg) => onServerError(msg));

/** The server's notes on the settings: beside their fields, and above the views (the settings may be hidden). */
function showRunNotes(notes) {
  controls.showNotes(notes);
  const list = $("#run-notes");
  list.replaceChildren(
    ...notes.map((note) => {
      const li = document.createElement("li");
      li.dataset.field = note.field || "";
      li.textContent = note.text;
      return li;
    }),
  );
  list.hidden = notes.length === 0;
}

function onRun() {
  controls.clearErrors();
  coach.onReady(run.trained);
  showRunNotes(run.notes);
  player.setLength(run.T);
  state.setConfig(run.config || {});
  const sel = state.get("sel");
  if (sel >= run.cells.length) state.set({ sel: 0 });
  if (run.dirs < 2 && state.get("dir")) state.set({ dir: 0 });
  showEmpty("");
  $("#empty").hidden = true;
  const finite = run.nonfinite.length === 0;
  const weights = run.trained || state.get("mode") === "train" ? ` · showing ${trainedWords(run.trained)}` : "";
  setStatus(
    `${run.cells.map((c) => c.name).join(" · ")} · H = ${run.H} · T = ${run.T}${weights} · computed in ${Math.round(run.computeMs || 0)} ms` +
      (finite ? "" : ` · ${run.nonfinite.join(", ")}: some values are NaN or inf (marked in red)`),
    finite ? "info" : "warn",
  );
  document.body.dataset.runId = run.id;
  document.body.classList.add("has-run");
  // the cursor stays where it was (clamped to the new run), or starts at 0; a follower's comes from the room
  if (!room.led) {
    const target = restoreT === null ? 0 : Math.min(restoreT, run.T - 1);
    if (!player.playing) state.set({ t: target });
  }
  restoreT = null;
  room.onRun();
  schedule();
}

function onServerError(msg) {
  errors.push(msg);
  if (room.onError(msg)) {
    setStatus(`${msg.message} — exploring on your own`, "error");
    schedule();
    return;
  }
  if (coach.ownsError(msg)) {
    onTrainingError(msg);
    return;
  }
  const text = msg.message || msg.code || "error";
  const onField = controls.showError(msg.field, text);
  const where = msg.field && !onField ? `${msg.field}: ` : "";
  setStatus(`${where}${text}${run ? " — still showing the previous run" : ""}`, "error");
  if (!run) showEmpty(`Nothing to show yet: ${where}${text}. Fix the highlighted setting or pick a preset.`);
  restoreT = null;
  schedule();
}

/**
 * An error that answers a training message: beside its field (a training setting in the Training
 * panel or the sweep's, a RunConfig field in the settings form) and in the Training panel; busy
 * (the server's training slots are full) and the rest in the panel. The views keep what they show.
 */
function onTrainingError(msg) {
  const text = msg.message || msg.code || "error";
  const where = coach.errorField(msg.field);
  if (where && where.scope === "sweep") views.sweep.showError(where.key, text);
  if (where && where.scope === "config") controls.showError(where.key, text);
  const key = where && where.scope === "train" ? TRAIN_KEYS[where.key] : null;
  coach.onError();
  views.training.showError(key, msg.code === "busy" ? `The server is busy: ${text}` : text, coach.record.id);
  setStatus(`training: ${text}`, "error");
  schedule();
}

// ---- Train mode: the training panels -> coach -> socket; checkpoints -> the views' run ---------------

views.training.on("command", ({ type }) => {
  takeOver(); // a student who follows the class trains on its own from here
  views.training.clearErrors();
  if (type === "start") coach.start();
  else if (type === "pause") coach.pause();
  else if (type === "resume") coach.resume();
  else if (type === "step") coach.step(1);
  else if (type === "reset") coach.reset();
});

// a training setting: into the state (and the URL); the live ones to the running training too
views.training.on("set", (partial) => {
  takeOver();
  state.set(partial);
  const wire = {};
  for (const [field, key] of Object.entries(TRAIN_KEYS)) {
    if (key in partial && LIVE_KEYS.includes(key)) wire[field] = partial[key];
  }
  if (Object.keys(wire).length) coach.set(wire);
});
views.sweep.on("set", (partial) => {
  takeOver();
  state.set(partial);
});
views.sweep.on("sweep", () => {
  takeOver();
  coach.startSweep();
});
views.sweep.on("stop", () => {
  takeOver();
  coach.stopSweep();
});

checkpoints.on("choose", ({ step }) => {
  takeOver();
  coach.choose(step);
});
checkpoints.on("follow", ({ on }) => {
  takeOver();
  coach.setFollow(on);
});

coach.on("change", () => schedule());
coach.on("open", () => {
  if (run && restoreT === null) restoreT = state.get("t"); // the cursor stays where it is
});
// the training is gone: views that show its weights go back to the untrained nets
coach.on("reset", () => {
  if (run && run.trained) configure();
});

$("#btn-train").addEventListener("click", () => state.set({ mode: state.get("mode") === "train" ? "explore" : "train" }));

// ---- presets and the descriptions of cells, choices and limits ------------------------------------

/** A lesson's training settings (Train mode opens with them; Start is the teacher's); none: mode unchanged. */
function applyTraining(preset) {
  if (!preset.train && !preset.sweep) return;
  state.set({ mode: "train" });
  state.setTrain(preset.train, preset.sweep);
}

presets.on("apply", ({ name }) => {
  if (name.startsWith(PANEL_LESSON)) {
    // it runs in its own panel: the sequence run and its lesson stay as they are
    const [key, lesson] = name.slice(PANEL_LESSON.length).split(":");
    presets.render();
    const panel = sidePanels[key];
    if (panel && panel.lessonButtons.choose(lesson)) panel.root.scrollIntoView({ behavior: "smooth", block: "start" });
    return;
  }
  const preset = presets.find(name);
  if (!preset) {
    state.set({ preset: "" });
    return;
  }
  takeOver();
  coach.setFollow(false);
  state.set({ preset: name, t: 0, sel: 0, unit: -1, layer: -1, dir: 0 });
  state.setConfig(preset.config);
  applyTraining(preset);
  restoreT = null;
  configure();
});

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

async function loadDescriptions() {
  try {
    const [cells, list] = await Promise.all([getJson("/api/cells"), getJson("/api/presets")]);
    controls.describe(cells);
    presets.load(list);
    schedule();
  } catch (err) {
    setStatus(`could not load the cell descriptions (${err.message}); using built-in choices`, "warn");
  }
  listPanelLessons();
  if (lessonFromLink) {
    applyLesson(lessonFromLink);
    lessonFromLink = null;
    if (socket.isOpen) configure(); // else the socket's "open" does it
  }
}

/**
 * A lesson link: the preset's settings, then the settings the link sets on top of them (a copied
 * link sets them all). An unknown name keeps the link's settings and says so.
 */
function applyLesson({ name, config, cold, train }) {
  const preset = presets.find(name);
  if (preset) {
    state.setConfig(preset.config);
    state.set({ preset: name });
    applyTraining(preset);
  } else if (!cold) setStatus(`no lesson called "${name}": showing the link's settings`, "warn");
  state.setConfig(config);
  if (train) state.set(train);
}

// ---- the page's own controls -----------------------------------------------------------------------

controls.on("upload", async ({ file, nonlinearity }) => {
  takeOver();
  setStatus(`reading ${file.name}…`, "busy");
  controls.clearError("weights");
  try {
    const info = await uploadModel(file, nonlinearity);
    controls.setModel(info, describeModel(info));
    coach.setFollow(false);
    state.set(configFor(info, state.get("task"), state.get("columns")));
    setStatus(`loaded your ${describeModel(info)}`, "info");
    configure();
  } catch (err) {
    controls.showError(err.field && err.field !== "body" ? err.field : "weights", err.message);
    setStatus(`could not load ${file.name}: ${err.message}`, "error");
  }
});

controls.on("data", async ({ file, kind, field }) => {
  takeOver();
  controls.clearError(field);
  setStatus(`reading ${file.name}…`, "busy");
  try {
    if (kind === "text") {
      state.set({ task: "text", text: await file.text() });
    } else {
      const table = await readTable(file);
      state.set({ task: "sequence", values: table.values, columns: table.columns });
      const names = table.names ? ` (${table.names.join(", ")})` : "";
      setStatus(`${file.name}: ${table.rows} rows × ${table.columns} column${table.columns === 1 ? "" : "s"}${names}`, "info");
    }
    coach.setFollow(false);
    configure();
  } catch (err) {
    controls.showError(field, err.message);
    setStatus(`could not read ${file.name}: ${err.message}`, "error");
  }
});

controls.on("config", (partial) => {
  takeOver();
  coach.setFollow(false); // the views show the new settings, untrained, until a checkpoint is picked
  state.set(partial);
  configureSoon();
});

for (const view of Object.values(views)) {
  view.on("later", ({ ms }) => setTimeout(schedule, ms)); // a throttled training view's turn
  view.on("seek", ({ t }) => {
    restoreT = null;
    takeOver();
    player.seek(t);
  });
  view.on("unit", ({ unit }) => {
    takeOver();
    state.set({ unit });
  });
  view.on("hover-unit", ({ unit }) => {
    hoverUnit = unit;
    schedule();
  });
  view.on("select", ({ cell }) => {
    takeOver();
    state.set({ sel: cell });
  });
  view.on("view", (partial) => {
    takeOver();
    state.set(partial);
  });
  // a setting asked for from a view (the Jacobian panel's "compute" button): run again with it
  view.on("config", (partial) => {
    takeOver();
    state.set(partial);
    configure();
  });
}

player.on("change", () => schedule());

// ---- classroom rooms: teach this view, join a class, follow or explore ------------------------------

function renderRoom() {
  const bar = $("#room-bar");
  bar.hidden = !room.role;
  document.body.dataset.room = room.role || "";
  document.body.dataset.following = String(room.led);
  $("#btn-teach").hidden = Boolean(room.role);
  $("#join-form").hidden = Boolean(room.role);
  if (!room.role) return;
  $("#room-code").textContent = room.code || "";
  const teaching = room.teaching;
  bar.dataset.role = room.role;
  $("#room-teacher").hidden = !teaching;
  $("#room-student").hidden = teaching;
  if (teaching) {
    const link = $("#room-link");
    link.textContent = room.joinUrl;
    link.href = room.joinUrl;
    const qr = $("#room-qr");
    const src = `/api/rooms/${room.code}/qr.svg`;
    if (room.code && qr.getAttribute("src") !== src) qr.src = src;
    const n = room.followers;
    $("#room-followers").textContent = `${n} student${n === 1 ? "" : "s"} following`;
    $("#room-followers").dataset.n = String(n);
  } else {
    $("#room-mode").textContent = room.following ? "Following the teacher" : "Exploring on your own";
    $("#btn-detach").hidden = !room.following;
    $("#btn-rejoin").hidden = room.following;
  }
}

room.on("change", renderRoom);
room.on("ended", ({ reason }) => {
  player.stop();
  setStatus(`The class has ended (${reason}); the view stays yours to explore`, "warn");
});
room.on("error", ({ message }) => setStatus(message, "error"));
$("#btn-teach").addEventListener("click", async () => {
  setStatus("opening a class room…", "busy");
  try {
    await room.teach(run ? run.config : state.config());
    setStatus(`class ${room.code} is open: students join with the link or the QR code`, "info");
  } catch (err) {
    setStatus(`could not open a class room: ${err.message}`, "error");
  }
});
$("#btn-end-room").addEventListener("click", () => room.end());
$("#btn-detach").addEventListener("click", () => takeOver());
$("#btn-rejoin").addEventListener("click", () => {
  room.back();
  setStatus(`following the teacher in class ${room.code}`, "info");
});
$("#join-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const code = $("#join-code").value.trim();
  if (!code) return;
  try {
    const response = await fetch(`/api/rooms/${encodeURIComponent(code)}`);
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail && body.detail[0] ? body.detail[0].msg : `HTTP ${response.status}`);
    location.assign(`/?room=${encodeURIComponent(body.room)}`);
  } catch (err) {
    setStatus(`could not join: ${err.message}`, "error");
    $("#join-code").setAttribute("aria-invalid", "true");
  }
});
renderRoom();

// Projector mode: big type, settings hidden, the equations and heatmaps folded away; off undoes it.
$("#btn-large").addEventListener("click", () => {
  const on = !state.get("large");
  const hide = on ? [...new Set([...state.get("hide"), ...PROJECTOR_FOLDED])] : state.get("hide").filter((id) => !PROJECTOR_FOLDED.includes(id));
  state.set({ large: on, side: !on, hide });
});
$("#preset-desc").addEventListener("click", () => $("#preset-desc").classList.toggle("open"));
$("#btn-side").addEventListener("click", () => state.set({ side: !state.get("side") }));
$("#btn-run").addEventListener("click", () => configure());
$("#btn-link").addEventListener("click", async () => {
  history.replaceState(null, "", state.toHash());
  // opened as 127.0.0.1, the page copies the address students can reach when the server has one
  const { href, local } = await share.linkToCopy();
  const where = local ? " (this address works on this computer only: see Share with class)" : "";
  try {
    await navigator.clipboard.writeText(href);
    setStatus(`link copied: ${href}${where}`, local ? "warn" : "info");
  } catch {
    setStatus(`copy this link: ${href}${where}`, local ? "warn" : "info");
  }
  document.body.dataset.copiedLink = href;
});

async function exportTrace(format) {
  const config = run ? run.config : state.config();
  setStatus(format === "py" ? "writing the PyTorch script…" : `preparing the ${format.toUpperCase()} trace…`, "busy");
  try {
    const name = await downloadTrace(config, format);
    // a script draws the weights from the seed (an uploaded model's come in a file beside it): a
    // checkpoint's trained weights are not in it
    const own = run && run.trained ? "this checkpoint" : null;
    const untrained = format === "py" && own ? ` (the untrained nets from the seed, not ${own})` : "";
    setStatus(`saved ${name}${untrained}`, untrained ? "warn" : "info");
  } catch (err) {
    setStatus(`export failed: ${err.message}`, "error");
  }
}
$("#btn-json").addEventListener("click", () => exportTrace("json"));
$("#btn-csv").addEventListener("click", () => exportTrace("csv"));
$("#btn-script").addEventListener("click", () => exportTrace("py"));

installExportButtons(Plotly, { context: () => exportContext(run, state, presets.find(state.get("preset"))), status: setStatus });

// ---- a hash edited by hand (or a lesson link pasted into the same tab) --------------------------------

// The hash comes from the event, not from location: the URL writer's pending replaceState (scheduleUrl)
// can run between the edit and this event and put the old state back into location.hash.
window.addEventListener("hashchange", (ev) => {
  const hash = new URL(ev.newURL).hash;
  if (hash === state.toHash()) return;
  clearTimeout(urlTimer);
  const before = JSON.stringify(state.config());
  state.fromHash(hash);
  const lesson = lessonInHash(hash);
  if (lesson) applyLesson({ ...lesson, train: trainInHash(hash) });
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
  get room() {
    return { code: room.code, role: room.role, following: room.following, followers: room.followers, joinUrl: room.joinUrl };
  },
  get timings() {
    return { ...timings, meanMs: timings.renders ? timings.totalMs / timings.renders : null };
  },
  get errors() {
    return errors.slice();
  },
  get presets() {
    return presets.names;
  },
  get trained() {
    return run ? run.trained : null;
  },
  get training() {
    const r = coach.record;
    return {
      id: r.id,
      status: r.status,
      step: r.step,
      budget: r.budget,
      settings: r.settings,
      task: r.task,
      checkpoints: r.checkpoints.slice(),
      cells: r.cells.map((c) => ({ cell: c.name, status: c.status, steps: c.steps.length, probes: c.probes.length, bad: c.bad })),
      chosen: coach.chosen,
      follow: coach.follow,
      shown: coach.shown,
      sweep: coach.sweep,
    };
  },
});

showEmpty("Connecting to the Gateflow server…");
schedule();
loadDescriptions();
socket.connect();
