/**
 * The profile's data types, as the schema (schema/profile.schema.json) defines them.
 *
 * @module
 */

/** A duration: seconds, or a string such as `5m`. */
export type DurationValue = number | string;

/** Cache settings. */
export interface CacheSettings {
  readonly ttl?: DurationValue;
  readonly refresh_ahead?: DurationValue;
  readonly stale_if_error?: DurationValue;
  readonly failure_ttl?: DurationValue;
}

/** Retry settings. */
export interface RetrySettings {
  readonly attempts?: number;
  readonly base_delay?: DurationValue;
  readonly max_delay?: DurationValue;
  readonly attempt_timeout?: DurationValue;
  readonly deadline?: DurationValue;
}

/** Cache, retry and refresh settings. */
export interface PolicySettings {
  readonly cache?: CacheSettings;
  readonly retry?: RetrySettings;
  readonly refresh_on?: readonly number[];
}

/** `auth:` of a host rule. */
export type AuthSettings =
  | "bearer"
  | "basic"
  | { readonly type: "bearer"; readonly token_field?: string }
  | { readonly type: "basic"; readonly username_field?: string; readonly password_field?: string }
  | { readonly type: "header"; readonly name: string; readonly value: string };

/** One host rule. */
export interface HostRuleSettings extends PolicySettings {
  readonly match: string;
  readonly provider: string;
  readonly secret: Readonly<Record<string, unknown>>;
  readonly auth: AuthSettings;
  readonly headers?: Readonly<Record<string, string>>;
  readonly allow_insecure_http?: boolean;
}

/** One provider instance; the other keys depend on `kind`. */
export interface ProviderSettings {
  readonly kind: string;
  readonly [key: string]: unknown;
}

/** Log settings. */
export interface LoggingSettings {
  readonly level?: "debug" | "info" | "warn" | "error" | "silent";
  readonly format?: "text" | "json";
}

/** A whole profile, version 1. */
export interface ProfileData {
  readonly version: 1;
  readonly providers: Readonly<Record<string, ProviderSettings>>;
  readonly hosts: readonly HostRuleSettings[];
  readonly defaults?: PolicySettings;
  readonly logging?: LoggingSettings;
  readonly [key: string]: unknown;
}
