/**
 * `explain`: which rule matches a URL and which headers it would inject, shown redacted. Never
 * resolves a secret.
 *
 * @module
 */

import { createPlan, matchRule, type Plan, type PlanRule } from "../profile/plan.ts";
import { formatDuration } from "../core/duration.ts";
import type { AuthSpec } from "../profile/auth_spec.ts";
import { UsageError } from "./errors.ts";
import { invalidUrlCause, maskUserinfo } from "../core/_display_url.ts";
import type { Profile } from "../profile/profile.ts";
import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";
import type { CliIo } from "./io.ts";
import { type EmbeddedProfile, loadCliProfile } from "./load.ts";

/** Options of {@linkcode runExplain}. */
export interface ExplainOptions {
  readonly profile?: string | undefined;
  /** The artifact's embedded profile (see {@linkcode loadCliProfile}). */
  readonly embedded?: EmbeddedProfile | undefined;
  readonly url?: readonly string[] | undefined;
  readonly json?: boolean | undefined;
  /** A profile to use instead of loading one (e.g. built from environment variables). */
  readonly loaded?: Profile | undefined;
}

/** A rule, described without secrets. */
export interface RuleSummary {
  readonly rule: string;
  readonly index: number;
  readonly match: string;
  readonly canonical: string;
  readonly provider: string;
  readonly kind: string;
  readonly secret: Readonly<Record<string, unknown>>;
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly cache: {
    readonly ttl: string;
    readonly refresh_ahead: string;
    readonly stale_if_error: string;
    /**
     * What can end a cache entry before the ttl: the secret's own expiry or renewal point, where
     * the kind carries one, and a JWT's `exp` in the value. Stated from the profile; `doctor`
     * says which one applied to the secret it read.
     */
    readonly bounded_by: readonly string[];
  };
  /**
   * What the version shown in the access log, the `…_secret_version_info` metric and `doctor`
   * is for this rule's secret; null when the kind reports none.
   */
  readonly version: string | null;
  readonly retry: {
    readonly attempts: number;
    readonly attempt_timeout: string;
    readonly deadline: string;
  };
  readonly refresh_on: readonly number[];
  readonly leak_guard: string;
  /** The grant of an `oauth2_client_credentials` rule: where and how, never a value. */
  readonly oauth2?: {
    readonly token_url: string;
    readonly client_id_field: string;
    readonly client_secret_field: string;
    readonly scope?: string;
    readonly audience?: string;
    readonly resource?: string;
    readonly client_auth: "basic" | "body";
  };
  /** The rule's TLS files (paths; never their contents), when it has `tls:` settings. */
  readonly tls?: {
    readonly ca_cert?: string;
    readonly client_cert?: string;
    readonly client_key?: string;
  };
}

/**
 * Explains the profile, or the rule a URL gets.
 *
 * @param options Flags.
 * @param io Streams.
 * @returns 0, or 1 when a given URL matches no rule.
 */
export async function runExplain(options: ExplainOptions, io: CliIo): Promise<number> {
  const profile = options.loaded ??
    (await loadCliProfile(options.profile, io, { embedded: options.embedded })).profile;
  const plan = createPlan(profile);
  const urls = options.url ?? [];
  if (urls.length === 0) {
    const rules = plan.rules.map((r) => summarise(r, plan.providers[r.provider]));
    if (options.json) {
      io.stdout(JSON.stringify({ file: plan.source, rules }, null, 2) + "\n");
    } else {
      io.stdout(`${plan.source}: ${rules.length} rule(s), most specific first\n`);
      for (const r of rules) io.stdout(formatRule(r));
    }
    return 0;
  }
  const results = urls.map((u) => explainUrl(plan, u));
  if (options.json) {
    io.stdout(JSON.stringify({ file: plan.source, results }, null, 2) + "\n");
  } else {
    for (const r of results) {
      if (r.rule === null) {
        io.stdout(`${r.url}\n  no rule matches: sent untouched, no credentials (${r.reason})\n`);
      } else {
        io.stdout(`${r.url}\n  matched ${formatRule(r.rule).trimStart()}`);
      }
    }
  }
  return results.every((r) => r.rule !== null) ? 0 : 1;
}

function explainUrl(
  plan: Plan,
  text: string,
): { url: string; rule: RuleSummary | null; reason?: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `Cannot explain "${
        maskUserinfo(text)
      }": it is not an absolute URL; pass e.g. https://mlflow.company.com/`,
      { cause: invalidUrlCause(text) },
    );
  }
  const shown = redactUrl(url);
  if (url.username !== "" || url.password !== "") {
    return { url: shown, rule: null, reason: "the URL has userinfo, which never gets a secret" };
  }
  const rule = matchRule(plan, url);
  if (rule === undefined) return { url: shown, rule: null, reason: "no match pattern covers it" };
  return { url: shown, rule: summarise(rule, plan.providers[rule.provider]) };
}

/** What a JWT's `exp` in the value does, for every kind. */
const JWT_BOUND = "a JWT's exp in the value";

/**
 * Describes a rule without resolving anything.
 *
 * @param rule A plan rule.
 * @param config The rule's provider block, for what its secrets carry about themselves.
 * @returns The summary.
 */
