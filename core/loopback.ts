/**
 * The one loopback test, shared by host rules, the Vault address check and the proxy's listen
 * address.
 *
 * @module
 */

/**
 * Whether a host is loopback: exactly `localhost`, an address in 127.0.0.0/8, or `::1` (with or
 * without brackets). Case does not matter. A trailing dot does: `localhost.` is a fully qualified
 * name that resolvers send to a DNS server, like `x.localhost`, so neither is loopback. (WHATWG URL
 * already turns `127.0.0.1.` into `127.0.0.1`; as written elsewhere it is refused too.)
 *
 * @param hostname A host name or IP literal, as WHATWG URL gives it or as written.
 * @returns True for loopback.
 *
 * @example
 * ```ts
 * import { isLoopbackHost } from "./loopback.ts";
 * if (!isLoopbackHost("[::1]") || isLoopbackHost("127.0.0.256")) throw new Error("wrong");
 * if (isLoopbackHost("localhost.")) throw new Error("a trailing dot goes to DNS");
 * ```
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return v4 !== null && v4.slice(1).every((o) => Number(o) <= 255);
}
