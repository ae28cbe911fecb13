/**
 * A secret's own expiry and what it does to caching: the `exp` of a JWT found in the value (read
 * without verifying: the tracking server verifies it, this only decides when to fetch a new
 * one), and the cache bound an expiry gives (the time left minus a skew, so that refresh-ahead
 * fetches the next one before the server starts rejecting this one). Also the softer bound of a
 * rotation date (the source replaces the version by then, the old one is not known to stop
 * working): how long such a value stays fresh.
 *
 * @module
 */

import type { SecretValue } from "../providers/types.ts";

/** The largest skew kept before a secret's expiry. */
export const EXPIRY_SKEW_MS = 30_000;
/** The share of the time left kept as a skew when that is shorter than {@linkcode EXPIRY_SKEW_MS}. */
export const EXPIRY_SKEW_SHARE = 0.1;
/** The shortest cache bound an expiry gives, so an expired secret does not call the provider on every request. */
export const MIN_EXPIRY_TTL_MS = 1_000;

/**
 * How often a reference is read again once its rotation date is past and no new version has
 * shown up yet, at the least; the interval grows with the delay (see {@linkcode rotationTtlMs}).
 */
export const ROTATION_RECHECK_MS = 60_000;
/** The share of a rotation's delay used as the interval between reads while it is late. */
export const ROTATION_LATE_SHARE = 0.1;

const JWT = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
const MAX_JWT_LENGTH = 16_384;

/**
 * The `exp` of a JWT, in milliseconds since the epoch; undefined when the text is not a JWT with
 * a numeric `exp`. Nothing is verified and nothing is thrown or logged.
 */
export function jwtExpiry(text: string): number | undefined {
  if (text.length > MAX_JWT_LENGTH || !JWT.test(text)) return undefined;
  const [head, payload] = text.split(".");
  try {
    const header = JSON.parse(base64UrlText(head!));
    if (header === null || typeof header !== "object" || typeof header.alg !== "string") {
      return undefined;
    }
    const claims = JSON.parse(base64UrlText(payload!));
    if (claims === null || typeof claims !== "object") return undefined;
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The earliest JWT `exp` in a secret: the value itself when it is a string, else its top-level
 * string fields (a cache entry serves every field of the secret, so the earliest one bounds it).
 */
export function secretJwtExpiry(value: SecretValue): number | undefined {
  const texts = typeof value === "string"
    ? [value]
    : Object.values(value).filter((v): v is string => typeof v === "string");
  let earliest: number | undefined;
  for (const text of texts) {
    const exp = jwtExpiry(text);
    if (exp !== undefined && (earliest === undefined || exp < earliest)) earliest = exp;
  }
  return earliest;
}

/**
 * How long a secret that expires at `expiresAt` may be cached at `now`: the time left minus a
 * skew (30 s, or 10 % of the time left when that is less), and at least one second.
 */
export function expiryTtlMs(expiresAt: number, now: number): number {
  const left = expiresAt - now;
  const skew = Math.min(EXPIRY_SKEW_MS, Math.max(0, left) * EXPIRY_SKEW_SHARE);
  return Math.max(MIN_EXPIRY_TTL_MS, left - skew);
}

/**
 * How long a value whose source replaces it by `rotatesAt` stays fresh at `now` (the rule's ttl
 * still applies on top): until that date, but at least {@linkcode ROTATION_RECHECK_MS}, so the
 * last minute before it does not turn into a loop of reads. Once the date is past (the rotation
 * is late: running, retrying or failing), {@linkcode ROTATION_RECHECK_MS}, growing to 10 % of the
 * delay, so a rotation that keeps failing is not polled every minute for ever.
 */
export function rotationTtlMs(rotatesAt: number, now: number): number {
  const left = rotatesAt - now;
  return left > 0
    ? Math.max(left, ROTATION_RECHECK_MS)
    : Math.max(ROTATION_RECHECK_MS, -left * ROTATION_LATE_SHARE);
}

function base64UrlText(segment: string): string {
  const b64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(
    atob(b64 + "=".repeat((4 - b64.length % 4) % 4)),
    (c) => c.charCodeAt(0),
  );
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
