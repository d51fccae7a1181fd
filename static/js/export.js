/**
 * Exports: the trace as JSON or CSV (POST /api/trace with the run's config, saved through a blob
 * link), the run as a PyTorch script (POST /api/script; for an uploaded model, with the weights file
 * of GET /api/weights/{digest} beside it), and any section with a `[data-export]` button as ONE
 * slide-ready image, PNG or SVG (compose.js): one click, one file, titled, with the cursor and the
 * section's sentences.
 */

import { PNG_SCALE, composeSection, svgToPng } from "./compose.js";
import { CELL_LABEL } from "./config.js";
import { lessonChanged } from "./presets.js";

const EXPORT_URL = { json: "/api/trace", csv: "/api/trace?format=csv", py: "/api/script" };

/**
 * The run as JSON or CSV (its trace) or as "py", a plain PyTorch script that rebuilds it. A script of
 * a run on an uploaded model loads that model from a weights file beside it: both are downloaded (the
 * server names the weights file), and the name returned says to keep them side by side.
 */
export async function downloadTrace(config, format) {
  const response = await answered(EXPORT_URL[format], {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(config),
  });
  const blob = await response.blob();
  const name = `gateflow-${config.cells.join("-")}-T${config.seq_len}.${format}`;
  if (format !== "py" || !config.weights) {
    saveBlob(blob, name);
    return name;
  }
  const weights = await answered(`/api/weights/${config.weights}`); // both fetched before either is saved
  const weightsName = /filename="([^"]+)"/.exec(weights.headers.get("Content-Disposition") || "")?.[1];
  if (!weightsName) throw new Error("weights: the server's answer has no file name");
  saveBlob(blob, name);
  saveBlob(await weights.blob(), weightsName);
  return `${name} and ${weightsName}: keep them side by side (the script loads your model from beside itself)`;
}

/** The response when it is ok, else an Error whose message names the field. */
async function answered(url, init) {
  const response = await fetch(url, init);
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    const first = Array.isArray(body.detail) ? body.detail[0] : null;
    const field = first && (first.field || (first.loc || []).slice(-1)[0] || "config");
    if (first) message = String(first.msg).startsWith(`${field}:`) ? first.msg : `${field}: ${first.msg}`;
  } catch {
    // keep the status line
  }
  throw new Error(message);
}

export function saveBlob(blob, filename) {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/**
 * Every `[data-export="#target"]` button exports the `.panel` section around it (or around its
 * target). Each section gets a PNG and an SVG button side by side (a section that declares one gets
 * the other). `context()` says what the image is of: {t, subtitle, slug}; `status(text, kind)`
 * reports progress and errors.
 */
export function installExportButtons(plotly, { context, status = () => {} }) {
  for (const button of document.querySelectorAll("[data-export]")) pairButtons(button);
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-export]");
    if (!button || button.disabled) return;
    const target = document.querySelector(button.dataset.export);
    const section = button.closest(".panel") || target?.closest(".panel");
    if (!section) return;
    const format = button.dataset.format === "svg" ? "svg" : "png";
    const what = context();
    const name = `gateflow-${section.id || "view"}-${what.slug}.${format}`;
    const buttons = section.querySelectorAll("[data-export]");
    buttons.forEach((b) => (b.disabled = true));
    status(`drawing ${name}…`, "busy");
    try {
      await drawn(section);
      const { svg, width, height } = await composeSection(section, { plotly, t: what.t, subtitle: what.subtitle });
      const blob = format === "svg" ? new Blob([svg], { type: "image/svg+xml" }) : await svgToPng(svg, width, height, PNG_SCALE);
      saveBlob(blob, name);
      status(`saved ${name}`, "info");
    } catch (err) {
      console.warn("gateflow: export failed", err);
      status(`export failed: ${err.message}`, "error");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

/** Wait (at most 10 s) until a view that draws a few plots per frame has drawn them all. */
async function drawn(section) {
  const busy = '[data-pending]:not([data-pending="0"])';
  for (let waited = 0; waited < 10_000 && (section.matches(busy) || section.querySelector(busy)); waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Give an export button its format, label and title, and its partner (PNG then SVG) if missing. */
function pairButtons(button) {
  const format = button.dataset.format || button.dataset.kind || "png";
  label(button, format);
  const other = format === "svg" ? "png" : "svg";
  const siblings = button.parentElement.querySelectorAll(`[data-export="${CSS.escape(button.dataset.export)}"]`);
  if ([...siblings].some((b) => (b.dataset.format || b.dataset.kind || "png") === other)) return;
  const partner = button.cloneNode(false);
  delete partner.dataset.kind;
  label(partner, other);
  if (other === "png") button.before(partner);
  else button.after(partner);
}

function label(button, format) {
  delete button.dataset.kind;
  button.dataset.format = format;
  button.textContent = `⤓ ${format.toUpperCase()}`;
  button.title = `This whole view as one ${format.toUpperCase()} image, titled, for a slide${format === "svg" ? " (text stays editable)" : ""}`;
}

/** What a composed image is of, in its subtitle and file name: the cells, T, H, the lesson, t. */
export function exportContext(run, state, preset) {
  const t = state.get("t");
  if (!run) return { t, subtitle: `t = ${t}`, slug: `t${t}` };
  const ld = run.ld(state.get("layer"), state.get("dir"));
  const parts = [run.cells.map((c) => CELL_LABEL[c.name] || c.name).join(" vs "), `T = ${run.T} steps`, `H = ${run.H} units`];
  if (run.L > 1) parts.push(`layer ${Math.floor(ld / run.dirs) + 1} of ${run.L}`);
  if (run.dirs > 1) parts.push(run.isReverse(ld) ? "reverse direction" : "forward direction");
  if (preset) {
    parts.push(`lesson: ${preset.title}${lessonChanged(preset, run.config) ? " (settings changed)" : ""}`);
  }
  if (run.trained) parts.push(`weights after ${run.trained.step} training steps`);
  parts.push(`t = ${t}`);
  // each part stays on one line when the subtitle wraps
  return { t, subtitle: parts.map((p) => p.replace(/ = /g, "\u00a0=\u00a0")).join(" · "), slug: `${run.cells.map((c) => c.name).join("-")}-t${t}` };
}
