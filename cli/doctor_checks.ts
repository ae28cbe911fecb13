/**
 * `doctor`'s checks of one host rule: rule matched, provider reachable and authenticated, secret
 * read and shaped as the auth spec needs, header built, then the live call.
 *
 * @module
 */

import { templateFields } from "../profile/auth_spec.ts";
import { OAuth2TokenError } from "../engine/oauth2.ts";
import type { Plan, PlanRule } from "../profile/plan.ts";
import { SecretResolutionError } from "../core/errors.ts";
import type { SecretResolver } from "../engine/resolver.ts";
import { expiryTtlMs, rotationTtlMs } from "../engine/_expiry.ts";
import { formatDuration } from "../core/duration.ts";
import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";
import type { SecretValue } from "../providers/types.ts";
import { liveBase, liveCall, type LiveCallContext } from "./doctor_live_call.ts";
import {
  elapsed,
  plural,
  type Reporter,
  type StepHandle,
  type StepName,
  type StepResult,
  type TargetResult,
} from "./doctor_report.ts";
import { loadSdks } from "./_sdk.ts";

/** What the checks of every target share. */
export interface CheckContext extends LiveCallContext {
  /** The plan the profile was turned into. */
  readonly plan: Plan;
  /** The resolver the middleware uses, so a checked secret is the one requests get. */
  readonly resolver: SecretResolver;
  /** Where the steps are printed. */
  readonly out: Reporter;
}

/**
 * Checks one rule, step by step: rule, provider (its SDK loads, it answers the read), secret
 * (the fields the auth spec needs, its version), header (type and length only), then the live
 * call, unless the rule is a wildcard and no URL was given. A failed step skips the rest.
 *
 * @param ctx The plan, resolver, middleware and reporter shared by every target.
 * @param target What the report calls it: `hosts[i]` or the redacted URL.
 * @param rule The rule.
 * @param url The URL given with `--url`, if any.
 * @returns The target's steps and verdict.
 */
