/**
 * The one retry helper: exponential backoff with full jitter, transient errors only, a
 * per-attempt timeout and an overall deadline, cancelled by an `AbortSignal`.
 *
 * @module
 */

import { SecretResolutionError } from "./errors.ts";

/** Retry settings (all durations in milliseconds). */
export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly attempts: number;
  /** Backoff base: attempt n waits up to `base * 2^(n-1)`. */
  readonly baseDelayMs: number;
  /** Cap of one wait. */
  readonly maxDelayMs: number;
  /** Timeout of one attempt. */
  readonly attemptTimeoutMs: number;
  /** Overall time for all attempts and waits. */
  readonly deadlineMs: number;
}

/** Defaults: 3 attempts, 200 ms base, 5 s cap, 10 s per attempt, 30 s overall. */
export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  attemptTimeoutMs: 10_000,
  deadlineMs: 30_000,
};

/** Options of {@linkcode retry}. */
export interface RetryOptions {
  /** The policy. */
  readonly policy: RetryPolicy;
  /** Cancels the attempts and the waits. */
  readonly signal?: AbortSignal;
  /** Decides whether an error is worth another attempt. Default {@linkcode isTransient}. */
  readonly isTransient?: (error: unknown) => boolean;
  /** Random source in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Clock. Default `Date.now`. */
  readonly now?: () => number;
  /** Called before each wait, for logs and metrics. */
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/**
 * Calls `fn` until it succeeds, a non-transient error occurs, attempts run out, or the deadline
 * passes. Each attempt gets a signal that aborts at its own timeout or with the caller's signal.
 * An attempt that times out counts as transient and fails with a `TimeoutError` `DOMException`.
 *
 * @param fn The operation; receives a per-attempt signal and the attempt number (1-based).
 * @param options Policy, signal and classification.
 * @returns What `fn` returned.
 * @throws The last error, or the caller's abort reason.
 *
 * @example
 * ```ts
 * import { retry, DEFAULT_RETRY } from "./retry.ts";
 * let calls = 0;
 * const value = await retry(async () => {
 *   calls++;
 *   if (calls < 2) throw new TypeError("connection reset");
 *   return "ok";
 * }, { policy: { ...DEFAULT_RETRY, baseDelayMs: 1 } });
 * if (value !== "ok" || calls !== 2) throw new Error("no retry");
 * ```
 */
export async function retry<T>(
  fn: (signal: AbortSignal, attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { policy } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const transient = options.isTransient ?? isTransient;
  const outer = options.signal;
  const start = now();
  for (let attempt = 1;; attempt++) {
    outer?.throwIfAborted();
    const remaining = policy.deadlineMs - (now() - start);
    const timeout = Math.max(1, Math.min(policy.attemptTimeoutMs, remaining));
    const timer = new AbortController();
    const timeoutId = setTimeout(
      () => timer.abort(new DOMException("Attempt timed out", "TimeoutError")),
      timeout,
    );
    const attemptSignal = outer === undefined
      ? timer.signal
      : AbortSignal.any([outer, timer.signal]);
    try {
      return await raceAbort(fn(attemptSignal, attempt), attemptSignal);
    } catch (error) {
      if (outer?.aborted) throw outer.reason;
      const timedOut = timer.signal.aborted;
      const err = timedOut
        ? new DOMException(`Attempt ${attempt} timed out after ${timeout} ms`, "TimeoutError")
        : error;
      if (!timedOut && !transient(error)) throw error;
      if (attempt >= policy.attempts) throw err;
      const delayMs = Math.floor(
        random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)),
      );
      if (now() - start + delayMs >= policy.deadlineMs) throw err;
      options.onRetry?.({ attempt, delayMs, error: err });
      await sleep(delayMs, outer);
    } finally {
      clearTimeout(timeoutId);
    }
  }
}

/**
 * The default classification: a {@linkcode SecretResolutionError} says itself; network
 * `TypeError`s and timeouts are transient; anything else is not.
 *
 * @param error Anything thrown.
 * @returns Whether another attempt may succeed.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof SecretResolutionError) return error.transient;
  if (error instanceof DOMException) return error.name === "TimeoutError";
  if (error instanceof TypeError) return true;
  return false;
}

/**
 * The error codes (Node's `code`, as SDKs built on `node:http` and `node:https` report them) of a
 * network failure that another attempt may get past: a reset or refused connection, a timeout, an
 * unreachable host or network, a failed DNS lookup. The one list every provider classifies with.
 */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
]);

/**
 * The first code of {@linkcode TRANSIENT_NETWORK_CODES} found on an error or its causes.
 *
 * @param error Anything thrown.
 * @returns The code, or undefined when the error is not such a network failure.
 *
 * @example
 * ```ts
 * import { transientNetworkCode } from "./retry.ts";
 * const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
 * if (transientNetworkCode(new Error("request failed", { cause: reset })) !== "ECONNRESET") {
 *   throw new Error("cause not followed");
 * }
 * ```
 */
export function transientNetworkCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e !== null && typeof e === "object" && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TRANSIENT_NETWORK_CODES.has(code)) return code;
    const cause = (e as { cause?: unknown }).cause;
    if (cause === e) break;
    e = cause;
  }
  return undefined;
}

/** Whether an HTTP status from a provider is worth retrying: 408, 429 and 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Waits, or rejects with the signal's reason when it aborts first.
 *
 * @param ms Milliseconds.
 * @param signal Optional cancellation.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const id = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(id);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles with the promise, or rejects with the signal's reason as soon as it aborts (the
 * promise's eventual outcome is then ignored).
 *
 * @param promise Work in progress.
 * @param signal Cancellation.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
