/**
 * `installGlobalFetch`: wraps `globalThis.fetch` for code that cannot take a fetch argument.
 *
 * @module
 */

import type { Plan } from "../profile/plan.ts";
import type { Profile } from "../profile/profile.ts";
import { type AuthFetch, type AuthFetchOptions, createAuthFetch } from "./auth_fetch.ts";

const ORIGINAL = Symbol.for("mlflow-secrets-auth.original-fetch");
const DISPOSER = Symbol.for("mlflow-secrets-auth.disposer");

/**
 * What {@linkcode installGlobalFetch} returns: a disposer. Calling it (or `Symbol.dispose`)
 * restores the original `globalThis.fetch` at once, if ours is still installed, and returns a
 * promise that settles when providers are closed (`Symbol.asyncDispose` awaits it).
 */
export interface GlobalFetchDisposer extends Disposable, AsyncDisposable {
  (): Promise<void>;
  /** The installed fetch. */
  readonly fetch: AuthFetch;
}

/**
 * Replaces `globalThis.fetch` with an auth fetch for the profile. Idempotent: a second call
 * replaces the previous wrapper instead of wrapping it, so the inner fetch is always the
 * original one.
 *
 * @param profile A validated profile or a plan.
 * @param options As for `createAuthFetch` (its `fetch` and `providerFetch` default to the
 *   original global fetch).
 * @returns A disposer that restores the original.
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
 * {
 *   using _installed = installGlobalFetch(profile, { env: () => "tok" });
 *   if (globalThis.fetch === original) throw new Error("not installed");
 * }
 * if (globalThis.fetch !== original) throw new Error("not restored");
 * ```
 */
export function installGlobalFetch(
  profile: Profile | Plan,
  options: AuthFetchOptions = {},
): GlobalFetchDisposer {
  const current = globalThis.fetch as typeof fetch & {
    [ORIGINAL]?: typeof fetch;
    [DISPOSER]?: () => Promise<void>;
  };
  const original = current[ORIGINAL] ?? current;
  // A previous installation is replaced, and its providers closed.
  current[DISPOSER]?.().catch(() => {});
  // Providers keep the original fetch too: the wrapper installed below must never carry them.
  const authFetch = createAuthFetch(profile, {
    fetch: original,
    providerFetch: original,
    ...options,
  });
  const installed = Object.assign(authFetch, {
    [ORIGINAL]: original,
    [DISPOSER]: (): Promise<void> => dispose(),
  });
  globalThis.fetch = installed as unknown as typeof fetch;
  let closing: Promise<void> | undefined;
  const dispose = (): Promise<void> => {
    if (closing === undefined) {
      if (globalThis.fetch === (installed as unknown as typeof fetch)) globalThis.fetch = original;
      closing = authFetch.close();
    }
    return closing;
  };
  return Object.assign(dispose, {
    fetch: authFetch,
    [Symbol.dispose]: (): void => {
      dispose().catch(() => {});
    },
    [Symbol.asyncDispose]: dispose,
  });
}
