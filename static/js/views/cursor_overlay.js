/**
 * The cursor line and the "not seen yet" mask drawn over a Plotly graph as plain positioned divs.
 *
 * Moving a div costs a style write; a Plotly relayout per plot per frame would cost a redraw of
 * every plot at 30 steps/s. Positions come from the graph's own axes, re-read after each
 * (re)draw, so zoom and resize keep the line on the right column.
 */

export class CursorOverlay {
  constructor(graphDiv, maskLabel = "") {
    this.gd = graphDiv;
    this.host = graphDiv.parentElement;
    this.host.classList.add("overlay-host");
    this.mask = document.createElement("div");
    this.mask.className = "overlay-mask";
    if (maskLabel) this.mask.dataset.label = maskLabel;
    this.line = document.createElement("div");
    this.line.className = "overlay-cursor";
    this.host.append(this.mask, this.line);
    this.geometry = null;
    this.last = { t: null, side: null };
  }

  /** Re-read the axes after Plotly drew (call from a plotly_afterplot handler). */
  measure() {
    const full = this.gd._fullLayout;
    const xa = full?.xaxis;
    const ya = full?.yaxis;
    if (!xa || !ya || typeof xa.l2p !== "function") {
      this.geometry = null;
      return;
    }
    const gdRect = this.gd.getBoundingClientRect();
    const hostRect = this.host.getBoundingClientRect();
    this.geometry = {
      left: gdRect.left - hostRect.left + xa._offset,
      top: gdRect.top - hostRect.top + ya._offset,
      width: xa._length,
      height: ya._length,
      x: (t) => xa.l2p(t),
    };
    this.last = { t: null, side: null };
  }

  /**
   * Put the line at step t; `side` "after" dims the columns after t (forward play: the net has not
   * seen them), "before" dims the columns before t (backward pass: not reached yet), null none.
   */
  draw(t, side) {
    if (!this.geometry) this.measure();
    const g = this.geometry;
    if (!g) return;
    if (this.last.t === t && this.last.side === side) return;
    this.last = { t, side };
    const clampX = (x) => Math.max(0, Math.min(g.width, x));
    const x = clampX(g.x(t));
    this.line.style.transform = `translate(${g.left + x}px, ${g.top}px)`;
    this.line.style.height = `${g.height}px`;
    this.line.hidden = false;
    if (side === "after") {
      const from = clampX(g.x(t + 0.5));
      this.mask.style.transform = `translate(${g.left + from}px, ${g.top}px)`;
      this.mask.style.width = `${g.width - from}px`;
    } else if (side === "before") {
      const to = clampX(g.x(t - 0.5));
      this.mask.style.transform = `translate(${g.left}px, ${g.top}px)`;
      this.mask.style.width = `${to}px`;
    }
    this.mask.style.height = `${g.height}px`;
    this.mask.hidden = side !== "after" && side !== "before";
  }
}