export async function checkTarget(
  ctx: CheckContext,
  target: string,
  rule: PlanRule,
  url: URL | undefined,
): Promise<TargetResult> {
  const { out, now, resolver } = ctx;
  const steps: StepResult[] = [];
  const record = (r: StepResult, handle: StepHandle): void => {
    steps.push(r);
    handle.end(r);
  };
  // An oauth2 rule has one more step: the token request, between the secret and the header.
  const oauth2 = rule.auth.type === "oauth2_client_credentials";
  const skipRest = (from: StepName[], why: string): void => {
    const names = oauth2 && !steps.some((s) => s.step === "token")
      ? from.flatMap((n): StepName[] => n === "header" ? ["token", n] : [n])
      : from;
    for (const name of names) {
      const r: StepResult = { step: name, status: "skip", ms: 0, detail: "not run", cause: why };
      steps.push(r);
      out.line(r);
    }
  };
  const done = (): TargetResult => ({
    target,
    rule: rule.label,
    status: steps.some((s) => s.status === "fail")
      ? "fail"
      : steps.some((s) => s.status !== "pass")
      ? "warn"
      : "pass",
    steps,
  });

  // 2. Rule.
  record({
    step: "rule",
    status: "pass",
    ms: 0,
    detail: `${rule.label}, provider "${rule.provider}" (${rule.providerKind}); leak guard ${
      LEAK_GUARD_TEXT[rule.leakGuard]
    }`,
  }, out.start("rule"));

  // 3. Provider: instance, SDK, then the first resolution decides reachability and auth.
  let h = out.start("provider");
  let t0 = now();
  let reference: string;
  try {
    reference = resolver.describe(rule);
  } catch (error) {
    record(failure("provider", t0, now, ctx, error), h);
    skipRest(["secret", "header", "server"], "the provider is not usable");
    return done();
  }
  const sdks = await loadSdks(rule.providerKind, now);
  const broken = sdks.find((s) => !s.loaded);
  if (broken !== undefined) {
    record({
      step: "provider",
      status: "fail",
      ms: elapsed(t0, now),
      detail: `${rule.provider} (${rule.providerKind})`,
      cause: `its SDK "${broken.package}" does not load: ${
        ctx.redactor.redact(broken.error ?? "")
      }`,
      hint:
        "fill Deno's cache with the locked packages once, with the npm registry reachable (from a checkout: `deno install --frozen --entrypoint cli.ts deps/*.ts`), or build a bundle for a host without one",
    }, h);
    skipRest(["secret", "header", "server"], "the provider is not usable");
    return done();
  }
  const sdkMs = elapsed(t0, now);
  const sdkText = sdks.length === 0
    ? "no SDK needed"
    : `SDK ${sdks.map((s) => s.package).join(", ")} loaded in ${sdkMs} ms`;
  // The provider answered unless the read failed at the provider itself.
  const providerAnswered: StepResult = {
    step: "provider",
    status: "pass",
    ms: sdkMs,
    detail: `${rule.provider} (${rule.providerKind}): ${sdkText}; it answered`,
  };
  t0 = now();
  let secret: {
    value: SecretValue;
    version?: string;
    expiresAt?: number;
    rotatesAt?: number;
    limitedUntil?: number;
  };
  try {
    secret = await resolver.secretFor(rule);
  } catch (error) {
    const where = classifyResolution(error);
    if (where === "provider") {
      record(failure("provider", t0, now, ctx, error, sdkMs), h);
      skipRest(["secret", "header", "server"], "the provider did not answer the read");
      return done();
    }
    record(providerAnswered, h);
    record(
      { ...failure("secret", t0, now, ctx, error, 0, rule), detail: `${reference}: not usable` },
      out.start("secret"),
    );
    skipRest(["header", "server"], "no secret");
    return done();
  }
  const readMs = elapsed(t0, now);
  record(providerAnswered, h);

  // 4. Secret: shape, the fields the auth spec needs, version.
  h = out.start("secret");
  const fieldProblem = missingFields(rule, secret.value);
  const version = secret.version !== undefined
    ? `version "${ctx.redactor.redact(secret.version)}"`
    : "no version reported";
  const bound = cacheBound(rule, secret, Date.now());
  if (fieldProblem !== undefined) {
    record({
      step: "secret",
      status: "fail",
      ms: readMs,
      detail: `${reference}: ${shape(secret.value)}; ${version}`,
      cause: fieldProblem.cause,
      hint: fieldProblem.hint,
    }, h);
    skipRest(["header", "server"], "no usable secret");
    return done();
  }
  const expired = secret.expiresAt !== undefined && secret.expiresAt <= Date.now();
  record({
    step: "secret",
    status: expired ? "warn" : "pass",
    ms: readMs,
    ...(expired
      ? {
        cause: "the secret carries its own expiry, and it has passed: the server will refuse it",
        hint: "rotate it at the source (issue a new token or set a later expiry)",
      }
      : {}),
    detail: `${reference}: ${shape(secret.value)}; ${
      neededText(rule, secret.value)
    }; ${version}; ${bound}`,
  }, h);

  // 4b. Access token (oauth2 rules): one token request; a failure names the token URL and the
  // identity provider's error code.
  if (rule.auth.type === "oauth2_client_credentials") {
    const auth = rule.auth;
    h = out.start("token");
    t0 = now();
    try {
      await resolver.headersFor(rule);
      record({
        step: "token",
        status: "pass",
        ms: elapsed(t0, now),
        detail: `from ${auth.tokenUrl} (client auth ${auth.clientAuth}${
          auth.scope !== undefined ? `, scope "${auth.scope}"` : ""
        })`,
      }, h);
    } catch (error) {
      record({ ...failure("token", t0, now, ctx, error), detail: `none from ${auth.tokenUrl}` }, h);
      skipRest(["header", "server"], "no access token");
      return done();
    }
  }

  // 5. Header: type and length only.
  h = out.start("header");
  t0 = now();
  try {
    const built = await resolver.headersFor(rule);
    const [name, value] = built.headers[0]!;
    const extra = built.headers.slice(1).map(([n]) => n);
    record({
      step: "header",
      status: "pass",
      ms: elapsed(t0, now),
      detail: `${name}: ${rule.auth.type}, ${value.length} chars${
        extra.length ? `; static headers ${extra.join(", ")}` : ""
      }`,
    }, h);
  } catch (error) {
    record(failure("header", t0, now, ctx, error), h);
    skipRest(["server"], "no header");
    return done();
  }

  // 6. Live call through the middleware.
  const base = liveBase(rule, url);
  if (base === undefined) {
    const r: StepResult = {
      step: "server",
      status: "warn",
      ms: 0,
      detail: "skipped",
      cause: `"${rule.match}" is a wildcard rule: there is no single server to call`,
      hint: `pass the tracking URL, e.g. --url ${rule.pattern.canonical.replace("*.", "mlflow.")}`,
    };
    steps.push(r);
    out.line(r);
    return done();
  }
  h = out.start("server");
  record(await liveCall(ctx, base, rule), h);
  return done();
}

function classifyResolution(error: unknown): "provider" | "secret" {
  if (!(error instanceof SecretResolutionError)) return "provider";
  if (error.field !== undefined) return "secret";
  if (error.status === 404) return "secret";
  return "provider";
}

