import { type CachePolicy, SecretCache } from "../../engine/secret_cache.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";

const POLICY: CachePolicy = {
  ttlMs: 10_000,
  refreshAheadMs: 2_000,
  staleIfErrorMs: 5_000,
  failureTtlMs: 1_000,
};

function setup(random = () => 0.5) {
  let now = 1_000_000;
  const cache = new SecretCache({ now: () => now, random });
  let calls = 0;
  let value = "v1";
  let fail: Error | undefined;
  const gates: (() => void)[] = [];
  let gated = false;
  const loader = async () => {
    calls++;
    if (gated) await new Promise<void>((r) => gates.push(r));
    if (fail) throw fail;
    return { value };
  };
  return {
    cache,
    loader,
    calls: () => calls,
    tick: (ms: number) => (now += ms),
    set: (v: string) => (value = v),
    failWith: (e: Error | undefined) => (fail = e),
    gate: (on: boolean) => (gated = on),
    open: () => gates.splice(0).forEach((g) => g()),
  };
}

Deno.test("SecretCache.get() causes exactly one load for 200 concurrent misses", async () => {
  const s = setup();
  s.gate(true);
  const all = Promise.all(Array.from({ length: 200 }, () => s.cache.get("k", s.loader, POLICY)));
  await Promise.resolve();
  s.open();
  const results = await all;
  assertEquals(s.calls(), 1);
  assert(results.every((r) => r.value === "v1"));
});

Deno.test("SecretCache.get() serves hits until the TTL (with ±10 % jitter) runs out", async () => {
  for (const [random, ttl] of [[0, 9_000], [0.999999, 11_000]] as const) {
    const s = setup(() => random);
    await s.cache.get("k", s.loader, { ...POLICY, refreshAheadMs: 0 });
    s.tick(ttl - 1);
    await s.cache.get("k", s.loader, { ...POLICY, refreshAheadMs: 0 });
    assertEquals(s.calls(), 1, `random ${random}`);
    s.tick(2);
    await s.cache.get("k", s.loader, { ...POLICY, refreshAheadMs: 0 });
    assertEquals(s.calls(), 2, `random ${random}`);
  }
});

Deno.test("SecretCache.get() refreshes ahead in the background without making the caller wait", async () => {
  const s = setup();
  await s.cache.get("k", s.loader, POLICY);
  s.tick(8_500); // inside the last 2 s of a 10 s TTL
  s.gate(true);
  s.set("v2");
  const hit = await s.cache.get("k", s.loader, POLICY);
  assertEquals(hit.value, "v1"); // answered at once, with the current value
  assertEquals(s.calls(), 2); // and a background load started
  s.open();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals((await s.cache.get("k", s.loader, POLICY)).value, "v2");
  assertEquals(s.calls(), 2);
});

Deno.test("SecretCache.get() serves a stale value within stale_if_error, then fails", async () => {
  const s = setup();
  await s.cache.get("k", s.loader, POLICY);
  s.failWith(new Error("provider down"));
  s.tick(10_001);
  assertEquals((await s.cache.get("k", s.loader, POLICY)).value, "v1");
  assertEquals(s.cache.stats.staleServed, 1);
  s.tick(5_000);
  await assertRejects(() => s.cache.get("k", s.loader, POLICY), Error, "provider down");
});

Deno.test("SecretCache.get() remembers a failure briefly so a dead provider is not hammered", async () => {
  const s = setup();
  s.failWith(new Error("down"));
  await assertRejects(() => s.cache.get("k", s.loader, POLICY), Error, "down");
  await assertRejects(() => s.cache.get("k", s.loader, POLICY), Error, "down");
  assertEquals(s.calls(), 1);
  s.tick(1_001);
  s.failWith(undefined);
  assertEquals((await s.cache.get("k", s.loader, POLICY)).value, "v1");
  assertEquals(s.calls(), 2);
});

Deno.test("SecretCache.refresh() collapses concurrent refreshes of a rejected value into one load", async () => {
  const s = setup();
  const first = await s.cache.get("k", s.loader, POLICY);
  s.set("v2");
  s.gate(true);
  const all = Promise.all(
    Array.from({ length: 50 }, () => s.cache.refresh("k", first.generation, s.loader, POLICY)),
  );
  await Promise.resolve();
  s.open();
  const results = await all;
  assertEquals(s.calls(), 2);
  assert(results.every((r) => r.value === "v2"));
  // A late refresh of the already-replaced generation does not load again.
  assertEquals((await s.cache.refresh("k", first.generation, s.loader, POLICY)).value, "v2");
  assertEquals(s.calls(), 2);
});

Deno.test("SecretCache.refresh() never falls back to the rejected value", async () => {
  const s = setup();
  const first = await s.cache.get("k", s.loader, POLICY);
  s.failWith(new Error("down"));
  await assertRejects(
    () => s.cache.refresh("k", first.generation, s.loader, POLICY),
    Error,
    "down",
  );
});

Deno.test("SecretCache.get() lets a caller's signal abandon the wait without cancelling the shared load", async () => {
  const s = setup();
  s.gate(true);
  const c = new AbortController();
  const waiting = s.cache.get("k", s.loader, POLICY, c.signal);
  const other = s.cache.get("k", s.loader, POLICY);
  c.abort(new DOMException("stop", "AbortError"));
  await assertRejects(() => waiting, DOMException);
  s.open();
  assertEquals((await other).value, "v1");
  assertEquals(s.calls(), 1);
});

