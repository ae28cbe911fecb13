/**
 * `createAuthFetch`: a `fetch` that injects the credentials a profile's host rules demand, and
 * nowhere else.
 *
 * @module
 */

import type { Profile } from "../profile/profile.ts";
import { createPlan, matchRule, type Plan, type PlanRule } from "../profile/plan.ts";
import type { Logger } from "../core/log.ts";
import type { ResolverStats, RuleHeaders, SecretResolver } from "../engine/resolver.ts";
import { createPlanLogger, createResolver } from "../engine/resolver_setup.ts";
import { bodyInit, DEFAULT_REPLAY_LIMIT, prepareBody } from "./request_body.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { checkForLeak } from "./_leak_check.ts";
import { guardedEndpoint, leakGuardMessage, leakGuardResponse } from "./leak_guard.ts";
import { RuleTlsClients } from "./_tls_clients.ts";

/** Options of {@linkcode createAuthFetch}. */
export interface AuthFetchOptions {
  /**
   * The inner fetch, for tracking requests only. Default: `globalThis.fetch` as it is when the
   * function is created. Providers never use it (see `providerFetch`).
   */
  readonly fetch?: typeof fetch;
  /**
   * The transport of providers that speak HTTP themselves (Vault, its token included), kept apart
   * from `fetch` so that provider traffic never passes through a wrapper meant for the tracking
   * server. Default: `globalThis.fetch` as it is when the function is created.
   */
  readonly providerFetch?: typeof fetch;
  /** Environment lookup for providers. Default: the process environment. */
  readonly env?: (name: string) => string | undefined;
  /** Clock. */
  readonly now?: () => number;
  /** Random source, for jitter. */
  readonly random?: () => number;
  /** Logger. Default: stderr, with the profile's (or the environment's) level and format. */
  readonly logger?: Logger;
  /** Receives log lines when no logger is given. Default: stderr. */
  readonly logWrite?: (line: string) => void;
  /** Largest stream body buffered so that it can be replayed after a 401. Default 1 MiB. */
  readonly maxReplayBytes?: number;
  /** Redirects followed at most. Default 20. */
  readonly maxRedirects?: number;
  /** Provider factories, replacing the ones the profile was validated against (tests). */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
  /** A resolver to share (with a proxy, doctor). Default: a new one. */
  readonly resolver?: SecretResolver;
}

/** The fetch returned by {@linkcode createAuthFetch}, with its resolver and a disposer. */
export interface AuthFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** The plan it follows. */
  readonly plan: Plan;
  /** The resolver: cache, stats, redactor. */
  readonly resolver: SecretResolver;
  /** Counters of the resolver. */
  readonly stats: ResolverStats;
  /** Closes providers, clears the cache and closes the rules' TLS clients. */
  close(): Promise<void>;
  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const ALWAYS_DROPPED_CROSS_ORIGIN = ["authorization", "cookie", "proxy-authorization"];

/**
 * Creates a fetch that injects credentials per the profile.
 *
 * - A URL no rule matches (or with userinfo) goes to the inner fetch untouched.
 * - A matched request gets its rule's headers (replacing any of the same name); the caller's
 *   Request and Headers are never changed.
 * - Fail closed: when the secret cannot be resolved, nothing is sent and the call rejects with a
 *   `SecretResolutionError`.
 * - Redirects are followed here (at most 20), each hop matched again; on a change of origin the
 *   injected headers, `Authorization`, `Cookie` and `Proxy-Authorization` are dropped; after an
 *   https → http hop nothing is injected. `redirect: "manual" | "error"` are honoured.
 * - A status in the rule's `refresh_on` (default 401) fetches the secret again (once, shared)
 *   and retries the request once when its body can be replayed.
 * - Leak guard: a write to MLflow's API (params, tags, names, log-batch, traces…) whose body
 *   holds a managed secret or a derived form of it is not sent; the call resolves to a 400 in
 *   MLflow's error format naming the endpoint and the field, and a warning is logged. With the
 *   rule's `leak_guard: warn` it is sent and only logged; `off` does not read bodies.
 * - A rule with `tls:` settings sends with its own `Deno.HttpClient` (its CA trusted besides the
 *   system's roots, its client certificate presented), made on the rule's first request and
 *   closed by `close()`. A `client` given in `init` replaces it (it must then carry those
 *   settings itself). A TLS file that is missing or unusable rejects the call with a
 *   `ProfileError` at the setting's position (for one named by an environment variable, an
 *   issue naming the variable) before the secret is resolved or anything is sent.
 *
 * @param profile A validated profile (from `parseProfile` or `loadProfile`) or a plan.
 * @param options Inner fetch, environment, logging.
 * @returns The fetch.
 *
 * @example
 * ```ts
 * import { createAuthFetch, parseProfile } from "../mod.ts";
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]
 * `, { env: {} });
 * const seen: string[] = [];
 * const authFetch = createAuthFetch(profile, {
 *   env: (n) => n === "T" ? "tok-123" : undefined,
 *   fetch: (input, init) => {
 *     seen.push(new Headers(init?.headers).get("authorization") ?? "none");
 *     return Promise.resolve(new Response("ok"));
 *   },
 * });
 * await authFetch("https://mlflow.example.com/api/2.0/mlflow/experiments/search");
 * await authFetch("https://elsewhere.example.com/");
 * await authFetch.close();
 * if (seen[0] !== "Bearer tok-123") throw new Error("not injected");
 * ```
 */
