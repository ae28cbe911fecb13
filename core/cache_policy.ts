/**
 * The cache settings a plan carries for each rule, and their defaults: plain data, shared by the
 * profile (which fills them in) and the engine (whose secret cache obeys them).
 *
 * @module
 */

/** Cache settings (milliseconds). */
export interface CachePolicy {
  /** Lifetime of a value, before jitter. */
  readonly ttlMs: number;
  /** Window before expiry in which a hit starts a background refresh. */
  readonly refreshAheadMs: number;
  /** How long after expiry a value may be served while loads fail. */
  readonly staleIfErrorMs: number;
  /**
   * How long a failed load is remembered (no provider call meanwhile) when no usable value is
   * cached. While a value can still be served, the next attempt waits 25–75 % of the time it stays
   * usable instead (at least this long), so that a fleet does not hammer a store that is down.
   */
  readonly failureTtlMs: number;
}

/** Defaults: 5 min TTL, refresh in the last minute, 5 min stale-if-error, 2 s failure memory. */
export const DEFAULT_CACHE: CachePolicy = {
  ttlMs: 5 * 60_000,
  refreshAheadMs: 60_000,
  staleIfErrorMs: 5 * 60_000,
  failureTtlMs: 2_000,
};