Deno.test("SecretCache.get() bounds the TTL by the provider's maxTtlMs", async () => {
  const s = setup();
  const loader = () => Promise.resolve({ value: "x", maxTtlMs: 1_000 });
  await s.cache.get("k", loader, POLICY);
  s.tick(1_001);
  let calls = 0;
  await s.cache.get("k", () => (calls++, Promise.resolve({ value: "y" })), POLICY);
  assertEquals(calls, 1);
});

Deno.test("SecretCache.get() starts no refresh-ahead load while a failure is remembered", async () => {
  const s = setup();
  await s.cache.get("k", s.loader, POLICY);
  s.tick(8_500);
  s.failWith(new Error("down"));
  await s.cache.get("k", s.loader, POLICY); // starts one background load, which fails
  await new Promise((r) => setTimeout(r, 0));
  for (let i = 0; i < 100; i++) await s.cache.get("k", s.loader, POLICY);
  assertEquals(s.calls(), 2);
});

Deno.test("SecretCache.get() recovers after a loader that throws synchronously", async () => {
  const s = setup();
  const throwing = () => {
    throw new Error("sync");
  };
  await assertRejects(() => s.cache.get("k", throwing as never, POLICY), Error, "sync");
  s.tick(1_001);
  assertEquals((await s.cache.get("k", s.loader, POLICY)).value, "v1");
});

Deno.test("SecretCache.clear() keeps a load in flight from writing its value afterwards", async () => {
  const s = setup();
  s.gate(true);
  const pending = s.cache.get("k", s.loader, POLICY).catch((e) => e);
  await Promise.resolve();
  s.cache.clear();
  s.set("new");
  s.gate(false);
  s.open();
  assert((await pending) instanceof Error, "the cleared load must not resolve");
  assertEquals((await s.cache.get("k", s.loader, POLICY)).value, "new");
});

Deno.test("SecretCache.get() rejects after a failed refresh of a rejected value, never serving it again", async () => {
  const s = setup();
  const first = await s.cache.get("k", s.loader, POLICY);
  s.failWith(new Error("down"));
  await assertRejects(() => s.cache.refresh("k", first.generation, s.loader, POLICY), Error);
  // Still well inside the value's TTL and stale window: a plain get() must not fall back to it.
  await assertRejects(() => s.cache.get("k", s.loader, POLICY), Error, "down");
  s.tick(POLICY.failureTtlMs + 1);
  await assertRejects(() => s.cache.get("k", s.loader, POLICY), Error, "down");
  assertEquals(s.cache.stats.staleServed, 0);
});

Deno.test("SecretCache.get() stops serving a stale value at its stale limit, even while a failure is remembered", async () => {
  const s = setup();
  // A failure memory longer than the stale window: only the stale limit can end the serving.
  const policy = { ...POLICY, failureTtlMs: 60_000 };
  await s.cache.get("k", s.loader, policy);
  s.failWith(new Error("down"));
  s.tick(10_001); // expired (TTL 10 s with random 0.5): the load fails, the value is served stale
  assertEquals((await s.cache.get("k", s.loader, policy)).value, "v1");
  s.tick(4_000); // still inside stale_if_error (5 s) and inside the failure memory
  assertEquals((await s.cache.get("k", s.loader, policy)).value, "v1");
  s.tick(1_000); // past the stale limit, failure still remembered
  await assertRejects(() => s.cache.get("k", s.loader, policy), Error, "down");
  assertEquals(s.calls(), 2, "the remembered failure spares the provider");
});

Deno.test("SecretCache spreads the retries of a failed refresh over the time its value stays usable", async () => {
  const s = setup(); // random 0.5: TTL 10 s, refresh-ahead from 8.5 s, stale until 15 s
  await s.cache.get("k", s.loader, POLICY);
  s.failWith(new Error("down"));
  s.tick(8_500);
  await s.cache.get("k", s.loader, POLICY); // hit; the background refresh fails
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(s.calls(), 2);
  // Usable for 6.5 s more: the next attempt waits 50 % of that (3.25 s), not failureTtlMs (1 s).
  s.tick(1_500);
  assertEquals((await s.cache.get("k", s.loader, POLICY)).value, "v1"); // expired: served stale
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(s.calls(), 2, "retried within the spread");
  s.tick(1_800);
  s.failWith(undefined);
  s.set("v2");
  await s.cache.get("k", s.loader, POLICY);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(s.calls(), 3);
  assertEquals((await s.cache.get("k", s.loader, POLICY)).value, "v2");
});

Deno.test("SecretCache draws a wider TTL for the load that ends a run of failures", async () => {
  const s = setup(() => 0); // TTL 9 s normally (-10 %); 5 s (50 %) after failures
  const policy = { ...POLICY, refreshAheadMs: 0 };
  await s.cache.get("k", s.loader, policy);
  s.failWith(new Error("down"));
  s.tick(9_001);
  assertEquals((await s.cache.get("k", s.loader, policy)).value, "v1"); // stale, load failed
  s.tick(1_300); // past the failure memory (25 % of the 5 s the stale value had left)
  s.failWith(undefined);
  s.set("v2");
  assertEquals((await s.cache.get("k", s.loader, policy)).value, "v2");
  const loads = s.calls();
  s.tick(4_999);
  await s.cache.get("k", s.loader, policy);
  assertEquals(s.calls(), loads);
  s.tick(2);
  await s.cache.get("k", s.loader, policy);
  assertEquals(s.calls(), loads + 1, "expired at 50 % of the TTL");
});
