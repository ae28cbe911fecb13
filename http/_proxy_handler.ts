/**
 * The proxy's request handler: the browser guard and the client token, the rule's headers, the
 * request sent upstream (and sent again with a refreshed credential after a 401), the answer
 * passed back, the failures the proxy answers itself, its own endpoints (health, metrics) and
 * one access line per request.
 *
 * @module
 */

import type { RequestGuard } from "./_proxy_guard.ts";
import type { ConnectionInfo, HttpServer } from "./_http_server.ts";
import { sameUserPeer } from "./_peer_uid.ts";
import { UpstreamPool, type UpstreamRequest } from "./_upstream.ts";
import type { RuleTlsClients } from "./_tls_clients.ts";
import {
  clientCertificateAnswer,
  describeTlsFailure,
  MAX_PAGE_BYTES,
  mayBeClientCertificateAnswer,
  type TlsFailure,
  tlsFailure,
} from "../core/_tls_failure.ts";
import { matchRule, type Plan, type PlanRule } from "../profile/plan.ts";
import { SecretResolutionError } from "../core/errors.ts";
import type { LogFields, Logger } from "../core/log.ts";
import { bodyInit, prepareBody, type PreparedBody } from "./request_body.ts";
import type { RuleHeaders, SecretResolver } from "../engine/resolver.ts";
import type { Upstream } from "./_proxy_address.ts";
import {
  forwardedRequestHeaders,
  REDIRECTS,
  returnedResponseHeaders,
  rewriteLocation,
  ruleHeaderNames,
} from "./_proxy_headers.ts";
import { bearerTokenMatches } from "./_client_token.ts";
import { formatPrometheus, ProxyCounters, type ProxyMetrics } from "./proxy_metrics.ts";
import { checkForLeak } from "./_leak_check.ts";
import { type LeakFinding, leakGuardMessage, leakGuardResponse } from "./leak_guard.ts";

/** Path prefix the proxy keeps for itself; MLflow has nothing under it. */
export const RESERVED_PREFIX = "/__mlflow-secrets-auth/";

const encoder = new TextEncoder();

/** What the handler needs, known before the address is bound. */
export interface HandlerOptions {
  readonly plan: Plan;
  readonly upstream: Upstream;
  readonly resolver: SecretResolver;
  readonly logger: Logger;
  /** A fetch to send with instead of the proxy's own HTTP/1.1 client (tests, TLS settings). */
  readonly fetch: typeof fetch | undefined;
  /** The rules' TLS clients, for an https upstream. */
  readonly tlsClients: RuleTlsClients;
  readonly clientToken: string | undefined;
  readonly acceptSameUser: boolean;
  readonly accessLog: boolean;
  readonly replayLimit: number;
}

/** The request handler: checks, injection, forwarding, the proxy's own endpoints, the access log. */
export class ProxyHandler {
  readonly #o: HandlerOptions;
  readonly #token: Uint8Array | undefined;
  /** Per rule: the header names it injects, never taken from the client. */
  readonly #dropByRule: ReadonlyMap<number, ReadonlySet<string>>;
  /** Per connection: whether its peer is a socket of the proxy's own user. */
  readonly #peers = new WeakMap<ConnectionInfo, Promise<boolean>>();
  readonly #abort = new AbortController();
  /** The proxy's own keep-alive client, for a plain-HTTP upstream when no fetch is given. */
  readonly #pool: UpstreamPool | undefined;
  readonly #counters = new ProxyCounters();
  #guard: RequestGuard | undefined;
  /** The server, once started: its connection counts go into the metrics. */
  server: HttpServer | undefined;
  #ownOrigin = "";

  constructor(options: HandlerOptions) {
    this.#o = options;
    this.#pool = options.fetch === undefined && options.upstream.url.protocol === "http:"
      ? new UpstreamPool(options.upstream.url)
      : undefined;
    this.#token = options.clientToken === undefined
      ? undefined
      : encoder.encode(options.clientToken);
    this.#dropByRule = ruleHeaderNames(options.plan);
  }

  /** Sets what is known once the address is bound: the request guard and the proxy's URL. */
  bind(guard: RequestGuard, ownOrigin: string): void {
    this.#guard = guard;
    this.#ownOrigin = ownOrigin;
  }

  /** Aborts every request in flight (a drain that timed out). */
  abortAll(): void {
    this.#abort.abort(new DOMException("The proxy is shutting down", "AbortError"));
  }

