/**
 * Traffic for the fault suite: client loops that send requests through a proxy and record every
 * outcome (when it was sent, when it was answered, the status, the body), so a test can say what
 * each user request saw before, during and after a fault; and the proxy's Prometheus metrics.
 */

/** What one request saw. */
export interface Outcome {
  /** The request's own id (sent in the URL, so the tracking server can report what it got). */
  readonly id: string;
  /** `Date.now()` when it was sent. */
  readonly sentAt: number;
  /** `Date.now()` when its answer (body included) had arrived, or the error was seen. */
  readonly doneAt: number;
  /** The status, or 0 for a network error or a timeout. */
  readonly status: number;
  /** The body (the first 4 KB), or the error. */
  readonly body: string;
  /** The `Retry-After` header. */
  readonly retryAfter: string | null;
}

/** Options of {@linkcode startClients}. */
export interface ClientsOptions {
  /** Concurrent loops. */
  readonly clients: number;
  /** The request with this id: URL and init. */
  readonly request: (id: string) => { readonly url: string; readonly init?: RequestInit };
  /** Pause between a loop's requests. Default 40 ms. */
  readonly pauseMs?: number;
  /** Each request's deadline: past it, the outcome has status 0 ("timeout"). Default 20 s. */
  readonly timeoutMs?: number;
  /** Prefix of the ids. */
  readonly tag: string;
}

/** Running client loops. */
export interface Clients {
  /** Outcomes so far. */
  readonly outcomes: readonly Outcome[];
  /** Stops the loops, waits for requests in flight, returns every outcome. */
  stop(): Promise<readonly Outcome[]>;
}

/**
 * Starts client loops; each has its own connection pool and sends one request at a time.
 *
 * @param options Count, request, pause, deadline.
 * @returns The loops.
 */
export function startClients(options: ClientsOptions): Clients {
  const outcomes: Outcome[] = [];
  let running = true;
  let seq = 0;
  const loop = async (): Promise<void> => {
    const client = Deno.createHttpClient({});
    try {
      while (running) {
        const id = `${options.tag}-${++seq}`;
        const { url, init } = options.request(id);
        const sentAt = Date.now();
        try {
          const res = await fetch(url, {
            ...init,
            client,
            signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
          });
          const body = await res.text();
          outcomes.push({
            id,
            sentAt,
            doneAt: Date.now(),
            status: res.status,
            body: body.slice(0, 4096),
            retryAfter: res.headers.get("retry-after"),
          });
        } catch (error) {
          outcomes.push({
            id,
            sentAt,
            doneAt: Date.now(),
            status: 0,
            body: String(error),
            retryAfter: null,
          });
        }
        await new Promise((r) => setTimeout(r, options.pauseMs ?? 40));
      }
    } finally {
      client.close();
    }
  };
  const loops = Array.from({ length: options.clients }, () => loop());
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/**
 * The proxy's metrics (`/__mlflow-secrets-auth/metrics`), by series (`name{labels}`).
 *
 * @param proxyUrl The proxy's base URL.
 * @returns Value by series.
 */
export async function readMetrics(proxyUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${proxyUrl}/__mlflow-secrets-auth/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/**
 * The sum of a metric's series.
 *
 * @param metrics From {@linkcode readMetrics}.
 * @param name Without labels.
 * @returns The sum (0 when absent).
 */
export function metric(metrics: ReadonlyMap<string, number>, name: string): number {
  let total = 0;
  for (const [k, v] of metrics) if (k === name || k.startsWith(`${name}{`)) total += v;
  return total;
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @param ms The pause.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/**
 * Counts outcomes by status, for messages: `{"200": 412, "503": 37}`.
 *
 * @param outcomes The outcomes.
 * @returns Count by status.
 */
export function byStatus(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[o.status] = (out[o.status] ?? 0) + 1;
  return out;
}
