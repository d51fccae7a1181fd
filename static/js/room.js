/**
 * Classroom rooms, the page's side (docs/protocol.md, Rooms).
 *
 * The page's address says the role: `/?room=CODE&token=TOKEN` is the teacher's (the token is kept only
 * in that link), `/?room=CODE` a student's. The teacher's page sends its cursor and view (`room_view`)
 * once per change (the changes one task makes go out as one message); a student's page applies every `room` message
 * while it follows: the run arrives as `ready` and bulk first, as for a single user, then the cursor and
 * the view. "Explore on my own" (or any control the student touches) detaches it; "Back to the teacher"
 * snaps back to the teacher's state now.
 *
 * Emits "change" (role, following, followers or the code changed), "teach" {room, token} once a room
 * is made, "ended" {reason}, "error" {message}.
 */

import { Emitter } from "./events.js";

/** The view fields a follower takes from the teacher (the projector's own type size and folded panels stay). */
export const ROOM_VIEW_KEYS = ["sel", "layer", "dir", "unit", "pass", "fields", "scale", "gscale", "mode", "preset", "highway", "attention"];
const ROOM_ERRORS = ["unknown_room", "wrong_token", "room_full"];

/** {code, token} from the page's query string; code null when the page is in no room. */
export function roomInUrl(search) {
  const params = new URLSearchParams(search);
  const code = (params.get("room") || "").trim();
  return { code: code || null, token: params.get("token") || null };
}

/** The socket's URL for a room (or none). */
export function socketUrl(location, code, token) {
  const base = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  if (!code) return base;
  const params = new URLSearchParams({ room: code });
  if (token) params.set("token", token);
  return `${base}?${params}`;
}

export class Room extends Emitter {
  constructor(socket, state, player, asked) {
    super();
    this.socket = socket;
    this.state = state;
    this.player = player;
    this.code = asked.code;
    this.token = asked.token;
    this.role = asked.code ? (asked.token ? "teacher" : "student") : null;
    this.following = this.role === "student";
    this.followers = 0;
    this.joinUrl = "";
    this.joined = false;
    this.lastSeq = -1;
    this.sendQueued = false;
    this.lastSent = "";
    socket.on("room_status", (msg) => this.onStatus(msg));
    socket.on("room", (msg) => this.onRoom(msg));
    socket.on("room_end", (msg) => this.onEnd(msg));
    socket.on("open", () => {
      this.lastSent = ""; // a new session: the teacher's view goes out again
      this.lastSeq = -1;
    });
    state.on("change", (keys) => {
      if (this.role === "teacher" && keys.some((k) => k === "t" || k === "rate" || ROOM_VIEW_KEYS.includes(k))) this.sendSoon();
    });
    player.on("change", () => {
      if (this.role === "teacher") this.sendSoon();
    });
  }

  get teaching() {
    return this.role === "teacher";
  }

  /** A student following the teacher: the page's own commands would detach it first. */
  get led() {
    return this.role === "student" && this.following;
  }

  // ---- the server's messages --------------------------------------------------------------------------
  onStatus(msg) {
    this.joined = true;
    this.code = msg.room;
    this.role = msg.role;
    this.following = msg.role === "student" ? Boolean(msg.following) : false;
    this.followers = msg.followers;
    this.joinUrl = msg.join_url;
    this.emit("change");
  }

  onRoom(msg) {
    if (!this.led || msg.seq < this.lastSeq) return;
    this.lastSeq = msg.seq;
    const view = {};
    for (const key of ROOM_VIEW_KEYS) if (msg.view && key in msg.view) view[key] = msg.view[key];
    this.state.set(view);
    this.player.follow(msg);
  }

  onEnd(msg) {
    const reason = msg.reason || "the class has ended";
    this.leaveUrl();
    this.emit("ended", { reason });
  }

  /** An error that refuses the room itself (unknown code, wrong token, full): the page goes on alone. */
  onError(msg) {
    if (!ROOM_ERRORS.includes(msg.code) || this.joined) return false;
    this.leaveUrl();
    this.emit("error", { message: msg.message });
    return true;
  }

  leaveUrl() {
    this.role = null;
    this.following = false;
    this.code = this.token = null;
    this.joined = false;
    history.replaceState(null, "", location.pathname + location.hash);
    this.socket.url = socketUrl(location, null, null); // the next reconnect is a single user's
    this.emit("change");
  }

  // ---- the teacher ------------------------------------------------------------------------------------
  /** Make a room showing `config`, then become its teacher (the socket reconnects with the token). */
  async teach(config) {
    const response = await fetch("/api/rooms", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(config),
    });
    const body = await response.json();
    if (!response.ok) throw new Error((body.detail && body.detail[0] && body.detail[0].msg) || `HTTP ${response.status}`);
    this.code = body.room;
    this.token = body.teacher_token;
    this.role = "teacher";
    this.joinUrl = body.join_url;
    this.followers = 0;
    const params = new URLSearchParams({ room: this.code, token: this.token });
    history.replaceState(null, "", `${location.pathname}?${params}${location.hash}`);
    this.socket.reopen(socketUrl(location, this.code, this.token));
    this.emit("change");
  }

  end() {
    if (this.teaching) this.socket.send({ type: "room_end" });
  }

  view() {
    const view = {};
    for (const key of ROOM_VIEW_KEYS) view[key] = this.state.get(key);
    return view;
  }

  sendSoon() {
    if (this.sendQueued) return;
    this.sendQueued = true;
    // once the task that changed the cursor or the view is over: one message for all it changed
    // (not an animation frame: a teacher's page in a background tab gets none)
    queueMicrotask(() => {
      this.sendQueued = false;
      if (!this.teaching || !this.joined) return;
      const message = {
        type: "room_view",
        t: this.state.get("t"),
        playing: this.player.playing,
        direction: this.player.direction,
        rate: Number(this.state.get("rate")) || 10,
        view: this.view(),
      };
      const text = JSON.stringify(message);
      if (text === this.lastSent) return;
      if (this.socket.send(message)) this.lastSent = text;
    });
  }

  /** The teacher's view goes out now that a run is on display (its t may be the restored one). */
  onRun() {
    if (this.teaching) {
      this.lastSent = "";
      this.sendSoon();
    }
  }

  // ---- a student ---------------------------------------------------------------------------------------
  detach() {
    if (!this.led) return;
    this.following = false;
    this.player.stop();
    this.socket.send({ type: "room_detach" });
    this.emit("change");
  }

  back() {
    if (this.role !== "student" || this.following) return;
    this.following = true;
    this.lastSeq = -1;
    this.socket.send({ type: "room_follow" });
    this.emit("change");
  }
}
