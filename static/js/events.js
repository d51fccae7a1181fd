/** A minimal event emitter: views and modules talk through events, never by calling each other. */

export class Emitter {
  constructor() {
    this.handlers = new Map();
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(handler);
    return () => this.handlers.get(type).delete(handler);
  }

  emit(type, detail) {
    for (const handler of this.handlers.get(type) || []) {
      try {
        handler(detail);
      } catch (err) {
        console.error(`gateflow: handler for "${type}" failed`, err);
      }
    }
  }
}
