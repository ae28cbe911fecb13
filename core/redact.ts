/**
 * Masks every secret value the process has resolved, and its derived forms, in text and errors.
 *
 * @module
 */

const MASK = "***";
/** Shorter strings are not registered: masking them would shred every log line. */
const MIN_LENGTH = 3;
/** Up to this many registered forms, `search` runs the engine's `indexOf` once per form. */
const NATIVE_SEARCH_FORMS = 32;
/** Length of the anchor every form is indexed by (its first code units). */
const ANCHOR = 16;
/**
 * What {@linkcode Redactor.redact} returns when masking itself fails: the text is withheld,
 * never passed through.
 */
export const REDACTION_FAILED = "[withheld: the secret redactor failed on this text]";

/**
 * A set of sensitive strings and the masking of them.
 *
 * Registering a value also registers the forms it travels in: `Bearer x`, base64, URL encoding
 * and JSON string escaping. Header builders register the exact header values they produce.
 *
 * How it searches: every form is indexed in a hash map by its first 16 code units (shorter forms
 * by all of theirs), and the first two code units of every form set a bit in a 64 Ki-entry
 * filter. `redact()` walks the text once; at each position it tests the filter (one array read,
 * which stops almost every position), and only then looks up the substring of each anchor length
 * in use (one lookup when no form is shorter than 16) and verifies the few candidates with
 * `startsWith`, longest first. A candidate longer than the rest of
 * the text is skipped at once, so the cost is linear in the text and does not grow with the size
 * of the registered secrets: a 1 MiB secret costs what a 40-byte one does (see
 * `bench/redact_bench.ts`). It replaces one alternation RegExp of every form, which V8 refuses
 * ("Regular expression too large") once some 25 KB are registered. Aho-Corasick would bound the
 * verification too, but its automaton holds a node per registered code unit (millions for a
 * 1 MiB secret and its four forms); the anchor map holds one entry per form.
 *
 * Overlaps: each position takes its longest matching form, and overlapping matches merge into one
 * mask, so no part of any registered string survives (leftmost-first matching would leave the
 * tail of a second secret that overlaps the first).
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
  /** Registered forms, each with how many registered values derive it. */
  #values = new Map<string, number>();
  /** Forms by anchor (first `ANCHOR` code units, or the whole form), longest first. */
  #byAnchor = new Map<string, string[]>();
  /** Anchor lengths in use, longest first. */
  #anchorLengths: number[] = [];
  /** A filter over the first two code units of every form: most positions stop here. */
  #heads = new Uint8Array(1 << 16);

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

  /**
   * Unregisters a value that {@linkcode Redactor.add} registered, once it is no longer a secret
   * (an access token past its expiry), so that a long-running process does not keep every
   * short-lived credential it ever saw. A form that another registered value also derives stays
   * registered until that value is removed too; a value added twice must be removed twice.
   *
   * @param value A value given to `add` before.
   *
   * @example
   * ```ts
   * import { Redactor } from "./redact.ts";
   * const r = new Redactor();
   * r.add("expired-token-0123");
   * r.remove("expired-token-0123");
   * if (r.size !== 0 || r.redact("expired-token-0123") !== "expired-token-0123") throw new Error();
   * ```
   */
  remove(value: unknown): void {
    if (typeof value === "string") {
      this.#removeForms(value);
    } else if (typeof value === "number" || typeof value === "bigint") {
      this.#removeForms(String(value));
    } else if (value !== null && typeof value === "object") {
      for (const v of Object.values(value)) this.remove(v);
    }
  }

  #removeForms(value: string): void {
    for (const form of new Set(derivedForms(value))) {
      const count = this.#values.get(form);
      if (count === undefined) continue;
      if (count > 1) {
        this.#values.set(form, count - 1);
        continue;
      }
      this.#values.delete(form);
      const anchor = form.slice(0, ANCHOR);
      const list = this.#byAnchor.get(anchor)?.filter((f) => f !== form) ?? [];
      if (list.length === 0) this.#byAnchor.delete(anchor);
      else this.#byAnchor.set(anchor, list);
      // The head filter keeps its bit: a stale bit only costs a lookup that finds nothing.
    }
  }

  #addForms(value: string): void {
    for (const form of new Set(derivedForms(value))) {
      if (form.length < MIN_LENGTH) continue;
      const count = this.#values.get(form);
      if (count !== undefined) {
        this.#values.set(form, count + 1);
        continue;
      }
      this.#values.set(form, 1);
      this.#heads[head(form, 0)] = 1;
      const anchor = form.slice(0, ANCHOR);
      const list = this.#byAnchor.get(anchor);
      if (list === undefined) {
        this.#byAnchor.set(anchor, [form]);
        if (!this.#anchorLengths.includes(anchor.length)) {
          this.#anchorLengths.push(anchor.length);
          this.#anchorLengths.sort((a, b) => b - a);
        }
      } else {
        list.push(form);
        list.sort((a, b) => b.length - a.length);
      }
    }
  }

  /**
   * Masks every registered string in a text. Never throws and never returns the text unmasked:
   * should the search itself fail, the whole text is replaced by {@linkcode REDACTION_FAILED}.
   *
   * @param text Any text.
   * @returns The text with each registered string replaced by `***`.
   */
  redact(text: string): string {
    if (this.#values.size === 0) return text;
    try {
      return this.#mask(String(text));
    } catch {
      return REDACTION_FAILED;
    }
  }

  /**
   * Where the first registered string (a secret or one of its derived forms) starts in a text,
   * by the same search as {@linkcode Redactor.redact}. For checks that must refuse a text rather
   * than mask it (the leak guard).
   *
   * @param text Any text.
   * @returns The index of the first match, or -1 when the text holds no registered string.
   *
   * @example
   * ```ts
   * import { Redactor } from "./redact.ts";
   * const r = new Redactor();
   * r.add("s3cr3t-value");
   * if (r.search("a=czNjcjN0LXZhbHVl") !== 2) throw new Error("base64 form not found");
   * if (r.search("clean") !== -1) throw new Error("false match");
   * ```
   */
  search(text: string): number {
    if (this.#values.size === 0) return -1;
    if (this.#values.size <= NATIVE_SEARCH_FORMS) {
      // Few forms: the engine's own substring search, once per form, beats the walk below.
      let first = -1;
      for (const form of this.#values.keys()) {
        const at = text.indexOf(form);
        if (at >= 0 && (first < 0 || at < first)) first = at;
      }
      return first;
    }
    const heads = this.#heads;
    for (let i = 0; i + MIN_LENGTH <= text.length; i++) {
      if (heads[((text.charCodeAt(i) * 31) ^ text.charCodeAt(i + 1)) & 0xffff] === 0) continue;
      if (this.#longestAt(text, i) >= 0) return i;
    }
    return -1;
  }

  #mask(text: string): string {
    let out = "";
    let copied = 0; // text[0, copied) is already in `out`
    let coverStart = -1; // the mask being grown covers [coverStart, coverEnd)
    let coverEnd = -1;
    const n = text.length;
    const heads = this.#heads;
    for (let i = 0; i + MIN_LENGTH <= n; i++) {
      if (heads[((text.charCodeAt(i) * 31) ^ text.charCodeAt(i + 1)) & 0xffff] === 0) continue;
      const end = this.#longestAt(text, i);
      if (end < 0) continue;
      if (i < coverEnd) {
        if (end > coverEnd) coverEnd = end;
        continue;
      }
      if (coverEnd >= 0) {
        out += text.slice(copied, coverStart) + MASK;
        copied = coverEnd;
      }
      coverStart = i;
      coverEnd = end;
    }
    if (coverEnd < 0) return text;
    return out + text.slice(copied, coverStart) + MASK + text.slice(coverEnd);
  }

  /** End of the longest registered form starting at `i`, or -1 (`i` passed the head filter). */
  #longestAt(text: string, i: number): number {
    const room = text.length - i;
    let best = -1;
    for (const length of this.#anchorLengths) {
      if (length > room) continue;
      const forms = this.#byAnchor.get(text.slice(i, i + length));
      if (forms === undefined) continue;
      for (const form of forms) {
        if (form.length <= best - i) break;
        if (form.length <= room && text.startsWith(form, i)) {
          best = i + form.length;
          break;
        }
      }
    }
    return best;
  }

  /**
   * Returns a copy of an error, and of its whole `cause` chain, with every registered string
   * masked in names, messages and stacks. Own enumerable data fields are copied when they are
   * primitives (masked when strings). The original error is not changed.
   *
   * @param error Anything thrown.
   * @returns A safe error; should copying fail, an `Error` whose message is
   *   {@linkcode REDACTION_FAILED}.
   */
  redactError(error: unknown): Error {
    try {
      return this.#copy(error, 0);
    } catch {
      return new Error(REDACTION_FAILED);
    }
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
        try {
          (copy as unknown as Record<string, unknown>)[k] = JSON.parse(
            this.redact(JSON.stringify(v) ?? "null"),
          );
        } catch {
          // Not serialisable, or withheld by redact(): the field is dropped.
        }
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

/**
 * A value and the forms it travels in: raw, URL-encoded, JSON-escaped and base64 (of its UTF-8
 * bytes). A form that cannot be computed (a lone surrogate has no URL encoding) is left out; the
 * others still count.
 */
function derivedForms(value: string): string[] {
  const forms = [value];
  const attempts: (() => string)[] = [
    () => encodeURIComponent(value),
    () => JSON.stringify(value).slice(1, -1),
    () => base64(new TextEncoder().encode(value)),
  ];
  for (const attempt of attempts) {
    try {
      forms.push(attempt());
    } catch {
      // Left out; see above.
    }
  }
  return forms;
}

/** A 16-bit hash of the two code units at `i` (`#mask` inlines it). */
function head(text: string, i: number): number {
  return ((text.charCodeAt(i) * 31) ^ text.charCodeAt(i + 1)) & 0xffff;
}

/** Base64 of any number of bytes (a spread of a large array would overflow the stack). */
function base64(bytes: Uint8Array): string {
  const CHUNK = 0x3000; // a multiple of 3: each chunk encodes on its own without padding
  let out = "";
  for (let at = 0; at < bytes.length; at += CHUNK) {
    const chunk = bytes.subarray(at, at + CHUNK);
    let binary = "";
    for (let j = 0; j < chunk.length; j++) binary += String.fromCharCode(chunk[j]!);
    out += btoa(binary);
  }
  return out;
}
