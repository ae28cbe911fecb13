/**
 * The OAuth2 client-credentials grant (RFC 6749 §4.4): the client id and secret read from a rule's
 * secret are traded for an access token at the identity provider's token endpoint. This module
 * sends one token request, parses the answer, and says how long the token may be cached; the
 * caching, single flight and refresh live in `engine/oauth2_tokens.ts`.
 *
 * Errors name the token URL, the HTTP status and the OAuth error code (`invalid_client`,
 * `unauthorized_client`, `invalid_scope`…), never the client secret or a token. Permanent ones
 * (every OAuth error code but `temporarily_unavailable`, a redirect, an unreadable answer) are not
 * transient; network failures, 408, 429 and 5xx are.
 *
 * ```yaml
 * auth:
 *   type: oauth2_client_credentials
 *   token_url: https://idp.company.com/oauth2/token   # https, or http on loopback
 *   client_id_field: client_id                        # fields of the rule's secret
 *   client_secret_field: client_secret
 *   scope: mlflow                                     # optional
 *   audience: https://mlflow.company.com              # optional
 *   client_auth: basic                                # basic (default) | body
 * ```
 *
 * @module
 */

import { SecretResolutionError } from "../core/errors.ts";
import { isTransientStatus } from "../core/retry.ts";
import { isSafeHeaderValue, type OAuth2ClientCredentialsSpec } from "../profile/auth_spec.ts";
import type { SecretValue } from "../providers/types.ts";
import type { HeaderContext } from "./auth_header.ts";

/** The client id and secret of a client-credentials grant. */
export interface ClientCredentials {
  /** `client_id`. */
  readonly clientId: string;
  /** `client_secret`. */
  readonly clientSecret: string;
}

/** What bounds an access token's lifetime. */
export type TokenLifetimeBound = "expires_in" | "exp" | "default";

/** An access token and how long it lives. */
export interface AccessToken {
  /** The token. A secret: register it with the redactor before anything can log it. */
  readonly token: string;
  /** Its lifetime from when it was received, in milliseconds, before the skew. */
  readonly lifetimeMs: number;
  /** Which bound gave `lifetimeMs`: `expires_in`, the JWT's `exp` (when sooner) or the default. */
  readonly bound: TokenLifetimeBound;
  /** The scope granted, when the identity provider says. */
  readonly scope?: string;
}

/**
 * The token endpoint refused or failed. A {@linkcode SecretResolutionError} (the request that
 * needed the token is not sent) that also carries the token URL and the OAuth error code.
 */
export class OAuth2TokenError extends SecretResolutionError {
  /** The token endpoint. */
  readonly tokenUrl: string;
  /** The OAuth error code (`invalid_client`…), when the identity provider gave one. */
  readonly oauthError: string | undefined;

  /**
   * Creates the error.
   *
   * @param reason What happened and what to do, naming the token URL; never a secret.
   * @param options Context, token URL, OAuth error code, status, transience, cause.
   */
  constructor(
    reason: string,
    options: {
      readonly context: HeaderContext;
      readonly tokenUrl: string;
      readonly oauthError?: string;
      readonly status?: number;
      readonly transient: boolean;
      readonly cause?: unknown;
    },
  ) {
    super(reason, {
      provider: options.context.provider,
      reference: options.context.reference,
      rule: options.context.rule,
      transient: options.transient,
      ...(options.status !== undefined ? { status: options.status } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    });
    this.name = "OAuth2TokenError";
    // The secret was read; what failed is the token request.
    this.message =
      `Cannot authenticate rule ${options.context.rule} with the OAuth2 client credentials "${options.context.reference}" of provider "${options.context.provider}": ${reason}`;
    this.tokenUrl = options.tokenUrl;
    this.oauthError = options.oauthError;
  }
}

/**
 * Reads the client id and secret from a rule's secret (a JSON object with the spec's fields).
 *
 * @param secret The resolved secret.
 * @param spec The rule's OAuth2 spec.
 * @param context Rule, provider and reference, for errors.
 * @returns The credentials.
 * @throws {SecretResolutionError} when the secret is a plain string, or a field is missing, empty,
 *   not a string, or holds a control character; naming the field, never the value.
 *
 * @example
 * ```ts
 * import { clientCredentials } from "./oauth2.ts";
 * const c = clientCredentials(
 *   { client_id: "mlflow-ci", client_secret: "s3cret" },
 *   { type: "oauth2_client_credentials", tokenUrl: "https://idp.example/token",
 *     clientIdField: "client_id", clientSecretField: "client_secret", clientAuth: "basic" },
 *   { rule: "hosts[0]", provider: "vault", reference: "secret/mlflow/oauth" },
 * );
 * if (c.clientId !== "mlflow-ci") throw new Error("wrong id");
 * ```
 */
export function clientCredentials(
  secret: SecretValue,
  spec: OAuth2ClientCredentialsSpec,
  context: HeaderContext,
): ClientCredentials {
  if (typeof secret === "string") {
    throw credentialError(
      `an oauth2_client_credentials rule needs a secret with the fields "${spec.clientIdField}" and "${spec.clientSecretField}", but the secret is a plain string; store a JSON object`,
      "(whole secret)",
      context,
    );
  }
  const read = (name: string): string => {
    if (!Object.hasOwn(secret, name)) {
      const keys = Object.keys(secret).map((k) => `"${k}"`).join(", ") || "none";
      throw credentialError(
        `the secret has no field "${name}" (its fields: ${keys}); set client_id_field and client_secret_field in the rule`,
        name,
        context,
      );
    }
    const v = secret[name];
    if (typeof v !== "string" && typeof v !== "number") {
      throw credentialError(
        `field "${name}" is not a string (it is ${v === null ? "null" : typeof v})`,
        name,
        context,
      );
    }
    const s = String(v);
    if (s.trim() === "") {
      throw credentialError(`field "${name}" is empty; store a value`, name, context);
    }
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x1f\x7f]/.test(s)) {
      throw credentialError(
        `field "${name}" contains a control character (a line break?); check the stored secret`,
        name,
        context,
      );
    }
    return s;
  };
  return { clientId: read(spec.clientIdField), clientSecret: read(spec.clientSecretField) };
}

