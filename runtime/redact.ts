/**
 * Masks every secret value the process has resolved, and its derived forms, in text and errors.
 *
 * @module
 */

const MASK = "***";
/** Shorter strings are not registered: masking them would shred every log line. */
const MIN_LENGTH = 3;

/**
 * A set of sensitive strings and the masking of them.
 *
 * Registering a value also registers the forms it travels in: `Bearer x`, base64, URL encoding
 * and JSON string escaping. Header builders register the exact header values they produce.
 *
 * @example
 * ```ts
 * import { Redactor } from "./redact.ts";
 * const r = new Redactor();
 * r.add("s3cr3t-value");
 * if (r.redact("token=s3cr3t-value") !== "token=***") throw new Error("not masked");
 * ```
 */
export class Redactor {
  #values = new Set<string>();
  #pattern: RegExp | null = null;

  /**
   * Registers a secret value (a string, or every string leaf of an object) and derived forms.
   *
   * @param value A secret value.
   */
  add(value: unknown): void {
    if (typeof value === "string") {
      this.#addForms(value);
    } else if (typeof value === "number" || typeof value === "bigint") {
      this.#addForms(String(value));
    } else if (value !== null && typeof value === "object") {
      for (const v of Object.values(value)) this.add(v);
    }
  }

  /** Number of registered strings (forms included). */
  get size(): number {
    return this.#values.size;
  }

  #addForms(value: string): void {
    const forms = [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
    try {
      forms.push(btoa(String.fromCharCode(...new TextEncoder().encode(value))));
    } catch {
      // Very long values: the raw form is still masked.
    }
    let changed = false;
    for (const f of forms) {
      if (f.length >= MIN_LENGTH && !this.#values.has(f)) {
        this.#values.add(f);
        changed = true;
      }
    }
    if (changed) this.#pattern = null;
  }

  /**
   * Masks every registered string in a text.
   *
   * @param text Any text.
   * @returns The text with each registered string replaced by `***`.
   */
  redact(text: string): string {
    if (this.#values.size === 0) return text;
    if (this.#pattern === null) {
      const sorted = [...this.#values].sort((a, b) => b.length - a.length);
      this.#pattern = new RegExp(sorted.map(escapeRegExp).join("|"), "g");
    }
    return text.replace(this.#pattern, MASK);
  }

  /**
   * Returns a copy of an error, and of its whole `cause` chain, with every registered string
   * masked in names, messages and stacks. Own enumerable data fields are copied when they are
   * primitives (masked when strings). The original error is not changed.
   *
   * @param error Anything thrown.
   * @returns A safe error.
   */
  redactError(error: unknown): Error {
    return this.#copy(error, 0);
  }

  #copy(error: unknown, depth: number): Error {
    if (!(error instanceof Error)) {
      return new Error(this.redact(String(error)));
    }
    const cause = error.cause !== undefined && depth < 8
      ? this.#copy(error.cause, depth + 1)
      : undefined;
    const copy: Error = Object.create(Object.getPrototypeOf(error));
    Object.defineProperty(copy, "message", {
      value: this.redact(error.message),
      writable: true,
      configurable: true,
    });
    Object.defineProperty(copy, "stack", {
      value: error.stack === undefined ? undefined : this.redact(error.stack),
      writable: true,
      configurable: true,
    });
    if (cause !== undefined) {
      Object.defineProperty(copy, "cause", { value: cause, writable: true, configurable: true });
    }
    for (const [k, v] of Object.entries(error)) {
      if (k === "message" || k === "stack" || k === "cause") continue;
      if (typeof v === "string") (copy as unknown as Record<string, unknown>)[k] = this.redact(v);
      else if (v === null || typeof v !== "object" && typeof v !== "function") {
        (copy as unknown as Record<string, unknown>)[k] = v;
      } else if (Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null)) {
        (copy as unknown as Record<string, unknown>)[k] = v.map((x) =>
          typeof x === "string" ? this.redact(x) : x
        );
      } else if (k === "issues" || k === "errors") {
        (copy as unknown as Record<string, unknown>)[k] = JSON.parse(
          this.redact(JSON.stringify(v) ?? "null"),
        );
      }
    }
    if (error.name !== copy.name) {
      Object.defineProperty(copy, "name", {
        value: this.redact(error.name),
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
