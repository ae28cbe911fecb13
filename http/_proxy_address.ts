/**
 * The proxy's addresses: the upstream URL it forwards to and the `host:port` it listens on (the
 * `listen` option, the CLI's `--listen`), parsed and checked before anything is bound.
 *
 * @module
 */

import { isLoopbackHost } from "../core/loopback.ts";
import { invalidUrlCause, maskUserinfo } from "../core/_display_url.ts";

/** A parsed upstream: its URL (no query, no fragment) and its path prefix without trailing `/`. */
export interface Upstream {
  readonly url: URL;
  readonly prefix: string;
}

/**
 * Parses and checks the upstream: an absolute http(s) URL without userinfo; query and fragment
 * are dropped.
 *
 * @param value The upstream as given.
 * @returns Its URL and path prefix.
 * @throws {TypeError} when it is not an absolute http(s) URL or carries userinfo.
 */
export function parseUpstream(value: string | URL): Upstream {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError(
      `Cannot start the proxy: upstream "${
        maskUserinfo(String(value))
      }" is not an absolute URL; pass e.g. https://mlflow.company.com`,
      { cause: invalidUrlCause(String(value)) },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `Cannot start the proxy: upstream "${url.protocol}//…" is not http or https; pass the tracking server's URL`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(
      "Cannot start the proxy: the upstream URL carries userinfo (user:password@); remove it, the credential comes from the profile",
    );
  }
  url.search = "";
  url.hash = "";
  const prefix = url.pathname.replace(/\/+$/, "");
  return { url, prefix };
}

/**
 * Parses a listen address: `host:port`, `[v6]:port`, `:port` or `port` (host 127.0.0.1).
 *
 * @param value The address.
 * @returns Host name (IPv6 without brackets) and port.
 * @throws {TypeError} when it cannot be parsed.
 *
 * @example
 * ```ts
 * import { parseListen } from "./_proxy_address.ts";
 * const a = parseListen("[::1]:5055");
 * if (a.hostname !== "::1" || a.port !== 5055) throw new Error("wrong");
 * ```
 */
export function parseListen(
  value: string | { readonly hostname?: string; readonly port?: number },
): { hostname: string; port: number } {
  if (typeof value !== "string") {
    return { hostname: value.hostname ?? "127.0.0.1", port: value.port ?? 0 };
  }
  const text = value.trim();
  let hostname: string;
  let portText: string;
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(text);
  if (/^\d+$/.test(text)) {
    hostname = "127.0.0.1";
    portText = text;
  } else if (v6 !== null) {
    hostname = v6[1]!;
    portText = v6[2]!;
  } else {
    const colon = text.lastIndexOf(":");
    hostname = colon < 0 ? "" : text.slice(0, colon);
    portText = colon < 0 ? "" : text.slice(colon + 1);
    if (hostname.includes(":") || hostname.includes("/")) portText = "";
    if (hostname === "") hostname = "127.0.0.1";
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new TypeError(
      `Cannot use listen address "${text}": expected host:port, e.g. 127.0.0.1:5055 or [::1]:5055`,
    );
  }
  return { hostname, port };
}

/** Whether a host name is loopback (see {@linkcode isLoopbackHost}). */
export const isLoopback: (hostname: string) => boolean = isLoopbackHost;

/** `host:port`, an IPv6 host in brackets. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
