/**
 * Train mode: the cells of a config learn side by side on the server, and the page follows.
 *
 *   TrainRecord  one training as the views read it: the `train` messages appended (each carries only
 *                what is new since the previous one; `reset: true` starts over), per cell.
 *   Coach        the training's player, as Player is the cursor's: sends train_start / pause / resume
 *                / step / reset / set / open and sweep_start, keeps the record and the last `sweep`
 *                message, and chooses the checkpoint the other views show (the `chosen` step):
 *                following the newest one, opened every second or few while training runs (as
 *                often as opening one is cheap) and again when it stops, or the one the user picked.
 *
 * Emits: "change" (record, sweep or choice changed), "open" {step} (a checkpoint asked for: the
 * answer is a normal ready + bulk + frame), "reset" (the training is gone: show untrained nets).
 */

import { Emitter } from "./events.js";

// While training runs, the views below follow the newest checkpoint at most every FOLLOW_COST times
// what opening one takes (it recomputes every view: too costly at the ~10 updates a second the
// training sends), and never more often than FOLLOW_MIN_MS nor less often than FOLLOW_MAX_MS.
const FOLLOW_COST = 10;
const FOLLOW_MIN_MS = 1500;
const FOLLOW_MAX_MS = 8000;

// A training message the server has not answered within this long no longer owns an error.
const OWN_ERRORS_MS = 5000;

// Fields of a training message, as the server's errors name them (perhaps "train.lr", "sweep.steps").
const TRAIN_FIELDS = new Set(["optimizer", "lr", "momentum", "batch_size", "clip", "steps", "probe_every", "now"]);
const SWEEP_FIELDS = new Set(["lengths", "steps"]);

const num = (v) => (v === null || v === undefined ? NaN : Number(v));

/** The record of one cell: parallel per-step lists, the held-out losses, the probes. */
function cellRecord(name) {
  return { name, status: "training", steps: [], loss: [], gradNorm: [], clipped: [], valSteps: [], valLoss: [], probes: [], bad: null };
}

export class TrainRecord {
  constructor() {
    this.clear();
    this.version = 0;
  }

  clear() {
    this.id = null; // null: no training
    this.status = null;
    this.step = 0;
    this.budget = 0;
    this.seconds = 0;
    this.stepsPerSecond = null;
    this.config = null;
    this.settings = null;
    this.task = null;
    this.cells = [];
    this.checkpoints = [];
    this.message = null;
    this.teacher = false; // the classroom teacher's training, followed (the server has it, this page not)
  }

  get exists() {
    return this.id !== null && this.status !== "reset";
  }

  /** A training the server still has: commands, live settings and checkpoints reach it. */
  get alive() {
    return this.exists && !["lost", "ended", "left"].includes(this.status);
  }

  get running() {
    return this.status === "running";
  }

  /** The layer-direction the training views read: the top layer's forward direction, L*dirs − dirs. */
  get topLd() {
    const c = this.config || {};
    const dirs = c.bidirectional ? 2 : 1;
    return Math.max(0, (c.num_layers || 1) * dirs - dirs);
  }

  cell(name) {
    let rec = this.cells.find((c) => c.name === name);
    if (!rec) {
      rec = cellRecord(name);
      this.cells.push(rec);
    }
    return rec;
  }

  /** Append one `train` message (numbers already revived: NaN / inf are numbers). */
  receive(msg) {
    if (msg.reset || msg.id !== this.id) this.clear();
    this.id = msg.id;
    this.status = msg.status;
    this.step = msg.step ?? this.step;
    this.budget = msg.budget ?? this.budget;
    this.seconds = msg.seconds ?? this.seconds;
    this.stepsPerSecond = msg.steps_per_second ?? null;
    if (msg.config) this.config = msg.config;
    if (msg.settings) this.settings = msg.settings;
    if (msg.task) this.task = { ...msg.task, baseline: num(msg.task.baseline) };
    // the server's whole list: thinned checkpoints are gone from it
    if (Array.isArray(msg.checkpoints)) this.checkpoints = [...msg.checkpoints].sort((a, b) => a - b);
    this.message = msg.message || null;
    for (const delta of msg.cells || []) this.append(delta);
    if (this.config && this.cells.length) {
      const order = this.config.cells || [];
      this.cells.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    }
    this.version += 1;
  }

