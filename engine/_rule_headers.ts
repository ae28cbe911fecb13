/**
 * From a cached secret to a rule's headers: the rule's `field` selected, the auth header built,
 * the static headers added, and every credential form registered with the redactor.
 *
 * @module
 */

import { buildAuthHeader } from "./auth_header.ts";
import type { PlanRule } from "../profile/plan.ts";
import type { SecretValue } from "../providers/types.ts";
import { SecretResolutionError } from "../core/errors.ts";
import type { Redactor } from "../core/redact.ts";
import type { CachedSecret } from "./secret_cache.ts";

/**
 * The value of a rule's secret: the whole secret, or its `field`.
 *
 * @param rule A plan rule.
 * @param cached The cached secret.
 * @param reference The printable reference, for errors.
 * @returns The value and its version.
 * @throws {SecretResolutionError} when the field is missing or not a string, number or object.
 */
export function selectField(
  rule: PlanRule,
  cached: CachedSecret,
  reference: string,
): { value: SecretValue; version?: string } {
  const field = rule.secret.field;
  const version = cached.version !== undefined ? { version: cached.version } : {};
  if (field === undefined) return { value: cached.value, ...version };
  const name = String(field);
  const fail = (reason: string): SecretResolutionError =>
    new SecretResolutionError(reason, {
      provider: rule.provider,
      reference,
      rule: rule.label,
      field: name,
    });
  if (typeof cached.value === "string") {
    throw fail(
      `field "${name}" was asked for, but the secret is a plain string, not a JSON object; remove "field" or store a JSON object`,
    );
  }
  if (!Object.hasOwn(cached.value, name)) {
    const keys = Object.keys(cached.value).map((k) => `"${k}"`).join(", ") || "none";
    throw fail(
      `the secret has no field "${name}" (its fields: ${keys}); fix "field" in the rule`,
    );
  }
  const v = cached.value[name];
  if (typeof v === "string") return { value: v, ...version };
  if (typeof v === "number") return { value: String(v), ...version };
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    return { value: v as Record<string, unknown>, ...version };
  }
  throw fail(
    `field "${name}" is ${
      v === null ? "null" : Array.isArray(v) ? "an array" : typeof v
    }, not a string`,
  );
}

/**
 * The headers a rule injects for a value: its auth header, then its static headers. The header
 * value, the bare credential and the sensitive static headers are added to `redactor`.
 *
 * @param rule A plan rule.
 * @param value The selected value.
 * @param reference The printable reference, for errors.
 * @param redactor Learns every credential form.
 * @returns `[name, value]` pairs.
 * @throws {SecretResolutionError} when the header cannot be built (missing field, empty value,
 *   CR/LF/NUL).
 */
export function buildRuleHeaders(
  rule: PlanRule,
  value: SecretValue,
  reference: string,
  redactor: Redactor,
): readonly (readonly [string, string])[] {
  const auth = buildAuthHeader(rule.auth, value, {
    rule: rule.label,
    provider: rule.provider,
    reference,
  });
  redactor.add(auth[1]);
  const credential = auth[1].replace(/^(Bearer|Basic) /, "");
  redactor.add(credential);
  for (const name of rule.sensitiveHeaders) redactor.add(rule.headers[name]);
  return [auth, ...Object.entries(rule.headers)];
}
