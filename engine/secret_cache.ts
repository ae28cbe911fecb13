/**
 * Secret cache, per secret reference: TTL with jitter (bounded by a secret's own expiry, and its
 * freshness by its source's rotation date), single-flight loads, refresh-ahead, stale-if-error and
 * a memory of failures that spreads retries over the time a value stays usable (see
 * `bench/fleet_sim.ts` for what that does to a fleet's load on the store).
 *
 * @module
 */

import type { ResolvedSecret, SecretValue } from "../providers/types.ts";
import { raceAbort } from "../core/retry.ts";
import { rotationTtlMs } from "./_expiry.ts";

export { type CachePolicy, DEFAULT_CACHE } from "../core/cache_policy.ts";
import type { CachePolicy } from "../core/cache_policy.ts";

/** A cached value as handed to callers. */
export interface CachedSecret {
  /** The value. */
  readonly value: SecretValue;
  /** Increases with every successful load of this key; used to collapse refreshes. */
  readonly generation: number;
  /** Provider-side version, if reported. */
  readonly version?: string;
  /** When it was loaded. */
  readonly loadedAt: number;
  /** When the secret itself expires (a JWT's `exp`, a Key Vault `expires`), if known. */
  readonly secretExpiresAt?: number;
  /** When the source replaces the version this reference follows (a rotation schedule), if known. */
  readonly rotatesAt?: number;
  /**
   * When the limit the load itself set on caching ends (`maxTtlMs`: a Vault lease or token TTL,
   * a secret's own expiry minus its skew), if it set one.
   */
  readonly limitedUntil?: number;
}

interface Entry extends CachedSecret {
  readonly refreshAt: number;
  readonly expiresAt: number;
  readonly staleUntil: number;
  /** A forced refresh (after a rejection) that brought back the value it replaced. */
  readonly unchangedByRefresh: boolean;
}

interface Inflight {
  readonly promise: Promise<Entry>;
  /** True for a refresh forced by a rejection; false for a miss or a refresh-ahead. */
  readonly forced: boolean;
  /** Identifies this load, so that only it unregisters itself. */
  readonly token: object;
}

/**
 * After a forced refresh brought back the same value, further rejections within this time do
 * not call the provider again: a server that rejects every credential must not turn each
 * request into a provider call.
 */
export const REFRESH_COOLDOWN_MS = 5_000;

interface Failure {
  readonly error: unknown;
  /** When the load failed. */
  readonly at: number;
  readonly until: number;
}

/** Loads a value; the signal is the load's own (not any one caller's). */
export type Loader = (signal: AbortSignal) => Promise<ResolvedSecret>;

/** Counters, for metrics and tests. */
export interface CacheStats {
  /** Lookups answered from the cache. */
  hits: number;
  /** Lookups that found no fresh value. */
  misses: number;
  /** Loads started. */
  loads: number;
  /** Loads that failed. */
  loadFailures: number;
  /** Stale values served while loads failed. */
  staleServed: number;
  /** Loads forced by a rejection. */
  refreshes: number;
}

/** Options of {@linkcode SecretCache}. */
export interface SecretCacheOptions {
  /** Clock. Default `Date.now`. */
  readonly now?: () => number;
  /** Random source in [0, 1), for jitter. Default `Math.random`. */
  readonly random?: () => number;
  /** Called when a load fails but a stale value is served. */
  readonly onStale?: (key: string, error: unknown) => void;
  /** Called when a background refresh fails. */
  readonly onBackgroundError?: (key: string, error: unknown) => void;
}

/**
 * The cache. Any number of concurrent misses on one key cause exactly one load.
 *
 * @example
 * ```ts
 * import { SecretCache, DEFAULT_CACHE } from "./secret_cache.ts";
 * const cache = new SecretCache();
 * let loads = 0;
 * const load = () => { loads++; return Promise.resolve({ value: "v" }); };
 * await Promise.all([1, 2, 3].map(() => cache.get("k", load, DEFAULT_CACHE)));
 * if (loads !== 1) throw new Error("not single-flight");
 * ```
 */
export class SecretCache {
  #entries = new Map<string, Entry>();
  #inflight = new Map<string, Inflight>();
  #epoch = 0;
  #failures = new Map<string, Failure>();
  #generation = 0;
  #controllers = new Set<AbortController>();
  #now: () => number;
  #random: () => number;
  #options: SecretCacheOptions;
  /** Counters. */
  readonly stats: CacheStats = {
    hits: 0,
    misses: 0,
    loads: 0,
    loadFailures: 0,
    staleServed: 0,
    refreshes: 0,
  };

  /**
   * Creates an empty cache.
   *
   * @param options Clock, randomness and callbacks.
   */
  constructor(options: SecretCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#options = options;
  }

