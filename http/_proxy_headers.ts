/**
 * The proxy's header rules: which request headers are forwarded (hop-by-hop headers, the
 * client's credentials and a rule's own header names never are), which response headers are
 * passed back (hop-by-hop ones never are), and how an upstream redirect's `Location` is rewritten
 * to point at the proxy.
 *
 * @module
 */

import type { Plan } from "../profile/plan.ts";
import type { Upstream } from "./_proxy_address.ts";

/** Request headers never forwarded (hop-by-hop, or credentials the client must not choose). */
const DROPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
  "host",
  "content-length",
  "authorization",
  "cookie",
  "accept-encoding",
]);

/** Response headers never passed back (hop-by-hop). */
const DROPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Statuses whose `Location` may be rewritten. */
export const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/**
 * The header names each rule injects, lower-case, by rule index: a client never chooses them.
 *
 * @param plan The plan.
 * @returns The names by rule index.
 */
export function ruleHeaderNames(plan: Plan): Map<number, ReadonlySet<string>> {
  const byRule = new Map<number, ReadonlySet<string>>();
  for (const rule of plan.rules) {
    byRule.set(
      rule.index,
      new Set([rule.authHeader, ...Object.keys(rule.headers)].map((h) => h.toLowerCase())),
    );
  }
  return byRule;
}

/**
 * The headers of a client's request that are forwarded, in a new `Headers`: without the dropped
 * ones, the names listed in its `Connection`, and `drop` (the rule's own names); with
 * `Accept-Encoding: identity`.
 *
 * @param incoming The client's headers.
 * @param drop The rule's own header names, lower-case.
 * @returns The proxy's own copy.
 */
export function forwardedRequestHeaders(
  incoming: Headers,
  drop: ReadonlySet<string> | undefined,
): Headers {
  const connection = connectionTokens(incoming.get("connection"));
  const out = new Headers();
  for (const [name, value] of incoming) {
    if (
      DROPPED_REQUEST_HEADERS.has(name) || drop?.has(name) ||
      (connection !== undefined && connection.has(name))
    ) continue;
    out.append(name, value);
  }
  // Deno's fetch decodes gzip and brotli bodies but keeps Content-Encoding; asking for identity
  // keeps the body byte for byte what the server sent.
  out.set("accept-encoding", "identity");
  return out;
}

/**
 * The headers of an upstream response passed back to the client. A response of the proxy's own
 * client is the proxy's to change (`mutable`); fetch's headers are immutable, so they are copied.
 *
 * @param headers The upstream's headers.
 * @param mutable Whether they may be changed in place.
 * @returns `headers` itself when mutable, else a copy.
 */
export function returnedResponseHeaders(headers: Headers, mutable: boolean): Headers {
  return mutable
    ? dropHeaders(headers, DROPPED_RESPONSE_HEADERS)
    : filterHeaders(headers, DROPPED_RESPONSE_HEADERS);
}

/**
 * A redirect's `Location` as the client should see it: on the upstream origin and inside its
 * prefix, pointed at the proxy's own URL; anything else unchanged (made absolute when it stays on
 * the upstream's origin outside the prefix).
 *
 * @param location The upstream's `Location`.
 * @param target The URL the request was sent to.
 * @param up The upstream.
 * @param proxyOrigin The proxy's URL, or "" to keep the location origin-relative.
 * @returns The location to pass back.
 */
export function rewriteLocation(
  location: string,
  target: URL,
  up: Upstream,
  proxyOrigin: string,
): string {
  let resolved: URL;
  try {
    resolved = new URL(location, target);
  } catch {
    return location;
  }
  if (resolved.origin !== up.url.origin) return location;
  const path = resolved.pathname;
  if (up.prefix !== "" && path !== up.prefix && !path.startsWith(`${up.prefix}/`)) {
    // Same server, outside the proxied prefix: not reachable through the proxy.
    return resolved.href;
  }
  return `${proxyOrigin}${path.slice(up.prefix.length) || "/"}${resolved.search}${resolved.hash}`;
}

/** A copy without the dropped headers and those `Connection` names. */
function filterHeaders(headers: Headers, dropped: ReadonlySet<string>): Headers {
  const connection = connectionTokens(headers.get("connection"));
  const out = new Headers();
  for (const [name, value] of headers) {
    if (dropped.has(name) || (connection !== undefined && connection.has(name))) continue;
    out.append(name, value);
  }
  return out;
}

/** Removes the dropped headers, and those `Connection` names, in place; returns `headers`. */
function dropHeaders(headers: Headers, dropped: ReadonlySet<string>): Headers {
  const connection = connectionTokens(headers.get("connection"));
  const gone: string[] = [];
  for (const [name] of headers) {
    if (dropped.has(name) || (connection !== undefined && connection.has(name))) gone.push(name);
  }
  for (const name of gone) headers.delete(name);
  return headers;
}

/** The field names listed in a `Connection` header (`close` and `keep-alive` aside). */
function connectionTokens(value: string | null): ReadonlySet<string> | undefined {
  if (value === null) return undefined;
  const tokens = value.split(",").map((t) => t.trim().toLowerCase()).filter((t) =>
    t !== "" && t !== "close" && t !== "keep-alive"
  );
  return tokens.length === 0 ? undefined : new Set(tokens);
}
