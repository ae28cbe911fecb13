/**
 * The secret resolver: providers (created lazily from the plan), the shared cache with
 * single-flight and refresh, retries, field selection, header building and redaction. Every
 * adapter (middleware, proxy, doctor) goes through one of these. Field selection and header
 * building are in `_rule_headers.ts`; how adapters create a resolver and its logger in
 * `resolver_setup.ts`.
 *
 * @module
 */

import { expiryTtlMs, secretJwtExpiry } from "./_expiry.ts";
import type { Plan, PlanRule } from "../profile/plan.ts";
import type {
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
  SecretValue,
} from "../providers/types.ts";
import { SecretResolutionError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import { Redactor } from "../core/redact.ts";
import { retry } from "../core/retry.ts";
import { type CachedSecret, SecretCache } from "./secret_cache.ts";
import { buildRuleHeaders, selectField } from "./_rule_headers.ts";
import { clientCredentials } from "./oauth2.ts";
import { type OAuth2Grant, OAuth2TokenCache } from "./oauth2_tokens.ts";

/** Options of {@linkcode SecretResolver}. */
export interface SecretResolverOptions {
  /** Environment lookup handed to providers. Default: the process environment. */
  readonly env?: (name: string) => string | undefined;
  /**
   * The transport of providers that speak HTTP themselves (Vault): never the tracking fetch.
   * Default: `globalThis.fetch` as it is when the resolver is created.
   */
  readonly providerFetch?: typeof fetch;
  /** Clock. */
  readonly now?: () => number;
  /** Random source, for jitter. */
  readonly random?: () => number;
  /** Logger. */
  readonly logger?: Logger;
  /** Redactor; shared with the logger. */
  readonly redactor?: Redactor;
  /** Provider factories by kind. Default: the plan's (those its profile was validated against). */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
}

/** Headers for one rule, and the cache generation they came from. */
export interface RuleHeaders {
  /** `[name, value]` pairs: the auth header, then static headers. */
  readonly headers: readonly (readonly [string, string])[];
  /** Cache generation of the secret used. */
  readonly generation: number;
  /** Provider-side version of the secret used (never the value), when the provider has one. */
  readonly version?: string;
}

interface Binding {
  readonly provider: SecretProvider;
  readonly key: string;
  readonly reference: string;
  readonly loader: (signal: AbortSignal) => Promise<ResolvedSecret>;
}

/** Counters. */
export interface ResolverStats {
  /** Provider calls, attempts included. */
  providerCalls: number;
  /** Secret fetches that succeeded. */
  secretFetches: number;
  /** Refreshes forced by a tracking-server status. */
  refreshes: number;
}

/**
 * A resolved secret with its own expiry (the provider's, or the earliest JWT `exp` in the value)
 * mapped into its cache bound: cached until the expiry minus a skew, even when the rule's TTL is
 * longer.
 */
function withExpiry(resolved: ResolvedSecret, now: number): ResolvedSecret {
  const jwt = secretJwtExpiry(resolved.value);
  const expiresAt = resolved.expiresAt === undefined
    ? jwt
    : jwt === undefined
    ? resolved.expiresAt
    : Math.min(resolved.expiresAt, jwt);
  if (expiresAt === undefined) return resolved;
  const bound = expiryTtlMs(expiresAt, now);
  return {
    ...resolved,
    expiresAt,
    maxTtlMs: resolved.maxTtlMs === undefined ? bound : Math.min(resolved.maxTtlMs, bound),
  };
}

/**
 * Resolves secrets for plan rules and turns them into headers.
 *
 * @example
 * ```ts
 * import { parseProfile } from "../mod.ts";
 * import { createPlan } from "../profile/plan.ts";
 * import { SecretResolver } from "./resolver.ts";
 * const plan = createPlan(parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]
 * `, { env: {} }));
 * const resolver = new SecretResolver(plan, { env: (n) => n === "T" ? "tok-123" : undefined });
 * const { headers } = await resolver.headersFor(plan.rules[0]!);
 * if (headers[0]![1] !== "Bearer tok-123") throw new Error("wrong header");
 * await resolver.close();
 * ```
 */
export class SecretResolver {
  readonly #plan: Plan;
  readonly #options: SecretResolverOptions;
  readonly #providers = new Map<string, SecretProvider>();
  readonly #headerMemo = new Map<number, RuleHeaders>();
  readonly #bindings = new Map<number, Binding>();
  /** Access tokens of `oauth2_client_credentials` rules. */
  readonly #tokens: OAuth2TokenCache;
  readonly #grants = new Map<number, { readonly key: string; readonly grant: OAuth2Grant }>();
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #providerFetch: typeof fetch;
  /** The cache. */
  readonly cache: SecretCache;
  /** The redactor every secret is registered with. */
  readonly redactor: Redactor;
  /** Counters. */
  readonly stats: ResolverStats = { providerCalls: 0, secretFetches: 0, refreshes: 0 };

  /**
   * Creates a resolver; providers are created on first use.
   *
   * @param plan The plan.
   * @param options I/O, clock and logging.
   */
  constructor(plan: Plan, options: SecretResolverOptions = {}) {
    this.#plan = plan;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    // Captured now: a fetch installed later (installGlobalFetch) must not carry provider traffic.
    this.#providerFetch = options.providerFetch ?? globalThis.fetch;
    this.redactor = options.redactor ?? new Redactor();
    this.#tokens = new OAuth2TokenCache({
      fetch: this.#providerFetch,
      now: this.#now,
      ...(options.random ? { random: options.random } : {}),
      redactor: this.redactor,
      logger: this.#logger,
    });
    this.cache = new SecretCache({
      now: this.#now,
      ...(options.random ? { random: options.random } : {}),
      onStale: (key, error) =>
        this.#logger.warn("provider failed; serving the cached secret within stale_if_error", {
          key: keyLabel(key),
          error: describeError(error),
        }),
      onBackgroundError: (key, error) =>
        this.#logger.warn("background refresh failed", {
          key: keyLabel(key),
          error: describeError(error),
        }),
    });
  }

  /** The plan. */
  get plan(): Plan {
    return this.#plan;
  }

  /**
   * The printable reference of a rule's secret, e.g. `env:MLFLOW_TOKEN#token`.
   *
   * @param rule A plan rule.
   */
  describe(rule: PlanRule): string {
    const { field, ...ref } = rule.secret;
    const base = this.#provider(rule).describe(ref);
    return field === undefined || base.endsWith(`#${String(field)}`)
      ? base
      : `${base}#${String(field)}`;
  }

  /**
   * Resolves a rule's secret (through the cache) and selects its `field`.
   *
   * @param rule A plan rule.
   * @param signal Cancels this caller's wait.
   * @returns The value, its cache generation, its version, its own expiry and its source's next
   * rotation date (`rotatesAt`) and the end of the provider's own limit on caching it
   * (`limitedUntil`: a lease, a token TTL) when known.
   * @throws {SecretResolutionError} naming the rule, provider and reference.
   */
  async secretFor(
    rule: PlanRule,
    signal?: AbortSignal,
  ): Promise<
    {
      value: SecretValue;
      generation: number;
      version?: string;
      expiresAt?: number;
      rotatesAt?: number;
      limitedUntil?: number;
    }
  > {
    const cached = await this.#cached(rule, signal, undefined);
    return {
      ...selectField(rule, cached, this.describe(rule)),
      generation: cached.generation,
      ...(cached.secretExpiresAt !== undefined ? { expiresAt: cached.secretExpiresAt } : {}),
      ...(cached.rotatesAt !== undefined ? { rotatesAt: cached.rotatesAt } : {}),
      ...(cached.limitedUntil !== undefined ? { limitedUntil: cached.limitedUntil } : {}),
    };
  }

  /**
   * The headers a rule injects: its auth header and static headers.
   *
   * @param rule A plan rule.
   * @param signal Cancels this caller's wait.
   * @returns Headers and the generation they came from.
   * @throws {SecretResolutionError} when the secret cannot be resolved or a header cannot be built.
   */
  async headersFor(rule: PlanRule, signal?: AbortSignal): Promise<RuleHeaders> {
    if (rule.auth.type === "oauth2_client_credentials") {
      const { key, grant } = this.#grant(rule);
      return this.#headers(rule, await this.#tokens.get(key, grant, signal));
    }
    const cached = await this.#cached(rule, signal, undefined);
    return this.#headers(rule, cached);
  }

  /**
   * The headers of a rule when its secret is cached and fresh, without waiting; undefined
   * otherwise (then use {@linkcode SecretResolver.headersFor}). The hot path of the middleware
   * and the proxy.
   *
   * @param rule A plan rule.
   * @returns Headers, or undefined.
   * @throws {SecretResolutionError} when a header cannot be built from the cached value.
   */
  cachedHeadersFor(rule: PlanRule): RuleHeaders | undefined {
    if (rule.auth.type === "oauth2_client_credentials") {
      const g = this.#grants.get(rule.index);
      const token = g === undefined ? undefined : this.#tokens.peek(g.key, g.grant);
      return token === undefined ? undefined : this.#headers(rule, token);
    }
    const binding = this.#bindings.get(rule.index);
    if (binding === undefined) return undefined;
    const cached = this.cache.peek(binding.key, binding.loader, rule.cache);
    return cached === undefined ? undefined : this.#headers(rule, cached);
  }

  /**
   * New headers after the tracking server rejected those of `generation` (a 401): drops that
   * cached value and fetches it again, once for any number of concurrent callers. For an
   * `oauth2_client_credentials` rule, the access token is dropped and a new one obtained; the
   * client secret is read again only if the identity provider refuses it (`invalid_client`).
   *
   * @param rule A plan rule.
   * @param generation Generation of the rejected headers.
   * @param signal Cancels this caller's wait.
   */
  async refreshedHeadersFor(
    rule: PlanRule,
    generation: number,
    signal?: AbortSignal,
  ): Promise<RuleHeaders> {
    if (rule.auth.type === "oauth2_client_credentials") {
      const { key, grant } = this.#grant(rule);
      this.stats.refreshes++;
      return this.#headers(rule, await this.#tokens.refresh(key, grant, generation, signal));
    }
    const cached = await this.#cached(rule, signal, generation);
    return this.#headers(rule, cached);
  }

  /** Closes every provider and clears the cache. */
  async close(): Promise<void> {
    this.cache.clear();
    this.#tokens.clear();
    this.#grants.clear();
    this.#bindings.clear();
    this.#headerMemo.clear();
    const providers = [...this.#providers.values()];
    this.#providers.clear();
    await Promise.allSettled(providers.map((p) => p.close?.()));
  }

  #headers(rule: PlanRule, cached: CachedSecret): RuleHeaders {
    const memo = this.#headerMemo.get(rule.index);
    if (memo !== undefined && memo.generation === cached.generation) return memo;
    const reference = this.describe(rule);
    // An oauth2 rule's cached value is its access token (generations of the token cache).
    const { value } = rule.auth.type === "oauth2_client_credentials"
      ? { value: cached.value }
      : selectField(rule, cached, reference);
    const result: RuleHeaders = {
      headers: buildRuleHeaders(rule, value, reference, this.redactor),
      generation: cached.generation,
      ...(cached.version !== undefined ? { version: cached.version } : {}),
    };
    this.#headerMemo.set(rule.index, result);
    return result;
  }

  async #cached(
    rule: PlanRule,
    signal: AbortSignal | undefined,
    rejectedGeneration: number | undefined,
  ): Promise<CachedSecret> {
    let binding: Binding;
    try {
      binding = this.#binding(rule);
    } catch (error) {
      throw new SecretResolutionError(
        `the provider cannot be set up: ${this.redactor.redact(describeError(error))}`,
        {
          provider: rule.provider,
          reference: stableJson(rule.secret),
          rule: rule.label,
          cause: this.redactor.redactError(error),
        },
      );
    }
    const { provider, key, reference, loader } = binding;
    try {
      if (rejectedGeneration !== undefined) {
        this.stats.refreshes++;
        return await this.cache.refresh(key, rejectedGeneration, loader, rule.cache, signal);
      }
      return await this.cache.get(key, loader, rule.cache, signal);
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      if (error instanceof SecretResolutionError) throw error.withRule(rule.label);
      throw new SecretResolutionError(describeError(error), {
        provider: provider.name,
        reference,
        rule: rule.label,
        cause: this.redactor.redactError(error),
      });
    }
  }

  /**
   * An oauth2 rule's grant, computed once: its token cache key (rules with the same secret and
   * the same grant settings share tokens) and how its client credentials are read.
   */
  #grant(rule: PlanRule): { readonly key: string; readonly grant: OAuth2Grant } {
    let g = this.#grants.get(rule.index);
    if (g !== undefined) return g;
    const spec = rule.auth;
    if (spec.type !== "oauth2_client_credentials") throw new TypeError("not an oauth2 rule");
    let reference: string;
    try {
      reference = this.describe(rule);
    } catch {
      // The provider cannot be set up: reading the credentials will say why.
      reference = stableJson(rule.secret);
    }
    const context = { rule: rule.label, provider: rule.provider, reference };
    g = {
      key: `${rule.provider}\u0000${stableJson(rule.secret)}\u0000${stableJson(spec)}`,
      grant: {
        spec,
        context,
        retry: rule.retry,
        cache: rule.cache,
        credentials: async (signal, rejected) => {
          const cached = await this.#cached(rule, signal, rejected);
          const { value } = selectField(rule, cached, context.reference);
          return {
            credentials: clientCredentials(value, spec, context),
            generation: cached.generation,
            ...(cached.version !== undefined ? { version: cached.version } : {}),
          };
        },
      },
    };
    this.#grants.set(rule.index, g);
    return g;
  }

  /** Per-rule constants, computed once: provider, cache key, printable reference, loader. */
  #binding(rule: PlanRule): Binding {
    let b = this.#bindings.get(rule.index);
    if (b !== undefined) return b;
    const provider = this.#provider(rule);
    const { field: _field, ...ref } = rule.secret;
    const reference = provider.describe(ref);
    b = {
      provider,
      key: `${rule.provider}\u0000${stableJson(ref)}`,
      reference,
      loader: (loadSignal: AbortSignal) => this.#load(provider, ref, reference, rule, loadSignal),
    };
    this.#bindings.set(rule.index, b);
    return b;
  }

  async #load(
    provider: SecretProvider,
    ref: SecretRef,
    reference: string,
    rule: PlanRule,
    signal: AbortSignal,
  ): Promise<ResolvedSecret> {
    const started = this.#now();
    try {
      const resolved = await retry((s) => {
        this.stats.providerCalls++;
        return provider.resolve(ref, { signal: s });
      }, {
        policy: rule.retry,
        signal,
        now: this.#now,
        ...(this.#options.random ? { random: this.#options.random } : {}),
        onRetry: ({ attempt, delayMs, error }) =>
          this.#logger.info("provider call failed; retrying", {
            provider: provider.name,
            reference,
            attempt,
            delay_ms: delayMs,
            error: describeError(error),
          }),
      });
      this.redactor.add(resolved.value);
      this.stats.secretFetches++;
      const bounded = withExpiry(resolved, this.#now());
      this.#logger.info("secret resolved", {
        provider: provider.name,
        reference,
        ms: this.#now() - started,
        ...(resolved.version !== undefined ? { version: resolved.version } : {}),
        ...(bounded.expiresAt !== undefined
          ? { expires: new Date(bounded.expiresAt).toISOString() }
          : {}),
        ...(validDate(resolved.rotatesAt)
          ? { rotates: new Date(resolved.rotatesAt).toISOString() }
          : {}),
      });
      if (bounded.expiresAt !== undefined && bounded.expiresAt <= this.#now()) {
        this.#logger.warn("the secret has already expired; rotate it at the source", {
          provider: provider.name,
          reference,
          expired: new Date(bounded.expiresAt).toISOString(),
        });
      }
      return bounded;
    } catch (error) {
      const safe = this.#classify(error, provider, reference, rule);
      this.#logger.warn("secret resolution failed", {
        provider: provider.name,
        reference,
        error: safe.reason,
      });
      throw safe;
    }
  }

  #classify(
    error: unknown,
    provider: SecretProvider,
    reference: string,
    rule: PlanRule,
  ): SecretResolutionError {
    if (error instanceof SecretResolutionError) {
      return new SecretResolutionError(this.redactor.redact(error.reason), {
        provider: error.provider,
        reference: error.reference,
        ...(error.status !== undefined ? { status: error.status } : {}),
        transient: error.transient,
        ...(error.field !== undefined ? { field: error.field } : {}),
        ...(error.cause !== undefined ? { cause: this.redactor.redactError(error.cause) } : {}),
      });
    }
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    const reason = timedOut
      ? `the provider did not answer within ${rule.retry.attemptTimeoutMs} ms (after ${rule.retry.attempts} attempt(s) at most); check that it is reachable, or raise retry.attempt_timeout`
      : `the provider failed: ${this.redactor.redact(describeError(error))}`;
    return new SecretResolutionError(reason, {
      provider: provider.name,
      reference,
      transient: timedOut || error instanceof TypeError,
      cause: this.redactor.redactError(error),
    });
  }

  #provider(rule: PlanRule): SecretProvider {
    let p = this.#providers.get(rule.provider);
    if (p !== undefined) return p;
    const settings = this.#plan.providers[rule.provider]!;
    const factory = (this.#options.providers ?? this.#plan.factories).get(settings.kind);
    if (factory === undefined) {
      throw new SecretResolutionError(
        `provider kind "${settings.kind}" is not available in this build`,
        { provider: rule.provider, reference: "(none)", rule: rule.label },
      );
    }
    const env = this.#options.env ?? ((name: string) => Deno.env.get(name));
    p = factory.create(rule.provider, settings, {
      env,
      fetch: this.#providerFetch,
      now: this.#now,
      logger: this.#logger,
      redactor: this.redactor,
    });
    this.#providers.set(rule.provider, p);
    return p;
  }
}

function validDate(ms: number | undefined): ms is number {
  return ms !== undefined && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15;
}

function describeError(error: unknown): string {
  if (error instanceof SecretResolutionError) return error.reason;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function keyLabel(key: string): string {
  return key.replace("\u0000", " ");
}

/** JSON with sorted keys, for cache keys. */
export function stableJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v !== null && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : v,
  );
}
