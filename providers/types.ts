/**
 * The contract between the runtime and a secret provider.
 *
 * A provider turns a secret reference (kind-specific plain data from the profile) into a value.
 * It does not cache and does not retry: the runtime does both, the same way for every provider.
 * It classifies its failures as {@linkcode SecretResolutionError}s (`transient` for network
 * errors, timeouts, 429 and 5xx) and never puts a secret value in an error.
 *
 * @module
 */

import type { Redactor } from "../core/redact.ts";
import type { Logger } from "../core/log.ts";

/** A resolved secret: a string, or a JSON object. */
export type SecretValue = string | Readonly<Record<string, unknown>>;

/** A secret reference from a host rule's `secret:` block; its keys depend on the kind. */
export type SecretRef = Readonly<Record<string, unknown>>;

/** What a provider returns. */
export interface ResolvedSecret {
  /** The value: a string, or a JSON object. */
  readonly value: SecretValue;
  /** Upper bound for caching it (a lease, a token TTL), in milliseconds. */
  readonly maxTtlMs?: number;
  /** Provider-side version, for diagnostics (never secret). */
  readonly version?: string;
  /**
   * When the secret itself stops being valid, in milliseconds since the epoch (e.g. a Key Vault
   * secret's `expires` attribute). The cache keeps it until shortly before; a JWT's `exp` in the
   * value is found by the runtime, a provider need not report it.
   */
  readonly expiresAt?: number;
  /**
   * When the source will have replaced the version this reference follows (an AWS secret's next
   * scheduled rotation), in milliseconds since the epoch. Not an expiry: the value stays valid and
   * usable (also as a stale value while the provider fails); the cache only reads the reference
   * again by then, and at a short interval while the date is past and no new version has shown up.
   * Leave it out for a reference pinned to one version.
   */
  readonly rotatesAt?: number;
}

/** Options of one resolution. */
export interface ResolveOptions {
  /** Aborts the provider call. A provider must honour it promptly. */
  readonly signal: AbortSignal;
}

/** A configured provider instance. */
export interface SecretProvider {
  /** Instance name from the profile. */
  readonly name: string;
  /** Kind, e.g. `vault`. */
  readonly kind: string;
  /** A printable form of a reference, e.g. `secret/mlflow/auth#token` (never a value). */
  describe(ref: SecretRef): string;
  /**
   * Resolves a reference.
   *
   * @throws {SecretResolutionError} on any failure, classified as transient or not.
   */
  resolve(ref: SecretRef, options: ResolveOptions): Promise<ResolvedSecret>;
  /** Releases timers, sockets and clients. */
  close?(): Promise<void> | void;
}

/** What the runtime hands to a provider factory. All I/O goes through here, so tests can fake it. */
export interface ProviderContext {
  /** Reads an environment variable (undefined when unset). */
  readonly env: (name: string) => string | undefined;
  /** The fetch used for provider HTTP calls that do not go through an SDK. */
  readonly fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Logger; every line is redacted. */
  readonly logger: Logger;
  /** Register every credential the provider handles (tokens, role ids) so logs mask it. */
  readonly redactor: Redactor;
}

/** A problem in a provider block that the schema cannot express. */
export interface ProviderConfigIssue {
  /** JSON pointer relative to the provider block, e.g. `/auth/role`. */
  readonly pointer: string;
  /** What is wrong and what to do. */
  readonly message: string;
}

/** A provider implementation: its kind and a factory. */
export interface ProviderFactory {
  /** The `kind` value in the profile. */
  readonly kind: string;
  /**
   * Creates an instance. Must not do I/O or load SDKs: that happens on first `resolve`.
   *
   * @param name Instance name from the profile.
   * @param config The provider's block from the profile (validated, interpolated).
   * @param context I/O and logging.
   */
  create(
    name: string,
    config: Readonly<Record<string, unknown>>,
    context: ProviderContext,
  ): SecretProvider;
  /**
   * Optional: checks a provider block for what the schema cannot express, without I/O. The
   * profile validator reports each issue with its line and column.
   */
  check?(config: Readonly<Record<string, unknown>>): readonly ProviderConfigIssue[];
}