function failure(
  step: StepName,
  t0: number,
  now: () => number,
  ctx: CheckContext,
  error: unknown,
  extraMs = 0,
  rule?: PlanRule,
): StepResult {
  const message = ctx.redactor.redact(error instanceof Error ? error.message : String(error));
  let hint: string;
  if (error instanceof OAuth2TokenError) {
    hint = error.oauthError === "invalid_client"
      ? "the identity provider refused the client id or secret: check the values stored in the secret, and client_auth (basic or body)"
      : error.oauthError === "invalid_scope"
      ? "ask for a scope the client may have (scope in the rule), or allow it at the identity provider"
      : error.transient
      ? "the token endpoint is unreachable or failing: check token_url, the network, and the identity provider's status"
      : "check token_url, scope, audience and client_auth against the client registered at the identity provider";
  } else if (error instanceof SecretResolutionError) {
    if (/CR, LF or NUL/.test(error.reason)) {
      hint =
        "remove line breaks from the stored secret (a trailing newline from `echo` is a common cause)";
    } else if (error.field !== undefined) {
      hint = `store the field in the secret, or name the right one in the rule (${
        rule === undefined ? "field, or the auth's field settings" : fieldSettings(rule, true)
      })`;
    } else if (error.status === 401 || error.status === 403) {
      hint =
        "the provider refused this identity: check its credentials and the policy on the secret";
    } else if (error.status === 404) {
      hint = "check the secret reference in the rule, and that the secret exists";
    } else if (error.transient) {
      hint =
        "the provider is unreachable or failing: check its address, the network, and its status";
    } else {
      hint = "check the provider block and the secret reference in the profile";
    }
  } else {
    hint =
      "this looks like a bug or an environment problem; rerun with MLFLOW_SECRETS_AUTH_LOG_LEVEL=debug";
  }
  return {
    step,
    status: "fail",
    ms: elapsed(t0, now) + extraMs,
    detail: step === "provider" ? "provider failed" : `${step} failed`,
    cause: message,
    hint,
  };
}

/** The fields the auth spec needs from this value, or what is missing. */
function missingFields(
  rule: PlanRule,
  value: SecretValue,
): { cause: string; hint: string } | undefined {
  const auth = rule.auth;
  if (typeof value === "string" && value.trim() === "") {
    return { cause: "the secret is empty (or only white space)", hint: emptySecretHint(rule) };
  }
  if (typeof value === "string") {
    if (auth.type === "oauth2_client_credentials") {
      return {
        cause:
          `an oauth2_client_credentials rule needs a JSON object with "${auth.clientIdField}" and "${auth.clientSecretField}" fields, and the secret is a plain string`,
        hint: `store {"${auth.clientIdField}": ..., "${auth.clientSecretField}": ...}`,
      };
    }
    if (auth.type === "basic" && value.indexOf(":") <= 0) {
      return {
        cause:
          'basic auth needs a "user:pass" string or a JSON object with user name and password fields, and the secret is a string without a colon',
        hint: 'store "user:pass" or {"username": ..., "password": ...}, or use auth: bearer',
      };
    }
    if (auth.type === "header") {
      const others = templateFields(auth.template).filter((f) => f !== "token");
      if (others.length > 0) {
        return {
          cause: `the header template uses ${
            others.map((f) => `{{${f}}}`).join(", ")
          } but the secret is a plain string`,
          hint: "store a JSON object with those fields, or use {{token}} only",
        };
      }
    }
    return undefined;
  }
  const needed = neededFields(rule);
  const absent = needed.filter((f) => {
    const v = value[f];
    return !(typeof v === "number" || (typeof v === "string" && v.trim() !== ""));
  });
  if (absent.length === 0) return undefined;
  const keys = Object.keys(value).map((k) => `"${k}"`).join(", ") || "none";
  return {
    cause: `the secret has no usable ${
      absent.length === 1 ? `"${absent[0]}" field` : `${quoteList(absent)} fields`
    } (its fields: ${keys})`,
    hint: `store the field in the secret, or name the right one in the rule (${
      fieldSettings(rule, false)
    })`,
  };
}

/** The rule settings that name the secret's fields, for a hint about a missing one. */
function fieldSettings(rule: PlanRule, withField: boolean): string {
  const auth = {
    bearer: "token_field",
    basic: "username_field, password_field",
    header: "the header template",
    oauth2_client_credentials: "client_id_field, client_secret_field",
  }[rule.auth.type];
  return withField ? `secret.field, ${auth}` : auth;
}

