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

export { loadProfile, parseProfile } from "./builtin.ts";
export { resolveProfilePath } from "./profile/profile.ts";
export type {
  LoadProfileOptions,
  ParseProfileOptions,
  Profile,
  ProfilePathOrigin,
} from "./profile/profile.ts";
export type { EnvLookup } from "./profile/interpolate.ts";
export type { SourcePosition } from "./profile/yaml_source.ts";
export type { HostPattern } from "./profile/host_match.ts";
export type { AuthSpec, OAuth2ClientCredentialsSpec } from "./profile/auth_spec.ts";
export { createPlan, matchRule } from "./profile/plan.ts";
export type { Plan, PlanRule, RuleTls, TlsFileSetting } from "./profile/plan.ts";
export type {
  AuthSettings,
  CacheSettings,
  DurationValue,
  HostRuleSettings,
  LeakGuardMode,
  LoggingSettings,
  OAuth2ClientCredentialsSettings,
  PolicySettings,
  ProfileData,
  ProviderSettings,
  RetrySettings,
  RuleTlsSettings,
} from "./profile/types.ts";
export { PROFILE_SCHEMA } from "./profile/validate.ts";
export { createAuthFetch } from "./http/auth_fetch.ts";
export type { AuthFetch, AuthFetchOptions } from "./http/auth_fetch.ts";
export { installGlobalFetch } from "./http/global_fetch.ts";
export type { GlobalFetchDisposer } from "./http/global_fetch.ts";
export {
  guardedEndpoint,
  inspectRequest,
  LEAK_GUARD_MAX_BYTES,
  leakGuardMessage,
  leakGuardResponse,
} from "./http/leak_guard.ts";
export type { GuardedRequest, LeakFinding, SecretMatcher } from "./http/leak_guard.ts";
export { startProxy } from "./http/proxy.ts";
export type { ProxyHandle, ProxyOptions } from "./http/proxy.ts";
export type {
  ProxyConnectionStats,
  ProxyMetrics,
  SecretVersionInfo,
  StatusClass,
} from "./http/proxy_metrics.ts";
export { SecretResolver } from "./engine/resolver.ts";
export type { ResolverStats, RuleHeaders, SecretResolverOptions } from "./engine/resolver.ts";
export { Redactor } from "./core/redact.ts";
export { createLogger } from "./core/log.ts";
export type { LogFields, LogFormat, Logger, LoggerOptions, LogLevel } from "./core/log.ts";
export { SecretCache } from "./engine/secret_cache.ts";
export type {
  CachedSecret,
  CachePolicy,
  CacheStats,
  Loader,
  SecretCacheOptions,
} from "./engine/secret_cache.ts";
export type { RetryPolicy } from "./core/retry.ts";
export { MlflowSecretsAuthError, ProfileError, SecretResolutionError } from "./core/errors.ts";
/**
 * @deprecated The library no longer throws it: bad arguments are `TypeError`s. It is the command
 * line's usage error; this re-export goes in the next minor release.
 */
export { UsageError } from "./cli/errors.ts";
export { OAuth2TokenError } from "./engine/oauth2.ts";
export type { ProfileIssue, SecretResolutionErrorOptions } from "./core/errors.ts";
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
