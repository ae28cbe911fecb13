import {
  DEFAULT_RETRY,
  isTransient,
  retry,
  TRANSIENT_NETWORK_CODES,
  transientNetworkCode,
} from "../../core/retry.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";

const FAST = { ...DEFAULT_RETRY, baseDelayMs: 1, maxDelayMs: 2 };

Deno.test("retry() retries transient errors and stops at the attempt limit", async () => {
  let calls = 0;
  await assertRejects(
    () =>
      retry(() => (calls++, Promise.reject(new TypeError("reset"))), {
        policy: { ...FAST, attempts: 4 },
      }),
    TypeError,
  );
  assertEquals(calls, 4);
});

Deno.test("retry() does not retry permission errors", async () => {
  let calls = 0;
  const denied = new SecretResolutionError("403", { provider: "p", reference: "r", status: 403 });
  await assertRejects(
    () => retry(() => (calls++, Promise.reject(denied)), { policy: FAST }),
    SecretResolutionError,
  );
  assertEquals(calls, 1);
});

Deno.test("retry() uses exponential backoff with full jitter, capped", async () => {
  const delays: number[] = [];
  await assertRejects(() =>
    retry(() => Promise.reject(new TypeError("x")), {
      policy: { ...DEFAULT_RETRY, attempts: 6, baseDelayMs: 1, maxDelayMs: 4 },
      random: () => 0.999,
      onRetry: ({ delayMs }) => delays.push(delayMs),
    })
  );
  assertEquals(delays, [0, 1, 3, 3, 3]);
  const zero: number[] = [];
  await assertRejects(() =>
    retry(() => Promise.reject(new TypeError("x")), {
      policy: { ...FAST, attempts: 3 },
      random: () => 0,
      onRetry: ({ delayMs }) => zero.push(delayMs),
    })
  );
  assertEquals(zero, [0, 0]);
});

Deno.test("retry() times out a hanging attempt and retries it", async () => {
  let calls = 0;
  const result = await retry((signal) => {
    calls++;
    if (calls === 1) {
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      );
    }
    return Promise.resolve("ok");
  }, { policy: { ...FAST, attemptTimeoutMs: 20 } });
  assertEquals(result, "ok");
  assertEquals(calls, 2);
});

Deno.test("retry() stops at once when the caller aborts, even during a wait", async () => {
  const c = new AbortController();
  let calls = 0;
  const p = retry(() => (calls++, Promise.reject(new TypeError("x"))), {
    policy: {
      ...DEFAULT_RETRY,
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      attempts: 5,
      deadlineMs: 120_000,
    },
    random: () => 1,
    signal: c.signal,
  });
  await new Promise((r) => setTimeout(r, 10));
  c.abort(new DOMException("stop", "AbortError"));
  const err = await assertRejects(() => p, DOMException);
  assertEquals(err.name, "AbortError");
  assertEquals(calls, 1);
});

Deno.test("retry() gives up when the next wait would pass the deadline", async () => {
  let calls = 0;
  await assertRejects(() =>
    retry(() => (calls++, Promise.reject(new TypeError("x"))), {
      policy: {
        ...DEFAULT_RETRY,
        attempts: 10,
        baseDelayMs: 1_000,
        maxDelayMs: 1_000,
        deadlineMs: 500,
      },
      random: () => 0.9,
    })
  );
  assertEquals(calls, 1);
});

Deno.test("isTransient() classifies network errors, timeouts and provider errors", () => {
  assert(isTransient(new TypeError("network")));
  assert(isTransient(new DOMException("t", "TimeoutError")));
  assert(!isTransient(new DOMException("a", "AbortError")));
  assert(!isTransient(new Error("other")));
  assert(
    isTransient(
      new SecretResolutionError("503", { provider: "p", reference: "r", transient: true }),
    ),
  );
});

Deno.test("retry() bounds an attempt's timeout by the overall deadline", async () => {
  const err = await assertRejects(
    () =>
      retry(
        (signal) =>
          new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
        {
          policy: {
            attempts: 3,
            baseDelayMs: 1,
            maxDelayMs: 1,
            attemptTimeoutMs: 3_000,
            deadlineMs: 200,
          },
        },
      ),
    DOMException,
  );
  assertEquals(err.name, "TimeoutError");
  // The first attempt is cut at the deadline, not at its own 3 s timeout.
  const ms = Number(/after (\d+) ms/.exec(err.message)?.[1]);
  assert(ms <= 200, `attempt timed out after ${ms} ms, beyond the 200 ms deadline`);
});

Deno.test("transientNetworkCode() finds a listed code on an error or its causes, and only a listed one", () => {
  const coded = (code: string, cause?: unknown) =>
    Object.assign(new Error("request failed", cause === undefined ? {} : { cause }), { code });
  assertEquals(transientNetworkCode(coded("ECONNRESET")), "ECONNRESET");
  assertEquals(
    transientNetworkCode(coded("ERR_HTTP", new Error("x", { cause: coded("EAI_AGAIN") }))),
    "EAI_AGAIN",
  );
  assertEquals(transientNetworkCode(coded("ERR_TLS_CERT_ALTNAME_INVALID")), undefined);
  assertEquals(transientNetworkCode(new TypeError("fetch failed")), undefined);
  assertEquals(transientNetworkCode("ECONNRESET"), undefined);
  const loop = coded("EPERM");
  (loop as { cause?: unknown }).cause = loop;
  assertEquals(transientNetworkCode(loop), undefined);
  for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]) {
    assert(TRANSIENT_NETWORK_CODES.has(code), code);
  }
});