function credentialError(reason: string, field: string, ctx: HeaderContext): SecretResolutionError {
  return new SecretResolutionError(reason, {
    provider: ctx.provider,
    reference: ctx.reference,
    rule: ctx.rule,
    field,
  });
}

/** Options of {@linkcode requestAccessToken}. */
export interface TokenRequestOptions {
  /** Transport. Default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
  /** Cancels the request. */
  readonly signal?: AbortSignal;
  /** Clock, in milliseconds (for a JWT's `exp`). Default `Date.now`. */
  readonly now?: () => number;
  /** Lifetime of a token whose answer gives neither `expires_in` nor a JWT `exp`. Default 5 min. */
  readonly defaultLifetimeMs?: number;
}

/**
 * Asks the token endpoint for an access token with the client-credentials grant: a form POST
 * with `grant_type=client_credentials` and the spec's `scope`, `audience` and `resource`; the
 * client authenticates with HTTP Basic (its id and secret form-encoded first, RFC 6749 §2.3.1) or
 * in the form body. Redirects are not followed: credentials go to `token_url` and nowhere else.
 *
 * @param spec The rule's OAuth2 spec.
 * @param credentials The client id and secret.
 * @param context Rule, provider and reference, for errors.
 * @param options Transport, signal, clock, default lifetime.
 * @returns The access token and its lifetime.
 * @throws {OAuth2TokenError} naming the token URL, the status and the OAuth error code; transient
 *   for network failures, 408, 429, 5xx and `temporarily_unavailable`.
 */
