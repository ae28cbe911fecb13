/**
 * Planning: a validated profile → host rules compiled, sorted most specific first, with their
 * header builders and policies. A plan holds no secret values, so it can be printed and tested
 * without a network.
 *
 * @module
 */

import { authHeaderName, type AuthSpec, compileAuthSpec } from "./auth_spec.ts";
import { parseDuration } from "../core/duration.ts";
import {
  compileHostPattern,
  type HostPattern,
  matchesHostPattern,
  specificity,
} from "./host_match.ts";
import type { Profile } from "./profile.ts";
import { escapePointer } from "./yaml_source.ts";
import type { LeakGuardMode, PolicySettings, ProviderSettings, RuleTlsSettings } from "./types.ts";
import { type CachePolicy, DEFAULT_CACHE } from "../core/cache_policy.ts";
import { DEFAULT_RETRY, type RetryPolicy } from "../core/retry.ts";
import type { LogFormat, LogLevel } from "../core/log.ts";
import type { ProviderFactory, SecretRef } from "../providers/types.ts";

/** One compiled host rule. */
export interface PlanRule {
  /** Position in the profile's `hosts` list. */
  readonly index: number;
  /** `hosts[0] (https://mlflow.company.com)`, for messages. */
  readonly label: string;
  /** The rule's `match` as written. */
  readonly match: string;
  /** The compiled pattern. */
  readonly pattern: HostPattern;
  /** Provider instance name. */
  readonly provider: string;
  /** Provider kind. */
  readonly providerKind: string;
  /** The secret reference (the `field` key included). */
  readonly secret: SecretRef;
  /** How the secret becomes a header. */
  readonly auth: AuthSpec;
  /** Name of the header the auth spec sets. */
  readonly authHeader: string;
  /** Static extra headers. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Names of static headers whose value came from the environment (`${VAR}`): treated as
   * secret, masked in logs and never printed by `explain`.
   */
  readonly sensitiveHeaders: ReadonlySet<string>;
  /**
   * Whether the auth header's template (`auth: { type: header, value }`) holds text from the
   * environment (`${VAR}`): then `explain` never prints it.
   */
  readonly sensitiveAuthTemplate: boolean;
  /** Cache settings. */
  readonly cache: CachePolicy;
  /** Retry settings. */
  readonly retry: RetryPolicy;
  /** Tracking-server statuses that trigger one refresh and retry. */
  readonly refreshOn: readonly number[];
  /** What the leak guard does with a managed secret in a write request to this rule's hosts. */
  readonly leakGuard: LeakGuardMode;
  /** TLS files toward the tracking server (`tls:`), when the rule has any. */
  readonly tls?: RuleTls;
}

/** One TLS file of a rule, and where it was set. */
export interface TlsFileSetting {
  /** The path as written; `~/` is expanded when the file is read. */
  readonly path: string;
  /**
   * Where the setting was made, for messages: the profile position
   * (`{ pointer: "/hosts/0/tls/ca_cert", line, column }`) or an environment variable.
   */
  readonly from:
    | { readonly pointer: string; readonly line?: number; readonly column?: number }
    | { readonly variable: string };
}

/** The TLS files of a rule: a CA to trust, a client certificate and its key. */
export interface RuleTls {
  /** PEM file of the CA(s) that signed the tracking server's certificate. */
  readonly caCert?: TlsFileSetting;
  /** PEM client certificate. Set together with `clientKey` (possibly the same file). */
  readonly clientCert?: TlsFileSetting;
  /** PEM private key of `clientCert`. */
  readonly clientKey?: TlsFileSetting;
}

/** A plan. */
export interface Plan {
  /** Profile source name. */
  readonly source: string;
  /** Rules, most specific first. */
  readonly rules: readonly PlanRule[];
  /** Provider blocks by name. */
  readonly providers: Readonly<Record<string, ProviderSettings>>;
  /** Log settings. */
  readonly logging: { readonly level: LogLevel; readonly format: LogFormat };
  /** Provider factories by kind, from the profile: the resolver creates providers from them. */
  readonly factories: ReadonlyMap<string, ProviderFactory>;
  /** The leak guard's mode for requests no rule matches (the profile's top-level `leak_guard`). */
  readonly leakGuard: LeakGuardMode;
}

/**
 * Builds the plan of a profile.
 *
 * @param profile A validated profile.
 * @returns The plan.
 *
 * @example
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * import { createPlan, matchRule } from "./plan.ts";
 * const plan = createPlan(parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts:
 *   - { match: "https://*.example.com", provider: ci, secret: { var: A }, auth: bearer }
 *   - { match: "https://mlflow.example.com", provider: ci, secret: { var: B }, auth: bearer }
 * `, { env: {} }));
 * const rule = matchRule(plan, new URL("https://mlflow.example.com/api/2.0/mlflow/runs/get"));
 * if (rule?.secret.var !== "B") throw new Error("most specific rule must win");
 * ```
 */
