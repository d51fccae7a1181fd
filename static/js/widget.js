/**
 * gateflow.Widget's view in a notebook: the page's own player bar, keyboard, sequence strip, cell
 * diagrams, gradient plots and heatmaps (the same modules and the same markup, templates/parts/), on
 * a run the kernel computes. widget_loader.js imports this module; Python's side is gateflow/widget.py.
 *
 * The kernel speaks the page's WebSocket protocol (docs/protocol.md) over the widget's comm: a text
 * message arrives as {text}, a binary frame or bulk block as {binary: true} with one buffer, and the
 * page's commands go back as the JSON objects the WebSocket would carry. The cursor is the `t` trait,
 * so `widget.t` reads and moves it from Python.
 */

import { Player } from "./player.js";
import { PlayerBar } from "./playerbar.js";
import { Run } from "./run.js";
import { Socket } from "./socket.js";
import { State } from "./state.js";
import { DiagramView } from "./views/diagram.js";
import { GradientView } from "./views/gradients.js";
import { HeatmapView } from "./views/heatmaps.js";
import { SequenceView } from "./views/sequence.js";

const PARTS = ["playerbar", "sequence", "cells", "gradients", "heatmaps"];
const KEYS = new Set([" ", "ArrowLeft", "ArrowRight", "Home", "End"]);

/** The page's Socket, over the widget's comm instead of a WebSocket. */
export class CommSocket extends Socket {
  constructor(model) {
    super("comm");
    this.model = model;
    this.onMessage = (content, buffers) => {
      if (content && content.binary && buffers && buffers.length) {
        const b = buffers[0];
        const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        this.receive(bytes.slice().buffer); // its own buffer: the frames' float32 views start at 0
      } else if (content && typeof content.text === "string") this.receive(content.text);
    };
  }

  connect() {
    this.model.on("msg:custom", this.onMessage);
    this.emit("open");
  }

  close() {
    this.model.off("msg:custom", this.onMessage);
  }

  get isOpen() {
    return true;
  }

  send(message) {
    this.model.send(message);
    return true;
  }
}

export function render({ model, el, Plotly }) {
  const root = document.createElement("div");
  root.className = "gateflow-widget";
  root.tabIndex = 0; // the keys work once the widget has the focus (a click on it)
  root.dataset.lmSuppressShortcuts = "true"; // JupyterLab: its command-mode keys stay out of the widget
  const markup = model.get("markup");
  root.innerHTML = PARTS.map((name) => markup[name] || "").join("\n");
  for (const el of root.querySelectorAll(".fold, .export, #checkpoint-bar")) el.remove(); // page-only controls
  el.append(root);
  const $ = (sel) => root.querySelector(sel);

  const state = new State();
  const socket = new CommSocket(model);
  const player = new Player(state);
  const playerBar = new PlayerBar(player, state, () => {}, { root, keys: root });
  root.addEventListener("keydown", (ev) => {
    if (KEYS.has(ev.key)) ev.stopPropagation(); // the player's: not the notebook's
  });
  const views = {
    sequence: new SequenceView($("#sequence")),
    diagram: new DiagramView($("#diagrams")),
    gradients: new GradientView($("#gradients"), Plotly),
    heatmaps: new HeatmapView($("#heatmaps"), Plotly),
  };
  let run = null;
  let pending = null;
  let queued = false;
  let hoverUnit = null;
  const status = (text, kind = "info") => {
    const line = $("#status");
    line.textContent = text;
    line.dataset.kind = kind;
  };

  function draw() {
    queued = false;
    playerBar.render(run ? run.T : 0);
    if (!run) return;
    const t = Math.max(0, Math.min(run.T - 1, state.get("t")));
    const frame = { run, state, t, unit: hoverUnit, training: null, sweep: null, chosen: null, coach: null };
    for (const [name, view] of Object.entries(views)) {
      try {
        view.update(frame);
      } catch (err) {
        console.error(`gateflow widget: the ${name} view failed`, err);
      }
    }
  }
  const schedule = () => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(draw);
    }
  };

  const configure = (config) => {
    status("computing…", "busy");
    socket.send({ type: "configure", config });
  };

  // the views' events, as the page handles them
  for (const view of Object.values(views)) {
    view.on("seek", ({ t }) => player.seek(t));
    view.on("view", (partial) => state.set(partial));
    view.on("unit", ({ unit }) => state.set({ unit }));
    view.on("select", ({ cell }) => state.set({ sel: cell }));
    view.on("hover-unit", ({ unit }) => {
      hoverUnit = unit;
      schedule();
    });
    view.on("config", (partial) => configure({ ...model.get("config"), ...partial }));
  }

  let tTimer = null;
  state.on("change", (keys) => {
    if (keys.includes("t") && model.get("t") !== state.get("t")) {
      clearTimeout(tTimer); // the cursor to Python at most every 100 ms while playing
      tTimer = setTimeout(() => {
        model.set("t", state.get("t"));
        model.save_changes();
      }, 100);
    }
    schedule();
  });
  const onT = () => {
    const t = model.get("t");
    if (run && t !== state.get("t")) player.seek(Math.max(0, Math.min(run.T - 1, t)));
  };
  const onConfig = () => configure(model.get("config"));
  model.on("change:t", onT);
  model.on("change:config", onConfig);

  player.on("change", schedule);
  socket.on("ready", (msg) => {
    pending = new Run(msg);
  });
  socket.on("bulk", ({ fields }) => {
    if (!pending) return;
    pending.attachBulk(fields);
    run = pending;
    pending = null;
    player.setLength(run.T);
    state.setConfig(run.config || {});
    root.classList.add("has-run");
    root.dataset.runId = run.id;
    const t = Math.max(0, Math.min(run.T - 1, model.get("t") || 0));
    state.set({ t });
    const notes = run.notes.map((n) => n.text).join(" ");
    status(`${run.cells.map((c) => c.name).join(" · ")} · H = ${run.H} · T = ${run.T}${notes ? ` · ${notes}` : ""}`);
    schedule();
  });
  socket.on("error", (msg) => {
    const text = msg.message || msg.code || "error";
    const where = msg.field && !text.startsWith(`${msg.field}:`) ? `${msg.field}: ` : "";
    status(`${where}${text}${run ? " — still showing the previous run" : ""}`, "error");
  });
  socket.on("progress", (msg) => status(`computing… ${Math.round((msg.fraction || 0) * 100)}%`, "busy"));
  socket.connect();
  configure(model.get("config"));
  schedule();

  // the page's hook for tests, per widget
  root.gateflow = { state, player, get run() { return run; } };

  return () => {
    player.pause();
    socket.close();
    clearTimeout(tTimer);
    model.off("change:t", onT);
    model.off("change:config", onConfig);
    if (views.diagram.tooltip) views.diagram.tooltip.remove();
  };
}