  append(delta) {
    const rec = this.cell(delta.cell);
    rec.status = delta.status || rec.status;
    const steps = delta.steps || [];
    steps.forEach((step, k) => {
      const loss = num(delta.loss?.[k]);
      const gradNorm = num(delta.grad_norm?.[k]);
      rec.steps.push(step);
      rec.loss.push(loss);
      rec.gradNorm.push(gradNorm);
      rec.clipped.push(Boolean(delta.clipped?.[k]));
      // the latest step that was not finite (it was not taken: the weights stay the last finite ones)
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        rec.bad = { step, what: Number.isFinite(loss) ? "gradient norm" : "loss", value: Number.isFinite(loss) ? gradNorm : loss };
      }
    });
    (delta.val_steps || []).forEach((step, k) => {
      rec.valSteps.push(step);
      rec.valLoss.push(num(delta.val_loss?.[k]));
    });
    for (const probe of delta.probes || []) rec.probes.push(probe);
  }

  /** The probe at or before `step` (the first one when `step` comes before every probe). */
  probeAt(rec, step) {
    let found = rec.probes[0] || null;
    for (const p of rec.probes) {
      if (p.step <= step) found = p;
      else break;
    }
    return found;
  }

  /** "LSTM diverged at step 412: loss = NaN", per diverged cell; [] when none did. */
  divergences(label) {
    const out = [];
    for (const rec of this.cells) {
      if (rec.status !== "diverged") continue;
      const bad = rec.bad;
      const value = bad ? (Number.isNaN(bad.value) ? "NaN" : bad.value > 0 ? "inf" : "−inf") : null;
      out.push(bad ? `${label(rec.name)} diverged at step ${bad.step}: ${bad.what} = ${value}` : `${label(rec.name)} diverged`);
    }
    return out;
  }
}

export class Coach extends Emitter {
  constructor(socket, state) {
    super();
    this.socket = socket;
    this.state = state;
    this.record = new TrainRecord();
    this.sweep = null; // the last `sweep` message: every point so far
    this.chosen = null; // the checkpoint step the views below show (asked for), null: untrained
    this.shown = null; // ready.trained of the run on display
    this.opening = null; // the step of a train_open not answered yet
    this.picked = false;
    this.follow = true; // the choice follows the newest checkpoint
    this.lastOpenMs = 0;
    this.openCostMs = 150; // what opening a checkpoint takes, answer included (a running mean)
    this.followTimer = null;
    this.lastSent = { type: null, at: 0 };
    this.sweepAsked = false; // sweep_start sent, its first message not here yet
    // true while the page follows a classroom's teacher: the teacher's training comes in, and the
    // checkpoints it opens come as runs; this page opens none of its own
    this.led = () => false;
    socket.on("train", (msg) => this.receive(msg));
    socket.on("sweep", (msg) => {
      this.sweep = msg;
      this.sweepAsked = false;
      // a session's jobs share one counter: a newer sweep means the training is gone
      if (this.record.alive && msg.id > this.record.id) {
        this.record.status = "ended";
        this.record.version += 1;
      }
      this.emit("change");
    });
    socket.on("close", () => {
      // the server drops a session's training with its socket
      if (this.record.alive) this.record.status = "lost";
      if (this.sweep && this.sweep.status === "running") this.sweep = { ...this.sweep, status: "lost", current: null };
      this.record.version += 1;
      this.emit("change");
    });
  }

  send(message) {
    this.lastSent = { type: message.type, at: Date.now() };
    return this.socket.send(message);
  }

  // ---- commands -----------------------------------------------------------------------------------

  /** A fresh training of the current config (the previous one is dropped); `now` steps, then pause. */
  start(now = null) {
    this.follow = true;
    return this.send({ type: "train_start", config: this.state.config(), train: this.state.trainSettings(), now });
  }

  pause() {
    return this.send({ type: "train_pause" });
  }

  resume() {
    return this.send({ type: "train_resume" });
  }

  /** One step: of the training there is, or of a new one. */
  step(steps = 1) {
    if (!this.record.alive) return this.start(steps);
    return this.send({ type: "train_step", steps });
  }

  reset() {
    return this.send({ type: "train_reset" });
  }

  /** Settings changed live (lr, clip, budget): only when a training is there to take them. */
  set(partial) {
    if (!this.record.alive) return false;
    return this.send({ type: "train_set", ...partial });
  }

  /** A length sweep; the server runs one job per session, so it ends the training (its curves stay). */
  startSweep() {
    // the training's last message may still come: it must not ask for a checkpoint that is going
    this.sweepAsked = true;
    clearTimeout(this.followTimer);
    return this.send({ type: "sweep_start", config: this.state.config(), train: this.state.trainSettings(), sweep: this.state.sweepSettings() });
  }

  /** The server stops a sweep on train_pause. */
  stopSweep() {
    return this.send({ type: "train_pause" });
  }

  /** The student stopped following the class: the teacher's training stays on show, for reading only. */
  leaveTeacher() {
    if (!this.record.teacher || !this.record.alive) return;
    this.record.status = "left";
    this.record.version += 1;
    this.emit("change");
  }

  /** The user picked a checkpoint (null: the newest, and follow it from now on). */
  choose(step) {
    const newest = this.newest();
    this.follow = step === null || step === newest;
    this.chosen = step === null ? newest : step;
    this.picked = true; // the user's own pick: the page says it is opening it
    this.emit("change");
    this.openSoon();
  }

