/**
 * The 3-minute soak: the `proxy` command under 20 concurrent clients, its `file` secret rotated
 * every 30 s (alternating a rotation with a grace period and one the tracking server enforces at
 * once, so the proxy's 401 → refresh → replay path runs) and a provider outage in the middle.
 * The full 30-minute run is `deno task soak`; see bench/soak.ts for what each check means.
 *
 * Memory and descriptors are measured quantities (from /proc), compared within the run; no
 * assertion is made on latency.
 */

import { runSoak } from "../../bench/soak.ts";
import { assert, assertEquals } from "../_assert.ts";

Deno.test({
  name:
    "proxy command under rotation and a provider outage: RSS and descriptors flat, no failed request (3 minutes)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const report = await runSoak({
      durationMs: 180_000,
      periodMs: 20_000,
      sampleMs: 2_000,
      rotateEveryMs: 30_000,
      graceMs: 5_000,
      warmupMs: 60_000,
      clients: 20,
      // Three minutes show the garbage collector's swings (-14 % to +7 % seen here) more than a
      // trend; the 30-minute soak (`deno task soak`) holds the 10 % limit.
      rssGrowthLimitPercent: 25,
    });
    const { verdict: v, totals: t } = report;
    console.log(
      `soak 3 min: ${t.requests} requests, failures ${
        JSON.stringify(t.failures)
      }, RSS ${v.rssBaselineMiB} -> ${v.rssFinalMiB} MiB (${v.rssGrowthPercent} %), descriptors ${v.fdBaseline} -> ${v.fdFinal} (max ${v.fdMaxAfterWarmup}), tracking-server 401s ${t.upstream401}, proxy replays ${t.proxyRetried}, p50/p95/p99 ${t.p50Ms}/${t.p95Ms}/${t.p99Ms} ms`,
    );
    // The scenario did what it says.
    const kinds = report.events.map((e) => e.kind);
    assert(kinds.includes("rotation-grace") && kinds.includes("rotation-strict"), kinds.join());
    assert(kinds.includes("outage-start") && kinds.includes("outage-end"), kinds.join());
    const strictAfterOutage = report.events.some((e) =>
      e.kind === "rotation-strict" && e.t > report.setup.outageAtMs + report.setup.outageForMs
    );
    assert(strictAfterOutage, "a strict rotation follows the outage");
    assert(t.acceptedPrevious > 0, "grace rotations: the old value was still in use for a while");
    assert(t.upstream401 > 0, "strict rotations: the tracking server rejected the old value");
    assert(t.requests > 10_000, `enough traffic: ${t.requests} requests`);
    // Every 401 was answered inside the proxy by exactly one refresh and replay.
    assertEquals(t.proxyRetried, t.upstream401);
    // The verdict.
    assertEquals(t.failures, {}, "no failed request reached a client");
    assertEquals(v.unexpectedFailures, 0);
    assertEquals(t.ok, t.requests);
    assert(v.rssOk, `RSS growth after warm-up ${v.rssGrowthPercent} % (limit 25 %)`);
    assert(v.fdOk, `descriptors ${v.fdBaseline} -> ${v.fdFinal}`);
    assertEquals(v.leaks, 0, "no secret value in the proxy's output");
    assertEquals(v.exitCode, 0, "the proxy exits 0 on SIGTERM");
    assert(v.pass);
  },
});