export async function requestAccessToken(
  spec: OAuth2ClientCredentialsSpec,
  credentials: ClientCredentials,
  context: HeaderContext,
  options: TokenRequestOptions = {},
): Promise<AccessToken> {
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  if (spec.scope !== undefined) form.set("scope", spec.scope);
  if (spec.audience !== undefined) form.set("audience", spec.audience);
  if (spec.resource !== undefined) form.set("resource", spec.resource);
  const headers = new Headers({
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  });
  if (spec.clientAuth === "basic") {
    const user = formEncode(credentials.clientId);
    const pass = formEncode(credentials.clientSecret);
    headers.set("authorization", `Basic ${btoa(`${user}:${pass}`)}`);
  } else {
    form.set("client_id", credentials.clientId);
    form.set("client_secret", credentials.clientSecret);
  }
  const doFetch = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await doFetch(spec.tokenUrl, {
      method: "POST",
      headers,
      body: form.toString(),
      redirect: "manual",
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new OAuth2TokenError(
      `cannot get an access token from "${spec.tokenUrl}": the token endpoint cannot be reached (${
        error instanceof Error ? error.message : String(error)
      }); check token_url and the network`,
      { context, tokenUrl: spec.tokenUrl, transient: true, cause: error },
    );
  }
  let text: string;
  try {
    const read = await readLimited(response, MAX_TOKEN_RESPONSE_BYTES);
    if (read === undefined) {
      throw new OAuth2TokenError(
        `cannot get an access token from "${spec.tokenUrl}": the answer is larger than ${MAX_TOKEN_RESPONSE_BYTES} bytes, which no token response needs; check token_url`,
        { context, tokenUrl: spec.tokenUrl, status: response.status, transient: false },
      );
    }
    text = read;
  } catch (error) {
    if (error instanceof OAuth2TokenError) throw error;
    if (options.signal?.aborted) throw error;
    throw new OAuth2TokenError(
      `cannot get an access token from "${spec.tokenUrl}": the answer was cut off (${
        error instanceof Error ? error.message : String(error)
      })`,
      { context, tokenUrl: spec.tokenUrl, status: response.status, transient: true, cause: error },
    );
  }
  return parseTokenResponse(response.status, text, {
    tokenUrl: spec.tokenUrl,
    context,
    now: options.now ?? Date.now,
    defaultLifetimeMs: options.defaultLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS,
  });
}

/**
 * The most of a token endpoint's answer that is read: 1 MiB. A token response is a few
 * kilobytes; an endpoint that sends more (hostile, or not a token endpoint) must not make the
 * process hold an unbounded body in memory.
 */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

/** The body as UTF-8 text, or undefined (the rest cancelled) past `max` bytes. */
async function readLimited(response: Response, max: number): Promise<string | undefined> {
  if (response.body === null) return "";
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > max) {
    await response.body.cancel().catch(() => {});
    return undefined;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * The forms in which a client-credentials request carries the client secret besides the secret
 * itself: form-encoded (the body, and each half of HTTP Basic), and the Basic `id:secret` pair
 * (whose base64 is the header value). An identity provider may echo any of them in an error;
 * register them with the redactor before the request.
 *
 * @param credentials The client id and secret.
 * @returns The strings to register.
 *
 * @example
 * ```ts
 * import { clientAuthForms } from "./oauth2.ts";
 * const forms = clientAuthForms({ clientId: "ci", clientSecret: "a b+c" });
 * if (!forms.includes("a+b%2Bc") || !forms.includes("ci:a+b%2Bc")) throw new Error();
 * ```
 */
export function clientAuthForms(credentials: ClientCredentials): string[] {
  const secret = formEncode(credentials.clientSecret);
  return [secret, `${formEncode(credentials.clientId)}:${secret}`];
}

/** Lifetime of a token whose answer says nothing about it: 5 minutes. */
export const DEFAULT_TOKEN_LIFETIME_MS = 5 * 60_000;

/**
 * Parses a token endpoint's answer: a successful one (RFC 6749 §5.1) into an access token, an
 * error one (§5.2) into an {@linkcode OAuth2TokenError}. The lifetime is `expires_in`, or the
 * access token's own `exp` when it is a JWT that expires sooner (an `exp` already past by this
 * clock is taken for clock skew and ignored), or the default.
 *
 * @param status The HTTP status.
 * @param body The answer's text.
 * @param options Token URL and context for errors, clock, default lifetime.
 * @returns The access token.
 * @throws {OAuth2TokenError} for an error answer, a redirect, an answer that is not JSON, a missing
 *   or unusable `access_token`, or a `token_type` other than Bearer.
 *
 * @example
 * ```ts
 * import { parseTokenResponse } from "./oauth2.ts";
 * const t = parseTokenResponse(200, '{"access_token":"at-1","token_type":"Bearer","expires_in":60}', {
 *   tokenUrl: "https://idp.example/token",
 *   context: { rule: "hosts[0]", provider: "vault", reference: "secret/mlflow/oauth" },
 *   now: () => 0,
 *   defaultLifetimeMs: 300_000,
 * });
 * if (t.lifetimeMs !== 60_000 || t.bound !== "expires_in") throw new Error("wrong lifetime");
 * ```
 */
export function parseTokenResponse(
  status: number,
  body: string,
  options: {
    readonly tokenUrl: string;
    readonly context: HeaderContext;
    readonly now: () => number;
    readonly defaultLifetimeMs: number;
  },
): AccessToken {
  const { tokenUrl, context } = options;
  const fail = (
    why: string,
    extra: { oauthError?: string; transient?: boolean } = {},
  ): OAuth2TokenError =>
    new OAuth2TokenError(`cannot get an access token from "${tokenUrl}": ${why}`, {
      context,
      tokenUrl,
      status,
      transient: extra.transient ?? false,
      ...(extra.oauthError !== undefined ? { oauthError: extra.oauthError } : {}),
    });
  let json: unknown;
  try {
    json = body.trim() === "" ? undefined : JSON.parse(body);
  } catch {
    json = undefined;
  }
  const obj = json !== null && typeof json === "object" && !Array.isArray(json)
    ? json as Record<string, unknown>
    : undefined;

  if (status >= 300 && status < 400) {
    throw fail(
      `the token endpoint answered ${status} (a redirect), which is not followed with client credentials; set token_url to the endpoint itself`,
    );
  }
  if (status < 200 || status >= 300) {
    const code = typeof obj?.error === "string" && /^[\x20-\x7e]{1,64}$/.test(obj.error)
      ? obj.error
      : undefined;
    if (code === undefined) {
      const transient = isTransientStatus(status);
      throw fail(
        `the token endpoint answered ${status} without an OAuth error code${
          transient ? "" : "; check token_url"
        }`,
        { transient },
      );
    }
    const description = typeof obj?.error_description === "string"
      ? ` (${printable(obj.error_description)})`
      : "";
    const transient = code === "temporarily_unavailable" || code === "server_error" ||
      isTransientStatus(status);
    throw fail(
      `the identity provider answered ${status} ${code}${description}; ${advice(code)}`,
      { oauthError: code, transient },
    );
  }
  if (obj === undefined) {
    throw fail(`the token endpoint answered ${status} with a body that is not a JSON object`);
  }
  const token = obj.access_token;
  if (typeof token !== "string" || token === "") {
    throw fail("the answer has no access_token; check token_url");
  }
  if (!isSafeHeaderValue(token) || /\s/.test(token)) {
    throw fail("the access token contains characters a header cannot carry");
  }
  const type = obj.token_type;
  if (typeof type !== "string" || type.toLowerCase() !== "bearer") {
    throw fail(
      `the token type is ${
        typeof type === "string" ? `"${printable(type)}"` : "missing"
      }, not "Bearer"; only bearer tokens are supported`,
    );
  }
  let lifetimeMs = options.defaultLifetimeMs;
  let bound: TokenLifetimeBound = "default";
  const expiresIn = typeof obj.expires_in === "string" ? Number(obj.expires_in) : obj.expires_in;
  if (typeof expiresIn === "number" && Number.isFinite(expiresIn) && expiresIn > 0) {
    lifetimeMs = expiresIn * 1000;
    bound = "expires_in";
  }
  const exp = jwtExpiry(token);
  if (exp !== undefined) {
    const left = exp * 1000 - options.now();
    if (left > 0 && (bound === "default" || left < lifetimeMs)) {
      lifetimeMs = left;
      bound = "exp";
    }
  }
  return {
    token,
    lifetimeMs,
    bound,
    ...(typeof obj.scope === "string" ? { scope: obj.scope } : {}),
  };
}

/**
 * The `exp` claim (seconds since the epoch) of a JWT, read without verifying it: only to know how
 * long to keep the token. Undefined when the token is not a JWT or has no numeric `exp`.
 *
 * @param token An access token.
 * @returns Its `exp`, or undefined.
 *
 * @example
 * ```ts
 * import { jwtExpiry } from "./oauth2.ts";
 * const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "");
 * if (jwtExpiry(`${b64({ alg: "none" })}.${b64({ exp: 1700000000 })}.`) !== 1700000000) throw new Error();
 * if (jwtExpiry("opaque-token") !== undefined) throw new Error();
 * ```
 */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1]!.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
    const payload: unknown = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))),
    );
    if (payload === null || typeof payload !== "object") return undefined;
    const exp = (payload as Record<string, unknown>).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** The most a token's cached life is cut short by: 30 seconds. */
