/**
 * Fleet simulation: many jobs, each with its own {@linkcode SecretCache} (the real code), on a
 * virtual clock, against one provider. It answers "what request rate does a fleet put on the
 * secret store", through a steady state, a rotation and a provider outage.
 *
 * Each job sends a tracking request every `requestEveryMs` (± 50 %), reads its credential through
 * the cache as the middleware and the proxy do (`get`, and `refresh` when the tracking server
 * rejects the value), and the tracking server accepts the current version and, for `graceMs`
 * after a rotation, the previous one (stores rotate that way: AWS keeps `AWSPREVIOUS`, a Vault
 * rotation keeps the old credential valid for a while). During the outage every provider call
 * fails at once.
 *
 * Run: `deno run bench/fleet_sim.ts [--json out.json]` (or `deno task bench:fleet`). It prints a
 * summary; `--json` also writes the per-second series for the plot
 * (`scripts/plot_fleet.py`).
 *
 * @module
 */

import { type CachePolicy, DEFAULT_CACHE, SecretCache } from "../engine/secret_cache.ts";

/** Scenario of one simulation run (milliseconds). */
export interface FleetScenario {
  readonly jobs: number;
  readonly policy: CachePolicy;
  /** Mean interval between one job's tracking requests (uniform ± 50 %). */
  readonly requestEveryMs: number;
  /** Jobs start uniformly within this window. */
  readonly startSpreadMs: number;
  readonly rotationAtMs: number;
  /** How long the previous version stays valid after a rotation. */
  readonly graceMs: number;
  readonly outageStartMs: number;
  readonly outageMs: number;
  readonly durationMs: number;
  readonly seed: number;
}

/** What a run measured. */
export interface FleetResult {
  /** Provider calls per second of virtual time. */
  readonly perSecond: readonly number[];
  readonly providerCalls: number;
  readonly requests: number;
  /** Requests that had no credential to send (no value and no stale value). */
  readonly failedRequests: number;
  /** Requests rejected by the tracking server (an old version past its grace). */
  readonly rejected: number;
  /** Highest provider calls in one second. */
  readonly peakPerSecond: number;
  /** Highest mean over a sliding 10 s window. */
  readonly peak10s: number;
  /** Mean provider calls per second in each phase. */
  readonly phases: Readonly<Record<string, number>>;
}

/** The scenario of issue 15: 10,000 jobs, 5 min TTL, a rotation, then a 2 min outage. */
export const FLEET_SCENARIO: FleetScenario = {
  jobs: 10_000,
  policy: DEFAULT_CACHE,
  requestEveryMs: 5_000,
  startSpreadMs: 5 * 60_000,
  rotationAtMs: 12 * 60_000,
  graceMs: 10 * 60_000,
  outageStartMs: 18 * 60_000,
  outageMs: 2 * 60_000,
  durationMs: 30 * 60_000,
  seed: 42,
};

/** A small seeded PRNG (mulberry32), so a run is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A binary min-heap of (time, job) events. */
class EventQueue {
  #times: number[] = [];
  #jobs: number[] = [];
  get size(): number {
    return this.#times.length;
  }
  push(time: number, job: number): void {
    const t = this.#times, j = this.#jobs;
    let i = t.length;
    t.push(time);
    j.push(job);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! <= time) break;
      t[i] = t[p]!;
      j[i] = j[p]!;
      i = p;
    }
    t[i] = time;
    j[i] = job;
  }
  pop(): [number, number] {
    const t = this.#times, j = this.#jobs;
    const top: [number, number] = [t[0]!, j[0]!];
    const lastT = t.pop()!, lastJ = j.pop()!;
    const n = t.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        let mt = lastT;
        if (l < n && t[l]! < mt) (m = l), (mt = t[l]!);
        if (r < n && t[r]! < mt) m = r;
        if (m === i) break;
        t[i] = t[m]!;
        j[i] = j[m]!;
        i = m;
      }
      t[i] = lastT;
      j[i] = lastJ;
    }
    return top;
  }
}

/**
 * Runs one scenario.
 *
 * @param scenario Fleet, policy and timeline.
 * @returns Counts and the per-second series of provider calls.
 */
