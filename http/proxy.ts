/**
 * `startProxy`: a local HTTP proxy that injects the credentials of a profile's host rule into
 * every request it forwards to one MLflow tracking server, so that any client (Python, R, Java,
 * TypeScript, curl) gets the profile's authentication with no code change.
 *
 * - Binds loopback by default; any other address needs `allowRemote` and a client token.
 * - With a client token, callers must send `Authorization: Bearer <client token>` (what MLflow
 *   clients send for `MLFLOW_TRACKING_TOKEN`); it is compared in constant time and replaced by
 *   the real credential. Without it: 401.
 * - Client-supplied `Authorization`, `Cookie`, `Proxy-Authorization` and the rule's own header
 *   names are never forwarded; hop-by-hop headers are removed both ways.
 * - Request and response bodies stream both ways; a request body is buffered only when it is
 *   small enough to be replayed after a 401 (the same limit as the middleware, 1 MiB).
 * - Redirects from the upstream are passed back, not followed; a `Location` on the upstream
 *   origin is rewritten to point at the proxy's own URL (never at the request's `Host`), any
 *   other is left untouched.
 * - Browsers are kept out: only a `Host` naming the listen address (or one of `allowedHosts`)
 *   is served, and a request with a foreign `Origin` or `Sec-Fetch-Site: cross-site|same-site`
 *   gets 403, so neither DNS rebinding nor a cross-site form can use the credential.
 * - It serves on its own HTTP/1.1 server over `Deno.listen` (see `_http_server.ts` for why not
 *   `Deno.serve` or `node:http`): a strict parser (no request smuggling), a connection bound with
 *   idle connections shed first, head, keep-alive and idle timeouts, an accept loop that survives
 *   EMFILE, the soft open-file limit raised to the hard one when `--allow-ffi` is granted; a
 *   client that goes away cancels its upstream request.
 * - Toward a plain-HTTP upstream it sends on its own HTTP/1.1 client (`_upstream.ts`): a
 *   keep-alive pool of sockets, a request body's `Content-Length` passed on (chunked only when the
 *   client sent it so), responses parsed as strictly as requests (an answer with ambiguous framing
 *   becomes a 502). An `https:` upstream, or a `fetch` given in the options, goes through `fetch`.
 * - Leak guard: the body of a write to MLflow's API (params, tags, names, log-batch, traces…)
 *   that holds a managed secret or a derived form of it is refused with a 400 naming the endpoint
 *   and the field, and never sent (`leak_guard: warn` sends it with a warning; see
 *   `leak_guard.ts`).
 * - `/__mlflow-secrets-auth/health` and `/__mlflow-secrets-auth/metrics` (Prometheus) are served
 *   by the proxy itself; they show counts, never values.
 *
 * This file starts and stops the proxy. The request path is in `_proxy_handler.ts`, which headers
 * are forwarded in `_proxy_headers.ts`, the client token check in `_client_token.ts`, the counters
 * and the Prometheus text in `proxy_metrics.ts`, the parsing of the upstream and the listen
 * address in `_proxy_address.ts`.
 *
 * A rule's `tls:` settings (a CA, a client certificate) become the `Deno.HttpClient` of the
 * requests to an https upstream; the upstream rule's files are read at start. A rule with `tls:`
 * and a plain-http upstream cannot meet (the profile refuses `tls:` on an `http://` match). A TLS
 * failure is answered 502 saying which side refused, and nginx's 400 page for a missing or
 * refused client certificate is logged as such.
 *
 * @module
 */

import { createRequestGuard } from "./_proxy_guard.ts";
import { type HttpServer, serveHttp } from "./_http_server.ts";
import { raiseOpenFileLimit } from "./_file_limit.ts";
import { createPlan, matchRule, type Plan, type PlanRule } from "../profile/plan.ts";
import type { Profile } from "../profile/profile.ts";
import type { ProviderFactory } from "../providers/types.ts";
import type { LogFormat, Logger, LogLevel } from "../core/log.ts";
import { DEFAULT_REPLAY_LIMIT } from "./request_body.ts";
import type { SecretResolver } from "../engine/resolver.ts";
import { createPlanLogger, createResolver } from "../engine/resolver_setup.ts";
import { formatHostPort, isLoopback, parseListen, parseUpstream } from "./_proxy_address.ts";
import { describe, jsonError, ProxyHandler } from "./_proxy_handler.ts";
import { formatPrometheus, type ProxyMetrics } from "./proxy_metrics.ts";
import { RuleTlsClients } from "./_tls_clients.ts";

