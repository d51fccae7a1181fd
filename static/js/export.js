/**
 * Exports: each Plotly view as PNG (Plotly.downloadImage), the trace as JSON or CSV (POST /api/trace
 * with the run's config, saved through a blob link), and a cell diagram as SVG.
 */

export async function downloadTrace(config, format) {
  const url = format === "csv" ? "/api/trace?format=csv" : "/api/trace";
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(config),
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      const first = Array.isArray(body.detail) ? body.detail[0] : null;
      if (first) message = `${first.field || (first.loc || []).slice(-1)[0] || "config"}: ${first.msg}`;
    } catch {
      // keep the status line
    }
    throw new Error(message);
  }
  const blob = await response.blob();
  const name = `gateflow-${config.cells.join("-")}-T${config.seq_len}.${format === "csv" ? "csv" : "json"}`;
  saveBlob(blob, name);
  return name;
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

export function downloadPlot(plotly, graphDiv, filename) {
  return plotly.downloadImage(graphDiv, { format: "png", filename, scale: 2 });
}

export function downloadSvg(svg, filename) {
  const clone = svg.cloneNode(true);
  clone.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  // inline the computed look so the file stands alone
  const sourceNodes = svg.querySelectorAll("*");
  clone.querySelectorAll("*").forEach((node, k) => {
    const cs = getComputedStyle(sourceNodes[k]);
    node.setAttribute(
      "style",
      `fill:${cs.fill};stroke:${cs.stroke};stroke-width:${cs.strokeWidth};font:${cs.font};text-anchor:${cs.textAnchor}`,
    );
  });
  saveBlob(new Blob([clone.outerHTML], { type: "image/svg+xml" }), filename);
}

/** Every `[data-export]` button: PNG of each Plotly graph in its target, or SVG of the cell diagrams. */
export function installExportButtons(plotly, stamp) {
  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-export]");
    if (!button) return;
    const target = document.querySelector(button.dataset.export);
    if (!target) return;
    if (button.dataset.kind === "svg") {
      for (const svg of target.querySelectorAll("svg.cell-svg")) {
        const name = svg.closest("[data-cell]")?.dataset.cell || "cell";
        downloadSvg(svg, `gateflow-${name}-${stamp()}.svg`);
      }
      return;
    }
    for (const gd of target.querySelectorAll(".js-plotly-plot")) {
      const name = [gd.dataset.cell, gd.dataset.field, gd.dataset.name].filter(Boolean).join("-") || "plot";
      downloadPlot(plotly, gd, `gateflow-${name}-${stamp()}`);
    }
  });
}
