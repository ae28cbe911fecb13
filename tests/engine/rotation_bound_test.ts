import { ROTATION_RECHECK_MS, rotationTtlMs } from "../../engine/_expiry.ts";
import { type CachePolicy, SecretCache } from "../../engine/secret_cache.ts";
import type { ResolvedSecret } from "../../providers/types.ts";
import { assertEquals, assertRejects } from "../_assert.ts";

const T0 = Date.parse("2026-06-01T12:00:00Z");
const MIN = 60_000;

Deno.test("rotationTtlMs() lasts until the rotation date, at least a minute, and grows with a late rotation's delay", () => {
  assertEquals(rotationTtlMs(T0 + 3_600_000, T0), 3_600_000);
  assertEquals(rotationTtlMs(T0 + 10_000, T0), ROTATION_RECHECK_MS); // no reload loop before it
  assertEquals(rotationTtlMs(T0 - 5_000, T0), ROTATION_RECHECK_MS); // late: re-check in a minute
  assertEquals(rotationTtlMs(T0 - 5 * 3_600_000, T0), 30 * MIN); // 5 h late: every 30 min
});

const POLICY: CachePolicy = {
  ttlMs: 10 * MIN,
  refreshAheadMs: 0,
  staleIfErrorMs: 5 * MIN,
  failureTtlMs: 1_000,
};

function cacheAt() {
  let now = T0;
  const cache = new SecretCache({ now: () => now, random: () => 0.5 });
  return { cache, at: (ms: number) => now = T0 + ms };
}

const failing = () => Promise.reject(new Error("provider down"));

Deno.test("SecretCache reads a value again at its rotation date but keeps serving it while the provider fails, unlike an expiry", async () => {
  // Rotation in 2 min, ttl 10 min, stale-if-error 5 min.
  const rotating = cacheAt();
  const first: ResolvedSecret = { value: "v1", rotatesAt: T0 + 2 * MIN };
  await rotating.cache.get("k", () => Promise.resolve(first), POLICY);
  rotating.at(MIN);
  assertEquals(rotating.cache.peek("k", failing, POLICY)?.value, "v1");
  assertEquals(rotating.cache.peek("k", failing, POLICY)?.rotatesAt, T0 + 2 * MIN);
  // Past the date: no longer fresh, so the next request reads the provider again...
  rotating.at(3 * MIN);
  assertEquals(rotating.cache.peek("k", failing, POLICY), undefined);
  // ...and while the provider is down the value is served as long as the ttl and stale-if-error
  // allow (10 + 5 min), as without a rotation date: a rotation does not stop the value working.
  assertEquals((await rotating.cache.get("k", failing, POLICY)).value, "v1");
  rotating.at(14 * MIN);
  assertEquals((await rotating.cache.get("k", failing, POLICY)).value, "v1");
  rotating.at(16 * MIN);
  await assertRejects(() => rotating.cache.get("k", failing, POLICY));

  // The same date as an expiry (as the resolver hands it over: the bound and the date) is hard:
  // nothing is served past it.
  const expiring = cacheAt();
  const expiry: ResolvedSecret = { value: "v1", expiresAt: T0 + 2 * MIN, maxTtlMs: 2 * MIN };
  await expiring.cache.get("k", () => Promise.resolve(expiry), POLICY);
  expiring.at(3 * MIN);
  await assertRejects(() => expiring.cache.get("k", failing, POLICY));
});
