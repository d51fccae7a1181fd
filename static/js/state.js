/**
 * The one state object: the run config (every RunConfig field) and the view (cursor, selection,
 * layer/direction, type size, colour range mode...), with a table of properties that serializes to
 * the URL hash, so a copied link reproduces the exact view.
 *
 * Config fields are always written to the URL (a lesson link must not depend on today's defaults);
 * view fields only when they differ from their default; the training settings (kind "train", sent
 * as TrainSettings / SweepSettings, never in the RunConfig) all of them in Train mode, else only
 * those that differ. A value that does not parse is kept as
 * the raw string: the server's validation then names the field and the allowed range.
 */

import { KNOB_FIELDS, SPEC } from "./config.js";
import { Emitter } from "./events.js";

const int = {
  parse: (s) => (/^-?\d+$/.test(s) ? Number(s) : s),
  format: (v) => String(v),
};
const float = {
  parse: (s) => (s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s),
  format: (v) => String(v),
};
const optionalFloat = {
  parse: (s) => (s === "" || s === "null" ? null : float.parse(s)),
  format: (v) => (v === null || v === undefined ? "null" : String(v)),
};
const optionalStr = {
  parse: (s) => (s === "" || s === "null" ? null : s),
  format: (v) => (v === null || v === undefined ? "null" : String(v)),
};
const bool = {
  parse: (s) => s === "1" || s === "true",
  format: (v) => (v ? "1" : "0"),
};
const str = { parse: (s) => s, format: (v) => String(v) };
const list = {
  parse: (s) => (s === "" ? [] : s.split(",")),
  format: (v) => (Array.isArray(v) ? v.join(",") : String(v)),
};
const floats = {
  parse: (s) => (s.trim() === "" ? [] : s.split(",").map((x) => float.parse(x.trim()))),
  format: (v) => (Array.isArray(v) ? v.join(",") : String(v)),
};
const ints = {
  parse: (s) => (s.trim() === "" ? [] : s.split(",").map((x) => int.parse(x.trim()))),
  format: (v) => (Array.isArray(v) ? v.join(",") : String(v)),
};
// a threshold or nothing: "off" in the URL, null in the state and on the wire
const optionalOff = {
  parse: (s) => (s === "" || s === "off" || s === "null" ? null : float.parse(s)),
  format: (v) => (v === null || v === undefined ? "off" : String(v)),
};
// clamp: gate -> value, written "f:1,i:0.5"
const gateMap = {
  parse: (s) => {
    const out = {};
    for (const part of s.split(",")) {
      const [gate, value] = part.split(":");
      if (gate && value !== undefined) out[gate.trim()] = float.parse(value.trim());
    }
    return out;
  },
  format: (v) =>
    Object.entries(v || {})
      .map(([g, x]) => `${g}:${x}`)
      .join(","),
};

// a side panel's settings (the highway's, the attention's), written "layers:12,activation:relu,...": the
// keys of its defaults in their order, numbers and true/false parsed; a key it lacks keeps its default,
// one it does not have is dropped (the panel's form and the server name what is wrong in a value)
function panelSettings(defaults) {
  const parseValue = (s) => (s === "true" || s === "false" ? s === "true" : float.parse(s));
  return {
    parse: (s) => {
      const out = { ...defaults };
      for (const part of s.split(",")) {
        const [key, value] = part.split(":");
        if (key in defaults && value !== undefined) out[key] = parseValue(value.trim());
      }
      return out;
    },
    format: (v) =>
      Object.keys(defaults)
        .map((key) => `${key}:${v[key]}`)
        .join(","),
  };
}

/** A side panel's settings in its defaults' key order (the state compares values by their JSON). */
export function panelValues(defaults, config) {
  return Object.fromEntries(Object.keys(defaults).map((key) => [key, key in config ? config[key] : defaults[key]]));
}

const isObject = (v) => Boolean(v) && typeof v === "object" && !Array.isArray(v);

