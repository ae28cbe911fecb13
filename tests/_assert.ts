/**
 * Assertions built on `node:assert/strict` (JSR's @std/assert is unreachable here) and the canary
 * leak check.
 */

import { AssertionError, deepStrictEqual, ok } from "node:assert/strict";

/** Throws when `cond` is falsy. */
export function assert(cond: unknown, message = "assertion failed"): asserts cond {
  ok(cond, message);
}

/**
 * Deep strict equality (`node:assert/strict` `deepStrictEqual`): prototypes, `Map` and `Set`
 * contents, typed arrays, `undefined`-valued properties and `-0` all count.
 */
export function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  if (typeof text !== "string" || !text.includes(part)) {
    throw new AssertionError({
      message: `${message ? message + ": " : ""}expected ${JSON.stringify(text)} to include ${
        JSON.stringify(part)
      }`,
      actual: text,
      expected: part,
      operator: "includes",
    });
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
    return checkError(e, cls, includes);
  }
  throw new AssertionError({ message: `expected a rejection, got ${Deno.inspect(value)}` });
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
    return checkError(e, cls, includes);
  }
  throw new AssertionError({ message: "expected an exception" });
}

function checkError<E extends Error>(
  e: unknown,
  // deno-lint-ignore no-explicit-any
  cls: (new (...args: any[]) => E) | undefined,
  includes: string | undefined,
): E {
  if (cls !== undefined && !(e instanceof cls)) {
    throw new AssertionError({
      message: `expected ${cls.name}, got ${
        e instanceof Error ? `${e.name}: ${e.message}` : Deno.inspect(e)
      }`,
    });
  }
  if (includes !== undefined) {
    if (!(e instanceof Error)) {
      throw new AssertionError({ message: `expected an Error, got ${Deno.inspect(e)}` });
    }
    assertStringIncludes(e.message, includes);
  }
  return e as E;
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
