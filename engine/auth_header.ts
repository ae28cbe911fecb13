/**
 * Turning a resolved secret into the header its rule asks for: bearer, basic, or a custom header
 * template. This is where every auth header is built.
 *
 * @module
 */

import { SecretResolutionError } from "../core/errors.ts";
import type { SecretValue } from "../providers/types.ts";
import { type AuthSpec, isSafeHeaderValue } from "../profile/auth_spec.ts";

/** Where a header is built, for error messages (never values). */
export interface HeaderContext {
  /** e.g. `hosts[0] (https://mlflow.company.com)`. */
  readonly rule: string;
  /** Provider instance name. */
  readonly provider: string;
  /** Printable secret reference. */
  readonly reference: string;
}

/**
 * Builds the auth header for a secret.
 *
 * @param spec The rule's auth spec.
 * @param secret The resolved value; for `oauth2_client_credentials`, the access token obtained
 *   with the client credentials (`engine/oauth2_tokens.ts`).
 * @param context Rule, provider and reference, for errors.
 * @returns `[name, value]`.
 * @throws {SecretResolutionError} for a missing or empty field or a CR/LF/NUL in the value,
 *   naming the rule, the reference and the field, never the value.
 *
 * @example
 * ```ts
 * import { buildAuthHeader } from "./auth_header.ts";
 * const [name, value] = buildAuthHeader(
 *   { type: "basic", usernameField: "username", passwordField: "password" },
 *   "alice:pa:ss",
 *   { rule: "hosts[0]", provider: "env", reference: "env:CRED" },
 * );
 * if (name !== "Authorization" || value !== "Basic " + btoa("alice:pa:ss")) throw new Error("wrong");
 * ```
 */
export function buildAuthHeader(
  spec: AuthSpec,
  secret: SecretValue,
  context: HeaderContext,
): [string, string] {
  switch (spec.type) {
    case "bearer": {
      const token = typeof secret === "string"
        ? nonEmpty(secret, "(whole secret)", context)
        : field(secret, spec.tokenField, context);
      return ["Authorization", checkValue(`Bearer ${token}`, spec.tokenField, context)];
    }
    case "basic": {
      let user: string;
      let pass: string;
      if (typeof secret === "string") {
        const colon = secret.indexOf(":");
        if (colon <= 0) {
          throw fail(
            'a basic-auth string secret must be "user:pass"; store "user:pass" or a JSON object with username and password fields',
            "(whole secret)",
            context,
          );
        }
        user = secret.slice(0, colon);
        pass = nonEmpty(secret.slice(colon + 1), "(password part)", context);
      } else {
        user = field(secret, spec.usernameField, context);
        pass = field(secret, spec.passwordField, context);
      }
      if (user.includes(":")) {
        throw fail(
          "the user name contains a colon, which Basic auth cannot carry",
          spec.usernameField,
          context,
        );
      }
      const encoded = base64Utf8(`${user}:${pass}`);
      return ["Authorization", checkValue(`Basic ${encoded}`, spec.passwordField, context)];
    }
    case "header": {
      let usedField = "token";
      const value = spec.template.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, (_m, name: string) => {
        usedField = name;
        if (typeof secret === "string") {
          if (name !== "token") {
            throw fail(
              `the template uses "{{${name}}}" but the secret is a plain string (only "{{token}}" is available); store a JSON object or use {{token}}`,
              name,
              context,
            );
          }
          return nonEmpty(secret, "token", context);
        }
        return field(secret, name, context);
      });
      return [spec.name, checkValue(value, usedField, context)];
    }
    case "oauth2_client_credentials": {
      // The secret here is the access token the engine obtained with the client credentials.
      if (typeof secret !== "string") {
        throw fail("an access token must be a string", "(access token)", context);
      }
      const token = nonEmpty(secret, "(access token)", context);
      return ["Authorization", checkValue(`Bearer ${token}`, "(access token)", context)];
    }
  }
}

function field(
  secret: Readonly<Record<string, unknown>>,
  name: string,
  ctx: HeaderContext,
): string {
  if (!Object.hasOwn(secret, name)) {
    const keys = Object.keys(secret).map((k) => `"${k}"`).join(", ") || "none";
    throw fail(
      `the secret has no field "${name}" (its fields: ${keys}); set the field name in the rule`,
      name,
      ctx,
    );
  }
  const v = secret[name];
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v !== "string") {
    throw fail(
      `field "${name}" is not a string (it is ${v === null ? "null" : typeof v})`,
      name,
      ctx,
    );
  }
  return nonEmpty(v, name, ctx);
}

function nonEmpty(v: string, name: string, ctx: HeaderContext): string {
  if (v.trim() === "") throw fail(`field ${quoteField(name)} is empty; store a value`, name, ctx);
  return v;
}

function checkValue(v: string, name: string, ctx: HeaderContext): string {
  if (!isSafeHeaderValue(v)) {
    throw fail(
      `the header value built from ${
        quoteField(name)
      } contains a character a header cannot carry (a line break, a control character, or a character beyond Latin-1); check the stored secret`,
      name,
      ctx,
    );
  }
  return v;
}

function quoteField(name: string): string {
  return name.startsWith("(") ? name : `"${name}"`;
}

function fail(reason: string, fieldName: string, ctx: HeaderContext): SecretResolutionError {
  return new SecretResolutionError(reason, {
    provider: ctx.provider,
    reference: ctx.reference,
    rule: ctx.rule,
    field: fieldName,
  });
}

/** Base64 of a string's UTF-8 bytes. */
export function base64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}
