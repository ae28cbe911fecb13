/**
 * The profile's `auth` settings of a rule, compiled: bearer, basic, or a custom header template.
 * Validation and the plan use it; the engine builds the header from it (`engine/auth_header.ts`).
 *
 * @module
 */

/** How a rule turns its secret into a header. */
export type AuthSpec =
  | { readonly type: "bearer"; readonly tokenField: string }
  | { readonly type: "basic"; readonly usernameField: string; readonly passwordField: string }
  | { readonly type: "header"; readonly name: string; readonly template: string };

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
