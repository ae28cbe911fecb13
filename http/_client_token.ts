/**
 * The proxy's client token check: `Authorization: Bearer <client token>`, compared in constant
 * time.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Whether an `Authorization` header carries the client token as a bearer token.
 *
 * @param header The request's `Authorization`, or null.
 * @param expected The client token's bytes.
 * @returns Whether it matches.
 */
export function bearerTokenMatches(header: string | null, expected: Uint8Array): boolean {
  const match = header === null ? null : /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const presented = match === null ? new Uint8Array(0) : encoder.encode(match[1]!);
  return timingSafeEqual(presented, expected);
}

/**
 * Compares two byte strings in time that depends only on the length of `expected`, not on where
 * they differ.
 *
 * @param presented What the client sent.
 * @param expected The secret to compare with.
 * @returns Whether they are equal.
 *
 * @example
 * ```ts
 * import { timingSafeEqual } from "./_client_token.ts";
 * const e = new TextEncoder();
 * if (!timingSafeEqual(e.encode("abc"), e.encode("abc"))) throw new Error("equal");
 * if (timingSafeEqual(e.encode("abd"), e.encode("abc"))) throw new Error("different");
 * if (timingSafeEqual(e.encode("ab"), e.encode("abc"))) throw new Error("prefix");
 * ```
 */
export function timingSafeEqual(presented: Uint8Array, expected: Uint8Array): boolean {
  let diff = presented.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    diff |= (presented[i] ?? 0) ^ expected[i]!;
  }
  return diff === 0;
}
