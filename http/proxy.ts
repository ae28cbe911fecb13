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
 * - `/__mlflow-secrets-auth/health` and `/__mlflow-secrets-auth/metrics` (Prometheus) are served
 *   by the proxy itself; they show counts, never values.
 *
 * @module
 */

import { isLoopbackHost } from "../core/loopback.ts";
import { createRequestGuard, type RequestGuard } from "./_proxy_guard.ts";
import {
  type ConnectionInfo,
  type HttpServer,
  type HttpServerStats,
  serveHttp,
} from "./_http_server.ts";
import { sameUserPeer } from "./_peer_uid.ts";
import { raiseOpenFileLimit } from "./_file_limit.ts";
import { invalidUrlCause, maskUserinfo } from "../core/_display_url.ts";
import { UpstreamPool, type UpstreamRequest } from "./_upstream.ts";
import { createPlan, matchRule, type Plan, type PlanRule } from "../profile/plan.ts";
import type { Profile } from "../profile/profile.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { SecretResolutionError, UsageError } from "../core/errors.ts";
import type { LogFields, LogFormat, Logger, LogLevel } from "../core/log.ts";
import { bodyInit, DEFAULT_REPLAY_LIMIT, prepareBody, type PreparedBody } from "./request_body.ts";
import {
  createPlanLogger,
  createResolver,
  type RuleHeaders,
  type SecretResolver,
} from "../engine/resolver.ts";

/** Path prefix the proxy keeps for itself; MLflow has nothing under it. */
export const RESERVED_PREFIX = "/__mlflow-secrets-auth/";

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

/** Status classes counted for upstream responses. */
export type StatusClass = "1xx" | "2xx" | "3xx" | "4xx" | "5xx";

/** A snapshot of the proxy's counters. Counts only, never values. */
export interface ProxyMetrics {
  /** Requests received (the reserved prefix excluded). */
  readonly requests: number;
  /** Requests waiting for the upstream's response headers. */
  readonly inFlight: number;
  /** Upstream responses by status class (a 401 answered by a refresh and retry counts twice). */
  readonly upstreamStatus: Readonly<Record<StatusClass, number>>;
  /**
   * Requests answered by the proxy itself: bad client token (401), secret unavailable (503),
   * upstream unreachable (502), a `Host` not its own (403, 400 without one), a cross-site browser
   * request (403).
   */
  readonly rejected: {
    readonly clientToken: number;
    readonly host: number;
    readonly crossSite: number;
    /** The client went away before its answer; the upstream request was cancelled. */
    readonly clientClosed: number;
    readonly secretUnavailable: number;
    readonly upstreamError: number;
  };
  /** Requests retried after a 401 with a refreshed credential. */
  readonly retriedAfterRefresh: number;
  /** Time from request to upstream response headers. */
  readonly latency: {
    readonly count: number;
    readonly sumSeconds: number;
    /** Cumulative bucket counts, `le` in seconds. */
    readonly buckets: readonly { readonly le: number; readonly count: number }[];
  };
  /** Client connections: open now, and counts since start. */
  readonly connections: ProxyConnectionStats;
  /** Successful secret fetches from providers. */
  readonly secretFetches: number;
  /** Provider calls, retries included. */
  readonly providerCalls: number;
  /** Secret lookups answered by the cache. */
  readonly cacheHits: number;
  /** Secret lookups that missed the cache. */
  readonly cacheMisses: number;
  /** Secret refreshes forced by a tracking-server status (401). */
  readonly refreshes: number;
}

/** Client connection counts of the proxy: those of its HTTP server. Counts only. */
export type ProxyConnectionStats = HttpServerStats;

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

const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];
const encoder = new TextEncoder();

