/**
 * The proxy's metrics: its counters, the snapshot `ProxyHandle.metrics` returns, and the
 * Prometheus text served at `/__mlflow-secrets-auth/metrics`. Counts only, never values.
 *
 * @module
 */

import type { HttpServerStats } from "./_http_server.ts";
import type { SecretResolver } from "../engine/resolver.ts";

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
  /** Leak guard findings by rule and endpoint: refused (`block`) or sent with a warning. */
  readonly leakGuard?: readonly {
    readonly rule: string;
    readonly endpoint: string;
    readonly action: "blocked" | "warned";
    readonly count: number;
  }[];
  /**
   * The provider-side version of the secret each rule last authenticated with (never the value),
   * for rules whose provider reports one.
   */
  readonly secretVersions?: readonly SecretVersionInfo[];
}

/** Which version of a rule's secret the proxy last authenticated with. */
export interface SecretVersionInfo {
  /** The rule, e.g. `hosts[0]`. */
  readonly rule: string;
  /** The provider instance name. */
  readonly provider: string;
  /** The provider's version id, e.g. a Vault KV v2 version or an AWS `VersionId(AWSCURRENT)`. */
  readonly version: string;
}

/** Client connection counts of the proxy: those of its HTTP server. Counts only. */
export type ProxyConnectionStats = HttpServerStats;

/** Upper bounds of the latency histogram's buckets, in seconds. */
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

/** The proxy's counters, changed by its request handler; {@linkcode ProxyCounters.snapshot} reads them. */
export class ProxyCounters {
  /** Requests received (the reserved prefix excluded). */
  requests = 0;
  /** Requests waiting for the upstream's response headers. */
  inFlight = 0;
  /** Requests retried after a 401 with a refreshed credential. */
  retried = 0;
  /** Requests answered by the proxy itself, by reason. */
  readonly rejected: { -readonly [K in keyof ProxyMetrics["rejected"]]: number } = {
    clientToken: 0,
    host: 0,
    crossSite: 0,
    clientClosed: 0,
    secretUnavailable: 0,
    upstreamError: 0,
  };
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
  /** Leak guard findings: `action \0 rule \0 endpoint` → count. */
  readonly #leaks = new Map<string, number>();

  /** Counts a leak guard finding (the endpoint label is bounded: identifiers are `{id}`). */
  countLeak(action: "blocked" | "warned", rule: string, endpoint: string): void {
    const key = `${action}\0${rule}\0${endpoint}`;
    this.#leaks.set(key, (this.#leaks.get(key) ?? 0) + 1);
  }

  readonly #versions = new Map<string, SecretVersionInfo>();

  /**
   * Records the version of a rule's secret a request was sent with.
   *
   * @param rule The rule, e.g. `hosts[0]`.
   * @param provider The provider instance name.
   * @param version The provider's version id.
   */
  noteVersion(rule: string, provider: string, version: string): void {
    const shown = versionLabel(version);
    if (this.#versions.get(rule)?.version === shown) return;
    this.#versions.set(rule, { rule, provider, version: shown });
  }

  /** Counts an upstream response by its status class. */
  countStatus(status: number): void {
    this.#status[statusClass(status)]++;
  }

  /** Records the time from `started` (a `performance.now()`) to now in the latency histogram. */
  observe(started: number): void {
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

  /**
   * A snapshot of the counters, with those of the HTTP server and the resolver.
   *
   * @param connections The server's connection counts, if it runs.
   * @param resolver The resolver in use.
   * @returns The snapshot.
   */
  snapshot(connections: ProxyConnectionStats | undefined, resolver: SecretResolver): ProxyMetrics {
    let cumulative = 0;
    const buckets = BUCKETS.map((le, i) => {
      cumulative += this.#bucketCounts[i]!;
      return { le, count: cumulative };
    });
    return {
      requests: this.requests,
      inFlight: this.inFlight,
      upstreamStatus: { ...this.#status },
      rejected: { ...this.rejected },
      retriedAfterRefresh: this.retried,
      latency: { count: this.#latencyCount, sumSeconds: this.#latencySum, buckets },
      connections: connections ?? {
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
      secretVersions: [...this.#versions.values()],
      leakGuard: [...this.#leaks].map(([key, count]) => {
        const [action, rule, endpoint] = key.split("\0") as ["blocked" | "warned", string, string];
        return { rule, endpoint, action, count };
      }),
    };
  }
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
  const versions = m.secretVersions ?? [];
  if (versions.length > 0) {
    metric(
      `${p}_secret_version_info`,
      "gauge",
      "The provider-side version of the secret each rule last authenticated with (always 1).",
      versions.map((v) => [
        `{rule="${label(v.rule)}",provider="${label(v.provider)}",version="${label(v.version)}"}`,
        1,
      ]),
    );
  }
  for (const action of ["blocked", "warned"] as const) {
    metric(
      `${p}_leak_guard_${action}_total`,
      "counter",
      action === "blocked"
        ? "Write requests refused by the leak guard: their body held a managed secret."
        : "Write requests holding a managed secret sent anyway (leak_guard: warn).",
      (m.leakGuard ?? []).filter((l) => l.action === action).map((l) => [
        `{rule="${label(l.rule)}",endpoint="${label(l.endpoint)}"}`,
        l.count,
      ]),
    );
  }
  return lines.join("\n") + "\n";
}

/** The most of a version id a label shows: store-controlled text, kept to a bounded size. */
const MAX_VERSION_LABEL = 128;

/**
 * A version id as a label shows it: control characters (which some scrapers split lines on,
 * though the format allows all but a newline) as U+FFFD, and at most 128 characters, so that a
 * store's version id can neither break the exposition nor grow it without bound.
 */
function versionLabel(version: string): string {
  // deno-lint-ignore no-control-regex
  const clean = version.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, "\ufffd");
  return clean.length > MAX_VERSION_LABEL ? `${clean.slice(0, MAX_VERSION_LABEL - 1)}…` : clean;
}

/** A Prometheus label value: backslash, double quote and newline escaped. */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
