/**
 * The Player owns play / pause / step / back / scrub / speed and the backward-pass play mode.
 *
 * The page owns the cursor: once the bulk block has arrived it holds the whole run, so the player moves
 * `state.t` itself, at start + k / rate (no drift; steps a busy tab missed are skipped, not replayed
 * slowly), and the server hears nothing of it. Forward play runs t = 0 -> T-1 (the forward pass); the
 * backward pass runs the cursor from T-1 down to 0, the order in which backpropagation through time
 * visits the steps.
 *
 * A single user's page and a room's teacher use this player as it is; a student who follows the
 * teacher has it driven by the room (`follow`): it shows the teacher's t, pass and playing, and runs
 * no clock of its own. Emits "change" {playing} when playing starts or stops.
 */

import { Emitter } from "./events.js";

export class Player extends Emitter {
  constructor(state) {
    super();
    this.state = state;
    this.playing = false;
    this.direction = 1;
    this.T = 0;
    this.timer = null;
    this.clock = null; // {startMs, t0, rate} while playing
  }

  get t() {
    return this.state.get("t");
  }

  setLength(T) {
    this.T = T;
    if (this.playing && this.t >= T) this.stop();
  }

  /** Play forward (direction 1) or the backward pass (direction -1), from the far end if at the end. */
  play(direction = 1) {
    if (!this.T) return;
    this.stopClock();
    let t = Math.max(0, Math.min(this.T - 1, this.t));
    if (direction === 1 && t >= this.T - 1) t = 0;
    if (direction === -1 && t <= 0) t = this.T - 1;
    this.direction = direction;
    this.state.set({ t, pass: direction === -1 ? "backward" : "forward" });
    this.startClock();
    this.setPlaying(true);
  }

  pause() {
    this.stop();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play(this.state.get("pass") === "backward" ? -1 : 1);
  }

  step(delta) {
    if (!this.T) return;
    if (this.playing) this.pause();
    this.state.set({ t: this.clamp(this.t + delta) });
  }

  home() {
    this.seek(0);
  }

  end() {
    this.seek(this.T - 1);
  }

  seek(t) {
    if (!this.T) return;
    if (this.playing) this.pause();
    this.state.set({ t: this.clamp(Math.round(t)) });
  }

  setRate(rate) {
    this.state.set({ rate });
    if (this.playing) {
      this.stopClock();
      this.startClock(); // the new rate counts from now, from where the cursor is
    }
  }

  /** A follower's player: the teacher's cursor, pass and playing, no clock of its own. */
  follow({ t, playing, direction, rate }) {
    this.stopClock();
    this.direction = direction === -1 ? -1 : 1;
    const partial = { t: this.clamp(t), pass: this.direction === -1 ? "backward" : "forward" };
    if (Number.isFinite(rate)) partial.rate = rate;
    this.state.set(partial);
    this.setPlaying(Boolean(playing));
  }

  // ---- the clock -------------------------------------------------------------------------------------
  clamp(t) {
    return Math.max(0, Math.min(this.T - 1, Number.isFinite(t) ? t : 0));
  }

  stop() {
    this.stopClock();
    this.setPlaying(false);
  }

  setPlaying(on) {
    if (on === this.playing) return;
    this.playing = on;
    this.emit("change", { playing: on });
  }

  startClock() {
    const rate = Number(this.state.get("rate")) || 10;
    this.clock = { startMs: performance.now(), t0: this.t, rate };
    this.schedule(1);
  }

  stopClock() {
    clearTimeout(this.timer);
    this.timer = null;
    this.clock = null;
  }

  schedule(k) {
    const { startMs, rate } = this.clock;
    const delay = Math.max(0, startMs + (k * 1000) / rate - performance.now());
    this.timer = setTimeout(() => this.tick(), delay);
  }

  tick() {
    const clock = this.clock;
    if (!clock) return;
    const k = Math.max(1, Math.floor(((performance.now() - clock.startMs) * clock.rate) / 1000));
    const end = this.direction === 1 ? this.T - 1 : 0;
    const t = this.direction === 1 ? Math.min(end, clock.t0 + k) : Math.max(end, clock.t0 - k);
    this.state.set({ t });
    if (t === end) this.stop();
    else this.schedule(k + 1);
  }
}
