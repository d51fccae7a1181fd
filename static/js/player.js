/**
 * The Player owns play / pause / step / back / scrub / speed and the backward-pass play mode.
 *
 * The server owns the cursor: the player sends commands and learns the position from frames and
 * `state` messages. Forward play runs t = 0 -> T-1 (the forward pass); the backward pass runs the
 * cursor from T-1 down to 0, the order in which backpropagation through time visits the steps.
 */

import { Emitter } from "./events.js";

export class Player extends Emitter {
  constructor(socket, state) {
    super();
    this.socket = socket;
    this.state = state;
    this.playing = false;
    this.T = 0;
    this.pendingSeek = null;
    this.seekScheduled = false;
    socket.on("state", (msg) => this.onServerState(msg));
  }

  get t() {
    return this.state.get("t");
  }

  setLength(T) {
    this.T = T;
  }

  onServerState(msg) {
    const was = this.playing;
    this.playing = Boolean(msg.playing);
    if (msg.direction === -1 || msg.direction === 1) {
      this.state.set({ pass: msg.direction === -1 ? "backward" : "forward" });
    }
    if (was !== this.playing) this.emit("change", { playing: this.playing });
  }

  /** Play forward (direction 1) or the backward pass (direction -1), from the far end if at the end. */
  play(direction = 1) {
    if (!this.T) return;
    const rate = Number(this.state.get("rate")) || 10;
    this.state.set({ pass: direction === -1 ? "backward" : "forward" });
    if (direction === 1 && this.t >= this.T - 1) this.socket.send({ type: "seek", t: 0 });
    if (direction === -1 && this.t <= 0) this.socket.send({ type: "seek", t: this.T - 1 });
    this.socket.send({ type: "play", rate, direction });
    this.playing = true;
    this.emit("change", { playing: true });
  }

  /** The connection dropped: the server's player is gone with its session. */
  interrupted() {
    if (!this.playing) return;
    this.playing = false;
    this.emit("change", { playing: false });
  }

  pause() {
    this.socket.send({ type: "pause" });
    this.playing = false;
    this.emit("change", { playing: false });
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play(this.state.get("pass") === "backward" ? -1 : 1);
  }

  step(delta) {
    if (!this.T) return;
    if (this.playing) this.pause();
    this.socket.send({ type: "step", delta });
  }

  home() {
    this.seek(0);
  }

  end() {
    this.seek(this.T - 1);
  }

  /** Scrubbing sends at most one seek per animation frame: the latest position wins. */
  seek(t) {
    if (!this.T) return;
    const target = Math.max(0, Math.min(this.T - 1, Math.round(t)));
    if (this.playing) this.pause();
    this.pendingSeek = target;
    if (this.seekScheduled) return;
    this.seekScheduled = true;
    requestAnimationFrame(() => {
      this.seekScheduled = false;
      if (this.pendingSeek === null) return;
      this.socket.send({ type: "seek", t: this.pendingSeek });
      this.pendingSeek = null;
    });
  }

  setRate(rate) {
    this.state.set({ rate });
    if (this.playing) this.socket.send({ type: "play", rate, direction: this.state.get("pass") === "backward" ? -1 : 1 });
  }
}
