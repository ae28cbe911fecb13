/**
 * Profile validation: the JSON Schema (every issue, with a JSON pointer and line:column), then
 * the checks a schema cannot express.
 *
 * @module
 */

import type { ErrorObject, ValidateFunction } from "../deps/ajv.ts";
import * as compiled from "./_profile_validator.js";
import schema from "../schema/profile.schema.json" with { type: "json" };
import type { ProfileIssue } from "../core/errors.ts";
import { compileHostPattern, isLoopbackHost } from "./host_match.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { escapePointer } from "./yaml_source.ts";
import { authHeaderName, compileAuthSpec, isSafeHeaderValue } from "./auth_spec.ts";
import type { ProfileData } from "./types.ts";
import type { SourcePosition } from "./yaml_source.ts";

/** The profile JSON Schema. */
export const PROFILE_SCHEMA: Readonly<Record<string, unknown>> = schema;

/** The provider kinds the schema allows. */
export const SCHEMA_KINDS: readonly string[] =
  (schema.$defs.provider.properties.kind.enum as string[]).slice();

interface Validators {
  readonly profile: ValidateFunction;
  readonly provider: ValidateFunction;
  readonly secret: ReadonlyMap<string, ValidateFunction>;
}

let validators: Validators | undefined;

/**
 * The schema's validators, compiled ahead of time (`deno task gen:validator`; a test fails when
 * `_profile_validator.js` is out of date with the schema).
 */
function getValidators(): Validators {
  if (validators !== undefined) return validators;
  const byName = compiled as Readonly<Record<string, ValidateFunction | undefined>>;
  const secret = new Map<string, ValidateFunction>();
  for (const kind of SCHEMA_KINDS) {
    const check = byName[`secret_${kind.replaceAll("-", "_")}`];
    if (check === undefined) throw new Error(`No compiled validator for kind "${kind}"`);
    secret.set(kind, check);
  }
  validators = { profile: compiled.profile, provider: compiled.provider, secret };
  return validators;
}

/** Finds where a pointer (or a key inside it) was written. */
export type Locate = (pointer: string, key?: string) => SourcePosition | undefined;

/**
 * Validates interpolated profile data.
 *
 * @param data Plain data.
 * @param locate Maps pointers to positions.
 * @param providers Provider factories by kind: each block of a known kind also gets its factory's
 *   `check`. Default none (the schema's checks only).
 * @returns Every issue found; empty when the profile is valid.
 *
 * @example
 * ```ts
 * import { validateProfileData } from "./validate.ts";
 * const issues = validateProfileData({ version: 2 }, () => undefined);
 * if (!issues.some((i) => i.pointer === "/version")) throw new Error("version not reported");
 * ```
 */
export function validateProfileData(
  data: unknown,
  locate: Locate,
  providers: ReadonlyMap<string, ProviderFactory> = new Map(),
): ProfileIssue[] {
  const v = getValidators();
  const issues: ProfileIssue[] = [];
  if (!v.profile(data)) issues.push(...schemaIssues(v.profile.errors ?? [], data, "", locate));
  issues.push(...semanticIssues(data as ProfileData, v, locate, providers));
  return indentationHints(data, dedupe(issues), locate);
}

/**
 * Adds a hint where a key most likely lost its indentation: an empty key (`ci:` with nothing
 * after it) followed, at the same column, by a key that is then reported where it does not
 * belong (`kind:` beside `ci:` instead of inside it).
 */
