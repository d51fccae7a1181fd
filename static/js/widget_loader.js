/**
 * gateflow.Widget's entry in Jupyter, JupyterLab, VS Code and Colab (anywidget's `_esm`): it has no
 * server to fetch the page's modules from, so the kernel sends them (the `modules` trait: path ->
 * source of every file under static/js) with the vendored Plotly bundle (`plotly`), and this loader
 * turns each into a blob: module whose relative imports point at its dependencies' blobs, then
 * imports widget.js, which puts the page's own views, player and keyboard in the output cell.
 *
 * Nothing is fetched from the network: every byte comes over the kernel's comm.
 */

const IMPORT = /(\bfrom\s*|\bimport\s*)(["'])(\.{1,2}\/[^"']+)\2(\s*with\s*\{[^}]*\})?/g;

/** "views/gradients.js" + "../config.js" -> "config.js". */
function resolve(from, spec) {
  const parts = from.split("/").slice(0, -1);
  for (const piece of spec.split("/")) {
    if (piece === "..") parts.pop();
    else if (piece !== ".") parts.push(piece);
  }
  return parts.join("/");
}

/** Blob URLs of every module reachable from `entry`, dependencies first; a cycle or a missing file throws. */
function link(sources, entry) {
  const urls = new Map();
  const visiting = new Set();
  const visit = (path) => {
    if (urls.has(path)) return urls.get(path);
    if (!(path in sources)) throw new Error(`gateflow widget: the kernel sent no ${path}`);
    if (visiting.has(path)) throw new Error(`gateflow widget: ${path} imports itself through a cycle`);
    visiting.add(path);
    let code;
    if (path.endsWith(".json")) code = `export default ${sources[path]};`;
    else code = sources[path].replace(IMPORT, (_, head, quote, spec) => `${head}${quote}${visit(resolve(path, spec))}${quote}`);
    visiting.delete(path);
    const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
    urls.set(path, url);
    return url;
  };
  visit(entry);
  return urls;
}

/** The vendored Plotly bundle, run once as a classic script; the page's global Plotly (another version, perhaps plotly.py's) is put back. */
let plotlyLoaded = null;
function loadPlotly(source) {
  if (!plotlyLoaded) {
    plotlyLoaded = new Promise((done, fail) => {
      const prior = Object.getOwnPropertyDescriptor(window, "Plotly");
      const script = document.createElement("script");
      script.src = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      script.onload = () => {
        const ours = window.Plotly;
        if (prior) Object.defineProperty(window, "Plotly", prior);
        else delete window.Plotly;
        script.remove();
        done(ours);
      };
      script.onerror = () => fail(new Error("gateflow widget: Plotly did not load"));
      document.head.append(script);
    });
  }
  return plotlyLoaded;
}

const entries = new Map(); // the modules' version -> the imported widget.js (one per notebook page)

async function loadWidget(model) {
  const version = model.get("version");
  if (!entries.has(version)) {
    const urls = link(model.get("modules"), "widget.js");
    entries.set(version, import(urls.get("widget.js")));
  }
  return entries.get(version);
}

export default {
  async render({ model, el }) {
    try {
      const [Plotly, widget] = await Promise.all([loadPlotly(model.get("plotly")), loadWidget(model)]);
      return widget.render({ model, el, Plotly });
    } catch (err) {
      el.textContent = String(err && err.message ? err.message : err);
      el.style.color = "#b00020";
      return undefined;
    }
  },
};
