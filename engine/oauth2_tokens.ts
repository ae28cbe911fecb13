/**
 * Access tokens of OAuth2 client-credentials rules, cached: each is kept until its `expires_in`
 * (or its JWT `exp`, when sooner) minus a skew, refreshed ahead of that in the background, never
 * served once expired, and obtained once for any number of concurrent callers (single flight).
 * A token the tracking server rejects is dropped and replaced; the client secret is read again
 * from its provider only when the identity provider answers `invalid_client` (it may have been
 * rotated), and then once. Every token is registered with the redactor as soon as it arrives.
 *
 * @module
 */

import type { CachePolicy } from "../core/cache_policy.ts";
import type { Logger } from "../core/log.ts";
import { silentLogger } from "../core/log.ts";
import { Redactor } from "../core/redact.ts";
import { retry, type RetryPolicy } from "../core/retry.ts";
import type { OAuth2ClientCredentialsSpec } from "../profile/auth_spec.ts";
import type { HeaderContext } from "./auth_header.ts";
import {
  type AccessToken,
  clientAuthForms,
  type ClientCredentials,
  OAuth2TokenError,
  requestAccessToken,
  usableLifetimeMs,
} from "./oauth2.ts";
import { type CachedSecret, REFRESH_COOLDOWN_MS, SecretCache } from "./secret_cache.ts";

/** The client credentials of a rule, as its secret cache holds them. */
export interface CredentialsLease {
  /** The client id and secret. */
  readonly credentials: ClientCredentials;
  /** The secret cache's generation they came from. */
  readonly generation: number;
  /** The provider's version of the secret they came from, when it has one. */
  readonly version?: string;
}

/** One rule's grant: what to ask for, where its credentials come from, how to retry. */
export interface OAuth2Grant {
  /** The rule's OAuth2 spec. */
  readonly spec: OAuth2ClientCredentialsSpec;
  /** Rule, provider and secret reference, for errors and logs. */
  readonly context: HeaderContext;
  /** The rule's retry policy, for transient token endpoint failures. */
  readonly retry: RetryPolicy;
  /** The rule's cache policy: its refresh-ahead window and failure memory apply to tokens. */
  readonly cache: CachePolicy;
  /**
   * The client credentials, through the secret cache. With `rejected`, the credentials of that
   * generation were refused (`invalid_client`): read them again from the provider.
   */
  credentials(signal: AbortSignal, rejected?: number): Promise<CredentialsLease>;
}

/** Options of {@linkcode OAuth2TokenCache}. */
export interface OAuth2TokenCacheOptions {
  /** Transport to the token endpoint (never the tracking fetch). Default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
  /** Clock. */
  readonly now?: () => number;
  /** Random source, for jitter. */
  readonly random?: () => number;
  /** Every access token is registered here before anything can log it. */
  readonly redactor?: Redactor;
  /** Logger. */
  readonly logger?: Logger;
}

/** Counters. */
export interface OAuth2TokenStats {
  /** Requests sent to token endpoints, retries included. */
  tokenRequests: number;
  /** Access tokens obtained. */
  tokensObtained: number;
  /**
   * Rejections answered without a token request: the rejected token had itself replaced a
   * rejected one moments before (see {@linkcode OAuth2TokenCache.refresh}).
   */
  refreshesHeldBack: number;
}

/** A year: tokens are bounded by their own lifetime, never by a TTL of the cache. */
const NO_TTL_MS = 365 * 24 * 3_600_000;

/**
 * How long after its stated expiry an access token stays registered with the redactor: a line
 * about a request that was in flight when it expired is still masked.
 */
export const RETIRED_TOKEN_GRACE_MS = 10 * 60_000;

/**
 * The access token cache. Keys are the caller's (one per rule, or per identical grant).
 *
 * @example
 * ```ts ignore
 * const tokens = new OAuth2TokenCache({ fetch, redactor });
 * const { value: accessToken, generation } = await tokens.get("hosts[0]", grant);
 * ```
 */
export class OAuth2TokenCache {
  readonly #cache: SecretCache;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #random: (() => number) | undefined;
  readonly #redactor: Redactor;
  readonly #logger: Logger;
  /** Counters. */
  readonly stats: OAuth2TokenStats = { tokenRequests: 0, tokensObtained: 0, refreshesHeldBack: 0 };
  /** Per key, the last token handed out in answer to a rejection, and when. */
  readonly #replacements = new Map<string, { readonly entry: CachedSecret; readonly at: number }>();
  /**
   * Tokens registered with the redactor whose expiry the identity provider stated, oldest first:
   * each is unregistered {@linkcode RETIRED_TOKEN_GRACE_MS} after it expired, so a long-running
   * proxy does not keep every token it ever obtained (one a minute is 43,200 a month).
   */
  readonly #registered: { readonly token: string; readonly until: number }[] = [];