function indentationHints(data: unknown, issues: ProfileIssue[], locate: Locate): ProfileIssue[] {
  const hints = new Map<ProfileIssue, string>();
  const visit = (value: unknown, pointer: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, `${pointer}/${i}`));
      return;
    }
    if (!isObject(value)) return;
    const keys = Object.keys(value);
    keys.forEach((key, i) => {
      const next = keys[i + 1];
      if (value[key] === null && next !== undefined) {
        const empty = locate(pointer, key);
        const stray = locate(pointer, next);
        if (
          empty !== undefined && stray !== undefined && stray.line > empty.line &&
          stray.column === empty.column
        ) {
          const strayPointer = `${pointer}/${escapePointer(next)}`;
          const emptyPointer = `${pointer}/${escapePointer(key)}`;
          for (const issue of issues) {
            const atStray = issue.pointer === strayPointer ||
              issue.pointer.startsWith(`${strayPointer}/`) ||
              (issue.pointer === pointer && issue.line === stray.line &&
                issue.column === stray.column);
            if (atStray) {
              hints.set(
                issue,
                `"${next}" on line ${stray.line} is indented like "${key}" on line ${empty.line}, so it is beside "${key}", not inside it; indent it more if it belongs to "${key}"`,
              );
            } else if (issue.pointer === emptyPointer && !hints.has(issue)) {
              hints.set(
                issue,
                `"${key}" is empty: the lines after it are not indented under it`,
              );
            }
          }
        }
      }
      visit(value[key], `${pointer}/${escapePointer(key)}`);
    });
  };
  visit(data, "");
  return issues.map((i) => {
    const hint = hints.get(i);
    return hint === undefined ? i : { ...i, message: `${i.message}; ${hint}` };
  });
}

function semanticIssues(
  data: ProfileData,
  v: Validators,
  locate: Locate,
  providers: ReadonlyMap<string, ProviderFactory>,
): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  const at = (pointer: string, message: string, rule: string, key?: string): void => {
    issues.push(withPosition({ pointer, message, rule }, locate, key));
  };
  // Runs on schema-invalid data too, so that every issue is listed at once: guard each shape.
  if (!isObject(data) || !isObject(data.providers) || !Array.isArray(data.hosts)) return issues;
  const declared = Object.keys(data.providers);
  const seen = new Map<string, number>();
  data.hosts.forEach((rule, i) => {
    const base = `/hosts/${i}`;
    if (!isObject(rule) || typeof rule.provider !== "string" || typeof rule.match !== "string") {
      return;
    }
    const provider = Object.hasOwn(data.providers, rule.provider)
      ? data.providers[rule.provider]
      : undefined;
    if (provider === undefined) {
      at(
        `${base}/provider`,
        `provider "${rule.provider}" is not declared under providers; declare it or use one of: ${
          declared.map((d) => `"${d}"`).join(", ")
        }`,
        "provider-declared",
      );
    } else {
      const check = isObject(provider) ? v.secret.get(String(provider.kind)) : undefined;
      if (check !== undefined && isObject(rule.secret) && !check(rule.secret)) {
        issues.push(
          ...schemaIssues(check.errors ?? [], rule.secret, `${base}/secret`, locate).map((x) => ({
            ...x,
            message: `${x.message} (${aOrAn(String(provider.kind))} secret reference)`,
          })),
        );
      }
    }
    let canonical: string | undefined;
    try {
      const p = compileHostPattern(rule.match);
      canonical = p.canonical;
      if (isObject(rule.tls)) {
        const tls = rule.tls;
        if ((tls.client_cert === undefined) !== (tls.client_key === undefined)) {
          at(
            `${base}/tls`,
            `tls.${
              tls.client_cert === undefined ? "client_key" : "client_cert"
            } is set without tls.${
              tls.client_cert === undefined ? "client_cert" : "client_key"
            }: they go together; set both (the same file when it holds certificate and key) or neither`,
            "tls-pair",
          );
        }
        if (p.protocol === "http:") {
          at(
            `${base}/tls`,
            `tls settings need an https:// match, not "${rule.match}": plain http has no TLS; use https:// or remove tls`,
            "tls-https",
          );
        }
      }
      if (
        p.protocol === "http:" && !isLoopbackHost(writtenHostname(rule.match)) &&
        rule.allow_insecure_http !== true
      ) {
        at(
          `${base}/match`,
          `"${rule.match}" sends credentials over plain http to a non-loopback host; use https, or set allow_insecure_http: true on this rule if you accept that`,
          "insecure-http",
        );
      }
    } catch (e) {
      at(`${base}/match`, (e as Error).message, "match-pattern");
    }
    if (canonical !== undefined) {
      const first = seen.get(canonical);
      if (first !== undefined) {
        at(
          `${base}/match`,
          `"${rule.match}" is the same match as hosts[${first}]; merge the two rules or make one more specific`,
          "unique-match",
        );
      } else {
        seen.set(canonical, i);
      }
    }
    const authName = validAuth(rule.auth)
      ? authHeaderName(compileAuthSpec(rule.auth)).toLowerCase()
      : "authorization";
    const headers = isObject(rule.headers) ? rule.headers : {};
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== "string") continue;
      const lower = name.toLowerCase();
      if (FORBIDDEN_HEADERS.has(lower)) {
        at(
          `${base}/headers`,
          `header "${name}" cannot be set by a rule; remove it`,
          "header-name",
          name,
        );
      } else if (lower === authName) {
        at(
          `${base}/headers`,
          `header "${name}" is already set by auth; remove it from headers`,
          "header-name",
          name,
        );
      }
      if (!isSafeHeaderValue(value)) {
        at(
          `${base}/headers/${name}`,
          `header "${name}" contains a character a header cannot carry (a line break, a control character, or a character beyond Latin-1)`,
          "header-value",
        );
      }
    }
    if (
      isObject(rule.auth) && rule.auth.type === "header" && typeof rule.auth.name === "string" &&
      typeof rule.auth.value === "string"
    ) {
      if (FORBIDDEN_HEADERS.has(rule.auth.name.toLowerCase())) {
        at(
          `${base}/auth/name`,
          `header "${rule.auth.name}" cannot carry a credential; pick another name`,
          "header-name",
        );
      }
      if (!/\{\{\s*[^{}\s]+\s*\}\}/.test(rule.auth.value)) {
        at(
          `${base}/auth/value`,
          'the template has no placeholder, so the secret would never be sent; write e.g. "{{token}}"',
          "header-template",
        );
      } else if (!isSafeHeaderValue(rule.auth.value)) {
        at(
          `${base}/auth/value`,
          "the template contains a character a header cannot carry (a line break, a control character, or a character beyond Latin-1)",
          "header-template",
        );
      }
    }
    if (isObject(rule.auth) && rule.auth.type === "oauth2_client_credentials") {
      for (const issue of oauth2Issues(rule.auth)) {
        at(`${base}/auth/${issue.key}`, issue.message, issue.rule);
      }
    }
  });
  for (const [name, provider] of Object.entries(data.providers)) {
    if (!isObject(provider) || typeof provider.kind !== "string") continue;
    // A provider's own checks assume the shape the schema guarantees: run them on valid blocks.
    if (!v.provider(provider)) continue;
    const factory = providers.get(provider.kind);
    for (const issue of factory?.check?.(provider) ?? []) {
      at(`/providers/${escapePointer(name)}${issue.pointer}`, issue.message, "provider-config");
    }
  }
  return issues;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function validAuth(auth: unknown): boolean {
  if (auth === "bearer" || auth === "basic") return true;
  if (!isObject(auth)) return false;
  if (auth.type === "header") {
    return typeof auth.name === "string" && typeof auth.value === "string";
  }
  return auth.type === "bearer" || auth.type === "basic" ||
    auth.type === "oauth2_client_credentials";
}