export function summarise(
  rule: PlanRule,
  config: Readonly<Record<string, unknown>> = {},
): RuleSummary {
  const facts = PROVIDER_DESCRIPTORS.get(rule.providerKind)?.secretFacts;
  return {
    rule: `hosts[${rule.index}]`,
    index: rule.index,
    match: rule.match,
    canonical: rule.pattern.canonical,
    provider: rule.provider,
    kind: rule.providerKind,
    secret: rule.secret,
    headers: [
      {
        name: rule.authHeader,
        value: rule.sensitiveAuthTemplate
          ? "<redacted: a template from the environment and the secret>"
          : headerShape(rule.auth),
      },
      ...Object.entries(rule.headers).map(([name, value]) => ({
        name,
        value: rule.sensitiveHeaders.has(name) ? "<redacted: from the environment>" : value,
      })),
    ],
    cache: {
      ttl: formatDuration(rule.cache.ttlMs),
      refresh_ahead: formatDuration(rule.cache.refreshAheadMs),
      stale_if_error: formatDuration(rule.cache.staleIfErrorMs),
      bounded_by: [...(facts?.expiry(config, rule.secret) ?? []), JWT_BOUND],
    },
    version: facts?.version(config, rule.secret) ?? null,
    retry: {
      attempts: rule.retry.attempts,
      attempt_timeout: formatDuration(rule.retry.attemptTimeoutMs),
      deadline: formatDuration(rule.retry.deadlineMs),
    },
    refresh_on: rule.refreshOn,
    leak_guard: rule.leakGuard,
    ...(rule.auth.type === "oauth2_client_credentials"
      ? {
        oauth2: {
          token_url: rule.auth.tokenUrl,
          client_id_field: rule.auth.clientIdField,
          client_secret_field: rule.auth.clientSecretField,
          ...(rule.auth.scope !== undefined ? { scope: rule.auth.scope } : {}),
          ...(rule.auth.audience !== undefined ? { audience: rule.auth.audience } : {}),
          ...(rule.auth.resource !== undefined ? { resource: rule.auth.resource } : {}),
          client_auth: rule.auth.clientAuth,
        },
      }
      : {}),
    ...(rule.tls === undefined ? {} : {
      tls: {
        ...(rule.tls.caCert ? { ca_cert: rule.tls.caCert.path } : {}),
        ...(rule.tls.clientCert ? { client_cert: rule.tls.clientCert.path } : {}),
        ...(rule.tls.clientKey ? { client_key: rule.tls.clientKey.path } : {}),
      },
    }),
  };
}

function headerShape(auth: AuthSpec): string {
  switch (auth.type) {
    case "bearer":
      return `Bearer <redacted: secret${
        auth.tokenField === "token" ? "" : ` field "${auth.tokenField}"`
      }>`;
    case "basic":
      return `Basic <redacted: base64 of ${auth.usernameField}:${auth.passwordField}>`;
    case "header":
      return auth.template.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, "<redacted: $1>");
    case "oauth2_client_credentials":
      return `Bearer <redacted: access token from ${auth.tokenUrl}>`;
  }
}

function formatRule(r: RuleSummary): string {
  const secret = Object.entries(r.secret).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
  return [
    `  ${r.rule}  ${r.canonical}`,
    `    provider ${r.provider} (${r.kind}), secret ${secret}`,
    ...r.headers.map((h) => `    ${h.name}: ${h.value}`),
    ...(r.oauth2 !== undefined ? [oauth2Line(r.oauth2)] : []),
    `    cache ttl ${r.cache.ttl}, refresh ahead ${r.cache.refresh_ahead}, stale-if-error ${r.cache.stale_if_error}; retry ${r.retry.attempts} attempts; refresh on ${
      r.refresh_on.join(", ")
    }; leak guard ${r.leak_guard}`,
    `    cache ends sooner than the ttl at (whichever comes first): ${
      r.cache.bounded_by.join(", ")
    }`,
    `    version reported: ${r.version ?? "none for this secret"}`,
    ...(r.tls === undefined ? [] : [
      `    tls ${Object.entries(r.tls).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ")}`,
    ]),
    "",
  ].join("\n");
}

function oauth2Line(o: NonNullable<RuleSummary["oauth2"]>): string {
  const extra = [
    o.scope !== undefined ? `scope "${o.scope}"` : undefined,
    o.audience !== undefined ? `audience "${o.audience}"` : undefined,
    o.resource !== undefined ? `resource "${o.resource}"` : undefined,
  ].filter((x) => x !== undefined);
  return `    oauth2 client credentials at ${o.token_url}: client id from field "${o.client_id_field}", client secret from field "${o.client_secret_field}", client auth ${o.client_auth}${
    extra.length ? `; ${extra.join(", ")}` : ""
  }; the access token is cached until its expires_in or exp, less a skew`;
}

/** A URL for display: userinfo and query values masked. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.username !== "" || copy.password !== "") {
    copy.username = "***";
    copy.password = "";
  }
  for (const key of new Set(copy.searchParams.keys())) copy.searchParams.set(key, "***");
  // An opaque URL (`bob:pw@host` parses with scheme "bob:") keeps its "userinfo" in the path.
  return maskUserinfo(copy.href);
}
