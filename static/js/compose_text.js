/**
 * Text for the composed images (compose.js): a page element read as styled runs (bold, colour, the
 * little colour swatches and scale bars), wrapped to a width with canvas measureText, and drawn as
 * SVG text that stays selectable and editable in the file.
 *
 *   readRuns(el)                      [{text, bold, color} | {swatch, w}]
 *   textStyle(el)                     {size, color, bold, bar}: the element's look at slide size
 *   layoutText(runs, style, width)    {height, draw(x, y) -> SVG markup}
 */

// Wide, common faces: a file opened on another machine wraps where it was measured.
export const FAMILY = "'DejaVu Sans', Verdana, Arial, sans-serif";
const TEXT_SCALE = 1.35; // page px -> slide px
const MIN_SIZE = 18;
const MAX_SIZE = 28;

const escapeXml = (s) => String(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]);

let measurer = null;
function measure(text, size, bold) {
  measurer = measurer || document.createElement("canvas").getContext("2d");
  measurer.font = `${bold ? "700 " : ""}${size}px ${FAMILY}`;
  return measurer.measureText(text).width;
}

// sub- and superscripts as characters (h_t -> hₜ): a run of text has no baseline shift
const SUB = { 0: "₀", 1: "₁", 2: "₂", 3: "₃", 4: "₄", 5: "₅", 6: "₆", 7: "₇", 8: "₈", 9: "₉", "+": "₊", "-": "₋", "−": "₋", "=": "₌", "(": "₍", ")": "₎", a: "ₐ", e: "ₑ", h: "ₕ", i: "ᵢ", j: "ⱼ", k: "ₖ", l: "ₗ", m: "ₘ", n: "ₙ", o: "ₒ", p: "ₚ", r: "ᵣ", s: "ₛ", t: "ₜ", u: "ᵤ", v: "ᵥ", x: "ₓ" };
const SUP = { 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹", "+": "⁺", "-": "⁻", "−": "⁻", "=": "⁼", "(": "⁽", ")": "⁾", i: "ⁱ", n: "ⁿ", T: "ᵀ" };

function shifted(text, table, mark) {
  const chars = [...text.trim()];
  return chars.every((c) => table[c]) ? chars.map((c) => table[c]).join("") : `${mark}{${text.trim()}}`;
}

const isBold = (cs) => Number(cs.fontWeight) >= 600 || cs.fontWeight === "bold";

/** The colours of a CSS linear-gradient, in order (the scale bars of a legend). */
function gradientColours(image) {
  return image.match(/rgba?\([^)]*\)|#[0-9a-f]{3,8}/gi) || [];
}

/** An element's text as runs; a swatch is an empty inline box with a colour. */
export function readRuns(el) {
  const runs = [];
  const walk = (node, flexParent) => {
    for (const [j, child] of [...node.childNodes].entries()) {
      if (child.nodeType === Node.TEXT_NODE) {
        let text = child.textContent.replace(/[ \t\n\r\f]+/g, " ");
        if (node.closest("sub")) text = shifted(text, SUB, "_");
        else if (node.closest("sup")) text = shifted(text, SUP, "^");
        if (!text.trim() && !runs.length) continue;
        const cs = getComputedStyle(node);
        runs.push({ text, bold: isBold(cs), color: cs.color });
        continue;
      }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      const cs = getComputedStyle(child);
      if (child.hidden || cs.display === "none" || cs.visibility === "hidden" || child.matches("button, input, select")) continue;
      if (flexParent && j > 0 && runs.length) runs.push({ text: "  ·  ", bold: false, color: "#777" });
      if (!child.textContent.trim()) {
        const rect = child.getBoundingClientRect();
        const colours = cs.backgroundImage !== "none" ? gradientColours(cs.backgroundImage) : [];
        const fill = cs.backgroundColor;
        const opaque = fill && !/rgba\(.*,\s*0\)$/.test(fill) && fill !== "transparent";
        if (rect.width > 0 && (colours.length || opaque)) {
          const outlined = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0;
          const white = /^rgba?\(25[0-5], 25[0-5], 25[0-5]/.test(fill) && !colours.length;
          const outline = parseFloat(cs.borderTopWidth) > 0 ? cs.borderTopColor : outlined ? cs.outlineColor : white ? "#777" : null;
          runs.push({ swatch: colours.length ? colours : [fill], em: rect.width / parseFloat(cs.fontSize), outline });
          runs.push({ text: " ", bold: false, color: cs.color });
        }
        continue;
      }
      walk(child, cs.display.includes("flex") || cs.display.includes("grid"));
    }
  };
  const cs = getComputedStyle(el);
  walk(el, cs.display.includes("flex") || cs.display.includes("grid"));
  // no leading or trailing blanks
  while (runs.length && runs[0].text !== undefined && !runs[0].text.trim()) runs.shift();
  if (runs[0]?.text) runs[0].text = runs[0].text.trimStart();
  const last = runs[runs.length - 1];
  if (last?.text) last.text = last.text.trimEnd();
  return runs;
}

/** An element's look at slide size: its font size scaled up (18 to 28 px), colour, weight, a left bar. */
export function textStyle(el) {
  const cs = getComputedStyle(el);
  const size = Math.round(Math.min(MAX_SIZE, Math.max(MIN_SIZE, parseFloat(cs.fontSize) * TEXT_SCALE)));
  const bar = parseFloat(cs.borderLeftWidth) >= 3 ? cs.borderLeftColor : null;
  return { size, color: cs.color, bold: isBold(cs), bar, gap: /^H\d$|FIGCAPTION/.test(el.tagName) ? 0.2 : 0.25 };
}

let gradientId = 0;

/** Wrap runs into lines of `width`: {height, draw(x, y)}. */
export function layoutText(runs, style, width) {
  const size = style.size;
  const indent = style.bar ? 16 : 0;
  const avail = width - indent;
  const tokens = [];
  for (const run of runs) {
    if (run.swatch) {
      tokens.push({ swatch: run.swatch, outline: run.outline, w: Math.max(0.9, run.em) * size, space: 0 });
      continue;
    }
    const bold = run.bold ?? style.bold;
    // break at plain spaces only: a no-break space keeps "t = 30" on one line
    for (const word of run.text.match(/[^ ]+ *| +/g) || []) {
      const bare = word.trimEnd();
      const w = measure(bare, size, bold);
      tokens.push({ text: word, bold, color: run.color || style.color, w, space: measure(word, size, bold) - w });
    }
  }
  const lines = [[]];
  let x = 0;
  for (const token of tokens) {
    const line = lines[lines.length - 1];
    if (line.length && x + token.w > avail && token.text?.trim() !== "") {
      lines.push([]);
      x = 0;
      if (token.text !== undefined && !token.text.trim()) continue;
    }
    lines[lines.length - 1].push({ ...token, x });
    x += token.w + token.space;
  }
  const lineHeight = Math.round(size * 1.32);
  const height = lines.length * lineHeight + Math.round(size * (style.gap ?? 0.35));
  return {
    height,
    draw(x0, y0) {
      let out = style.bar ? `<rect x="${x0}" y="${y0 + 2}" width="7" height="${lines.length * lineHeight - 2}" fill="${style.bar}"/>` : "";
      lines.forEach((line, k) => {
        const base = y0 + k * lineHeight + Math.round(size * 1.02);
        let text = "";
        let open = null; // the tspan being filled: words of one style run on without positions
        const close = () => {
          if (open) text += `<tspan x="${open.x.toFixed(1)}" font-weight="${open.bold ? 700 : 400}" fill="${open.color}">${escapeXml(open.words.trimEnd())}</tspan>`;
          open = null;
        };
        for (const token of line) {
          const x = x0 + indent + token.x;
          if (token.swatch) {
            const h = Math.round(size * 0.8);
            let fill = token.swatch[0];
            if (token.swatch.length > 1) {
              const id = `scale${++gradientId}`;
              const stops = token.swatch.map((c, j) => `<stop offset="${(j / (token.swatch.length - 1)).toFixed(3)}" stop-color="${c}"/>`).join("");
              out += `<linearGradient id="${id}">${stops}</linearGradient>`;
              fill = `url(#${id})`;
            }
            const stroke = token.outline ? ` stroke="${token.outline}" stroke-width="1"` : "";
            out += `<rect x="${x.toFixed(1)}" y="${base - h + 2}" width="${token.w.toFixed(1)}" height="${h}" rx="2" fill="${fill}"${stroke}/>`;
            close();
            continue;
          }
          if (open && (open.bold !== token.bold || open.color !== token.color)) close();
          if (!open) open = { x, bold: token.bold, color: token.color, words: "" };
          open.words += token.text;
        }
        close();
        if (text) out += `<text y="${base}" font-family="${escapeXml(FAMILY)}" font-size="${size}" xml:space="preserve">${text}</text>`;
      });
      return out;
    },
  };
}
