/**
 * mlflow-secrets-auth: injects authentication headers, fetched from secret managers, into
 * MLflow tracking requests.
 *
 * A YAML profile (validated by `schema/profile.schema.json`) maps tracking hosts to providers and
 * secret references; {@linkcode createAuthFetch} turns it into a `fetch` that adds the right
 * header for matching hosts only, and fails closed when a secret cannot be resolved.
 *
 * ```ts
 * import { createAuthFetch, parseProfile } from "./mod.ts";
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }]
 * `, { env: {} });
 * const authFetch = createAuthFetch(profile, {
 *   env: () => "token-value",
 *   fetch: () => Promise.resolve(new Response("{}")),
 * });
 * const res = await authFetch("https://mlflow.example.com/api/2.0/mlflow/experiments/search");
 * await res.body?.cancel();
 * await authFetch.close();
 * ```
 *
 * @module
 */

export { loadProfile, parseProfile, resolveProfilePath } from "./config/profile.ts";
export type { LoadProfileOptions, ParseProfileOptions, Profile } from "./config/profile.ts";
export { createPlan, matchRule } from "./config/plan.ts";
export type { Plan, PlanRule } from "./config/plan.ts";
export type { ProfileData } from "./config/types.ts";
export { PROFILE_SCHEMA } from "./config/validate.ts";
export { createAuthFetch } from "./runtime/auth_fetch.ts";
export type { AuthFetch, AuthFetchOptions } from "./runtime/auth_fetch.ts";
export { installGlobalFetch } from "./runtime/global_fetch.ts";
export type { GlobalFetchDisposer } from "./runtime/global_fetch.ts";
export { SecretResolver } from "./runtime/resolver.ts";
export { Redactor } from "./runtime/redact.ts";
export { ProfileError, SecretResolutionError, UsageError } from "./runtime/errors.ts";
export type { ProfileIssue } from "./runtime/errors.ts";
export type {
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
  SecretValue,
} from "./providers/types.ts";
