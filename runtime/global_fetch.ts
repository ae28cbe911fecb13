/**
 * `installGlobalFetch`: wraps `globalThis.fetch` for code that cannot take a fetch argument.
 *
 * @module
 */

import type { Plan } from "../config/plan.ts";
import type { Profile } from "../config/profile.ts";
import { type AuthFetch, type AuthFetchOptions, createAuthFetch } from "./auth_fetch.ts";

const ORIGINAL = Symbol.for("mlflow-secrets-auth.original-fetch");

/** What {@linkcode installGlobalFetch} returns. */
export interface GlobalFetchHandle {
  /** The installed fetch. */
  readonly fetch: AuthFetch;
  /** Restores the original `globalThis.fetch` (if ours is still installed) and closes. */
  dispose(): Promise<void>;
  /** Same as `dispose()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Replaces `globalThis.fetch` with an auth fetch for the profile. Idempotent: a second call
 * replaces the previous wrapper instead of wrapping it, so the inner fetch is always the
 * original one.
 *
 * @param profile A validated profile or a plan.
 * @param options As for `createAuthFetch` (its `fetch` defaults to the original global fetch).
 * @returns A handle whose `dispose()` restores the original.
 *
 * @example
 * ```ts
 * import { installGlobalFetch, parseProfile } from "../mod.ts";
 * const original = globalThis.fetch;
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]
 * `, { env: {} });
 * const handle = installGlobalFetch(profile, { env: () => "tok" });
 * installGlobalFetch(profile, { env: () => "tok" }).dispose();
 * await handle.dispose();
 * if (globalThis.fetch !== original) throw new Error("not restored");
 * ```
 */
export function installGlobalFetch(
  profile: Profile | Plan,
  options: AuthFetchOptions = {},
): GlobalFetchHandle {
  const current = globalThis.fetch as typeof fetch & { [ORIGINAL]?: typeof fetch };
  const original = current[ORIGINAL] ?? current;
  const authFetch = createAuthFetch(profile, { fetch: original, ...options });
  const installed = Object.assign(authFetch, { [ORIGINAL]: original });
  globalThis.fetch = installed as unknown as typeof fetch;
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    if (globalThis.fetch === (installed as unknown as typeof fetch)) globalThis.fetch = original;
    await authFetch.close();
  };
  return { fetch: authFetch, dispose, [Symbol.asyncDispose]: dispose };
}