/**
 * Starts the auth proxy.
 *
 * @param profile A validated profile, or a plan.
 * @param options Upstream, address, client token, resolver, logging.
 * @returns A handle: its `url` is the tracking URI to give clients.
 * @throws {UsageError} when the upstream is not an http(s) URL, matches no host rule or has
 *   userinfo; when the address is not loopback and `allowRemote` or a client token is missing;
 *   or when the address cannot be bound.
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
    throw new UsageError(
      `Cannot start the proxy: upstream "${upstream.url.href}" matches no host rule of profile "${plan.source}"; add a rule whose match covers it, or fix the upstream`,
    );
  }
  const listen = parseListen(options.listen ?? "127.0.0.1:0");
  if (!isLoopback(listen.hostname)) {
    if (!options.allowRemote) {
      throw new UsageError(
        `Cannot start the proxy on "${listen.hostname}": it is not a loopback address; bind 127.0.0.1, or pass --allow-remote together with a client token`,
      );
    }
    if (options.clientToken === undefined || options.clientToken === "") {
      throw new UsageError(
        `Cannot start the proxy on "${listen.hostname}": a non-loopback address needs a client token; set one with --client-token-env`,
      );
    }
  }
  if (options.acceptSameUser && options.allowRemote) {
    throw new UsageError(
      "Cannot start the proxy: accepting requests from the same user without the client token is for a loopback proxy only; drop it or --allow-remote",
    );
  }
  if (options.clientToken !== undefined && options.clientToken.length < 16) {
    throw new UsageError(
      "Cannot start the proxy: the client token is shorter than 16 characters; use a long random value",
    );
  }

  const ownResolver = options.resolver === undefined;
  const resolver = options.resolver ?? createResolver(plan, options);
  const logger = options.logger ?? createPlanLogger(plan, options, resolver.redactor);
  if (options.clientToken !== undefined) resolver.redactor.add(options.clientToken);

  const core = new ProxyCore({
    plan,
    upstream,
    resolver,
    logger,
    fetch: options.fetch,
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
    if (ownResolver) await resolver.close();
    const why = cause instanceof Deno.errors.AddrInUse
      ? "the address is in use; pick another port"
      : cause instanceof Deno.errors.AddrNotAvailable
      ? "the address is not available on this machine"
      : cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable
      ? "permission denied; check --allow-net"
      : describe(cause);
    throw new UsageError(
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
  }, (req, info) => core.handle(req, info));
  core.server = server;
  const addr = server.addr;
  const url = `http://${formatHostPort(addr.hostname, addr.port)}`;
  core.bind(
    createRequestGuard(addr, options.allowedHosts),
    // Bound to every interface, the proxy has no one URL: a Location stays origin-relative.
    addr.hostname === "0.0.0.0" || addr.hostname === "::" ? "" : url,
  );

  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      const timer = setTimeout(() => {
        core.abortAll();
        server.closeAll();
      }, drainTimeoutMs);
      try {
        await server.shutdown();
      } finally {
        clearTimeout(timer);
        core.close();
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
      return core.snapshot();
    },
    prometheus: () => formatPrometheus(core.snapshot()),
    finished: server.finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

interface CoreOptions {
  readonly plan: Plan;
  readonly upstream: Upstream;
  readonly resolver: SecretResolver;
  readonly logger: Logger;
  /** A fetch to send with instead of the proxy's own HTTP/1.1 client (tests, TLS settings). */
  readonly fetch: typeof fetch | undefined;
  readonly clientToken: string | undefined;
  readonly acceptSameUser: boolean;
  readonly accessLog: boolean;
  readonly replayLimit: number;
}

