/**
 * Host rule patterns: `scheme://host[:port][/path-prefix]`, with an optional leading `*.` label
 * wildcard. This is the allowlist: a URL gets a secret only when a pattern matches it.
 *
 * @module
 */

import { maskUserinfo } from "../core/_display_url.ts";
import { isLoopbackHost } from "../core/loopback.ts";

/** A compiled pattern. */
export interface HostPattern {
  /** `http:` or `https:`. */
  readonly protocol: "http:" | "https:";
  /** Lower-case ASCII (punycode) host without a trailing dot; IPv6 in brackets. */
  readonly host: string;
  /** True for `*.host`: one or more whole labels before `host`. */
  readonly wildcard: boolean;
  /** Effective port (default ports filled in). */
  readonly port: number;
  /** Path prefix without a trailing slash; empty for all paths. */
  readonly path: string;
  /** Canonical text, e.g. `https://*.company.com:443/mlflow`. */
  readonly canonical: string;
}

const DEFAULT_PORT = { "http:": 80, "https:": 443 } as const;

/**
 * Compiles a pattern.
 *
 * @param text The rule's `match`.
 * @returns The compiled pattern.
 * @throws {TypeError} saying what is wrong, for the validator to report.
 *
 * @example
 * ```ts
 * import { compileHostPattern, matchesHostPattern } from "./host_match.ts";
 * const p = compileHostPattern("https://*.company.com");
 * if (!matchesHostPattern(p, new URL("https://a.b.company.com/api"))) throw new Error("no match");
 * if (matchesHostPattern(p, new URL("https://company.com/"))) throw new Error("bare domain");
 * ```
 */
export function compileHostPattern(text: string): HostPattern {
  // Messages quote the pattern back: never with a password in it.
  const shown = maskUserinfo(text);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(text.trim());
  if (m === null) {
    throw new TypeError(
      `"${shown}" is not scheme://host[:port][/path]; write e.g. "https://mlflow.company.com"`,
    );
  }
  const scheme = m[1]!.toLowerCase();
  let authority = m[2]!;
  const rawPath = m[3]!;
  if (scheme !== "http" && scheme !== "https") {
    throw new TypeError(`"${shown}" uses scheme "${scheme}"; only http and https are supported`);
  }
  if (authority.includes("@")) {
    throw new TypeError(`"${shown}" contains userinfo ("@"); write only the host`);
  }
  let wildcard = false;
  if (authority.startsWith("*.")) {
    wildcard = true;
    authority = authority.slice(2);
  }
  if (authority.includes("*")) {
    throw new TypeError(`"${shown}" has "*" somewhere else than a leading "*." label`);
  }
  if (authority === "" || authority.startsWith(":")) {
    throw new TypeError(`"${shown}" has no host`);
  }
  let url: URL;
  try {
    url = new URL(`${scheme}://${authority}${rawPath}`);
  } catch {
    throw new TypeError(`"${shown}" is not a valid URL`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TypeError(`"${shown}" has a query or fragment; remove it`);
  }
  const protocol = url.protocol as "http:" | "https:";
  const host = normaliseHost(url.hostname);
  if (wildcard && (host.startsWith("[") || /^[0-9.]+$/.test(host))) {
    throw new TypeError(`"${shown}" puts a wildcard before an IP address`);
  }
  if (wildcard && !host.includes(".")) {
    throw new TypeError(
      `"${shown}" wildcards a top-level domain; name at least two labels after "*."`,
    );
  }
  const port = url.port === "" ? DEFAULT_PORT[protocol] : Number(url.port);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/+$/, "");
  const portText = port === DEFAULT_PORT[protocol] ? "" : `:${port}`;
  return {
    protocol,
    host,
    wildcard,
    port,
    path,
    canonical: `${protocol}//${wildcard ? "*." : ""}${host}${portText}${path}`,
  };
}

/**
 * Tells whether a URL falls under a pattern. A URL with userinfo never matches.
 *
 * @param pattern A compiled pattern.
 * @param url The request URL.
 * @returns Whether the pattern covers the URL.
 */
export function matchesHostPattern(pattern: HostPattern, url: URL): boolean {
  if (url.username !== "" || url.password !== "") return false;
  if (url.protocol !== pattern.protocol) return false;
  const port = url.port === "" ? DEFAULT_PORT[pattern.protocol] : Number(url.port);
  if (port !== pattern.port) return false;
  const host = normaliseHost(url.hostname);
  // Over plain http, a loopback rule covers loopback only: `localhost.` goes to DNS.
  if (
    pattern.protocol === "http:" && !isLoopbackHost(url.hostname) && isLoopbackHost(pattern.host)
  ) {
    return false;
  }
  if (pattern.wildcard) {
    if (!host.endsWith(`.${pattern.host}`)) return false;
    const labels = host.slice(0, -pattern.host.length - 1);
    if (labels === "" || labels.split(".").some((l) => l === "")) return false;
  } else if (host !== pattern.host) {
    return false;
  }
  if (pattern.path === "") return true;
  if (url.pathname === pattern.path) return true;
  if (!url.pathname.startsWith(`${pattern.path}/`)) return false;
  // Below a path prefix, refuse what some servers decode into a way out of it: encoded slashes,
  // backslashes and dots, and ";" path parameters (`/mlflow/..%2fadmin`, `/mlflow/..;/admin`).
  return !ESCAPES_PREFIX.test(url.pathname.slice(pattern.path.length));
}

const ESCAPES_PREFIX = /%2f|%5c|%2e|;/i;

/**
 * Specificity, for sorting most specific first: exact hosts before wildcards, longer host
 * suffixes before shorter ones, longer path prefixes before shorter ones.
 */
export function specificity(p: HostPattern): readonly [number, number, number] {
  return [p.wildcard ? 0 : 1, p.host.split(".").length, p.path.split("/").length];
}

export { isLoopbackHost };

function normaliseHost(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, "");
}
