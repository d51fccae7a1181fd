/**
 * Your own trained model: a safetensors file or a torch.save'd state dict, POSTed as it is to
 * /api/weights. The server reads the cell, sizes, layers and direction from the tensor names and
 * shapes (never unpickling an object) and answers its digest, which goes into RunConfig.weights.
 * Your data: a CSV POSTed to /api/data comes back as the sequence task's values and columns.
 */

import { CELL_LABEL } from "./config.js";

export const MODEL_FILES = ".pt,.pth,.bin,.safetensors";

/** The server's description of the model (UploadedWeights), or an Error whose message names the field. */
export async function uploadModel(file, nonlinearity = "tanh") {
  const params = new URLSearchParams({ filename: file.name.slice(0, 200) || "model", nonlinearity });
  return post(`/api/weights?${params}`, "application/octet-stream", file);
}

/** A CSV as the sequence task's {values, columns, rows, names}, or an Error naming the row and column. */
export async function readTable(file) {
  return post("/api/data", "text/csv", file);
}

async function post(url, type, file) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": type }, body: file });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const first = body && Array.isArray(body.detail) ? body.detail[0] : null;
    const err = new Error(first ? first.msg : `${response.status} ${response.statusText}`);
    err.field = first ? first.field : null;
    throw err;
  }
  return body;
}

/** The RunConfig fields the model fixes, plus a task whose input size fits when the current one does not. */
export function configFor(info, task, columns = 1) {
  const partial = {
    weights: info.weights,
    cells: [info.cell],
    hidden_size: info.hidden_size,
    num_layers: info.num_layers,
    bidirectional: info.bidirectional,
  };
  if (info.tasks.length && !info.tasks.includes(task)) partial.task = info.tasks[0];
  if ((partial.task || task) === "sequence" && columns !== info.input_size) {
    // numbers to start from, one column per input, until your CSV is loaded
    partial.columns = info.input_size;
    partial.values = [0, 1, 0, -1, 0].flatMap((v) => Array(info.input_size).fill(v));
  }
  return partial;
}

/** "LSTM from adding.pt: 2 inputs, H = 16, 1 layer" */
export function describeModel(info) {
  const layers = `${info.num_layers} layer${info.num_layers === 1 ? "" : "s"}`;
  const dirs = info.bidirectional ? ", bidirectional" : "";
  return `${CELL_LABEL[info.cell] || info.cell} from ${info.filename}: ${info.input_size} input${info.input_size === 1 ? "" : "s"}, H = ${info.hidden_size}, ${layers}${dirs}`;
}