  /**
   * Creates an empty cache.
   *
   * @param options Transport, clock, randomness, redactor and logger.
   */
  constructor(options: OAuth2TokenCacheOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    this.#random = options.random;
    this.#redactor = options.redactor ?? new Redactor();
    this.#logger = options.logger ?? silentLogger;
    this.#cache = new SecretCache({
      now: this.#now,
      ...(options.random ? { random: options.random } : {}),
      onBackgroundError: (_key, error) =>
        this.#logger.warn("background access token refresh failed", {
          error: this.#redactor.redact(error instanceof Error ? error.message : String(error)),
        }),
    });
  }

  /**
   * The cached access token when it is still usable, without waiting (starting a background
   * refresh in the refresh-ahead window); undefined otherwise.
   *
   * @param key Cache key.
   * @param grant The rule's grant.
   * @returns The token (as `value`) and its generation, or undefined.
   */
  peek(key: string, grant: OAuth2Grant): CachedSecret | undefined {
    return this.#cache.peek(key, this.#loader(grant), policy(grant));
  }

  /**
   * The access token, obtained from the token endpoint when none is cached or it has expired;
   * concurrent callers share one token request.
   *
   * @param key Cache key.
   * @param grant The rule's grant.
   * @param signal Cancels this caller's wait.
   * @returns The token (as `value`) and its generation.
   * @throws {OAuth2TokenError} from the token endpoint; {@linkcode SecretResolutionError} when the
   *   credentials cannot be read.
   */
  get(key: string, grant: OAuth2Grant, signal?: AbortSignal): Promise<CachedSecret> {
    return this.#cache.get(key, this.#loader(grant), policy(grant), signal);
  }

  /**
   * A new access token after the tracking server rejected the one of generation `rejected`: that
   * token is dropped and never served again; concurrent callers share one token request, and a
   * caller whose token was already replaced gets the replacement. A token that was itself
   * obtained to replace a rejected one is not replaced again for {@linkcode REFRESH_COOLDOWN_MS}
   * (5 s): the rejected token comes back (same generation), and the server's answer stands.
   *
   * @param key Cache key.
   * @param grant The rule's grant.
   * @param rejected Generation of the rejected token.
   * @param signal Cancels this caller's wait.
   * @returns The new token and its generation.
   */
  async refresh(
    key: string,
    grant: OAuth2Grant,
    rejected: number,
    signal?: AbortSignal,
  ): Promise<CachedSecret> {
    // A tracking server that rejects every token (misconfigured, or hostile) would otherwise
    // turn each of its 401s into a token request: an identity provider may then rate-limit or
    // lock out the client, for every job that shares it. A token that was itself obtained to
    // replace a rejected one is not replaced again within the cooldown: its rejection stands.
    const last = this.#replacements.get(key);
    if (
      last !== undefined && last.entry.generation === rejected &&
      this.#now() - last.at < REFRESH_COOLDOWN_MS
    ) {
      this.stats.refreshesHeldBack++;
      return last.entry;
    }
    const entry = await this.#cache.refresh(
      key,
      rejected,
      this.#loader(grant),
      policy(grant),
      signal,
    );
    if (entry.generation > rejected && this.#replacements.get(key)?.entry !== entry) {
      this.#replacements.set(key, { entry, at: this.#now() });
    }
    return entry;
  }

  /** Aborts token requests in progress and forgets every token. */
  clear(): void {
    this.#cache.clear();
    this.#replacements.clear();
  }

  /**
   * Obtains a token; the version it carries is the client secret's that obtained it, so that the
   * access log and the metrics name the secret version behind each request.
   */
  #loader(grant: OAuth2Grant): (signal: AbortSignal) => Promise<{
    value: string;
    maxTtlMs: number;
    version?: string;
  }> {
    return async (signal) => {
      const lease = await grant.credentials(signal);
      let token: AccessToken;
      let used = lease;
      try {
        token = await this.#obtain(grant, lease.credentials, signal);
      } catch (error) {
        if (!(error instanceof OAuth2TokenError) || error.oauthError !== "invalid_client") {
          throw error;
        }
        // The client secret may have been rotated since it was cached: read it again, once.
        const fresh = await grant.credentials(signal, lease.generation);
        if (
          fresh.generation === lease.generation ||
          (fresh.credentials.clientId === lease.credentials.clientId &&
            fresh.credentials.clientSecret === lease.credentials.clientSecret)
        ) throw error;
        this.#logger.info("client credentials refused; retrying with the newly read secret", {
          token_url: grant.spec.tokenUrl,
          rule: grant.context.rule,
        });
        token = await this.#obtain(grant, fresh.credentials, signal);
        used = fresh;
      }
      return {
        value: token.token,
        maxTtlMs: usableLifetimeMs(token.lifetimeMs),
        ...(used.version !== undefined ? { version: used.version } : {}),
      };
    };
  }

  /**
   * Unregisters the tokens whose stated expiry is more than the grace behind, and remembers this
   * one. A token without a stated expiry (`bound: "default"`) stays registered: nothing says when
   * it stops working.
   */
  #retire(token: AccessToken): void {
    const now = this.#now();
    while (this.#registered.length > 0 && this.#registered[0]!.until <= now) {
      this.#redactor.remove(this.#registered.shift()!.token);
    }
    if (token.bound === "default") return;
    const until = now + token.lifetimeMs + RETIRED_TOKEN_GRACE_MS;
    let at = this.#registered.length;
    while (at > 0 && this.#registered[at - 1]!.until > until) at--;
    this.#registered.splice(at, 0, { token: token.token, until });
  }

  async #obtain(
    grant: OAuth2Grant,
    credentials: ClientCredentials,
    signal: AbortSignal,
  ): Promise<AccessToken> {
    const started = this.#now();
    // The identity provider's answer may echo what it was sent (an error_description quoting the
    // Authorization header or the form): masked like the secret itself.
    for (const form of clientAuthForms(credentials)) this.#redactor.add(form);
    try {
      const token = await retry((s) => {
        this.stats.tokenRequests++;
        return requestAccessToken(grant.spec, credentials, grant.context, {
          fetch: this.#fetch,
          signal: s,
          now: this.#now,
          defaultLifetimeMs: grant.cache.ttlMs,
        });
      }, {
        policy: grant.retry,
        signal,
        now: this.#now,
        ...(this.#random ? { random: this.#random } : {}),
        onRetry: ({ attempt, delayMs, error }) =>
          this.#logger.info("token request failed; retrying", {
            token_url: grant.spec.tokenUrl,
            attempt,
            delay_ms: delayMs,
            error: this.#redactor.redact(error instanceof Error ? error.message : String(error)),
          }),
      });
      // Before anything can log it.
      this.#redactor.add(token.token);
      this.#retire(token);
      this.stats.tokensObtained++;
      this.#logger.info("access token obtained", {
        token_url: grant.spec.tokenUrl,
        rule: grant.context.rule,
        lifetime_s: Math.round(token.lifetimeMs / 1000),
        bound: token.bound,
        ms: this.#now() - started,
      });
      return token;
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw new OAuth2TokenError(
          `cannot get an access token from "${grant.spec.tokenUrl}": the token endpoint did not answer within ${grant.retry.attemptTimeoutMs} ms (after ${grant.retry.attempts} attempt(s) at most); check that it is reachable, or raise retry.attempt_timeout`,
          {
            context: grant.context,
            tokenUrl: grant.spec.tokenUrl,
            transient: true,
            cause: error,
          },
        );
      }
      if (error instanceof OAuth2TokenError) {
        this.#logger.warn("token request failed", {
          token_url: grant.spec.tokenUrl,
          rule: grant.context.rule,
          ...(error.oauthError !== undefined ? { error: error.oauthError } : {}),
          ...(error.status !== undefined ? { status: error.status } : {}),
        });
        // The identity provider's text passes through the redactor like everything else.
        throw new OAuth2TokenError(this.#redactor.redact(error.reason), {
          context: grant.context,
          tokenUrl: error.tokenUrl,
          transient: error.transient,
          ...(error.oauthError !== undefined ? { oauthError: error.oauthError } : {}),
          ...(error.status !== undefined ? { status: error.status } : {}),
          ...(error.cause !== undefined ? { cause: this.#redactor.redactError(error.cause) } : {}),
        });
      }
      throw error;
    }
  }
}

function policy(grant: OAuth2Grant): CachePolicy {
  return {
    ttlMs: NO_TTL_MS,
    refreshAheadMs: grant.cache.refreshAheadMs,
    // An expired token is never sent.
    staleIfErrorMs: 0,
    failureTtlMs: grant.cache.failureTtlMs,
  };
}
