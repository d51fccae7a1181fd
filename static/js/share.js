/**
 * Sharing with the class: the addresses students on the same network can open (GET /api/share:
 * the server knows the interfaces it listens on), each with this view's hash, and what to do when
 * the server listens on this computer only (GATEFLOW_HOST=0.0.0.0).
 */

const LOOPBACK = /^(127\.|localhost$|\[::1\]$|::1$)/;

export class ShareBox {
  constructor(box, openButton, hash) {
    this.box = box;
    this.body = box.querySelector(".share-body");
    this.hash = hash;
    this.info = null;
    openButton.addEventListener("click", () => (box.hidden ? this.open() : this.close()));
    box.querySelector(".share-close").addEventListener("click", () => this.close());
    box.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.close();
    });
  }

  /** GET /api/share once (the server's addresses do not change while it runs). */
  async load() {
    if (!this.info) {
      const response = await fetch("/api/share");
      if (!response.ok) throw new Error(`/api/share: ${response.status}`);
      this.info = await response.json();
    }
    return this.info;
  }

  /** The links students can open for this view ([] when the server listens on loopback only). */
  async studentLinks() {
    const info = await this.load();
    return info.reachable ? info.urls.map((url) => url.replace(/\/+$/, "") + "/" + this.hash()) : [];
  }

  async open() {
    this.box.hidden = false;
    this.body.textContent = "Looking up this server's addresses…";
    try {
      const info = await this.load();
      const links = await this.studentLinks();
      this.body.replaceChildren();
      if (links.length) {
        const p = document.createElement("p");
        p.textContent = `Students on the same network open ${links.length > 1 ? "one of these" : "this"}:`;
        this.body.append(p);
        for (const link of links) {
          const row = document.createElement("p");
          row.className = "share-link";
          const code = document.createElement("code");
          code.textContent = link;
          const copy = document.createElement("button");
          copy.type = "button";
          copy.textContent = "Copy";
          copy.addEventListener("click", () => copyText(link, copy));
          row.append(code, " ", copy);
          this.body.append(row);
        }
      }
      const hint = document.createElement("p");
      hint.className = info.reachable ? "share-hint" : "share-hint warn";
      hint.textContent = info.hint;
      this.body.append(hint);
      this.box.querySelector("button").focus();
    } catch (err) {
      this.body.textContent = `Could not look up the addresses: ${err.message}`;
    }
  }

  close() {
    this.box.hidden = true;
  }

  /** The link "Copy link" should copy: a student address when this page was opened on loopback. */
  async linkToCopy() {
    if (!LOOPBACK.test(location.hostname)) return { href: location.href, local: false };
    try {
      const links = await this.studentLinks();
      if (links.length) return { href: links[0], local: false };
    } catch {
      // no server answer: fall back to this page's own address
    }
    return { href: location.href, local: true };
  }
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
}