/** Options of {@linkcode startProxy}. */
export interface ProxyOptions {
  /** The tracking server to forward to, e.g. `https://mlflow.company.com`; may carry a path prefix. */
  readonly upstream: string | URL;
  /**
   * Address to bind: `host:port` (`127.0.0.1:5055`, `[::1]:0`, `localhost:5055`), or an object.
   * Default `127.0.0.1:0` (an ephemeral port; read it from the handle's `url`).
   */
  readonly listen?: string | { readonly hostname?: string; readonly port?: number };
  /** Allow a non-loopback address. A client token is then required too. */
  readonly allowRemote?: boolean;
  /**
   * More `Host` values to serve besides the listen address (`127.0.0.1:PORT` or `[::1]:PORT` as
   * bound, and `localhost:PORT`): `name:port`, `name` for any port, or `*` for any. For clients
   * that reach a remote proxy by name (`allowRemote`). Every other `Host` gets 403, so a web page
   * cannot use the proxy through DNS rebinding.
   */
  readonly allowedHosts?: readonly string[];
  /** When set, clients must send `Authorization: Bearer <clientToken>`. */
  readonly clientToken?: string;
  /**
   * With a client token, also serve a request that carries no `Authorization` at all when the
   * socket it comes from belongs to the proxy's own user (Linux: the owners of both ends are read
   * from `/proc/net/tcp` and `/proc/net/tcp6`, once per connection). For clients that never send
   * `MLFLOW_TRACKING_TOKEN` (the MLflow Java client): a process of the same user could read the
   * token from the client's environment anyway. Anywhere the owner cannot be told (another OS,
   * the tables unreadable, another network namespace) the token stays required. Refused with
   * `allowRemote`. Default false.
   */
  readonly acceptSameUser?: boolean;
  /** A resolver to share (cache, single-flight, redactor). Default: a new one, closed at shutdown. */
  readonly resolver?: SecretResolver;
  /** fetch used for upstream requests only. */
  readonly fetch?: typeof fetch;
  /** Transport of a new resolver's providers (see `AuthFetchOptions.providerFetch`). */
  readonly providerFetch?: typeof fetch;
  /** Logger for access lines (level info) and failures. Default: stderr, redacting. */
  readonly logger?: Logger;
  /** Level of the default logger. Default: `MLFLOW_SECRETS_AUTH_LOG_LEVEL`, else the profile's. */
  readonly logLevel?: LogLevel;
  /** Format of the default logger. Default: `MLFLOW_SECRETS_AUTH_LOG_FORMAT`, else the profile's. */
  readonly logFormat?: LogFormat;
  /** Receives the default logger's lines. Default: stderr. */
  readonly logWrite?: (line: string) => void;
  /** Write one access line per request (level info). Default true. */
  readonly accessLog?: boolean;
  /** Environment lookup for a new resolver's providers. Default: the process environment. */
  readonly env?: (name: string) => string | undefined;
  /** Provider factories for a new resolver (tests). */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
  /** Clock for a new resolver. */
  readonly now?: () => number;
  /** Largest request body buffered so it can be replayed after a 401. Default 1 MiB. */
  readonly maxReplayBytes?: number;
  /**
   * Most client connections open at once. Past it, the connection idle the longest is closed to
   * make room, or the new one gets 503. Default: half the open-file limit less a reserve (each
   * connection may hold one toward the upstream), 480 under a limit of 1,024; 512 when the limit
   * cannot be read (no `--allow-ffi`).
   */
  readonly maxConnections?: number;
  /** Time a client has to send a whole request head (slow-header clients). Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Time a kept-alive connection may wait for its next request. Default 30 s. */
  readonly keepAliveTimeoutMs?: number;
  /** Time a request body or a response may make no progress. Default 60 s. */
  readonly idleTimeoutMs?: number;
  /** Largest request head accepted (431 past it). Default 64 KiB. */
  readonly maxHeaderBytes?: number;
  /** How long `shutdown()` waits for in-flight requests before aborting them. Default 30 s. */
  readonly drainTimeoutMs?: number;
  /** Shuts the proxy down when aborted. */
  readonly signal?: AbortSignal;
}