export const TOKEN_EXPIRY_SKEW_MS = 30_000;

/**
 * How long an access token may be used: its lifetime minus a skew, so that a token is never sent
 * in its last moments (clock drift, time on the wire). The skew is 30 s, or a fifth of the
 * lifetime for tokens that live less than 150 s.
 *
 * @param lifetimeMs The token's lifetime.
 * @returns The time to keep it, in milliseconds.
 *
 * @example
 * ```ts
 * import { usableLifetimeMs } from "./oauth2.ts";
 * if (usableLifetimeMs(3_600_000) !== 3_570_000 || usableLifetimeMs(10_000) !== 8_000) throw new Error();
 * ```
 */
export function usableLifetimeMs(lifetimeMs: number): number {
  return Math.max(0, lifetimeMs - Math.min(TOKEN_EXPIRY_SKEW_MS, lifetimeMs / 5));
}

function advice(code: string): string {
  switch (code) {
    case "invalid_client":
      return "the client id or secret was refused: check the values stored in the secret, and client_auth (basic or body)";
    case "unauthorized_client":
      return "this client may not use the client credentials grant: allow it at the identity provider";
    case "invalid_scope":
      return "check scope in the rule against the scopes the client may ask for";
    case "invalid_target":
      return "check audience or resource in the rule against the resource servers the identity provider knows";
    case "unsupported_grant_type":
      return "the identity provider does not offer the client credentials grant at this endpoint";
    case "temporarily_unavailable":
    case "server_error":
      return "the identity provider is failing; retried per the rule's retry policy";
    default:
      return "check the rule's oauth2 settings against the identity provider's client";
  }
}

/** At most 200 printable ASCII characters of an identity provider's text. */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