export function createPlan(profile: Profile): Plan {
  const data = profile.data;
  const defaults = data.defaults ?? {};
  const rules = data.hosts.map((h, index): PlanRule => {
    const pattern = compileHostPattern(h.match);
    const auth = compileAuthSpec(h.auth);
    return {
      index,
      label: `hosts[${index}] (${h.match})`,
      match: h.match,
      pattern,
      provider: h.provider,
      providerKind: data.providers[h.provider]!.kind,
      secret: h.secret,
      auth,
      authHeader: authHeaderName(auth),
      headers: h.headers ?? {},
      sensitiveHeaders: new Set(
        Object.keys(h.headers ?? {}).filter((name) =>
          profile.interpolated.has(`/hosts/${index}/headers/${escapePointer(name)}`)
        ),
      ),
      sensitiveAuthTemplate: profile.interpolated.has(`/hosts/${index}/auth/value`),
      cache: cachePolicy(h, defaults),
      retry: retryPolicy(h, defaults),
      refreshOn: h.refresh_on ?? defaults.refresh_on ?? [401],
      leakGuard: h.leak_guard ?? data.leak_guard ?? "block",
      ...(h.tls === undefined ? {} : { tls: ruleTls(profile, index, h.tls) }),
    };
  });
  rules.sort((a, b) =>
    compareSpecificity(specificity(b.pattern), specificity(a.pattern)) || a.index - b.index
  );
  return {
    source: profile.source,
    rules,
    providers: data.providers,
    logging: {
      level: data.logging?.level ?? "warn",
      format: data.logging?.format ?? "text",
    },
    factories: profile.factories,
    leakGuard: data.leak_guard ?? "block",
  };
}

/**
 * Finds the rule for a URL: the most specific match, or undefined (the request then passes
 * through untouched).
 *
 * @param plan The plan.
 * @param url The request URL.
 * @returns The rule, if any.
 */
export function matchRule(plan: Plan, url: URL): PlanRule | undefined {
  return plan.rules.find((r) => matchesHostPattern(r.pattern, url));
}

function ruleTls(profile: Profile, index: number, tls: RuleTlsSettings): RuleTls {
  const setting = (key: keyof RuleTlsSettings): TlsFileSetting | undefined => {
    const path = tls[key];
    if (path === undefined) return undefined;
    const pointer = `/hosts/${index}/tls/${key}`;
    const pos = profile.locate(pointer);
    return { path, from: pos === undefined ? { pointer } : { pointer, ...pos } };
  };
  const caCert = setting("ca_cert");
  const clientCert = setting("client_cert");
  const clientKey = setting("client_key");
  return {
    ...(caCert ? { caCert } : {}),
    ...(clientCert ? { clientCert } : {}),
    ...(clientKey ? { clientKey } : {}),
  };
}

function compareSpecificity(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function cachePolicy(rule: PolicySettings, defaults: PolicySettings): CachePolicy {
  const c = { ...defaults.cache, ...rule.cache };
  const ttlMs = c.ttl === undefined ? DEFAULT_CACHE.ttlMs : parseDuration(c.ttl);
  return {
    ttlMs,
    refreshAheadMs: c.refresh_ahead === undefined
      ? Math.round(ttlMs * 0.2)
      : parseDuration(c.refresh_ahead),
    staleIfErrorMs: c.stale_if_error === undefined
      ? DEFAULT_CACHE.staleIfErrorMs
      : parseDuration(c.stale_if_error),
    failureTtlMs: c.failure_ttl === undefined
      ? DEFAULT_CACHE.failureTtlMs
      : parseDuration(c.failure_ttl),
  };
}

function retryPolicy(rule: PolicySettings, defaults: PolicySettings): RetryPolicy {
  const r = { ...defaults.retry, ...rule.retry };
  const d = (v: number | string | undefined, fallback: number): number =>
    v === undefined ? fallback : parseDuration(v);
  return {
    attempts: r.attempts ?? DEFAULT_RETRY.attempts,
    baseDelayMs: d(r.base_delay, DEFAULT_RETRY.baseDelayMs),
    maxDelayMs: d(r.max_delay, DEFAULT_RETRY.maxDelayMs),
    attemptTimeoutMs: d(r.attempt_timeout, DEFAULT_RETRY.attemptTimeoutMs),
    deadlineMs: d(r.deadline, DEFAULT_RETRY.deadlineMs),
  };
}
