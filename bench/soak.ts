/**
 * Soak test of the `proxy` command: the real CLI, as a child process, in front of a local tracking
 * server double that checks the bearer credential, with a `file` secret that rotates and a provider
 * outage in the middle, under concurrent clients. Everything is on 127.0.0.1 and bounded in time
 * and request count.
 *
 * - Rotation every `--rotate` seconds, alternating two kinds:
 *   - grace: the tracking server accepts the new value at once and the old one for `--grace`
 *     seconds more, then the file is rewritten; the proxy picks the new value up on its own
 *     (the file provider checks the file at most every second), so no 401 is expected;
 *   - strict: the tracking server rejects the old value at once and the file is rewritten in the
 *     same tick; requests still carrying the old value get 401, and the proxy's designed path
 *     (refresh the secret once, replay the request once) must turn them into 200s.
 * - Provider outage: the secret file is moved away for `--outage-for` seconds (the provider
 *   answers "does not exist"); no rotation happens within it (a rotation the store cannot serve
 *   is a real outage, not something a proxy can hide). The proxy must serve its last value
 *   (stale-if-error) with no failed request.
 * - Clients: `--clients` loops, each with its own connection pool, alternating a GET and a POST
 *   with a small JSON body the tracking server echoes back (so a replayed body is checked), with
 *   `--think` ms between requests.
 *
 * Every `--period` seconds it prints a row: the proxy's RSS and peak RSS (`/proc/<pid>/status`),
 * its open descriptors (`/proc/<pid>/fd`), latency percentiles seen by the clients, failures by
 * kind, and the proxy's own counters. At the end, a verdict:
 * - RSS growth after warm-up below 10 %: the median of the last third of the samples taken after
 *   warm-up against the median of the first third (RSS saw-tooths with garbage collection, so
 *   single samples are not compared);
 * - descriptors flat: the last third's median at most 2 above the first third's;
 * - zero unexpected failures: every client request answered 200 with its own body echoed. The
 *   only expected failures are the 401s the tracking server gives the proxy after a strict
 *   rotation; each is answered inside the proxy by one refresh and one replay, so none reaches a
 *   client (they are counted separately, from the tracking server and the proxy's metrics);
 * - no secret value in the proxy's output; the proxy exits 0 on SIGTERM.
 *
 * Run: deno task soak [--minutes 30] [--json dist/soak.json]   (plot: scripts/plot_soak.py)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DENO_DIR } from "../tests/_deno_dir.ts";
import { watchListening } from "../tests/_peers/_process.ts";

/** Options of {@linkcode runSoak}; times in milliseconds. */
export interface SoakOptions {
  /** Total duration. Default 30 min. */
  readonly durationMs?: number;
  /** Length of a reporting period (one row). Default 60 s. */
  readonly periodMs?: number;
  /** How often `/proc` is sampled. Default 5 s. */
  readonly sampleMs?: number;
  /** Rotation interval. Default 2 min. */
  readonly rotateEveryMs?: number;
  /** How long a grace rotation keeps the old value accepted. Default 10 s. */
  readonly graceMs?: number;
  /** Start of the provider outage. Default: a quarter interval after the first rotation past half. */
  readonly outageAtMs?: number;
  /** Length of the outage. Default the larger of half a rotation interval and a tenth of the run. */
  readonly outageForMs?: number;
  /** Warm-up excluded from the memory verdict. Default 10 % of the run, at least one period. */
  readonly warmupMs?: number;
  /**
   * Largest RSS growth after warm-up that passes, in percent. Default 10. A short run sees the
   * garbage collector's swings (about ±10 %) more than any trend, so it may allow more.
   */
  readonly rssGrowthLimitPercent?: number;
  /** Concurrent clients. Default 20. */
  readonly clients?: number;
  /** Pause between a client's requests. Default 50 ms. */
  readonly thinkMs?: number;
  /** Most requests in all. Default 2,000,000. */
  readonly maxRequests?: number;
  /** Per-request deadline. Default 15 s. */
  readonly requestTimeoutMs?: number;
  /** Ends the run early (clients stop, the proxy is stopped, the verdict covers what ran). */
  readonly signal?: AbortSignal;
  /** Called with each period's row as it completes. */
  readonly onRow?: (row: SoakRow) => void;
}