/**
 * What the schema cannot say about an oauth2_client_credentials rule: the token URL must be https
 * (or http on loopback) with no user info or fragment, the resource indicator an absolute URI
 * without a fragment (RFC 8707).
 */
function oauth2Issues(
  auth: Record<string, unknown>,
): { key: string; message: string; rule: string }[] {
  const out: { key: string; message: string; rule: string }[] = [];
  if (typeof auth.token_url === "string") {
    let url: URL | undefined;
    try {
      url = new URL(auth.token_url);
    } catch {
      out.push({
        key: "token_url",
        message:
          `"${auth.token_url}" is not an absolute URL; write the token endpoint, e.g. https://idp.example.com/oauth2/token`,
        rule: "token-url",
      });
    }
    if (url !== undefined) {
      if (
        url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))
      ) {
        out.push({
          key: "token_url",
          message: `"${auth.token_url}" would send the client secret ${
            url.protocol === "http:"
              ? "over plain http to a non-loopback host"
              : `over ${url.protocol}`
          }; use an https token endpoint (http only on loopback)`,
          rule: "token-url",
        });
      } else if (url.username !== "" || url.password !== "") {
        out.push({
          key: "token_url",
          message:
            "the token URL carries user info; remove it (the client id and secret come from the secret)",
          rule: "token-url",
        });
      } else if (url.hash !== "" || auth.token_url.includes("#")) {
        out.push({
          key: "token_url",
          message: "the token URL has a fragment; remove it",
          rule: "token-url",
        });
      }
    }
  }
  if (typeof auth.resource === "string") {
    let ok = false;
    try {
      ok = !auth.resource.includes("#") && new URL(auth.resource).protocol !== "";
    } catch {
      ok = false;
    }
    if (!ok) {
      out.push({
        key: "resource",
        message:
          `"${auth.resource}" is not an absolute URI without a fragment (RFC 8707); write the tracking server's identifier, e.g. https://mlflow.example.com`,
        rule: "oauth2-resource",
      });
    }
  }
  return out;
}