  /**
   * The synchronous hit path of {@linkcode SecretCache.get}: the value when it has not expired
   * (starting a background refresh in the refresh-ahead window), else undefined.
   *
   * @param key Secret reference key.
   * @param loader Loads the value, for a background refresh.
   * @param policy TTLs.
   * @returns The value, or undefined on a miss.
   */
  peek(key: string, loader: Loader, policy: CachePolicy): CachedSecret | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.#now();
    if (now >= entry.expiresAt) return undefined;
    this.stats.hits++;
    if (now >= entry.refreshAt && !this.#inflight.has(key)) {
      const failure = this.#failures.get(key);
      if (failure === undefined || now >= failure.until) {
        this.#load(key, loader, policy, undefined).catch((e) =>
          this.#options.onBackgroundError?.(key, e)
        );
      }
    }
    return entry;
  }

  /**
   * Returns the cached value, loading it when absent or expired.
   *
   * Fresh: returned at once. In the refresh-ahead window: returned at once and a background
   * load starts. Expired: the caller waits for a load (shared with concurrent callers); if it
   * fails and the value is within its stale-if-error window, the stale value is returned.
   *
   * @param key Secret reference key.
   * @param loader Loads the value.
   * @param policy TTLs.
   * @param signal Cancels this caller's wait (not the shared load).
   * @returns The value.
   * @throws The load's error (remembered for `failureTtlMs`), or the signal's reason.
   */
  async get(
    key: string,
    loader: Loader,
    policy: CachePolicy,
    signal?: AbortSignal,
  ): Promise<CachedSecret> {
    const hit = this.peek(key, loader, policy);
    if (hit !== undefined) return hit;
    const now = this.#now();
    const entry = this.#entries.get(key);
    const failure = this.#failures.get(key);
    const failing = failure !== undefined && now < failure.until;
    this.stats.misses++;
    if (failing && !this.#inflight.has(key)) {
      if (entry !== undefined && now < entry.staleUntil) {
        this.stats.staleServed++;
        return entry;
      }
      throw failure.error;
    }
    try {
      const pending = this.#inflight.get(key)?.promise ??
        this.#load(key, loader, policy, undefined);
      return await raceAbort(pending, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      const stale = this.#entries.get(key);
      if (stale !== undefined && this.#now() < stale.staleUntil) {
        this.stats.staleServed++;
        this.#options.onStale?.(key, error);
        return stale;
      }
      throw error;
    }
  }

  /**
   * Replaces a value the tracking server rejected. If the cached generation is already newer
   * than `rejected`, that newer value is returned without a load; concurrent calls share one
   * load. A failed refresh never falls back to the rejected value.
   *
   * @param key Secret reference key.
   * @param rejected Generation of the value that was rejected.
   * @param loader Loads the value.
   * @param policy TTLs.
   * @param signal Cancels this caller's wait.
   */
  async refresh(
    key: string,
    rejected: number,
    loader: Loader,
    policy: CachePolicy,
    signal?: AbortSignal,
  ): Promise<CachedSecret> {
    for (;;) {
      const entry = this.#entries.get(key);
      if (entry !== undefined && entry.generation > rejected) return entry;
      if (
        entry !== undefined && entry.unchangedByRefresh &&
        this.#now() - entry.loadedAt < REFRESH_COOLDOWN_MS
      ) {
        return entry;
      }
      const pending = this.#inflight.get(key);
      if (pending === undefined) {
        // The memory of a failure may have been stretched over the time a value stayed usable;
        // that value is now rejected, so only the plain failure TTL still holds back a load.
        const failure = this.#failures.get(key);
        const now = this.#now();
        if (
          failure !== undefined && now < failure.until && now < failure.at + policy.failureTtlMs
        ) throw failure.error;
        this.stats.refreshes++;
        // The rejected value is never served again, not even as stale.
        if (entry !== undefined && entry.generation === rejected) this.#entries.delete(key);
        return await raceAbort(this.#load(key, loader, policy, entry?.value), signal);
      }
      if (pending.forced) return await raceAbort(pending.promise, signal);
      // A refresh-ahead or miss load started before the rejection may bring the old value back:
      // let it finish, then force a load of our own (unless someone else already did).
      await raceAbort(pending.promise.catch(() => {}), signal);
    }
  }

  /**
   * Drops a key's value and failure memory.
   *
   * @param key Secret reference key.
   */
  invalidate(key: string): void {
    this.#entries.delete(key);
    this.#failures.delete(key);
  }

  /** Aborts loads in progress and forgets everything. A load still running writes nothing. */
  clear(): void {
    this.#epoch++;
    for (const c of this.#controllers) c.abort(new DOMException("Cache closed", "AbortError"));
    this.#controllers.clear();
    this.#entries.clear();
    this.#failures.clear();
    this.#inflight.clear();
  }

  /**
   * Starts a load. `replaced` is given for a forced refresh: the value that was rejected.
   */
  #load(
    key: string,
    loader: Loader,
    policy: CachePolicy,
    replaced: SecretValue | undefined,
  ): Promise<Entry> {
    const forced = replaced !== undefined;
    const controller = new AbortController();
    const epoch = this.#epoch;
    this.#controllers.add(controller);
    this.stats.loads++;
    const token = {};
    const promise = (async () => {
      // Yield first, so that a loader throwing synchronously still settles this promise after
      // it is registered as in flight (and is then unregistered).
      await null;
      try {
        const resolved = await loader(controller.signal);
        if (epoch !== this.#epoch) throw new DOMException("Cache closed", "AbortError");
        const now = this.#now();
        // ±10 % jitter; a load that ends a run of failures draws from 50–110 % instead, so that
        // the caches of a fleet that recovered together from an outage do not expire together.
        const recovering = this.#failures.has(key);
        let ttl = policy.ttlMs *
          (recovering ? 0.5 + 0.6 * this.#random() : 0.9 + 0.2 * this.#random());
        if (resolved.maxTtlMs !== undefined) ttl = Math.min(ttl, resolved.maxTtlMs);
        ttl = Math.max(0, ttl);
        // A rotation date bounds freshness only: the entry is read again by then (and at a short,
        // growing interval once the date is past), but stays usable as a stale value as long as
        // it would without one; the version is replaced, not known to stop working.
        const rotatesAt = Number.isFinite(resolved.rotatesAt) ? resolved.rotatesAt : undefined;
        const fresh = rotatesAt === undefined ? ttl : Math.min(ttl, rotationTtlMs(rotatesAt, now));
        const ahead = Math.min(policy.refreshAheadMs, fresh / 2);
        const entry: Entry = {
          value: resolved.value,
          generation: ++this.#generation,
          ...(resolved.version !== undefined ? { version: resolved.version } : {}),
          loadedAt: now,
          ...(resolved.expiresAt !== undefined ? { secretExpiresAt: resolved.expiresAt } : {}),
          ...(rotatesAt !== undefined ? { rotatesAt } : {}),
          ...(resolved.maxTtlMs !== undefined
            ? { limitedUntil: now + Math.max(0, resolved.maxTtlMs) }
            : {}),
          // Somewhere in the second half of the refresh-ahead window, not at its start.
          refreshAt: now + fresh - ahead * (0.5 + 0.5 * this.#random()),
          expiresAt: now + fresh,
          // Never served stale past the secret's own expiry.
          staleUntil: Math.min(
            now + ttl + policy.staleIfErrorMs,
            resolved.expiresAt ?? Number.POSITIVE_INFINITY,
          ),
          unchangedByRefresh: replaced !== undefined && sameValue(replaced, resolved.value),
        };
        this.#entries.set(key, entry);
        this.#failures.delete(key);
        return entry;
      } catch (error) {
        if (epoch === this.#epoch) {
          this.stats.loadFailures++;
          const now = this.#now();
          const delay = failureDelay(policy, this.#entries.get(key), now, this.#random());
          this.#failures.set(key, { error, at: now, until: now + delay });
        }
        throw error;
      } finally {
        if (this.#inflight.get(key)?.token === token) this.#inflight.delete(key);
        this.#controllers.delete(controller);
      }
    })();
    this.#inflight.set(key, { promise, forced, token });
    return promise;
  }
}

/**
 * How long a failed load is remembered. Without a usable value (a cold start, or a value the
 * server rejected), `failureTtlMs`: requests are failing, so the next one may try again soon.
 * With a value that can still be served (fresh, or within stale-if-error), the next attempt is
 * spread at random over 25–75 % of the time that value stays usable, and never sooner than
 * `failureTtlMs`: a fleet of caches facing a provider outage then retries at about the rate it
 * refreshes in steady state, instead of every `failureTtlMs` each, and comes back without a
 * synchronized storm; each cache still makes several attempts before its value runs out.
 */
function failureDelay(
  policy: CachePolicy,
  entry: Entry | undefined,
  now: number,
  random: number,
): number {
  const usable = entry === undefined ? 0 : entry.staleUntil - now;
  return Math.max(policy.failureTtlMs, usable * (FAILURE_SPREAD_MIN + FAILURE_SPREAD * random));
}

/** A failed refresh of a usable value is retried after 25–75 % of its remaining usable time. */
const FAILURE_SPREAD_MIN = 0.25;
const FAILURE_SPREAD = 0.5;

function sameValue(a: SecretValue, b: SecretValue): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}