  /** Closes the idle upstream connections. */
  close(): void {
    this.#pool?.close();
    this.#o.tlsClients.close();
  }

  /** Answers one client request. */
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
      if (refusal.reason === "host") this.#counters.rejected.host++;
      else this.#counters.rejected.crossSite++;
      this.#access(req, url, remote, refusal.status, started, { rejected: refusal.reason });
      return jsonError(
        refusal.status,
        refusal.status === 400 ? "BAD_REQUEST" : "PERMISSION_DENIED",
        refusal.message,
        { "cache-control": "no-store" },
      );
    }
    if (url.pathname.startsWith(RESERVED_PREFIX)) return this.#reserved(req, url);
    this.#counters.requests++;

    const authorization = req.headers.get("authorization");
    if (
      this.#token !== undefined && !bearerTokenMatches(authorization, this.#token) &&
      !(authorization === null && this.#o.acceptSameUser && await this.#sameUser(info))
    ) {
      this.#counters.rejected.clientToken++;
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
    const headers = forwardedRequestHeaders(
      req.headers,
      rule === undefined ? undefined : this.#dropByRule.get(rule.index),
    );
    // The server aborts req.signal when the client goes away before its answer is written; the
    // proxy's own signal aborts what is left when a drain times out. Either cancels the upstream
    // request, or the upstream body being streamed back.
    const signal = AbortSignal.any([this.#abort.signal, req.signal]);
    this.#counters.inFlight++;
    let refreshed = false;
    let used: RuleHeaders | undefined;
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
      // The rule's TLS client before its secret: a broken setting costs no provider call.
      const client = rule === undefined || this.#pool !== undefined
        ? undefined
        : this.#o.tlsClients.get(rule);
      const built = rule === undefined
        ? undefined
        : resolver.cachedHeadersFor(rule) ?? await resolver.headersFor(rule, signal);
      used = built;
      // After the rule's secret is resolved, so that the redactor knows it.
      const mode = rule?.leakGuard ?? this.#o.plan.leakGuard;
      if (mode !== "off") {
        const checked = await checkForLeak(
          {
            method: req.method,
            path: target.pathname,
            query: target.search,
            headers: req.headers,
            body,
            replayLimit: this.#o.replayLimit,
            declaredLength: length,
          },
          resolver.redactor,
          mode,
        );
        body = checked.body;
        if (checked.finding !== undefined) {
          const refused = this.#leak(req, url, remote, started, checked.finding, mode, rule);
          if (refused !== undefined) {
            if (body.kind === "stream") await body.stream.cancel().catch(() => {});
            return refused;
          }
        }
      }
      const send = (b: RuleHeaders | undefined) =>
        this.#send(req.method, target, headers, body, length, b, signal, client);
      response = await send(built);
      if (
        rule !== undefined && built !== undefined && rule.refreshOn.includes(response.status) &&
        body.kind !== "stream"
      ) {
        const fresh = await resolver.refreshedHeadersFor(rule, built.generation, signal);
        // The same generation: no new value could be had, so the server's answer stands.
        if (fresh.generation !== built.generation) {
          refreshed = true;
          used = fresh;
          this.#counters.retried++;
          await response.body?.cancel().catch(() => {});
          response = await send(fresh);
        }
      }
    } catch (error) {
      return this.#failure(req, url, remote, started, error, rule);
    } finally {
      this.#counters.inFlight--;
    }

    if (mayBeClientCertificateAnswer(response)) {
      response = await this.#noteClientCertificateAnswer(response, rule);
    }
    const status = response.status;
    const out = returnedResponseHeaders(response.headers, this.#pool !== undefined);
    if (REDIRECTS.has(status)) {
      const location = response.headers.get("location");
      if (location !== null) {
        const rewritten = rewriteLocation(location, target, up, this.#ownOrigin);
        if (rewritten !== location) out.set("location", rewritten);
      }
    }
    this.#counters.observe(started);
    const version = used?.version;
    if (rule !== undefined && version !== undefined) {
      this.#counters.noteVersion(`hosts[${rule.index}]`, rule.provider, version);
    }
    this.#access(req, url, remote, status, started, {
      ...(rule === undefined ? {} : { rule: `hosts[${rule.index}]` }),
      ...(version === undefined ? {} : { version }),
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
    client: Deno.HttpClient | undefined,
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
      this.#counters.countStatus(response.status);
      return response;
    }
    const response = await (this.#o.fetch ?? globalThis.fetch)(target.href, {
      method,
      headers,
      signal,
      redirect: "manual",
      ...bodyInit(body),
      ...(client === undefined ? {} : { client }),
    } as RequestInit);
    this.#counters.countStatus(response.status);
    return response;
  }

  /**
   * Reads a small 400 HTML page of the upstream: when it is nginx refusing a missing or foreign
   * client certificate, says so in the log (the client gets the page as it was).
   */
  async #noteClientCertificateAnswer(
    response: Response,
    rule: PlanRule | undefined,
  ): Promise<Response> {
    const bytes = new Uint8Array(await response.arrayBuffer());
    const failure = clientCertificateAnswer(
      response.status,
      new TextDecoder().decode(bytes.subarray(0, MAX_PAGE_BYTES)),
    );
    if (failure !== undefined) {
      this.#o.logger.warn(
        `the tracking server refused the request at the TLS layer: ${
          describeTlsFailure(failure)
        }; ${tlsHint(failure, rule)}`,
        { upstream: this.#o.upstream.url.origin },
      );
    }
    return new Response(bytes, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
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

  /** Logs and counts a leak guard finding; the answer when the request is refused. */
  #leak(
    req: Request,
    url: URL,
    remote: Deno.NetAddr,
    started: number,
    finding: LeakFinding,
    mode: "block" | "warn",
    rule: PlanRule | undefined,
  ): Response | undefined {
    const ruleName = rule === undefined ? "none" : `hosts[${rule.index}]`;
    this.#counters.countLeak(mode === "block" ? "blocked" : "warned", ruleName, finding.endpoint);
    this.#o.logger.warn(leakGuardMessage(finding, mode), {
      rule: ruleName,
      endpoint: finding.endpoint,
      field: finding.field,
      leak_guard: mode,
    });
    if (mode === "warn") return undefined;
    this.#access(req, url, remote, 400, started, { rule: ruleName, rejected: "leak_guard" });
    return leakGuardResponse(finding);
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
      this.#counters.rejected.clientClosed++;
      this.#o.logger.debug("the client went away; its upstream request was cancelled", {
        method: req.method,
        path: redactor.redact(url.pathname),
      });
      this.#access(req, url, remote, 499, started, { rejected: "client_closed" });
      return jsonError(499, "CLIENT_CLOSED", "The client closed the connection");
    }
    if (error instanceof SecretResolutionError) {
      this.#counters.rejected.secretUnavailable++;
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
    this.#counters.rejected.upstreamError++;
    const aborted = this.#abort.signal.aborted;
    const tls = aborted ? undefined : tlsFailure(error);
    const why = aborted
      ? "the request was aborted: the proxy is shutting down"
      : tls !== undefined
      ? `${describeTlsFailure(tls)}; ${tlsHint(tls, rule)}`
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

  /** A snapshot of the counters. */
  snapshot(): ProxyMetrics {
    return this.#counters.snapshot(this.server?.stats, this.#o.resolver);
  }
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

/** A JSON error answer of the proxy's own, as MLflow shapes them. */
export function jsonError(
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

/** `Name: message` of an error, for logs. */
export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** What to do about a TLS failure toward the upstream, in the terms of the rule's settings. */
function tlsHint(failure: TlsFailure, rule: PlanRule | undefined): string {
  const where = rule === undefined ? "the rule" : `rule ${rule.label}`;
  switch (failure.kind) {
    case "untrusted":
      return rule?.tls?.caCert === undefined
        ? `set tls.ca_cert on ${where} to the CA that signed the server's certificate, or export MLFLOW_TRACKING_SERVER_CERT_PATH`
        : `tls.ca_cert of ${where} is not the CA that signed the server's certificate: point it at that CA`;
    case "client-certificate-required":
      return rule?.tls?.clientCert === undefined
        ? `set tls.client_cert and tls.client_key on ${where}, or export MLFLOW_TRACKING_CLIENT_CERT_PATH`
        : `the client certificate of ${where} was not sent: check tls.client_cert and tls.client_key`;
    case "client-certificate-refused":
      return `check that tls.client_cert of ${where} is issued by a CA the server accepts, and not expired`;
    case "wrong-name":
      return "use the host name the certificate was issued for";
    case "expired":
      return "renew the server's certificate, or check this machine's clock";
    case "handshake":
      return "check the server's TLS configuration";
  }
}