const FORBIDDEN_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "upgrade",
  "te",
  "trailer",
  "keep-alive",
  "proxy-authorization",
  "cookie",
]);

function schemaIssues(
  errors: readonly ErrorObject[],
  data: unknown,
  prefix: string,
  locate: Locate,
): ProfileIssue[] {
  // A failed oneOf reports every branch; keep only the branch the value aimed at, or one
  // summary line.
  const oneOfPaths = new Set(
    errors.filter((e) => e.keyword === "oneOf").map((e) => e.instancePath),
  );
  const out: ProfileIssue[] = [];
  for (const e of errors) {
    if (e.keyword === "if") continue;
    const owner = [...oneOfPaths].find((p) =>
      e.instancePath === p || e.instancePath.startsWith(`${p}/`)
    );
    if (owner !== undefined) {
      const value = valueAt(data, owner);
      const type = value !== null && typeof value === "object"
        ? (value as { type?: unknown }).type
        : undefined;
      if (e.keyword === "oneOf") {
        if (typeof type === "string" && ["bearer", "basic", "header"].includes(type)) continue;
        out.push(issue(e, prefix, locate, oneOfMessage(e)));
        continue;
      }
      if (typeof type !== "string" || !e.schemaPath.includes(`/auth_${type}/`)) continue;
    }
    out.push(issue(e, prefix, locate, messageFor(e)));
  }
  return out;
}

function issue(e: ErrorObject, prefix: string, locate: Locate, message: string): ProfileIssue {
  const pointer = `${prefix}${e.instancePath}`;
  const key = e.keyword === "additionalProperties"
    ? String(e.params.additionalProperty)
    : e.keyword === "propertyNames"
    ? String(e.params.propertyName)
    : undefined;
  return withPosition({ pointer, message, rule: e.keyword }, locate, key);
}

function withPosition(i: ProfileIssue, locate: Locate, key?: string): ProfileIssue {
  const pos = locate(i.pointer, key);
  return pos === undefined ? i : { ...i, line: pos.line, column: pos.column };
}

function oneOfMessage(e: ErrorObject): string {
  if (e.schemaPath.includes("duration")) {
    return 'must be a duration: a number of seconds or a string such as "500ms", "30s", "5m", "1h"';
  }
  if (e.instancePath.endsWith("/auth")) {
    return 'must be "bearer", "basic", or an object with type "bearer", "basic", "header" or "oauth2_client_credentials"';
  }
  return "does not match any allowed form";
}

function messageFor(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return `missing required property "${p.missingProperty}"; add it`;
    case "additionalProperties": {
      const allowed = Object.keys(
        ((e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties) ??
          {},
      );
      return `unknown property "${p.additionalProperty}"; ${
        allowed.length > 0 ? `allowed here: ${allowed.join(", ")}` : "remove it"
      }`;
    }
    case "enum":
      return `must be one of ${
        (p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(", ")
      }`;
    case "const":
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case "type":
      return `must be ${aOrAn(String(p.type))}`;
    case "propertyNames":
      return `name "${p.propertyName}" is not allowed: ${
        (e.parentSchema as { propertyNames?: { description?: string } } | undefined)?.propertyNames
          ?.description ?? "check its characters"
      }`;
    case "pattern":
      return `must match ${p.pattern}`;
    default:
      return e.message ?? e.keyword;
  }
}

function aOrAn(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function valueAt(data: unknown, pointer: string): unknown {
  if (pointer === "") return data;
  let node: unknown = data;
  for (const seg of pointer.slice(1).split("/")) {
    const key = seg.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function dedupe(issues: ProfileIssue[]): ProfileIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.pointer}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The host of a rule's match as written: the compiled pattern drops a trailing dot, URL keeps it. */
function writtenHostname(match: string): string {
  try {
    return new URL(match.trim()).hostname;
  } catch {
    return "";
  }
}
