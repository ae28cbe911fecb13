/**
 * Small helpers shared by the vault provider's modules: JSON records and API paths.
 *
 * @module
 */

/**
 * The value as a record, or an empty record when it is not one.
 *
 * @param v Any JSON value.
 * @returns `v` when it is a plain object, else `{}`.
 */
export function record(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

/**
 * Whether a value is a plain object (not `null`, not an array).
 *
 * @param v Any value.
 * @returns Whether `v` is a record.
 */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Removes leading and trailing slashes.
 *
 * @param s A path.
 * @returns `s` without slashes at either end.
 */
export function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, "");
}

/**
 * Percent-encodes each segment of a path, keeping the slashes.
 *
 * @param path A path below a mount.
 * @returns The path, safe to put in a URL.
 */
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/**
 * Removes the query from an API path.
 *
 * @param path An API path, e.g. `secret/data/a?version=2`.
 * @returns The path without `?` and what follows.
 */
export function stripQuery(path: string): string {
  return path.replace(/\?.*$/, "");
}
