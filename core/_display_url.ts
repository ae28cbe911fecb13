/**
 * URLs as written by a user, made fit to print: the userinfo (`user:password@`) is replaced by
 * `***@`. Works on text that does not parse as a URL too, since that is exactly when a message
 * quotes it back.
 *
 * @module
 */

/**
 * Masks the userinfo of a URL, or of text that looks like one.
 *
 * @param text A URL as written, valid or not.
 * @returns The text with anything before an `@` in its authority replaced by `***`.
 *
 * @example
 * ```ts
 * import { maskUserinfo } from "./_display_url.ts";
 * if (maskUserinfo("http://bob:pw@host:5000/x") !== "http://***@host:5000/x") throw new Error();
 * if (maskUserinfo("bob:pw@[::1") !== "***@[::1") throw new Error();
 * ```
 */
export function maskUserinfo(text: string): string {
  return String(text).replace(/^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:)?\/\/)?[^/?#]*@/, "$1***@");
}

/**
 * What to pass as the `cause` when `new URL(text)` failed: the URL parser's own error quotes the
 * whole input, password included, so a copy that quotes the masked text stands in for it.
 *
 * @param text The text that did not parse.
 * @returns A `TypeError` naming the masked text.
 */
export function invalidUrlCause(text: string): TypeError {
  return new TypeError(`Invalid URL: "${maskUserinfo(text)}"`);
}