export async function simulateFleet(scenario: FleetScenario): Promise<FleetResult> {
  const random = seeded(scenario.seed);
  let now = 0;
  const seconds = Math.ceil(scenario.durationMs / 1000);
  const perSecond = new Array<number>(seconds).fill(0);
  let version = 1;
  let providerCalls = 0;
  const outageEnd = scenario.outageStartMs + scenario.outageMs;
  const loader = (): Promise<{ value: string; version: string }> => {
    providerCalls++;
    const s = Math.floor(now / 1000);
    if (s < seconds) perSecond[s]!++;
    if (now >= scenario.outageStartMs && now < outageEnd) {
      return Promise.reject(new TypeError("provider unreachable"));
    }
    return Promise.resolve({ value: `token-v${version}`, version: String(version) });
  };
  const accepted = (v: string | undefined): boolean =>
    v === String(version) ||
    (v === String(version - 1) && now < scenario.rotationAtMs + scenario.graceMs);
  const caches = Array.from(
    { length: scenario.jobs },
    () => new SecretCache({ now: () => now, random }),
  );
  const queue = new EventQueue();
  for (let i = 0; i < scenario.jobs; i++) queue.push(random() * scenario.startSpreadMs, i);
  let rotated = false;
  let requests = 0, failedRequests = 0, rejected = 0;
  const { policy } = scenario;
  while (queue.size > 0) {
    const [time, job] = queue.pop();
    if (time >= scenario.durationMs) continue;
    now = time;
    if (!rotated && now >= scenario.rotationAtMs) {
      rotated = true;
      version++;
    }
    requests++;
    const cache = caches[job]!;
    try {
      let secret = await cache.get("k", loader, policy);
      if (!accepted(secret.version)) {
        rejected++;
        secret = await cache.refresh("k", secret.generation, loader, policy);
      }
    } catch {
      failedRequests++;
    }
    // Let background refreshes settle before the clock moves on.
    await Promise.resolve();
    queue.push(now + scenario.requestEveryMs * (0.5 + random()), job);
  }
  const mean = (from: number, to: number): number => {
    const slice = perSecond.slice(Math.floor(from / 1000), Math.floor(to / 1000));
    return slice.reduce((a, b) => a + b, 0) / Math.max(1, slice.length);
  };
  let peak10s = 0;
  for (let s = 0; s + 10 <= seconds; s++) {
    peak10s = Math.max(peak10s, perSecond.slice(s, s + 10).reduce((a, b) => a + b, 0) / 10);
  }
  return {
    perSecond,
    providerCalls,
    requests,
    failedRequests,
    rejected,
    peakPerSecond: Math.max(...perSecond),
    peak10s,
    phases: {
      "start-up": mean(0, scenario.startSpreadMs),
      steady: mean(scenario.startSpreadMs, scenario.rotationAtMs),
      "after rotation": mean(scenario.rotationAtMs, scenario.outageStartMs),
      outage: mean(scenario.outageStartMs, outageEnd),
      recovery: mean(outageEnd, scenario.durationMs),
    },
  };
}

if (import.meta.main) {
  const jsonAt = Deno.args.indexOf("--json");
  const started = performance.now();
  const result = await simulateFleet(FLEET_SCENARIO);
  const s = FLEET_SCENARIO;
  console.log(
    `fleet: ${s.jobs} jobs, TTL ${s.policy.ttlMs / 1000} s, a request every ~${
      s.requestEveryMs / 1000
    } s per job, rotation at ${s.rotationAtMs / 60_000} min (old version valid ${
      s.graceMs / 60_000
    } min more), outage ${s.outageStartMs / 60_000}-${(s.outageStartMs + s.outageMs) / 60_000} min`,
  );
  console.log(
    `simulated ${s.durationMs / 60_000} min, ${result.requests} requests in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
  console.log(
    `provider calls: ${result.providerCalls}; peak ${result.peakPerSecond}/s (1 s), ${
      result.peak10s.toFixed(1)
    }/s (10 s window)`,
  );
  for (const [phase, rate] of Object.entries(result.phases)) {
    console.log(`  ${phase.padEnd(15)} ${rate.toFixed(1)}/s`);
  }
  console.log(
    `requests without a credential: ${result.failedRequests}; rejected by the server: ${result.rejected}`,
  );
  if (jsonAt >= 0 && Deno.args[jsonAt + 1] !== undefined) {
    await Deno.writeTextFile(
      Deno.args[jsonAt + 1]!,
      JSON.stringify({ scenario: FLEET_SCENARIO, ...result }),
    );
  }
}