export function createAuthFetch(
  profile: Profile | Plan,
  options: AuthFetchOptions = {},
): AuthFetch {
  const plan = "rules" in profile ? profile : createPlan(profile);
  const inner = options.fetch ?? globalThis.fetch;
  const maxRedirects = options.maxRedirects ?? 20;
  const replayLimit = options.maxReplayBytes ?? DEFAULT_REPLAY_LIMIT;
  const resolver = options.resolver ?? createResolver(plan, options);
  /** For leak guard lines; made on first use. */
  let logger: Logger | undefined;
  const tlsClients = new RuleTlsClients(plan.source);
  const close = async (): Promise<void> => {
    tlsClients.close();
    await resolver.close();
  };

  const authFetch = async (
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> => {
    const url = requestUrl(input);
    const firstRule = url === undefined ? undefined : matchRule(plan, url);
    if (url === undefined || firstRule === undefined) return inner(input, init);

    // Everything the caller gave is read synchronously, before the first await, so that a
    // caller mutating its URL, init or headers afterwards cannot redirect the credential.
    // Only a Request input needs a Request copy (for its headers, body and signal); a string or
    // URL input takes everything from init, which saves building a body stream.
    const request = input instanceof Request ? new Request(input, init) : undefined;
    const signal = init?.signal ?? request?.signal ?? undefined;
    const callerRedirect = init?.redirect ?? request?.redirect ?? "follow";
    let method = request?.method ?? normaliseMethod(init?.method ?? "GET");
    const base = new Headers(init?.headers ?? request?.headers);
    const client = (init as { client?: unknown } | undefined)?.client;
    const injectedNames = new Set<string>();
    let current = url;
    let downgraded = false;
    let refreshed = false;
    const prepared = prepareBody(init?.body, request?.body ?? null, replayLimit);
    let body = prepared instanceof Promise ? await prepared : prepared;

    /**
     * The leak guard, for the first hop and again for a redirect that carries the body on to
     * another path (a 307 or 308): a refusal when the rule's mode is block and a secret is found.
     */
    const guard = async (target: URL, rule: PlanRule): Promise<Response | undefined> => {
      if (
        rule.leakGuard === "off" || (body.kind === "none" && target.search === "") ||
        guardedEndpoint(method, target.pathname) === undefined
      ) {
        // Nothing to read: the secret is not resolved for it (a broken tls: setting, say, must
        // fail first, at no provider call).
        return undefined;
      }
      // The rule's secret is resolved first, so that the redactor knows it.
      if (resolver.cachedHeadersFor(rule) === undefined) {
        await resolver.headersFor(rule, signal);
      }
      const checked = await checkForLeak(
        { method, path: target.pathname, query: target.search, headers: base, body, replayLimit },
        resolver.redactor,
        rule.leakGuard,
      );
      body = checked.body;
      if (checked.finding === undefined) return undefined;
      const { finding } = checked;
      const block = rule.leakGuard === "block";
      logger ??= options.logger ?? createPlanLogger(plan, options, resolver.redactor);
      logger.warn(leakGuardMessage(finding, block ? "block" : "warn"), {
        rule: rule.label,
        endpoint: finding.endpoint,
        field: finding.field,
        leak_guard: rule.leakGuard,
      });
      if (!block) return undefined;
      if (body.kind === "stream") await body.stream.cancel().catch(() => {});
      return leakGuardResponse(finding);
    };
    const refused = await guard(url, firstRule);
    if (refused !== undefined) return refused;

    for (let hop = 0;; hop++) {
      const rule = hop === 0 ? firstRule : downgraded ? undefined : matchRule(plan, current);
      // The caller's own client wins; else the rule's (its tls: settings, read before the
      // secret so that a broken setting costs no provider call), else fetch's default.
      const hopClient = client ?? (rule === undefined ? undefined : tlsClients.get(rule));
      const built = rule === undefined
        ? undefined
        : resolver.cachedHeadersFor(rule) ?? await resolver.headersFor(rule, signal);
      let response = await sendOnce(built, hopClient);
      if (
        rule !== undefined && built !== undefined && !refreshed &&
        rule.refreshOn.includes(response.status) && body.kind !== "stream"
      ) {
        refreshed = true;
        const fresh = await resolver.refreshedHeadersFor(rule, built.generation, signal);
        // The same generation means no new value could be had (a refresh moments ago gave the
        // very value the server keeps rejecting): the server's answer stands.
        if (fresh.generation === built.generation) return response;
        await response.body?.cancel();
        response = await sendOnce(fresh, hopClient);
      }
      if (!REDIRECTS.has(response.status) || callerRedirect === "manual") return response;
      if (callerRedirect === "error") {
        await response.body?.cancel();
        throw new TypeError(
          `Redirect from "${current.origin}" refused: the request said redirect: "error"`,
        );
      }
      const location = response.headers.get("location");
      if (location === null) return response;
      await response.body?.cancel();
      if (hop + 1 > maxRedirects) {
        throw new TypeError(`Too many redirects: more than ${maxRedirects}`);
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new TypeError(`Redirect to an invalid location from "${current.origin}"`);
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw new TypeError(`Redirect to unsupported scheme "${next.protocol}"`);
      }
      const status = response.status;
      if (
        status === 303
          ? method !== "GET" && method !== "HEAD"
          : (status <= 302 && method === "POST")
      ) {
        method = "GET";
        body = { kind: "none" };
        for (
          const h of [
            "content-type",
            "content-length",
            "content-encoding",
            "content-language",
            "content-location",
          ]
        ) {
          base.delete(h);
        }
      } else if (body.kind === "stream") {
        throw new TypeError(
          `Cannot follow a ${status} redirect: the request body was a stream larger than the replay limit`,
        );
      }
      if (next.origin !== current.origin) {
        for (const h of ALWAYS_DROPPED_CROSS_ORIGIN) base.delete(h);
        for (const h of injectedNames) base.delete(h);
      }
      if (current.protocol === "https:" && next.protocol === "http:") downgraded = true;
      const moved = next.pathname !== current.pathname || next.search !== current.search;
      current = next;
      // A body carried to another path is checked there too (MLflow answers 308 to a path with
      // doubled slashes, for one).
      const nextRule = downgraded ? undefined : matchRule(plan, current);
      if (moved && nextRule !== undefined) {
        const refusedThere = await guard(current, nextRule);
        if (refusedThere !== undefined) return refusedThere;
      }
    }

    function sendOnce(
      built: RuleHeaders | undefined,
      hopClient: unknown,
    ): Promise<Response> {
      const headers = new Headers(base);
      if (built !== undefined) {
        for (const [name, value] of built.headers) {
          headers.set(name, value);
          injectedNames.add(name.toLowerCase());
        }
      }
      const sendInit: RequestInit & { duplex?: "half"; client?: unknown } = {
        method,
        headers,
        signal,
        redirect: "manual",
        ...bodyInit(body),
      };
      if (hopClient !== undefined) sendInit.client = hopClient;
      return inner(current.href, sendInit);
    }
  };

  return Object.assign(authFetch, {
    plan,
    resolver,
    stats: resolver.stats,
    close,
    [Symbol.asyncDispose]: close,
  });
}

const STANDARD_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

/** Upper-cases the standard methods, as fetch does; leaves others (e.g. PATCH) as given. */
function normaliseMethod(method: string): string {
  const upper = method.toUpperCase();
  return STANDARD_METHODS.has(upper) ? upper : method;
}

function requestUrl(input: string | URL | Request): URL | undefined {
  try {
    if (input instanceof Request) return new URL(input.url);
    // A copy: the caller may change its URL object while the request waits for a secret.
    if (input instanceof URL) return new URL(input.href);
    // Relative URLs resolve against --location, as fetch does.
    return new URL(input, (globalThis as { location?: { href: string } }).location?.href);
  } catch {
    return undefined;
  }
}
