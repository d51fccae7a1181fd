/**
 * Folding views away: each `.panel[id]` can be hidden (state `hide`, a list of panel ids, in the
 * URL), and a bar above the views lists the hidden ones with a button to bring each back.
 * Projector mode folds the equations and the heatmaps: few panels at once on a projector.
 *
 * Emits through `set` (a state.set): {hide: [...]}.
 */

export const PROJECTOR_FOLDED = ["equations", "heatmaps"];

export class Panels {
  constructor(root, folded, set) {
    this.root = root;
    this.folded = folded;
    this.set = set;
    this.hidden = [];
    root.addEventListener("click", (ev) => {
      const fold = ev.target.closest("[data-fold]");
      if (fold) this.set({ hide: [...new Set([...this.hidden, fold.dataset.fold])] });
      const unfold = ev.target.closest("[data-unfold]");
      if (unfold) this.set({ hide: this.hidden.filter((id) => id !== unfold.dataset.unfold) });
    });
  }

  /** Show and hide the panels as `hide` says; true when a panel came back (Plotly must re-measure). */
  render(hide) {
    const key = JSON.stringify(hide);
    if (key === this.key) return false;
    this.key = key;
    const before = new Set(this.hidden);
    this.hidden = hide.slice();
    let shown = false;
    const names = [];
    for (const panel of this.root.querySelectorAll(".panel[id]")) {
      const fold = hide.includes(panel.id);
      if (panel.hidden !== fold) panel.hidden = fold;
      if (!fold && before.has(panel.id)) shown = true;
      // the panel's fixed name: some headings change with the cursor ("RNN (tanh) at t = 3 ...")
      if (fold) names.push([panel.id, panel.dataset.title || panel.querySelector("h2")?.textContent.trim() || panel.id]);
    }
    this.folded.hidden = names.length === 0;
    this.folded.replaceChildren();
    if (names.length) {
      this.folded.append("Hidden views: ");
      for (const [id, title] of names) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "chip";
        b.dataset.unfold = id;
        b.title = "Show this view again";
        b.textContent = `+ ${title}`;
        this.folded.append(b, " ");
      }
    }
    return shown;
  }
}
