/**
 * A provider outage followed by a rotation: the memory of the outage's failure, stretched over
 * the time the stale value stays usable, must not block the refresh of a value the tracking
 * server has since rejected (found by the soak, `deno task soak`: after an outage and a rotation
 * every request got 503 for minutes).
 */

import { type CachePolicy, SecretCache } from "../../engine/secret_cache.ts";
import { assertEquals, assertRejects } from "../_assert.ts";

const POLICY: CachePolicy = {
  ttlMs: 10_000,
  refreshAheadMs: 2_000,
  staleIfErrorMs: 60_000,
  failureTtlMs: 1_000,
};

Deno.test("SecretCache.refresh() loads again after an outage once the plain failure TTL has passed, though the stale value's spread memory has not", async () => {
  let now = 1_000_000;
  const cache = new SecretCache({ now: () => now, random: () => 0.5 });
  let value = "v1";
  let down = false;
  let calls = 0;
  const loader = () => {
    calls++;
    return down ? Promise.reject(new Error("provider down")) : Promise.resolve({ value });
  };
  const first = await cache.get("k", loader, POLICY);
  down = true;
  now += 10_001; // expired: the load fails, the value is served stale
  assertEquals((await cache.get("k", loader, POLICY)).value, "v1");
  assertEquals(calls, 2);
  // The failure is remembered for half of the ~60 s the stale value stays usable (~30 s).
  // The store comes back with a rotated value, and the tracking server rejects v1.
  down = false;
  value = "v2";
  now += 1_500;
  assertEquals((await cache.get("k", loader, POLICY)).value, "v1", "spread memory: served stale");
  assertEquals(calls, 2);
  const fresh = await cache.refresh("k", first.generation, loader, POLICY);
  assertEquals(fresh.value, "v2");
  assertEquals(calls, 3);
});

Deno.test("SecretCache.refresh() still honours the plain failure TTL right after a failure", async () => {
  let now = 1_000_000;
  const cache = new SecretCache({ now: () => now, random: () => 0.5 });
  let down = false;
  let calls = 0;
  const loader = () => {
    calls++;
    return down ? Promise.reject(new Error("provider down")) : Promise.resolve({ value: "v1" });
  };
  const first = await cache.get("k", loader, POLICY);
  down = true;
  now += 10_001;
  await cache.get("k", loader, POLICY); // stale, failure remembered
  now += 500;
  await assertRejects(
    () => cache.refresh("k", first.generation, loader, POLICY),
    Error,
    "provider down",
  );
  assertEquals(calls, 2, "no load within failureTtlMs");
});
