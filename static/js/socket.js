/**
 * The only module that opens the WebSocket. Sends JSON commands, decodes what comes back:
 *
 *   text   JSON with a `type` (progress, ready, state, error, train, sweep); non-finite floats arrive as the
 *          strings "NaN" / "Infinity" / "-Infinity" and are turned back into numbers here.
 *   binary 16-byte header (uint32 kind, uint32 t, float64 sent_ms), then little-endian float32:
 *          kind 1 a frame in `ready.frame_layout` order, kind 2 the bulk in `ready.bulk_layout` order.
 *
 * Emits: "open", "close", "progress", "ready", "bulk", "frame", "state", "error", "train", "sweep",
 * "room", "room_status", "room_end", "message".
 * Reconnects with a growing back-off; the caller re-sends its configure on "open".
 */

import { Emitter } from "./events.js";

const FRAME = 1;
const BULK = 2;
const HEADER_BYTES = 16;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Turn the protocol's non-finite strings back into numbers, deep. */
export function revive(value) {
  if (typeof value === "string") {
    if (value === "NaN" || value === "Infinity" || value === "-Infinity") return Number(value);
    return value;
  }
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out;
  }
  return value;
}

// Only the numeric parts of `ready` may hold "NaN" strings; labels must stay strings ("NaN" is a
// perfectly good input label for the text task).
function reviveReady(msg) {
  for (const cell of msg.cells || []) {
    cell.loss = Number(cell.loss);
    if (cell.curves) cell.curves = revive(cell.curves);
  }
  return msg;
}

// A training's numbers (losses, norms, gate means) may be "NaN" / "Infinity": revive those parts
// only; its config's text stays a string.
function reviveTraining(msg) {
  if (msg.type === "train") {
    if (Array.isArray(msg.cells)) msg.cells = msg.cells.map(revive);
    if (msg.task) msg.task.baseline = Number(msg.task.baseline);
  } else if (msg.type === "sweep" && Array.isArray(msg.points)) {
    msg.points = msg.points.map(revive);
  }
  return msg;
}

function floats(buffer, byteOffset, count) {
  if (LITTLE_ENDIAN) return new Float32Array(buffer, byteOffset, count);
  const view = new DataView(buffer, byteOffset, count * 4);
  const out = new Float32Array(count);
  for (let k = 0; k < count; k++) out[k] = view.getFloat32(k * 4, true);
  return out;
}

export class Socket extends Emitter {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.frameLayout = [];
    this.bulkLayout = [];
    this.retryMs = 500;
    this.closedByUs = false;
    this.stats = { frames: 0, bulks: 0, messages: 0, lastLatencyMs: null };
  }

  connect() {
    this.closedByUs = false;
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.retryMs = 500;
      this.emit("open");
    };
    ws.onclose = () => {
      this.emit("close");
      if (this.closedByUs) return;
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 8000);
    };
    ws.onmessage = (event) => this.receive(event.data);
    this.ws = ws;
  }

  /** Connect to another URL (a room's): the open socket closes and the reconnect opens the new one. */
  reopen(url) {
    this.url = url;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.retryMs = 50;
      this.ws.close();
    } else if (!this.ws) this.connect();
  }

  close() {
    this.closedByUs = true;
    if (this.ws) this.ws.close();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  receive(data) {
    this.stats.messages += 1;
    if (typeof data === "string") {
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        this.emit("error", { code: "bad_json", message: "the server sent a message that is not JSON", field: null });
        return;
      }
      if (msg.type === "ready") {
        reviveReady(msg);
        this.frameLayout = msg.frame_layout || [];
        this.bulkLayout = msg.bulk_layout || [];
      } else if (msg.type === "train" || msg.type === "sweep") reviveTraining(msg);
      this.emit(msg.type || "message", msg);
      return;
    }
    this.receiveBinary(data);
  }

  receiveBinary(buffer) {
    if (buffer.byteLength < HEADER_BYTES) return;
    const head = new DataView(buffer, 0, HEADER_BYTES);
    const kind = head.getUint32(0, true);
    const t = head.getUint32(4, true);
    const sentMs = head.getFloat64(8, true);
    const count = (buffer.byteLength - HEADER_BYTES) / 4;
    const values = floats(buffer, HEADER_BYTES, Math.floor(count));
    this.stats.lastLatencyMs = Date.now() - sentMs;
    if (kind === FRAME) {
      this.stats.frames += 1;
      this.emit("frame", { t, sentMs, fields: this.slice(values, this.frameLayout, (e) => e.count) });
    } else if (kind === BULK) {
      this.stats.bulks += 1;
      const sizeOf = (e) => e.shape.reduce((a, b) => a * b, 1);
      this.emit("bulk", { fields: this.slice(values, this.bulkLayout, sizeOf) });
    }
  }

  /** Cut the flat array into named views: [{cell, field, shape?, data}] in layout order. */
  slice(values, layout, sizeOf) {
    const out = [];
    let offset = 0;
    for (const entry of layout) {
      const n = sizeOf(entry);
      out.push({ ...entry, data: values.subarray(offset, offset + n) });
      offset += n;
    }
    if (offset !== values.length) {
      console.warn(`gateflow: binary message holds ${values.length} values, layout says ${offset}`);
    }
    return out;
  }
}
