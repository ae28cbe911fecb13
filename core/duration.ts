/**
 * Durations in profiles: a number of seconds, or `500ms`, `30s`, `5m`, `1h`.
 *
 * @module
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/**
 * Converts a profile duration to milliseconds.
 *
 * @param value A number of seconds or a string with a unit.
 * @returns Milliseconds.
 * @throws {TypeError} for any other form.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * if (parseDuration("5m") !== 300_000) throw new Error("wrong");
 * if (parseDuration(1.5) !== 1_500) throw new Error("wrong");
 * ```
 */
export function parseDuration(value: unknown): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) {
    return Math.round(value * 1_000);
  }
  if (typeof value === "string") {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
    if (m !== null) return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
  }
  throw new TypeError(
    `${JSON.stringify(value)} is not a duration; write seconds or e.g. "500ms", "30s", "5m", "1h"`,
  );
}

/** Formats milliseconds the way profiles write them. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
