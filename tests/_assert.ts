/**
 * Minimal assertions (JSR's @std/assert is unreachable here) and the canary leak check.
 */

/** Throws when `cond` is falsy. */
export function assert(cond: unknown, message = "assertion failed"): asserts cond {
  if (!cond) throw new Error(message);
}

/** Deep equality via a canonical JSON form. */
export function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) {
    throw new Error(
      `${message ? message + ": " : ""}values differ\n  actual:   ${a}\n  expected: ${e}`,
    );
  }
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  if (!text.includes(part)) {
    throw new Error(
      `${message ? message + ": " : ""}expected ${JSON.stringify(text)} to include ${
        JSON.stringify(part)
      }`,
    );
  }
}

/** Asserts that `fn` rejects with an instance of `cls`, and returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  cls?: new (...args: any[]) => E,
  includes?: string,
): Promise<E> {
  let value: unknown;
  try {
    value = await fn();
  } catch (e) {
    if (cls !== undefined && !(e instanceof cls)) {
      throw new Error(
        `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      );
    }
    if (includes !== undefined) assertStringIncludes((e as Error).message, includes);
    return e as E;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
}

/** Asserts that `fn` throws, and returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  cls?: new (...args: any[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    if (cls !== undefined && !(e instanceof cls)) {
      throw new Error(
        `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      );
    }
    if (includes !== undefined) assertStringIncludes((e as Error).message, includes);
    return e as E;
  }
  throw new Error("expected an exception");
}

/**
 * Asserts that a canary secret appears nowhere in a value: strings, errors with their message,
 * stack, own properties and whole `cause` chain, and objects (serialised).
 */
export function assertNoCanary(value: unknown, canary: string, seen = new Set<unknown>()): void {
  const forms = canaryForms(canary);
  const check = (text: string, where: string): void => {
    for (const f of forms) {
      if (text.includes(f)) throw new Error(`canary secret leaked in ${where}`);
    }
  };
  if (value === null || value === undefined) return;
  if (typeof value === "string") return check(value, "a string");
  if (typeof value !== "object" && typeof value !== "function") {
    return check(String(value), "a value");
  }
  if (seen.has(value)) return;
  seen.add(value);
  if (value instanceof Error) {
    check(value.message, `${value.name}.message`);
    check(value.stack ?? "", `${value.name}.stack`);
    check(String(value), `${value.name}.toString()`);
    check(Deno.inspect(value, { depth: 10 }), `Deno.inspect(${value.name})`);
    if (value.cause !== undefined) assertNoCanary(value.cause, canary, seen);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") check(v, `property ${k}`);
    else assertNoCanary(v, canary, seen);
  }
}

/** The forms a secret travels in. */
export function canaryForms(canary: string): string[] {
  return [canary, btoa(canary), encodeURIComponent(canary)];
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (x instanceof Uint8Array) return { $bytes: [...x] };
    if (x !== null && typeof x === "object" && !Array.isArray(x)) {
      return Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)));
    }
    return x;
  }) ?? String(v);
}