/** The property table: key, whether it is config or view, its codec and default. */
export const PROPS = [
  { key: "cells", kind: "config", codec: list, def: ["rnn_tanh", "lstm"] },
  { key: "hidden_size", kind: "config", codec: int, def: 32 },
  { key: "num_layers", kind: "config", codec: int, def: 1 },
  { key: "bidirectional", kind: "config", codec: bool, def: false },
  { key: "seq_len", kind: "config", codec: int, def: 60 },
  { key: "seed", kind: "config", codec: int, def: 0 },
  { key: "init", kind: "config", codec: str, def: "torch" },
  { key: "spectral_radius", kind: "config", codec: optionalFloat, def: null },
  ...KNOB_FIELDS.map((k) => ({ key: k.key, kind: "config", codec: optionalFloat, def: null })), // the cells' init options
  { key: "clamp", kind: "config", codec: gateMap, def: {} },
  { key: "task", kind: "config", codec: str, def: "adding" },
  { key: "text", kind: "config", codec: str, def: "hello world" },
  { key: "values", kind: "config", codec: floats, def: [0, 1, 0, -1, 0] },
  { key: "columns", kind: "config", codec: int, def: 1 }, // values read row by row: the input size
  { key: "period", kind: "config", codec: float, def: 20 },
  { key: "noise", kind: "config", codec: float, def: 0 },
  { key: "adding_form", kind: "config", codec: str, def: "le" },
  { key: "copy_len", kind: "config", codec: int, def: 5 },
  { key: "loss", kind: "config", codec: str, def: "last" },
  { key: "device", kind: "config", codec: str, def: "cpu" },
  { key: "jacobian", kind: "config", codec: str, def: "auto" }, // ||dh_T/dh_t||: auto (small runs), on, off
  { key: "weights", kind: "config", codec: optionalStr, def: null }, // your uploaded model's digest (upload.js)
  // the view: a value that makes no sense here falls back to the default (the server never sees it)
  { key: "t", kind: "view", codec: int, def: 0, valid: (v) => Number.isInteger(v) && v >= 0 }, // cursor
  { key: "sel", kind: "view", codec: int, def: 0, valid: (v) => Number.isInteger(v) && v >= 0 }, // selected cell
  { key: "layer", kind: "view", codec: int, def: -1, valid: Number.isInteger }, // -1: the top layer
  { key: "dir", kind: "view", codec: int, def: 0, valid: (v) => v === 0 || v === 1 }, // 1: reverse direction
  { key: "unit", kind: "view", codec: int, def: -1, valid: Number.isInteger }, // -1: mean over units
  { key: "pass", kind: "view", codec: str, def: "forward", valid: (v) => v === "forward" || v === "backward" },
  { key: "rate", kind: "view", codec: float, def: 10, valid: (v) => Number.isFinite(v) && v >= 0.5 && v <= 60 },
  {
    key: "fields", // heatmap rows
    kind: "view",
    codec: list,
    def: ["h", "c", "gates"],
    valid: (v) => v.length > 0 && v.every((f) => ["h", "c", "gates", "grad_h", "grad_c"].includes(f)),
  },
  { key: "scale", kind: "view", codec: str, def: "shared", valid: (v) => v === "shared" || v === "local" },
  // gradient heatmaps: log10 of the magnitude (a vanishing gradient stays visible) or linear
  { key: "gscale", kind: "view", codec: str, def: "log", valid: (v) => v === "log" || v === "linear" },
  { key: "large", kind: "view", codec: bool, def: false }, // projector mode: big type, compact chrome
  { key: "side", kind: "view", codec: bool, def: true }, // settings panel shown
  {
    key: "hide", // panels folded away (projector mode folds the equations and the heatmaps)
    kind: "view",
    codec: list,
    def: [],
    valid: (v) => Array.isArray(v) && v.every((id) => /^[a-z]+$/.test(id)),
  },
  { key: "preset", kind: "view", codec: str, def: "" },
  // the side panels' settings, their own requests apart from the run (views/highway.js, attention.js)
  { key: "highway", kind: "view", codec: panelSettings(SPEC.highway.defaults), def: SPEC.highway.defaults, valid: isObject },
  { key: "attention", kind: "view", codec: panelSettings(SPEC.attention.defaults), def: SPEC.attention.defaults, valid: isObject },
  // Train mode: the cells of the config learn side by side (train.js); a lesson link can open it
  { key: "mode", kind: "view", codec: str, def: "explore", valid: (v) => v === "explore" || v === "train" },
  { key: "opt", kind: "train", codec: str, def: "adam" }, // TrainSettings.optimizer
  { key: "lr", kind: "train", codec: float, def: 0.01 },
  { key: "momentum", kind: "train", codec: float, def: 0.9 }, // SGD's
  { key: "batch", kind: "train", codec: int, def: 64 }, // batch_size
  { key: "clip", kind: "train", codec: optionalOff, def: 1 }, // the global gradient norm's cap; null: off
  { key: "budget", kind: "train", codec: int, def: 1000 }, // steps: training pauses there
  { key: "probe", kind: "train", codec: int, def: 10 }, // probe_every: a gradient-flow record every so many steps
  { key: "lengths", kind: "train", codec: ints, def: [10, 25, 50, 100] }, // the length sweep's T values
  { key: "sweep_steps", kind: "train", codec: int, def: 300 }, // training steps per sweep run
];

// TrainSettings / SweepSettings field -> state key (the server's errors name the former)
export const TRAIN_KEYS = {
  optimizer: "opt",
  lr: "lr",
  momentum: "momentum",
  batch_size: "batch",
  clip: "clip",
  steps: "budget",
  probe_every: "probe",
};
export const SWEEP_KEYS = { lengths: "lengths", steps: "sweep_steps" };

