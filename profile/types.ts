/**
 * The profile's data types, as the schema (schema/profile.schema.json) defines them. The schema's
 * descriptions are the reference; these comments summarise them.
 *
 * @module
 */

/** A duration: seconds, or a string such as `5m`. */
export type DurationValue = number | string;

/** Cache settings. */
export interface CacheSettings {
  /** Lifetime of a resolved secret (±10 % jitter). Default 5m. */
  readonly ttl?: DurationValue;
  /** Window before expiry in which a hit starts a background refresh. Default 20 % of ttl. */
  readonly refresh_ahead?: DurationValue;
  /** How long after expiry a value may be served while the provider fails. Default 5m. */
  readonly stale_if_error?: DurationValue;
  /** How long a failed resolution is remembered. Default 2s. */
  readonly failure_ttl?: DurationValue;
}

/** Retry settings of provider calls (transient failures only). */
export interface RetrySettings {
  /** Total attempts, the first included. Default 3. */
  readonly attempts?: number;
  /** Backoff base. Default 200ms. */
  readonly base_delay?: DurationValue;
  /** Largest single wait. Default 5s. */
  readonly max_delay?: DurationValue;
  /** Timeout of one provider call. Default 10s. */
  readonly attempt_timeout?: DurationValue;
  /** Overall time for all attempts. Default 30s. */
  readonly deadline?: DurationValue;
}

/** Cache, retry and refresh settings. */
export interface PolicySettings {
  /** Cache settings. */
  readonly cache?: CacheSettings;
  /** Retry settings. */
  readonly retry?: RetrySettings;
  /** Tracking-server statuses that refresh the secret and retry once. Default `[401]`. */
  readonly refresh_on?: readonly number[];
}

/** `auth:` of a host rule. */
export type AuthSettings =
  | "bearer"
  | "basic"
  | { readonly type: "bearer"; readonly token_field?: string }
  | { readonly type: "basic"; readonly username_field?: string; readonly password_field?: string }
  | { readonly type: "header"; readonly name: string; readonly value: string }
  | OAuth2ClientCredentialsSettings;

/** `auth:` of a host rule that trades an OAuth2 client id and secret for access tokens. */
export interface OAuth2ClientCredentialsSettings {
  /** The auth type. */
  readonly type: "oauth2_client_credentials";
  /** The identity provider's token endpoint: `https://`, or `http://` on a loopback host. */
  readonly token_url: string;
  /** Field of the secret holding the client id. Default `client_id`. */
  readonly client_id_field?: string;
  /** Field of the secret holding the client secret. Default `client_secret`. */
  readonly client_secret_field?: string;
  /** Scopes to ask for, space separated. */
  readonly scope?: string;
  /** Sent as the `audience` parameter. */
  readonly audience?: string;
  /** Sent as the RFC 8707 `resource` indicator. */
  readonly resource?: string;
  /** How the client authenticates at the token endpoint. Default `basic`. */
  readonly client_auth?: "basic" | "body";
}

/** What the leak guard does with a secret in a write request: refuse it, warn, or not look. */
export type LeakGuardMode = "block" | "warn" | "off";
/** `tls:` of a host rule: TLS toward the tracking server (the Vault provider's `tls:` shape). */
export interface RuleTlsSettings {
  /** PEM file of the CA that signed the tracking server's certificate. */
  readonly ca_cert?: string;
  /** PEM client certificate for mutual TLS; goes with `client_key` (may be the same file). */
  readonly client_cert?: string;
  /** PEM private key of `client_cert`. */
  readonly client_key?: string;
}

/** One host rule. */
export interface HostRuleSettings extends PolicySettings {
  /** `scheme://host[:port][/path-prefix]`, with an optional leading `*.` label. */
  readonly match: string;
  /** Name of a declared provider. */
  readonly provider: string;
  /** Secret reference; its keys depend on the provider's kind. */
  readonly secret: Readonly<Record<string, unknown>>;
  /** How the secret becomes a header. */
  readonly auth: AuthSettings;
  /** Extra static headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Allow an `http://` match on a non-loopback host. */
  readonly allow_insecure_http?: boolean;
  /** The leak guard's mode for this rule, overriding the top-level one. */
  readonly leak_guard?: LeakGuardMode;
  /** TLS toward the tracking server: a private CA, a client certificate. */
  readonly tls?: RuleTlsSettings;
}

/** One provider instance; the other keys depend on `kind`. */
export interface ProviderSettings {
  /** `env`, `file`, `vault`, `aws-secrets-manager` or `azure-key-vault`. */
  readonly kind: string;
  /** Kind-specific settings. */
  readonly [key: string]: unknown;
}

/** Log settings. */
export interface LoggingSettings {
  /** Lowest level written. Default `warn`. */
  readonly level?: "debug" | "info" | "warn" | "error" | "silent";
  /** Line format. Default `text`. */
  readonly format?: "text" | "json";
}

/** A whole profile, version 1. */
export interface ProfileData {
  /** Always 1. */
  readonly version: 1;
  /** Provider instances by name. */
  readonly providers: Readonly<Record<string, ProviderSettings>>;
  /** Host rules. */
  readonly hosts: readonly HostRuleSettings[];
  /** Settings for every rule. */
  readonly defaults?: PolicySettings;
  /** Log settings. */
  readonly logging?: LoggingSettings;
  /** The leak guard's mode. Default `block`. */
  readonly leak_guard?: LeakGuardMode;
  /** Other top-level sections (`proxy`). */
  readonly [key: string]: unknown;
}