/** The request handler and its counters. */
class ProxyCore {
  readonly #o: CoreOptions;
  readonly #token: Uint8Array | undefined;
  readonly #dropByRule = new Map<number, ReadonlySet<string>>();
  /** Per connection: whether its peer is a socket of the proxy's own user. */
  readonly #peers = new WeakMap<ConnectionInfo, Promise<boolean>>();
  readonly #abort = new AbortController();
  /** The proxy's own keep-alive client, for a plain-HTTP upstream when no fetch is given. */
  readonly #pool: UpstreamPool | undefined;
  #guard: RequestGuard | undefined;
  server: HttpServer | undefined;
  #ownOrigin = "";
  #rejectedHost = 0;
  #clientClosed = 0;
  #rejectedCrossSite = 0;
  #requests = 0;
  #inFlight = 0;
  #rejectedToken = 0;
  #rejectedSecret = 0;
  #rejectedUpstream = 0;
  #retried = 0;
  readonly #status: Record<StatusClass, number> = {
    "1xx": 0,
    "2xx": 0,
    "3xx": 0,
    "4xx": 0,
    "5xx": 0,
  };
  readonly #bucketCounts: number[] = BUCKETS.map(() => 0);
  #latencyCount = 0;
  #latencySum = 0;

  constructor(options: CoreOptions) {
    this.#o = options;
    this.#pool = options.fetch === undefined && options.upstream.url.protocol === "http:"
      ? new UpstreamPool(options.upstream.url)
      : undefined;
    this.#token = options.clientToken === undefined
      ? undefined
      : encoder.encode(options.clientToken);
    for (const rule of options.plan.rules) {
      this.#dropByRule.set(
        rule.index,
        new Set([rule.authHeader, ...Object.keys(rule.headers)].map((h) => h.toLowerCase())),
      );
    }
  }

  /** Sets what is known once the address is bound: the request guard and the proxy's URL. */
  bind(guard: RequestGuard, ownOrigin: string): void {
    this.#guard = guard;
    this.#ownOrigin = ownOrigin;
  }

  abortAll(): void {
    this.#abort.abort(new DOMException("The proxy is shutting down", "AbortError"));
  }

  /** Closes the idle upstream connections. */
  close(): void {
    this.#pool?.close();
  }

  async handle(req: Request, info: ConnectionInfo): Promise<Response> {
    const started = performance.now();
    const remote = info.remoteAddr;
    const url = new URL(req.url);
    const refusal = this.#guard?.check(
      req.headers.get("host"),
      req.headers.get("origin"),
      req.headers.get("sec-fetch-site"),
    ) ?? (this.#guard === undefined
      ? { status: 503 as const, reason: "host" as const, message: "The proxy is starting" }
      : undefined);
    if (refusal !== undefined) {
      if (refusal.reason === "host") this.#rejectedHost++;
      else this.#rejectedCrossSite++;
      this.#access(req, url, remote, refusal.status, started, { rejected: refusal.reason });
      return jsonError(
        refusal.status,
        refusal.status === 400 ? "BAD_REQUEST" : "PERMISSION_DENIED",
        refusal.message,
        { "cache-control": "no-store" },
      );
    }
    if (url.pathname.startsWith(RESERVED_PREFIX)) return this.#reserved(req, url);
    this.#requests++;

    const authorization = req.headers.get("authorization");
    if (
      this.#token !== undefined && !this.#tokenMatches(authorization) &&
      !(authorization === null && this.#o.acceptSameUser && await this.#sameUser(info))
    ) {
      this.#rejectedToken++;
      this.#access(req, url, remote, 401, started, { rejected: "client_token" });
      return jsonError(
        401,
        "UNAUTHENTICATED",
        "The auth proxy needs its client token: send Authorization: Bearer <token> (set MLFLOW_TRACKING_TOKEN, or run the client under `mlflow-secrets-auth exec`)",
        { "www-authenticate": 'Bearer realm="mlflow-secrets-auth"' },
      );
    }

    const up = this.#o.upstream;
    const target = new URL(`${up.url.origin}${up.prefix}${url.pathname}${url.search}`);
    const rule = matchRule(this.#o.plan, target);
    const headers = this.#requestHeaders(req.headers, rule);
    // The server aborts req.signal when the client goes away before its answer is written; the
    // proxy's own signal aborts what is left when a drain times out. Either cancels the upstream
    // request, or the upstream body being streamed back.
    const signal = AbortSignal.any([this.#abort.signal, req.signal]);
    this.#inFlight++;
    let refreshed = false;
    let response: Response;
    try {
      let body: PreparedBody;
      const declared = req.headers.get("content-length");
      const length = declared === null ? undefined : Number(declared);
      if (req.body === null) {
        body = { kind: "none" };
      } else if (length !== undefined && length > this.#o.replayLimit) {
        // Too large to replay anyway: pass the stream on as it is, no copy.
        body = { kind: "stream", stream: req.body };
      } else {
        body = await prepareBody(undefined, req.body, this.#o.replayLimit);
      }
      const resolver = this.#o.resolver;
      const built = rule === undefined
        ? undefined
        : resolver.cachedHeadersFor(rule) ?? await resolver.headersFor(rule, signal);
      response = await this.#send(req.method, target, headers, body, length, built, signal);
      if (
        rule !== undefined && built !== undefined && rule.refreshOn.includes(response.status) &&
        body.kind !== "stream"
      ) {
        const fresh = await resolver.refreshedHeadersFor(rule, built.generation, signal);
        // The same generation: no new value could be had, so the server's answer stands.
        if (fresh.generation !== built.generation) {
          refreshed = true;
          this.#retried++;
          await response.body?.cancel().catch(() => {});
          response = await this.#send(req.method, target, headers, body, length, fresh, signal);
        }
      }
    } catch (error) {
      return this.#failure(req, url, remote, started, error, rule);
    } finally {
      this.#inFlight--;
    }

    const status = response.status;
    // A response of the proxy's own client is the proxy's to change; fetch's headers are
    // immutable, so they are copied.
    const out = this.#pool !== undefined
      ? dropHeaders(response.headers, DROPPED_RESPONSE_HEADERS)
      : filterHeaders(response.headers, DROPPED_RESPONSE_HEADERS);
    if (REDIRECTS.has(status)) {
      const location = response.headers.get("location");
      if (location !== null) {
        const rewritten = rewriteLocation(location, target, up, this.#ownOrigin);
        if (rewritten !== location) out.set("location", rewritten);
      }
    }
    this.#observe(started);
    this.#access(req, url, remote, status, started, {
      ...(rule === undefined ? {} : { rule: `hosts[${rule.index}]` }),
      ...(refreshed ? { refreshed: true } : {}),
    });
    if (out === response.headers) return response;
    return new Response(response.body, { status, statusText: response.statusText, headers: out });
  }

  async #send(
    method: string,
    target: URL,
    headers: Headers,
    body: PreparedBody,
    length: number | undefined,
    built: RuleHeaders | undefined,
    signal: AbortSignal,
  ): Promise<Response> {
    // `headers` is the proxy's own copy: a retry sets the same names again, replacing them.
    for (const [name, value] of built?.headers ?? []) headers.set(name, value);
    if (this.#pool !== undefined) {
      const response = await this.#pool.request({
        method,
        target: `${target.pathname}${target.search}`,
        headers,
        body: await upstreamBody(body, length),
        signal,
      });
      this.#status[statusClass(response.status)]++;
      return response;
    }
    const response = await (this.#o.fetch ?? globalThis.fetch)(target.href, {
      method,
      headers,
      signal,
      redirect: "manual",
      ...bodyInit(body),
    } as RequestInit);
    this.#status[statusClass(response.status)]++;
    return response;
  }

  #requestHeaders(incoming: Headers, rule: PlanRule | undefined): Headers {
    const drop = rule === undefined ? undefined : this.#dropByRule.get(rule.index);
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

  /** Whether the connection comes from a socket of the proxy's own user (once per connection). */
  #sameUser(info: ConnectionInfo): Promise<boolean> {
    let known = this.#peers.get(info);
    if (known === undefined) {
      known = sameUserPeer(info.remoteAddr, info.localAddr).catch(() => false);
      this.#peers.set(info, known);
    }
    return known;
  }

  #tokenMatches(header: string | null): boolean {
    const expected = this.#token!;
    const match = header === null ? null : /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const presented = match === null ? new Uint8Array(0) : encoder.encode(match[1]!);
    return timingSafeEqual(presented, expected);
  }

  #failure(
    req: Request,
    url: URL,
    remote: Deno.NetAddr,
    started: number,
    error: unknown,
    rule: PlanRule | undefined,
  ): Response {
    const redactor = this.#o.resolver.redactor;
    if (req.signal.aborted && !this.#abort.signal.aborted) {
      // Nobody to answer: the upstream request was cancelled with it.
      this.#clientClosed++;
      this.#o.logger.debug("the client went away; its upstream request was cancelled", {
        method: req.method,
        path: redactor.redact(url.pathname),
      });
      this.#access(req, url, remote, 499, started, { rejected: "client_closed" });
      return jsonError(499, "CLIENT_CLOSED", "The client closed the connection");
    }
    if (error instanceof SecretResolutionError) {
      this.#rejectedSecret++;
      this.#o.logger.warn("request not sent: the credential could not be resolved", {
        method: req.method,
        path: redactor.redact(url.pathname),
        error: error.message,
      });
      this.#access(req, url, remote, 503, started, {
        ...(rule === undefined ? {} : { rule: `hosts[${rule.index}]` }),
        rejected: "secret_unavailable",
      });
      return jsonError(
        503,
        "TEMPORARILY_UNAVAILABLE",
        `The auth proxy could not obtain the tracking credential, so the request was not sent: ${
          redactor.redact(error.message)
        }`,
        { "retry-after": "5" },
      );
    }
    this.#rejectedUpstream++;
    const aborted = this.#abort.signal.aborted;
    const why = aborted
      ? "the request was aborted: the proxy is shutting down"
      : redactor.redact(describe(error));
    this.#o.logger.warn("upstream request failed", {
      method: req.method,
      path: redactor.redact(url.pathname),
      upstream: this.#o.upstream.url.origin,
      error: why,
    });
    this.#access(req, url, remote, 502, started, { rejected: "upstream_error" });
    return jsonError(
      502,
      "BAD_GATEWAY",
      `The auth proxy could not reach the tracking server "${this.#o.upstream.url.origin}": ${why}`,
    );
  }

  #reserved(req: Request, url: URL): Response {
    const name = url.pathname.slice(RESERVED_PREFIX.length);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return jsonError(405, "METHOD_NOT_ALLOWED", "Use GET", { allow: "GET, HEAD" });
    }
    if (name === "health") {
      return sized(req.method, JSON.stringify({ status: "ok" }), 200, {
        "content-type": "application/json",
        "cache-control": "no-store",
      });
    }
    if (name === "metrics") {
      return sized(req.method, formatPrometheus(this.snapshot()), 200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
        "cache-control": "no-store",
      });
    }
    return jsonError(
      404,
      "NOT_FOUND",
      `No such proxy endpoint; try ${RESERVED_PREFIX}health or ${RESERVED_PREFIX}metrics`,
    );
  }

  #observe(started: number): void {
    const seconds = (performance.now() - started) / 1000;
    this.#latencyCount++;
    this.#latencySum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        this.#bucketCounts[i]!++;
        break;
      }
    }
  }

  #access(
    req: Request,
    url: URL,
    remote: Deno.NetAddr,
    status: number,
    started: number,
    extra: LogFields,
  ): void {
    if (!this.#o.accessLog) return;
    this.#o.logger.info("proxy request", {
      remote: remote.hostname,
      method: req.method,
      path: this.#o.resolver.redactor.redact(url.pathname),
      status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      ...extra,
    });
  }

  snapshot(): ProxyMetrics {
    const resolver = this.#o.resolver;
    let cumulative = 0;
    const buckets = BUCKETS.map((le, i) => {
      cumulative += this.#bucketCounts[i]!;
      return { le, count: cumulative };
    });
    return {
      requests: this.#requests,
      inFlight: this.#inFlight,
      upstreamStatus: { ...this.#status },
      rejected: {
        clientToken: this.#rejectedToken,
        host: this.#rejectedHost,
        crossSite: this.#rejectedCrossSite,
        clientClosed: this.#clientClosed,
        secretUnavailable: this.#rejectedSecret,
        upstreamError: this.#rejectedUpstream,
      },
      retriedAfterRefresh: this.#retried,
      latency: { count: this.#latencyCount, sumSeconds: this.#latencySum, buckets },
      connections: this.server?.stats ?? {
        open: 0,
        accepted: 0,
        shed: 0,
        refused: 0,
        timedOut: 0,
        malformed: 0,
        acceptErrors: 0,
      },
      secretFetches: resolver.stats.secretFetches,
      providerCalls: resolver.stats.providerCalls,
      cacheHits: resolver.cache.stats.hits,
      cacheMisses: resolver.cache.stats.misses,
      refreshes: resolver.stats.refreshes,
    };
  }
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
 * import { timingSafeEqual } from "./proxy.ts";
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

/** A parsed upstream: its URL (no query, no fragment) and its path prefix without trailing `/`. */
interface Upstream {
  readonly url: URL;
  readonly prefix: string;
}

function parseUpstream(value: string | URL): Upstream {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new UsageError(
      `Cannot start the proxy: upstream "${
        maskUserinfo(String(value))
      }" is not an absolute URL; pass e.g. https://mlflow.company.com`,
      { cause: invalidUrlCause(String(value)) },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(
      `Cannot start the proxy: upstream "${url.protocol}//…" is not http or https; pass the tracking server's URL`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError(
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
 * @throws {UsageError} when it cannot be parsed.
 *
 * @example
 * ```ts
 * import { parseListen } from "./proxy.ts";
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
    throw new UsageError(
      `Cannot use listen address "${text}": expected host:port, e.g. 127.0.0.1:5055 or [::1]:5055`,
    );
  }
  return { hostname, port };
}

/** Whether a host name is loopback (see {@linkcode isLoopbackHost}). */
export const isLoopback: (hostname: string) => boolean = isLoopbackHost;

/** Half the open-file limit less a reserve for the resolver, logs and upstream pool. */
function defaultMaxConnections(fileLimit: number | undefined): number {
  if (fileLimit === undefined) return 512;
  return Math.max(16, Math.min(10_000, Math.floor((fileLimit - 64) / 2)));
}

function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

function rewriteLocation(location: string, target: URL, up: Upstream, proxyOrigin: string): string {
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

/** A prepared body as the proxy's own client sends it. */
async function upstreamBody(
  body: PreparedBody,
  length: number | undefined,
): Promise<UpstreamRequest["body"]> {
  switch (body.kind) {
    case "none":
      return null;
    case "replayable":
      return body.body instanceof Uint8Array
        ? body.body
        : new Uint8Array(await new Response(body.body).arrayBuffer());
    case "stream":
      return { stream: body.stream, length };
  }
}

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

function connectionTokens(value: string | null): ReadonlySet<string> | undefined {
  if (value === null) return undefined;
  const tokens = value.split(",").map((t) => t.trim().toLowerCase()).filter((t) =>
    t !== "" && t !== "close" && t !== "keep-alive"
  );
  return tokens.length === 0 ? undefined : new Set(tokens);
}

function statusClass(status: number): StatusClass {
  return status < 200
    ? "1xx"
    : status < 300
    ? "2xx"
    : status < 400
    ? "3xx"
    : status < 500
    ? "4xx"
    : "5xx";
}

function jsonError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return sized("GET", JSON.stringify({ error_code: code, message }), status, {
    "content-type": "application/json",
    ...headers,
  });
}

/** A response of the proxy's own, with its Content-Length (HEAD: the length, no body). */
function sized(
  method: string,
  text: string,
  status: number,
  headers: Record<string, string>,
): Response {
  const bytes = encoder.encode(text);
  return new Response(method === "HEAD" ? null : bytes, {
    status,
    headers: { ...headers, "content-length": String(bytes.byteLength) },
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Formats proxy metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * @param m A snapshot.
 * @returns The text.
 */
export function formatPrometheus(m: ProxyMetrics): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const p = "mlflow_secrets_auth";
  metric(
    `${p}_proxy_requests_total`,
    "counter",
    "Requests received by the proxy (its own endpoints excluded).",
    [["", m.requests]],
  );
  metric(
    `${p}_proxy_requests_in_flight`,
    "gauge",
    "Requests waiting for the upstream's response headers.",
    [["", m.inFlight]],
  );
  metric(
    `${p}_proxy_upstream_responses_total`,
    "counter",
    "Upstream responses by status class.",
    (Object.keys(m.upstreamStatus) as StatusClass[]).map((
      c,
    ) => [`{class="${c}"}`, m.upstreamStatus[c]]),
  );
  metric(
    `${p}_proxy_rejected_total`,
    "counter",
    "Requests answered by the proxy itself, by reason.",
    [
      ['{reason="client_token"}', m.rejected.clientToken],
      ['{reason="host"}', m.rejected.host],
      ['{reason="cross_site"}', m.rejected.crossSite],
      ['{reason="client_closed"}', m.rejected.clientClosed],
      ['{reason="secret_unavailable"}', m.rejected.secretUnavailable],
      ['{reason="upstream_error"}', m.rejected.upstreamError],
    ],
  );
  metric(
    `${p}_proxy_retried_total`,
    "counter",
    "Requests sent again with a refreshed credential after a 401.",
    [["", m.retriedAfterRefresh]],
  );
  lines.push(
    `# HELP ${p}_proxy_request_duration_seconds Time from request to the upstream's response headers.`,
    `# TYPE ${p}_proxy_request_duration_seconds histogram`,
  );
  for (const b of m.latency.buckets) {
    lines.push(`${p}_proxy_request_duration_seconds_bucket{le="${b.le}"} ${b.count}`);
  }
  lines.push(
    `${p}_proxy_request_duration_seconds_bucket{le="+Inf"} ${m.latency.count}`,
    `${p}_proxy_request_duration_seconds_sum ${m.latency.sumSeconds}`,
    `${p}_proxy_request_duration_seconds_count ${m.latency.count}`,
  );
  metric(`${p}_proxy_connections_open`, "gauge", "Client connections open now.", [[
    "",
    m.connections.open,
  ]]);
  metric(
    `${p}_proxy_connections_closed_total`,
    "counter",
    "Client connections the proxy closed or refused, by reason.",
    [
      ['{reason="shed_idle"}', m.connections.shed],
      ['{reason="limit_503"}', m.connections.refused],
      ['{reason="timeout"}', m.connections.timedOut],
      ['{reason="malformed"}', m.connections.malformed],
    ],
  );
  metric(`${p}_proxy_accept_errors_total`, "counter", "Failed accepts (e.g. EMFILE).", [[
    "",
    m.connections.acceptErrors,
  ]]);
  metric(`${p}_secret_fetches_total`, "counter", "Secrets fetched from providers successfully.", [[
    "",
    m.secretFetches,
  ]]);
  metric(`${p}_provider_calls_total`, "counter", "Provider calls, retries included.", [[
    "",
    m.providerCalls,
  ]]);
  metric(`${p}_secret_cache_hits_total`, "counter", "Secret lookups answered by the cache.", [[
    "",
    m.cacheHits,
  ]]);
  metric(`${p}_secret_cache_misses_total`, "counter", "Secret lookups that missed the cache.", [[
    "",
    m.cacheMisses,
  ]]);
  metric(
    `${p}_secret_refreshes_total`,
    "counter",
    "Secret refreshes forced by a tracking-server status (401).",
    [["", m.refreshes]],
  );
  return lines.join("\n") + "\n";
}