/** A running proxy. */
export interface ProxyHandle {
  /** Base URL of the proxy, e.g. `http://127.0.0.1:41234`: the tracking URI for clients. */
  readonly url: string;
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The upstream, normalised. */
  readonly upstream: string;
  /** The rule the upstream matched. */
  readonly rule: PlanRule;
  /** The resolver in use. */
  readonly resolver: SecretResolver;
  /** A snapshot of the counters. */
  readonly metrics: ProxyMetrics;
  /** The metrics in Prometheus text format. */
  prometheus(): string;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting connections, lets in-flight requests finish (aborting them after the drain
   * timeout), then closes the resolver if the proxy created it. Safe to call twice.
   */
  shutdown(): Promise<void>;
  /** Same as `shutdown()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts the auth proxy.
 *
 * @param profile A validated profile, or a plan.
 * @param options Upstream, address, client token, resolver, logging.
 * @returns A handle: its `url` is the tracking URI to give clients.
 * @throws {TypeError} when the upstream is not an http(s) URL, matches no host rule or has
 *   userinfo; when the address cannot be parsed, or is not loopback and `allowRemote` or a client
 *   token is missing; when the client token is shorter than 16 characters, or `acceptSameUser` comes
 *   with `allowRemote`.
 * @throws {Error} when the address cannot be bound; its `cause` is Deno's error (e.g.
 *   `Deno.errors.AddrInUse`).
 *
 * @example
 * ```ts
 * import { parseProfile } from "../mod.ts";
 * import { startProxy } from "./proxy.ts";
 * const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) =>
 *   new Response(req.headers.get("authorization") ?? "none"));
 * const origin = `http://127.0.0.1:${upstream.addr.port}`;
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "${origin}", provider: ci, secret: { var: T }, auth: bearer }]
 * `, { env: {} });
 * await using proxy = await startProxy(profile, {
 *   upstream: origin,
 *   env: (n) => n === "T" ? "tok-123" : undefined,
 *   accessLog: false,
 * });
 * const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
 * if (await res.text() !== "Bearer tok-123") throw new Error("not injected");
 * await upstream.shutdown();
 * ```
 */
export async function startProxy(
  profile: Profile | Plan,
  options: ProxyOptions,
): Promise<ProxyHandle> {
  const plan = "rules" in profile ? profile : createPlan(profile);
  const upstream = parseUpstream(options.upstream);
  const rule = matchRule(plan, upstream.url);
  if (rule === undefined) {
    throw new TypeError(
      `Cannot start the proxy: upstream "${upstream.url.href}" matches no host rule of profile "${plan.source}"; add a rule whose match covers it, or fix the upstream`,
    );
  }
  if (rule.tls !== undefined && upstream.url.protocol !== "https:") {
    throw new TypeError(
      `Cannot start the proxy: rule ${rule.label} has tls settings but upstream "${upstream.url.origin}" is plain http; use its https:// URL`,
    );
  }
  const listen = parseListen(options.listen ?? "127.0.0.1:0");
  if (!isLoopback(listen.hostname)) {
    if (!options.allowRemote) {
      throw new TypeError(
        `Cannot start the proxy on "${listen.hostname}": it is not a loopback address; bind 127.0.0.1, or pass --allow-remote together with a client token`,
      );
    }
    if (options.clientToken === undefined || options.clientToken === "") {
      throw new TypeError(
        `Cannot start the proxy on "${listen.hostname}": a non-loopback address needs a client token; set one with --client-token-env`,
      );
    }
  }
  if (options.acceptSameUser && options.allowRemote) {
    throw new TypeError(
      "Cannot start the proxy: accepting requests from the same user without the client token is for a loopback proxy only; drop it or --allow-remote",
    );
  }
  if (options.clientToken !== undefined && options.clientToken.length < 16) {
    throw new TypeError(
      "Cannot start the proxy: the client token is shorter than 16 characters; use a long random value",
    );
  }

  // The upstream rule's TLS files are read now: a missing or unusable one stops the start.
  const tlsClients = new RuleTlsClients(plan.source);
  tlsClients.get(rule);
  const ownResolver = options.resolver === undefined;
  const resolver = options.resolver ?? createResolver(plan, options);
  const logger = options.logger ?? createPlanLogger(plan, options, resolver.redactor);
  if (options.clientToken !== undefined) resolver.redactor.add(options.clientToken);

  const handler = new ProxyHandler({
    plan,
    upstream,
    resolver,
    logger,
    fetch: options.fetch,
    tlsClients,
    clientToken: options.clientToken,
    acceptSameUser: options.acceptSameUser === true,
    accessLog: options.accessLog ?? true,
    replayLimit: options.maxReplayBytes ?? DEFAULT_REPLAY_LIMIT,
  });

  const fileLimit = raiseOpenFileLimit();
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: listen.hostname, port: listen.port });
  } catch (cause) {
    tlsClients.close();
    if (ownResolver) await resolver.close();
    const why = cause instanceof Deno.errors.AddrInUse
      ? "the address is in use; pick another port"
      : cause instanceof Deno.errors.AddrNotAvailable
      ? "the address is not available on this machine"
      : cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable
      ? "permission denied; check --allow-net"
      : describe(cause);
    throw new Error(
      `Cannot start the proxy on "${formatHostPort(listen.hostname, listen.port)}": ${why}`,
      { cause },
    );
  }
  const server: HttpServer = serveHttp({
    listener,
    maxConnections: options.maxConnections ?? defaultMaxConnections(fileLimit?.soft),
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    maxHeaderBytes: options.maxHeaderBytes ?? 64 * 1024,
    onError(error) {
      logger.error("proxy handler failed", { error: describe(error) });
      return jsonError(500, "INTERNAL_ERROR", "The auth proxy failed; see its log");
    },
    onAcceptError(error, open) {
      logger.warn("cannot accept a connection; closing idle ones and retrying", {
        error: describe(error),
        open,
        ...(fileLimit === undefined ? {} : { fileLimit: fileLimit.soft }),
      });
    },
  }, (req, info) => handler.handle(req, info));
  handler.server = server;
  const addr = server.addr;
  const url = `http://${formatHostPort(addr.hostname, addr.port)}`;
  handler.bind(
    createRequestGuard(addr, options.allowedHosts),
    // Bound to every interface, the proxy has no one URL: a Location stays origin-relative.
    addr.hostname === "0.0.0.0" || addr.hostname === "::" ? "" : url,
  );

  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      const timer = setTimeout(() => {
        handler.abortAll();
        server.closeAll();
      }, drainTimeoutMs);
      try {
        await server.shutdown();
      } finally {
        clearTimeout(timer);
        handler.close();
        options.signal?.removeEventListener("abort", onAbort);
        if (ownResolver) await resolver.close();
      }
    })();
    return stopping;
  };
  const onAbort = (): void => void shutdown();
  if (options.signal?.aborted) await shutdown();
  else options.signal?.addEventListener("abort", onAbort, { once: true });

  return {
    url,
    addr,
    upstream: upstream.url.href,
    rule,
    resolver,
    get metrics() {
      return handler.snapshot();
    },
    prometheus: () => formatPrometheus(handler.snapshot()),
    finished: server.finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/** Half the open-file limit less a reserve for the resolver, logs and upstream pool. */
function defaultMaxConnections(fileLimit: number | undefined): number {
  if (fileLimit === undefined) return 512;
  return Math.max(16, Math.min(10_000, Math.floor((fileLimit - 64) / 2)));
}