  setFollow(on) {
    this.follow = on;
    if (on) this.choose(null);
    else this.emit("change");
  }

  /** How often the views follow a running training: as often as opening a checkpoint is cheap. */
  followEveryMs() {
    return Math.min(FOLLOW_MAX_MS, Math.max(FOLLOW_MIN_MS, FOLLOW_COST * this.openCostMs));
  }

  newest() {
    const cps = this.record.checkpoints;
    return cps.length ? cps[cps.length - 1] : null;
  }

  /** A pick from the slider opens after a short pause: dragging across ten checkpoints opens one. */
  openSoon() {
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => this.open(this.chosen), 160);
  }

  open(step) {
    clearTimeout(this.openTimer);
    if (step === null || step === undefined || !this.record.alive || this.led()) return;
    if (this.opening === step) return; // asked already
    if (this.opening === null && this.shown && this.shown.train_id === this.record.id && this.shown.step === step) return;
    this.lastOpenMs = Date.now();
    this.opening = step;
    if (this.send({ type: "train_open", step })) this.emit("open", { step });
  }

  /** The run on display came: trained (ready.trained) or not. */
  onReady(trained) {
    if (trained && this.opening !== null) this.openCostMs = 0.7 * this.openCostMs + 0.3 * (Date.now() - this.lastOpenMs);
    this.shown = trained || null;
    if (this.led()) this.chosen = trained ? trained.step : null; // the teacher's pick
    this.opening = null;
    this.picked = false;
    this.emit("change");
  }

  /** The server refused a training message: a sweep asked for is not coming. */
  onError() {
    this.sweepAsked = false;
    this.opening = null;
  }

  /** Another module sent a message (a configure): an error that follows is not the training's. */
  noteSent(type) {
    this.lastSent = { type, at: Date.now() };
  }

  /**
   * True when a server error answers one of this module's messages (it is then shown in its panel):
   * by its code, by its field (no RunConfig field is called lr, clip, steps...), or else by being
   * the answer to a training message sent last, a moment ago (a train_start's bad config).
   */
  ownsError(msg) {
    if (msg.code === "not_training") return true;
    // busy: the training slots, or the compute queue (a configure's, shown by the page as usual)
    if (msg.code === "busy") return (this.lastSent.type || "").startsWith("train_") || this.lastSent.type === "sweep_start";
    const field = msg.field || "";
    const [head, ...rest] = field.split(".");
    if (head === "train" || head === "sweep" || (!rest.length && (TRAIN_FIELDS.has(head) || SWEEP_FIELDS.has(head)))) return true;
    const type = this.lastSent.type || "";
    const recent = Date.now() - this.lastSent.at < OWN_ERRORS_MS;
    return recent && (type.startsWith("train_") || type === "sweep_start");
  }

  /** Where a training error belongs: {key, scope} with scope "train", "sweep" or "config" (RunConfig). */
  errorField(field) {
    if (!field) return null;
    const [head, ...rest] = field.split(".");
    const name = rest.length ? rest.join(".") : head;
    if (head === "config" && rest.length) return { scope: "config", key: name };
    if (head === "sweep" || (this.lastSent.type === "sweep_start" && SWEEP_FIELDS.has(name) && head !== "train")) {
      return { scope: "sweep", key: name === "steps" ? "sweep_steps" : name };
    }
    if (TRAIN_FIELDS.has(name)) return { scope: "train", key: name };
    return { scope: "config", key: name }; // "clamp": a clamped gate cannot be trained
  }

  // ---- what the server says -------------------------------------------------------------------------

  receive(msg) {
    const before = this.record.id;
    const wasRunning = this.record.running;
    this.record.receive(msg);
    this.record.teacher = this.led();
    if (msg.reset) this.sweepAsked = false; // a new training: any sweep is stopped
    if (msg.status === "reset") {
      this.chosen = null;
      clearTimeout(this.followTimer);
      this.emit("change");
      this.emit("reset");
      return;
    }
    if (msg.id !== before) {
      this.follow = true;
      this.chosen = null;
    }
    const newest = this.newest();
    if (this.led()) {
      this.chosen = this.shown ? this.shown.step : null;
      this.emit("change");
      return;
    }
    if (this.follow && newest !== null) this.chosen = newest;
    this.emit("change");
    if (!this.follow || newest === null || this.sweepAsked) return;
    const stopped = wasRunning && !this.record.running;
    const every = this.followEveryMs();
    const due = Date.now() - this.lastOpenMs >= every;
    if (stopped || due || msg.id !== before || !this.record.running) this.open(newest);
    else {
      // the newest checkpoint opens when it is due, even if no message comes then
      clearTimeout(this.followTimer);
      this.followTimer = setTimeout(() => this.follow && this.open(this.newest()), every - (Date.now() - this.lastOpenMs));
    }
  }
}