/** One reporting period. */
export interface SoakRow {
  /** End of the period, seconds since the clients started. */
  readonly t: number;
  readonly rssMiB: number;
  readonly hwmMiB: number;
  readonly fds: number;
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** Client-side failures by kind (`status_503`, `network`, `timeout`, `bad_body`). */
  readonly failures: Readonly<Record<string, number>>;
  /** 401s the tracking server answered in this period (each should be one designed retry). */
  readonly upstream401: number;
  /** Requests the tracking server accepted with the previous value (grace). */
  readonly acceptedPrevious: number;
  /** The proxy's `proxy_retried_total` at the end of the period. */
  readonly proxyRetriedTotal: number;
  /** What happened in this period. */
  readonly events: readonly string[];
}

/** A `/proc` sample. */
export interface SoakSample {
  readonly t: number;
  readonly rssKiB: number;
  readonly hwmKiB: number;
  readonly fds: number;
}

/** A scheduled event. */
export interface SoakEvent {
  readonly t: number;
  readonly kind:
    | "rotation-grace"
    | "rotation-strict"
    | "rotation-skipped"
    | "outage-start"
    | "outage-end";
}

/** The verdict's checks. */
export interface SoakVerdict {
  readonly rssBaselineMiB: number;
  readonly rssFinalMiB: number;
  readonly rssGrowthPercent: number;
  readonly rssOk: boolean;
  readonly fdBaseline: number;
  readonly fdFinal: number;
  readonly fdMaxAfterWarmup: number;
  readonly fdOk: boolean;
  readonly unexpectedFailures: number;
  readonly failuresOk: boolean;
  /** Strict rotations happened and the proxy answered their 401s by a refresh and replay. */
  readonly refreshPathExercised: boolean;
  /** Secret values (of all generations) found in the proxy's output. */
  readonly leaks: number;
  /** The proxy's exit code after SIGTERM (null: it did not exit within 35 s). */
  readonly exitCode: number | null;
  readonly pass: boolean;
}

/** Everything measured. */
export interface SoakReport {
  readonly setup: {
    readonly durationMs: number;
    readonly periodMs: number;
    readonly sampleMs: number;
    readonly rotateEveryMs: number;
    readonly graceMs: number;
    readonly outageAtMs: number;
    readonly outageForMs: number;
    readonly warmupMs: number;
    readonly clients: number;
    readonly thinkMs: number;
    /** Whether the proxy ran non-dumpable, as in production (readable here as root). */
    readonly protectedProcess: boolean;
    readonly deno: string;
  };
  readonly rows: readonly SoakRow[];
  readonly samples: readonly SoakSample[];
  readonly events: readonly SoakEvent[];
  readonly totals: {
    readonly requests: number;
    readonly ok: number;
    readonly failures: Readonly<Record<string, number>>;
    readonly upstream401: number;
    readonly acceptedPrevious: number;
    readonly proxyRetried: number;
    readonly proxyRefreshes: number;
    readonly p50Ms: number;
    readonly p95Ms: number;
    readonly p99Ms: number;
  };
  readonly verdict: SoakVerdict;
  /** The last lines the proxy wrote to stderr (omitted if any secret value appears in them). */
  readonly proxyLogTail: readonly string[];
}

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const GET_PATH = "/api/2.0/mlflow/experiments/search?max_results=1";
const POST_PATH = "/api/2.0/mlflow/runs/log-metric";

/** The tracking server double: checks the bearer value, echoes a POST's body. */
class Tracking {
  current: string;
  previous: string | undefined = undefined;
  previousUntil = 0;
  rejected = 0;
  acceptedPrevious = 0;
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  readonly origin: string;

  constructor(first: string) {
    this.current = first;
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
    this.origin = `http://127.0.0.1:${this.server.addr.port}`;
  }

  async #handle(req: Request): Promise<Response> {
    const auth = req.headers.get("authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    const body = req.method === "POST" ? await req.text() : "";
    if (token !== this.current) {
      if (token !== "" && token === this.previous && Date.now() < this.previousUntil) {
        this.acceptedPrevious++;
      } else {
        this.rejected++;
        return Response.json({ error_code: "UNAUTHENTICATED" }, { status: 401 });
      }
    }
    return req.method === "POST"
      ? new Response(body, { headers: { "content-type": "application/json" } })
      : Response.json({ experiments: [] });
  }
}

