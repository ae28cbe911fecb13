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
export type {
  LoadProfileOptions,
  ParseProfileOptions,
  Profile,
  ProfilePathOrigin,
} from "./config/profile.ts";
export type { EnvLookup } from "./config/interpolate.ts";
export type { SourcePosition } from "./config/yaml_source.ts";
export type { HostPattern } from "./config/host_match.ts";
export type { AuthSpec } from "./config/auth_header.ts";
export { createPlan, matchRule } from "./config/plan.ts";
export type { Plan, PlanRule } from "./config/plan.ts";
export type {
  AuthSettings,
  CacheSettings,
  DurationValue,
  HostRuleSettings,
  LoggingSettings,
  PolicySettings,
  ProfileData,
  ProviderSettings,
  RetrySettings,
} from "./config/types.ts";
export { PROFILE_SCHEMA } from "./config/validate.ts";
export { createAuthFetch } from "./runtime/auth_fetch.ts";
export type { AuthFetch, AuthFetchOptions } from "./runtime/auth_fetch.ts";
export { installGlobalFetch } from "./runtime/global_fetch.ts";
export type { GlobalFetchDisposer } from "./runtime/global_fetch.ts";
export { startProxy } from "./runtime/proxy.ts";
export type {
  ProxyConnectionStats,
  ProxyHandle,
  ProxyMetrics,
  ProxyOptions,
  StatusClass,
} from "./runtime/proxy.ts";
export { SecretResolver } from "./runtime/resolver.ts";
export type { ResolverStats, RuleHeaders, SecretResolverOptions } from "./runtime/resolver.ts";
export { Redactor } from "./runtime/redact.ts";
export { createLogger } from "./runtime/log.ts";
export type { LogFields, LogFormat, Logger, LoggerOptions, LogLevel } from "./runtime/log.ts";
export { SecretCache } from "./runtime/secret_cache.ts";
export type {
  CachedSecret,
  CachePolicy,
  CacheStats,
  Loader,
  SecretCacheOptions,
} from "./runtime/secret_cache.ts";
export type { RetryPolicy } from "./runtime/retry.ts";
export { ProfileError, SecretResolutionError, UsageError } from "./runtime/errors.ts";
export type { ProfileIssue, SecretResolutionErrorOptions } from "./runtime/errors.ts";
export type {
  ProviderConfigIssue,
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  ResolveOptions,
  SecretProvider,
  SecretRef,
  SecretValue,
} from "./providers/types.ts";
