/**
 * The proxy's defence against being used by a web page: DNS rebinding (a page whose name now
 * resolves to 127.0.0.1 sends `Host: rebind.attacker.example:PORT`) and cross-site requests
 * (a page on another site posts to `http://127.0.0.1:PORT`). Only `Host` values that name the
 * listen address are served, and a request a browser marks as coming from another origin is
 * refused. Clients that are not browsers (MLflow's Python and Java clients, curl, `fetch` in Deno)
 * send neither `Origin` nor `Sec-Fetch-Site`, and a `Host` naming the address they connected to.
 *
 * @module
 */

/** Decides whether a request may be served, from its `Host`, `Origin` and `Sec-Fetch-Site`. */
export interface RequestGuard {
  /**
   * Checks one request's headers.
   *
   * @returns `undefined` to serve it, or why it is refused (status and message).
   */
  check(
    host: string | null,
    origin: string | null,
    fetchSite: string | null,
  ): GuardRefusal | undefined;
  /** The accepted `Host` values, for messages and docs (`*` for any). */
  readonly accepted: readonly string[];
}

/** A refused request: the status to answer and a message for the client. */
export interface GuardRefusal {
  readonly status: 400 | 403;
  readonly reason: "host" | "cross_site";
  readonly message: string;
}

/**
 * Builds the guard for a bound address.
 *
 * Accepted `Host` values, compared without regard to case, always with the bound port (a
 * `Host` without a port means port 80):
 * - the bound IP literal (`127.0.0.1:PORT`, `[::1]:PORT`), and `localhost:PORT`;
 * - when bound to every interface (`0.0.0.0`, `::`), any IP literal: a name is what rebinding
 *   needs, an address cannot be rebound;
 * - each `allowed` entry: `name:port` exactly, `name` with any port or none, `*` for anything.
 *
 * A request is refused as cross-site when `Sec-Fetch-Site` is `cross-site` or `same-site`, or
 * when it has an `Origin` (`null` included) whose host is not an accepted `Host` value.
 *
 * @param bound The bound address (as the listener reports it).
 * @param allowed Extra `Host` values (e.g. the name remote clients use with `allowRemote`).
 * @returns The guard.
 */
export function createRequestGuard(
  bound: { readonly hostname: string; readonly port: number },
  allowed: readonly string[] = [],
): RequestGuard {
  const port = bound.port;
  const literal = bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname;
  const wildcard = bound.hostname === "0.0.0.0" || bound.hostname === "::";
  const own = new Set([literal.toLowerCase(), "localhost"]);
  const any = allowed.some((a) => a.trim() === "*");
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  for (const entry of allowed) {
    const parsed = parseHost(entry.trim().toLowerCase());
    if (parsed === undefined) continue;
    (parsed.port === undefined ? anyPort : exact).add(
      parsed.port === undefined ? parsed.name : `${parsed.name}:${parsed.port}`,
    );
  }
  const accepts = (value: string): boolean => {
    if (any) return true;
    const parsed = parseHost(value.toLowerCase());
    if (parsed === undefined) return false;
    const p = parsed.port ?? 80;
    if (p === port && (own.has(parsed.name) || (wildcard && isIpLiteral(parsed.name)))) {
      return true;
    }
    return anyPort.has(parsed.name) || exact.has(`${parsed.name}:${p}`);
  };
  const accepted = any ? ["*"] : [
    `${literal}:${port}`,
    `localhost:${port}`,
    ...(wildcard ? [`<any IP address>:${port}`] : []),
    ...exact,
    ...anyPort,
  ];
  const list = accepted.map((a) => `"${a}"`).join(", ");
  return {
    accepted,
    check(host, origin, fetchSite) {
      if (host === null || host === "") {
        return {
          status: 400,
          reason: "host",
          message: "The auth proxy needs a Host header; send HTTP/1.1 with Host",
        };
      }
      if (!accepts(host)) {
        return {
          status: 403,
          reason: "host",
          message:
            `The auth proxy refuses Host ${quote(host)}: it answers only to ${list} (a web page ` +
            `reaching it through DNS rebinding uses another name); use one of those in the ` +
            `tracking URI, or start the proxy with --allowed-host for another name`,
        };
      }
      const site = fetchSite?.trim().toLowerCase();
      if (site === "cross-site" || site === "same-site") {
        return {
          status: 403,
          reason: "cross_site",
          message:
            `The auth proxy refuses requests a browser sends from another site (Sec-Fetch-Site: ` +
            `${site}): a web page must not use its credential`,
        };
      }
      if (origin !== null && !originAccepted(origin, accepts)) {
        return {
          status: 403,
          reason: "cross_site",
          message: `The auth proxy refuses requests from Origin ${
            quote(origin)
          }: a web page on another origin must not use its credential`,
        };
      }
      return undefined;
    },
  };
}

function originAccepted(origin: string, accepts: (host: string) => boolean): boolean {
  const m = /^(https?):\/\/([^/?#@\s]+)$/i.exec(origin.trim());
  if (m === null) return false; // "null", other schemes, paths: not ours.
  const host = m[2]!;
  // An origin omits its default port; the Host check then compares port 80.
  if (m[1]!.toLowerCase() === "https" && !/:\d+$/.test(host)) return accepts(`${host}:443`);
  return accepts(host);
}

/** Splits `name[:port]` (IPv6 in brackets); `undefined` when it is not a valid host. */
function parseHost(value: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/.exec(value);
  if (m === null) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return undefined;
  return { name: m[1]!, port };
}

function isIpLiteral(name: string): boolean {
  if (name.startsWith("[")) return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return v4 !== null && v4.slice(1).every((o) => Number(o) <= 255);
}

/** Quotes a client-supplied value for a message: bounded, control characters escaped. */
function quote(value: string): string {
  const short = value.length > 100 ? `${value.slice(0, 100)}…` : value;
  return JSON.stringify(short);
}