function randomToken(generation: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return `soak-canary-${generation}-${
    Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

/** Writes the secret file atomically (new inode), synchronously so no request interleaves. */
function writeSecret(path: string, value: string): void {
  Deno.writeTextFileSync(`${path}.tmp`, `${value}\n`);
  Deno.renameSync(`${path}.tmp`, path);
}

function percentile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round((sorted[i] ?? 0) * 100) / 100;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function readProc(pid: number): Promise<{ rssKiB: number; hwmKiB: number; fds: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  let fds = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) fds++;
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), fds };
}

async function readMetrics(origin: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const res = await fetch(`${origin}/__mlflow-secrets-auth/metrics`, {
    signal: AbortSignal.timeout(5_000),
  });
  for (const line of (await res.text()).split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

function sumMetric(m: Map<string, number>, name: string): number {
  let total = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) total += v;
  return total;
}

/** Starts `cli.ts proxy` and waits for its "listening on" line. */
async function startProxy(profile: string, upstream: string, protect: boolean) {
  const perms = ["--allow-read", "--allow-env", "--allow-net=127.0.0.1", "--allow-sys"];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...perms,
      ...(protect ? ["--allow-ffi"] : []),
      CLI,
      "proxy",
      "--profile",
      profile,
      "--upstream",
      upstream,
      "--listen",
      "127.0.0.1:0",
      "--no-access-log",
      "--log-level",
      "warn",
      ...(protect ? [] : ["--allow-dumpable"]),
    ],
    env: {
      NO_COLOR: "1",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      PATH: Deno.env.get("PATH") ?? "",
      // npm packages live in Deno's cache: a HOME of the test run's own would hide it.
      DENO_DIR,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const watch = watchListening(child);
  try {
    const url = await watch.url;
    return {
      url,
      pid: child.pid,
      child,
      status: watch.status,
      reading: watch.reading,
      stderr: watch.stderr,
    };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await watch.status;
    await watch.reading;
    throw error;
  }
}

/** Default outage start: a quarter interval after the first rotation at or past half the run. */
function defaultOutageAt(durationMs: number, rotateEveryMs: number): number {
  return Math.ceil(durationMs / 2 / rotateEveryMs) * rotateEveryMs + rotateEveryMs / 4;
}

/**
 * Runs the soak and returns what was measured and the verdict.
 *
 * @param options Durations, rates, callbacks.
 * @returns The report.
 */
export async function runSoak(options: SoakOptions = {}): Promise<SoakReport> {
  const durationMs = options.durationMs ?? 30 * 60_000;
  const periodMs = options.periodMs ?? 60_000;
  const sampleMs = options.sampleMs ?? 5_000;
  const rotateEveryMs = options.rotateEveryMs ?? 120_000;
  const graceMs = options.graceMs ?? 10_000;
  const outageAtMs = options.outageAtMs ?? defaultOutageAt(durationMs, rotateEveryMs);
  const outageForMs = options.outageForMs ?? Math.max(rotateEveryMs / 2, durationMs / 10);
  const warmupMs = options.warmupMs ?? Math.max(periodMs, durationMs / 10);
  const clients = options.clients ?? 20;
  const thinkMs = options.thinkMs ?? 50;
  const maxRequests = options.maxRequests ?? 2_000_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  if (outageForMs >= 5 * 60_000) {
    throw new RangeError("The outage must be shorter than the 5 min stale-if-error window");
  }
  if (warmupMs + 2 * periodMs > durationMs) {
    throw new RangeError("The run must last at least the warm-up plus two periods");
  }

  // Events: rotations, alternating grace and strict, none within 2 s of the outage.
  const events: SoakEvent[] = [];
  let n = 0;
  for (let t = rotateEveryMs; t < durationMs - 1_000; t += rotateEveryMs) {
    n++;
    const inOutage = t >= outageAtMs - 2_000 && t <= outageAtMs + outageForMs + 2_000;
    events.push({
      t,
      kind: inOutage ? "rotation-skipped" : n % 2 === 1 ? "rotation-grace" : "rotation-strict",
    });
  }
  events.push({ t: outageAtMs, kind: "outage-start" });
  events.push({ t: outageAtMs + outageForMs, kind: "outage-end" });
  events.sort((a, b) => a.t - b.t);

  const dir = await Deno.makeTempDir({ prefix: "mlflow-secrets-auth-soak-" });
  const secretPath = `${dir}/token`;
  let generation = 1;
  const tokens = [randomToken(generation)];
  writeSecret(secretPath, tokens[0]!);
  const tracking = new Tracking(tokens[0]!);
  const profilePath = `${dir}/profile.yaml`;
  await Deno.writeTextFile(
    profilePath,
    `version: 1
providers:
  mounted:
    kind: file
hosts:
  - match: ${tracking.origin}
    provider: mounted
    secret: { path: ${JSON.stringify(secretPath)} }
    auth: bearer
defaults:
  refresh_on: [401]
`,
  );
  // Non-dumpable as in production when /proc/<pid>/fd stays readable (root); else dumpable.
  const protectedProcess = Deno.uid() === 0;
  const proxy = await startProxy(profilePath, tracking.origin, protectedProcess);

  const samples: SoakSample[] = [];
  const rows: SoakRow[] = [];
  const totalFailures: Record<string, number> = {};
  let periodFailures: Record<string, number> = {};
  let periodLatencies: number[] = [];
  const allLatencies: number[] = [];
  let requests = 0;
  let ok = 0;
  let periodRequests = 0;
  let periodEvents: string[] = [];
  let last401 = 0;
  let lastPrevious = 0;
  let exitCode: number | null = null;
  const stopAt = { value: 0 };
  const httpClients: Deno.HttpClient[] = [];

  const fail = (kind: string) => {
    totalFailures[kind] = (totalFailures[kind] ?? 0) + 1;
    periodFailures[kind] = (periodFailures[kind] ?? 0) + 1;
  };

  async function client(index: number): Promise<void> {
    const httpClient = Deno.createHttpClient({});
    httpClients.push(httpClient);
    let i = 0;
    while (performance.now() < stopAt.value && requests < maxRequests) {
      requests++;
      periodRequests++;
      const post = i++ % 2 === 1;
      const nonce = `${index}-${i}-${Math.random()}`;
      const started = performance.now();
      try {
        const res = await fetch(`${proxy.url}${post ? POST_PATH : GET_PATH}`, {
          method: post ? "POST" : "GET",
          client: httpClient,
          signal: AbortSignal.timeout(requestTimeoutMs),
          ...(post
            ? {
              body: JSON.stringify({ run_id: nonce, key: "loss", value: 0.5, step: i }),
              headers: { "content-type": "application/json" },
            }
            : {}),
        });
        const text = await res.text();
        const elapsed = performance.now() - started;
        if (res.status !== 200) {
          fail(`status_${res.status}`);
        } else if (post && !text.includes(nonce)) {
          fail("bad_body");
        } else {
          ok++;
          periodLatencies.push(elapsed);
          allLatencies.push(elapsed);
        }
      } catch (error) {
        fail(
          error instanceof DOMException && error.name === "TimeoutError" ? "timeout" : "network",
        );
      }
      if (thinkMs > 0) await new Promise((r) => setTimeout(r, thinkMs));
    }
  }

  let outage = false;
  function fire(event: SoakEvent): void {
    periodEvents.push(event.kind);
    switch (event.kind) {
      case "rotation-grace": {
        const next = randomToken(++generation);
        tokens.push(next);
        tracking.previous = tracking.current;
        tracking.previousUntil = Date.now() + graceMs;
        tracking.current = next;
        writeSecret(secretPath, next);
        break;
      }
      case "rotation-strict": {
        const next = randomToken(++generation);
        tokens.push(next);
        tracking.previous = undefined;
        tracking.current = next;
        writeSecret(secretPath, next);
        break;
      }
      case "outage-start":
        outage = true;
        Deno.renameSync(secretPath, `${secretPath}.away`);
        break;
      case "outage-end":
        outage = false;
        Deno.renameSync(`${secretPath}.away`, secretPath);
        break;
      case "rotation-skipped":
        break;
    }
  }

  try {
    const t0 = performance.now();
    stopAt.value = t0 + durationMs;
    const onAbort = () => (stopAt.value = Math.min(stopAt.value, performance.now()));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const running = Array.from({ length: clients }, (_, i) => client(i));
    let nextSample = t0;
    let nextPeriod = t0 + periodMs;
    let eventIndex = 0;
    let periodSamples: SoakSample[] = [];
    while (true) {
      const now = performance.now();
      while (eventIndex < events.length && t0 + events[eventIndex]!.t <= now) {
        fire(events[eventIndex++]!);
      }
      if (now >= nextSample) {
        nextSample += sampleMs;
        const p = await readProc(proxy.pid);
        const s = { t: Math.round((performance.now() - t0) / 100) / 10, ...p };
        samples.push(s);
        periodSamples.push(s);
      }
      if (now >= nextPeriod || now >= stopAt.value) {
        nextPeriod += periodMs;
        const m = await readMetrics(proxy.url);
        const sorted = Float64Array.from(periodLatencies).sort();
        const lastSample = periodSamples.at(-1) ?? samples.at(-1)!;
        const row: SoakRow = {
          t: Math.round((now - t0) / 1000),
          rssMiB: Math.round(lastSample.rssKiB / 102.4) / 10,
          hwmMiB: Math.round(lastSample.hwmKiB / 102.4) / 10,
          fds: lastSample.fds,
          requests: periodRequests,
          rps: Math.round(periodRequests / (periodMs / 1000)),
          p50Ms: percentile(sorted, 0.5),
          p95Ms: percentile(sorted, 0.95),
          p99Ms: percentile(sorted, 0.99),
          failures: periodFailures,
          upstream401: tracking.rejected - last401,
          acceptedPrevious: tracking.acceptedPrevious - lastPrevious,
          proxyRetriedTotal: sumMetric(m, "mlflow_secrets_auth_proxy_retried_total"),
          events: periodEvents,
        };
        last401 = tracking.rejected;
        lastPrevious = tracking.acceptedPrevious;
        rows.push(row);
        options.onRow?.(row);
        periodFailures = {};
        periodLatencies = [];
        periodRequests = 0;
        periodEvents = [];
        periodSamples = [];
        if (now >= stopAt.value) break;
      }
      const wait = Math.max(
        5,
        Math.min(nextSample, nextPeriod, stopAt.value, t0 + (events[eventIndex]?.t ?? Infinity)) -
          performance.now(),
      );
      await new Promise((r) => setTimeout(r, Math.min(wait, 1_000)));
    }
    await Promise.all(running);
    const metrics = await readMetrics(proxy.url);
    proxy.child.kill("SIGTERM");
    const status = await Promise.race([
      proxy.status,
      new Promise<null>((r) => setTimeout(() => r(null), 35_000)),
    ]);
    exitCode = status?.code ?? null;

    // Verdict.
    // RSS saw-tooths with V8's collections: compare the medians of the first and last thirds of
    // the samples after warm-up, not two single samples.
    const afterWarmup = samples.filter((s) => s.t * 1000 >= warmupMs);
    const third = Math.max(1, Math.ceil(afterWarmup.length / 3));
    const firstWindow = afterWarmup.slice(0, third);
    const lastWindow = afterWarmup.slice(-third);
    const rssBaseline = median(firstWindow.map((s) => s.rssKiB));
    const rssFinal = median(lastWindow.map((s) => s.rssKiB));
    const rssGrowth = rssBaseline === 0 ? Infinity : (rssFinal - rssBaseline) / rssBaseline * 100;
    const fdBaseline = median(firstWindow.map((s) => s.fds));
    const fdFinal = median(lastWindow.map((s) => s.fds));
    const fdMax = Math.max(...afterWarmup.map((s) => s.fds));
    const unexpected = Object.values(totalFailures).reduce((a, b) => a + b, 0);
    const proxyRetried = sumMetric(metrics, "mlflow_secrets_auth_proxy_retried_total");
    const strict = events.some((e) => e.kind === "rotation-strict");
    const refreshPathExercised = !strict || (tracking.rejected > 0 && proxyRetried > 0);
    const text = proxy.stderr();
    const leaks = tokens.filter((t) => text.includes(t)).length;
    const rssOk = rssGrowth < (options.rssGrowthLimitPercent ?? 10);
    const fdOk = fdFinal <= fdBaseline + 2;
    const failuresOk = unexpected === 0;
    const sortedAll = Float64Array.from(allLatencies).sort();
    return {
      setup: {
        durationMs,
        periodMs,
        sampleMs,
        rotateEveryMs,
        graceMs,
        outageAtMs,
        outageForMs,
        warmupMs,
        clients,
        thinkMs,
        protectedProcess,
        deno: Deno.version.deno,
      },
      rows,
      samples,
      events,
      totals: {
        requests,
        ok,
        failures: totalFailures,
        upstream401: tracking.rejected,
        acceptedPrevious: tracking.acceptedPrevious,
        proxyRetried,
        proxyRefreshes: sumMetric(metrics, "mlflow_secrets_auth_secret_refreshes_total"),
        p50Ms: percentile(sortedAll, 0.5),
        p95Ms: percentile(sortedAll, 0.95),
        p99Ms: percentile(sortedAll, 0.99),
      },
      proxyLogTail: leaks > 0 ? [] : text.trimEnd().split("\n").slice(-40),
      verdict: {
        rssBaselineMiB: Math.round(rssBaseline / 102.4) / 10,
        rssFinalMiB: Math.round(rssFinal / 102.4) / 10,
        rssGrowthPercent: Math.round(rssGrowth * 10) / 10,
        rssOk,
        fdBaseline,
        fdFinal,
        fdMaxAfterWarmup: fdMax,
        fdOk,
        unexpectedFailures: unexpected,
        failuresOk,
        refreshPathExercised,
        leaks,
        exitCode,
        pass: rssOk && fdOk && failuresOk && refreshPathExercised && leaks === 0 && exitCode === 0,
      },
    };
  } finally {
    stopAt.value = 0;
    if (outage) {
      try {
        Deno.renameSync(`${secretPath}.away`, secretPath);
      } catch {
        // Already back.
      }
    }
    try {
      proxy.child.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await proxy.status;
    await proxy.reading;
    for (const c of httpClients) c.close();
    await tracking.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

function formatRow(r: SoakRow): string {
  const failures = Object.entries(r.failures).map(([k, v]) => `${k}=${v}`).join(",") || "0";
  return `t=${String(r.t).padStart(5)}s rss=${r.rssMiB.toFixed(1)}MiB hwm=${
    r.hwmMiB.toFixed(1)
  }MiB fds=${r.fds} req=${r.requests} rps=${r.rps} p50=${r.p50Ms}ms p95=${r.p95Ms}ms p99=${r.p99Ms}ms failures=${failures} upstream401=${r.upstream401} retried=${r.proxyRetriedTotal} ${
    r.events.join(" ")
  }`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "30" },
      period: { type: "string" },
      sample: { type: "string" },
      rotate: { type: "string" },
      grace: { type: "string" },
      "outage-at": { type: "string" },
      "outage-for": { type: "string" },
      clients: { type: "string" },
      think: { type: "string" },
      json: { type: "string", default: "dist/soak.json" },
    },
  });
  const seconds = (v: string | undefined) => v === undefined ? undefined : Number(v) * 1000;
  const durationMs = Number(values.minutes) * 60_000;
  if (!(durationMs > 0) || durationMs > 30 * 60_000) {
    console.error(`Cannot soak for "${values.minutes}" minutes: expected more than 0, at most 30`);
    Deno.exit(2);
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  const opt = (k: keyof SoakOptions, v: number | undefined) => v === undefined ? {} : { [k]: v };
  const report = await runSoak({
    durationMs,
    ...opt("periodMs", seconds(values.period)),
    ...opt("sampleMs", seconds(values.sample)),
    ...opt("rotateEveryMs", seconds(values.rotate)),
    ...opt("graceMs", seconds(values.grace)),
    ...opt("outageAtMs", seconds(values["outage-at"])),
    ...opt("outageForMs", seconds(values["outage-for"])),
    ...opt("clients", values.clients === undefined ? undefined : Number(values.clients)),
    ...opt("thinkMs", values.think === undefined ? undefined : Number(values.think)),
    onRow: (row) => console.error(formatRow(row)),
    signal: stop.signal,
  });
  Deno.removeSignalListener("SIGINT", onSignal);
  const dirName = values.json.includes("/")
    ? values.json.slice(0, values.json.lastIndexOf("/"))
    : ".";
  await Deno.mkdir(dirName, { recursive: true });
  await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2) + "\n");
  console.log(JSON.stringify({ totals: report.totals, verdict: report.verdict }, null, 2));
  if (!report.verdict.pass) Deno.exit(1);
}