/** What to do about an empty secret, in the terms of the provider that returned it. */
function emptySecretHint(rule: PlanRule): string {
  switch (rule.providerKind) {
    case "env":
      return `the variable "${
        String(rule.secret.var)
      }" is set but empty: export the credential in it before starting`;
    case "file":
      return `the file "${String(rule.secret.path)}" is empty: write the credential into it`;
    default:
      return "store the credential in the secret: its value is empty";
  }
}

function quoteList(items: readonly string[]): string {
  const q = items.map((i) => `"${i}"`);
  return q.length <= 1 ? q.join("") : `${q.slice(0, -1).join(", ")} and ${q.at(-1)}`;
}

function neededFields(rule: PlanRule): string[] {
  const auth = rule.auth;
  switch (auth.type) {
    case "bearer":
      return [auth.tokenField];
    case "basic":
      return [auth.usernameField, auth.passwordField];
    case "header":
      return templateFields(auth.template);
    case "oauth2_client_credentials":
      return [auth.clientIdField, auth.clientSecretField];
  }
}

function neededText(rule: PlanRule, value: SecretValue): string {
  if (typeof value === "string") return "used whole";
  const f = neededFields(rule);
  return `fields present: ${f.join(", ")}`;
}

function shape(value: SecretValue): string {
  if (typeof value === "string") return "a string";
  const keys = Object.keys(value);
  return `a JSON object with ${plural(keys.length, "field")}`;
}

/** What each leak guard mode does to a write that carries a managed secret. */
const LEAK_GUARD_TEXT: Readonly<Record<PlanRule["leakGuard"], string>> = {
  block: "block",
  warn: "warn (a write carrying a managed secret is sent, with a warning)",
  off: "OFF (writes are not checked for managed secrets)",
};

/**
 * Which bound keeps the secret in the cache: the rule's ttl, the secret's own expiry (a JWT's
 * `exp`, a Key Vault `expires` attribute), the provider's own limit (a Vault KV v1 lease, the
 * Vault token's remaining TTL), or its source's next scheduled rotation (an AWS rotation
 * schedule), whichever comes first.
 */
function cacheBound(
  rule: PlanRule,
  secret: {
    readonly expiresAt?: number;
    readonly rotatesAt?: number;
    readonly limitedUntil?: number;
  },
  now: number,
): string {
  const ttl = `ttl ${formatDuration(rule.cache.ttlMs)} (rule)`;
  const { expiresAt, rotatesAt, limitedUntil } = secret;
  const rotation = rotatesAt === undefined ? Infinity : rotationTtlMs(rotatesAt, now);
  if (expiresAt !== undefined && expiresAt <= now) {
    return `EXPIRED at ${new Date(expiresAt).toISOString()}`;
  }
  const limit = limitedUntil === undefined ? Infinity : Math.max(0, limitedUntil - now);
  const expiry = expiresAt === undefined ? Infinity : expiryTtlMs(expiresAt, now);
  // A limit within a second of the expiry's bound is that bound (the load computed it).
  if (limit < rule.cache.ttlMs && limit < rotation && limit < expiry - 1_000) {
    return `cached for at most ${
      formatDuration(Math.max(1, Math.round(limit / 1_000)) * 1_000)
    } (until ${new Date(limitedUntil!).toISOString()}), the provider's own limit (${
      PROVIDER_DESCRIPTORS.get(rule.providerKind)?.secretFacts?.limit ?? "a lease or a token TTL"
    }), not the ${ttl}`;
  }
  if (expiresAt !== undefined) {
    const at = new Date(expiresAt).toISOString();
    if (expiresAt - now <= 0) return `EXPIRED at ${at}`;
    const expiry = expiryTtlMs(expiresAt, now);
    if (expiry < rule.cache.ttlMs && expiry <= rotation) {
      return `cached until shortly before the secret's expiry at ${at}, not the ${ttl}`;
    }
    if (rotation >= rule.cache.ttlMs) return `cached by ${ttl}; the secret expires later, at ${at}`;
  }
  if (rotatesAt === undefined) return `cached by ${ttl}`;
  const at = new Date(rotatesAt).toISOString();
  if (rotatesAt <= now) {
    return `the rotation scheduled by ${at} is late (no new version yet): read again every ${
      formatDuration(Math.min(Math.ceil(rotation / 1_000) * 1_000, rule.cache.ttlMs))
    } until it shows up; check the secret's rotation function if this lasts`;
  }
  return rotation < rule.cache.ttlMs
    ? `read again by the secret's next scheduled rotation at ${at}, not the ${ttl}`
    : `cached by ${ttl}; the next scheduled rotation is later, at ${at}`;
}