const BY_KEY = new Map(PROPS.map((p) => [p.key, p]));
const clone = (v) => (v && typeof v === "object" ? JSON.parse(JSON.stringify(v)) : v);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The URL hash as a Map of key -> raw (still encoded) value; pairs without "=" are skipped. */
function hashPairs(hash) {
  const pairs = new Map();
  for (const pair of (hash || "").replace(/^#/, "").split("&")) {
    const eq = pair.indexOf("=");
    if (eq > 0) pairs.set(safeDecode(pair.slice(0, eq)), pair.slice(eq + 1));
  }
  return pairs;
}

function safeDecode(raw) {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * The lesson a link names, `#preset=NAME`, and the settings the link adds on top of it:
 * `{name, config}` where `config` holds only the config keys the link sets (parsed), or null when
 * the link names no preset. A short lesson link (`#preset=exploding`) opens the preset as it is;
 * `#preset=exploding&cells=rnn_tanh,rnn_relu,lstm` opens the preset with the extra cell; a copied
 * link carries every setting, so it reads as it stands whatever the preset says today.
 */
export function lessonInHash(hash) {
  const pairs = hashPairs(hash);
  const name = pairs.get("preset");
  if (!name) return null;
  const config = {};
  for (const p of PROPS) {
    if (p.kind === "config" && pairs.has(p.key)) config[p.key] = p.codec.parse(safeDecode(pairs.get(p.key)));
  }
  return { name: safeDecode(name), config };
}

/** The training settings and the mode a link sets, parsed: they go on top of a lesson's own. */
export function trainInHash(hash) {
  const pairs = hashPairs(hash);
  const out = {};
  for (const p of PROPS) {
    if ((p.kind === "train" || p.key === "mode") && pairs.has(p.key)) out[p.key] = p.codec.parse(safeDecode(pairs.get(p.key)));
  }
  return out;
}

/** True when the hash sets nothing at all that is config or a lesson: the cold start. */
export function isColdHash(hash) {
  const pairs = hashPairs(hash);
  return !pairs.has("preset") && !PROPS.some((p) => p.kind === "config" && pairs.has(p.key));
}

export class State extends Emitter {
  constructor() {
    super();
    this.values = {};
    for (const p of PROPS) this.values[p.key] = clone(p.def);
  }

  get(key) {
    return this.values[key];
  }

  /** Set several properties; emits "change" with the keys that really changed. */
  set(partial) {
    const changed = [];
    for (const [key, value] of Object.entries(partial)) {
      if (!BY_KEY.has(key)) continue;
      if (!same(this.values[key], value)) {
        this.values[key] = clone(value);
        changed.push(key);
      }
    }
    if (changed.length) this.emit("change", changed);
    return changed;
  }

  /** The RunConfig to send: every config field. */
  config() {
    const out = {};
    for (const p of PROPS) if (p.kind === "config") out[p.key] = clone(this.values[p.key]);
    return out;
  }

  /** The TrainSettings to send. */
  trainSettings() {
    const out = {};
    for (const [field, key] of Object.entries(TRAIN_KEYS)) out[field] = clone(this.values[key]);
    return out;
  }

  /** The SweepSettings to send. */
  sweepSettings() {
    return { lengths: clone(this.values.lengths), steps: this.values.sweep_steps };
  }

  /** Take TrainSettings and SweepSettings (a preset's, or a training's echo) into the state. */
  setTrain(train, sweep) {
    const partial = {};
    for (const [field, key] of Object.entries(TRAIN_KEYS)) if (train && field in train) partial[key] = train[field];
    for (const [field, key] of Object.entries(SWEEP_KEYS)) if (sweep && field in sweep) partial[key] = sweep[field];
    return this.set(partial);
  }

  /** Take a server config (normalised, from `ready` or a preset) into the state. */
  setConfig(config) {
    const partial = {};
    for (const p of PROPS) if (p.kind === "config" && p.key in config) partial[p.key] = config[p.key];
    return this.set(partial);
  }

  toHash() {
    const parts = [];
    const training = this.values.mode === "train";
    for (const p of PROPS) {
      const v = this.values[p.key];
      // a lesson's link says its mode even when it is the default (the lesson may open in Train mode)
      if (p.key === "mode" && this.values.preset) {
        parts.push(`mode=${v}`);
        continue;
      }
      if ((p.kind === "view" || (p.kind === "train" && !training)) && same(v, p.def)) continue;
      parts.push(`${p.key}=${encodeURIComponent(p.codec.format(v))}`);
    }
    return "#" + parts.join("&");
  }

  /**
   * Read the URL hash: a key it lacks takes its default (a link means what it says, whatever was on
   * screen before); unknown keys are ignored, unparsable values are kept raw (see above).
   */
  fromHash(hash) {
    const partial = {};
    for (const p of PROPS) partial[p.key] = clone(p.def);
    for (const [key, encoded] of hashPairs(hash)) {
      const prop = BY_KEY.get(key);
      if (!prop) continue;
      const value = prop.codec.parse(safeDecode(encoded));
      partial[key] = prop.valid && !prop.valid(value) ? clone(prop.def) : value;
    }
    this.set(partial);
    return partial;
  }

  /** A plain copy for the read-only test hook. */
  snapshot() {
    return clone(this.values);
  }
}
