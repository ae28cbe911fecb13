/**
 * The profile's `auth` settings of a rule, compiled: bearer, basic, a custom header template, or
 * an OAuth2 client-credentials grant whose access token goes out as a bearer token.
 * Validation and the plan use it; the engine builds the header from it (`engine/auth_header.ts`).
 *
 * @module
 */

/** How a rule turns its secret into a header. */
export type AuthSpec =
  | { readonly type: "bearer"; readonly tokenField: string }
  | { readonly type: "basic"; readonly usernameField: string; readonly passwordField: string }
  | { readonly type: "header"; readonly name: string; readonly template: string }
  | OAuth2ClientCredentialsSpec;

/**
 * An OAuth2 client-credentials grant (RFC 6749 §4.4): the rule's secret holds the client id and
 * secret; the engine trades them for an access token at `tokenUrl` and sends
 * `Authorization: Bearer <access token>`.
 */
export interface OAuth2ClientCredentialsSpec {
  /** The kind. */
  readonly type: "oauth2_client_credentials";
  /** The token endpoint: https, or http on loopback. */
  readonly tokenUrl: string;
  /** The secret's field holding the client id. */
  readonly clientIdField: string;
  /** The secret's field holding the client secret. */
  readonly clientSecretField: string;
  /** Space-separated scopes to ask for, if any. */
  readonly scope?: string;
  /** The `audience` parameter some identity providers want, if any. */
  readonly audience?: string;
  /** The RFC 8707 `resource` indicator, if any. */
  readonly resource?: string;
  /** `basic`: HTTP Basic (RFC 6749 §2.3.1); `body`: `client_id` and `client_secret` in the form. */
  readonly clientAuth: "basic" | "body";
}

/**
 * Builds an `AuthSpec` from the profile's `auth` value (already schema-valid).
 *
 * @param auth `"bearer"`, `"basic"` or an object.
 * @returns The spec.
 */
export function compileAuthSpec(auth: unknown): AuthSpec {
  if (auth === "bearer") return { type: "bearer", tokenField: "token" };
  if (auth === "basic") {
    return { type: "basic", usernameField: "username", passwordField: "password" };
  }
  const a = auth as Record<string, string | undefined>;
  switch (a.type) {
    case "bearer":
      return { type: "bearer", tokenField: a.token_field ?? "token" };
    case "basic":
      return {
        type: "basic",
        usernameField: a.username_field ?? "username",
        passwordField: a.password_field ?? "password",
      };
    case "oauth2_client_credentials":
      return {
        type: "oauth2_client_credentials",
        tokenUrl: a.token_url!,
        clientIdField: a.client_id_field ?? "client_id",
        clientSecretField: a.client_secret_field ?? "client_secret",
        ...(a.scope !== undefined ? { scope: a.scope } : {}),
        ...(a.audience !== undefined ? { audience: a.audience } : {}),
        ...(a.resource !== undefined ? { resource: a.resource } : {}),
        clientAuth: a.client_auth === "body" ? "body" : "basic",
      };
    default:
      return { type: "header", name: a.name!, template: a.value! };
  }
}

/** The header name a spec sets. */
export function authHeaderName(spec: AuthSpec): string {
  return spec.type === "header" ? spec.name : "Authorization";
}

/** Field names a template refers to, e.g. `["token"]` for `Token {{token}}`. */
export function templateFields(template: string): string[] {
  return [...template.matchAll(/\{\{\s*([^{}\s]+)\s*\}\}/g)].map((m) => m[1]!);
}

/**
 * Rejects header values that would split or corrupt a request.
 *
 * @param value A header value.
 * @returns Whether it is safe.
 */
export function isSafeHeaderValue(value: string): boolean {
  // HTTP field values: tab, visible ASCII, space, and obs-text (Latin-1 above 0x80), which is
  // also what fetch's ByteString accepts.
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value);
}
