/**
 * The player bar and the keyboard: buttons, scrub slider, speed, the forward / backward pass
 * switch, and their look (readout, pressed states). Every command goes to the Player; `onCommand`
 * lets the caller know the user took the cursor (a pending restore of the cursor is then dropped).
 *
 * Keys: space play/pause, ←/→ step (shift: 10 steps), Home / End; not while typing in a field.
 * The page's bar and keys are the document's; a notebook widget passes its own element for both
 * (`root`, `keys`), so two widgets on a page, or Jupyter's own shortcuts, are never crossed.
 */

import { SPEEDS } from "./config.js";

// Write only what changed: replacing a text node, even with the same text, costs a re-layout.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export class PlayerBar {
  constructor(player, state, onCommand, { root = document, keys = document } = {}) {
    this.player = player;
    this.state = state;
    const $ = (sel) => root.querySelector(sel);
    this.$ = $;
    const command = (fn) => () => {
      onCommand();
      fn();
    };
    $("#btn-play").addEventListener("click", command(() => player.toggle()));
    $("#btn-forward").addEventListener("click", command(() => player.play(1)));
    $("#btn-backward").addEventListener("click", command(() => player.play(-1)));
    $("#btn-step").addEventListener("click", command(() => player.step(1)));
    $("#btn-back").addEventListener("click", command(() => player.step(-1)));
    $("#btn-home").addEventListener("click", command(() => player.home()));
    $("#btn-end").addEventListener("click", command(() => player.end()));
    $("#scrub").addEventListener("input", (ev) => {
      onCommand();
      const t = Number(ev.target.value);
      state.set({ t });
      player.seek(t);
    });
    const speed = $("#speed");
    for (const s of SPEEDS) speed.append(new Option(`${s} steps/s`, String(s)));
    speed.addEventListener("change", () => player.setRate(Number(speed.value)));

    keys.addEventListener("keydown", (ev) => {
      const tag = ev.target.tagName;
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || ev.target.isContentEditable) {
        if (ev.key === "Escape") ev.target.blur();
        return;
      }
      if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const n = ev.shiftKey ? 10 : 1;
      const actions = {
        " ": () => player.toggle(),
        ArrowRight: () => player.step(n),
        ArrowLeft: () => player.step(-n),
        Home: () => player.home(),
        End: () => player.end(),
      };
      const action = actions[ev.key];
      if (!action) return;
      ev.preventDefault();
      // a focused button would also "click" on the space's keyup: play, then toggle straight back
      if (ev.key === " " && tag === "BUTTON") ev.target.blur();
      command(action)();
    });
  }

  render(T) {
    const { state, player, $ } = this;
    const t = state.get("t");
    const scrub = $("#scrub");
    const max = String(Math.max(0, T - 1));
    if (scrub.max !== max) scrub.max = max;
    if (!scrub.matches(":active") && scrub.value !== String(t)) scrub.value = String(t);
    const readout = $("#t-readout");
    setText(readout, T ? `t = ${t} / ${T - 1}` : "t = –");
    readout.dataset.t = String(t);
    const play = $("#btn-play");
    setText(play, player.playing ? "❚❚ Pause" : "▶ Play");
    play.setAttribute("aria-pressed", String(player.playing));
    const backward = state.get("pass") === "backward";
    $("#btn-backward").setAttribute("aria-pressed", String(backward));
    $("#btn-forward").setAttribute("aria-pressed", String(!backward));
    setText(
      $("#pass-note"),
      backward
        ? "Backward pass: the gradient travels from the loss back to t = 0; ahead of it, not computed yet."
        : "Forward pass: the net reads one step at a time; dimmed steps are not seen yet.",
    );
    const speed = $("#speed");
    if (speed.value !== String(state.get("rate"))) speed.value = String(state.get("rate"));
  }
}
