/**
 * `doctor`: checks, step by step and with timings, that every host rule (or the rule of each
 * given URL) really works: profile valid → rule matched → provider reachable and authenticated →
 * secret read (fields present, version) → header built → a live call to the tracking server
 * through the same middleware MLflow requests go through.
 *
 * The verdict is meant to be believed: only a 200 with an MLflow JSON body passes the live call;
 * 401/403, other statuses, redirects (a cross-origin one drops the credentials), TLS errors,
 * timeouts and network errors fail with a cause and a hint. Nothing secret is printed: headers
 * are shown as a type and a length, URLs redacted, bodies never.
 *
 * The parts: this module runs the steps in order; `doctor_checks.ts` holds the checks of one
 * rule, `doctor_live_call.ts` the request to the tracking server and its verdict,
 * `doctor_report.ts` the text and JSON output.
 *
 * @module
 */

import { parseDuration } from "../core/duration.ts";
import { createPlan, matchRule } from "../profile/plan.ts";
import type { Profile } from "../profile/profile.ts";
import { createAuthFetch } from "../http/auth_fetch.ts";
import { formatIssueLocation, ProfileError } from "../core/errors.ts";
import { UsageError } from "./errors.ts";
import { createLogger, type LogLevel } from "../core/log.ts";
import { Redactor } from "../core/redact.ts";
import { invalidUrlCause, maskUserinfo } from "../core/_display_url.ts";
import { SecretResolver } from "../engine/resolver.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { type CheckContext, checkTarget } from "./doctor_checks.ts";
import {
  type DoctorReport,
  elapsed,
  plural,
  Reporter,
  type StepResult,
  type TargetResult,
} from "./doctor_report.ts";
import { redactUrl } from "./explain.ts";
import type { CliIo } from "./io.ts";
import { type EmbeddedProfile, loadCliProfile } from "./load.ts";

export type {
  DoctorReport,
  StepName,
  StepResult,
  StepStatus,
  TargetResult,
} from "./doctor_report.ts";
import { withTrackingTlsFromEnv } from "./_tracking_tls.ts";

/** Options of {@linkcode runDoctor}. */
export interface DoctorOptions {
  /** The `--profile` value. */
  readonly profile?: string | undefined;
  /** The artifact's embedded profile (see {@linkcode loadCliProfile}). */
  readonly embedded?: EmbeddedProfile | undefined;
  /** A profile to use instead of loading one (`--from-env`). */
  readonly loaded?: Profile | undefined;
  /** Tracking URLs to check instead of every rule. */
  readonly url?: readonly string[] | undefined;
  /** Machine-readable output. */
  readonly json?: boolean | undefined;
  /** Time allowed for the live call, e.g. `10s`. Default 10 s. */
  readonly timeout?: string | undefined;
  /** Provider factories by kind; default the built-in registry. */
  readonly providers?: ReadonlyMap<string, ProviderFactory> | undefined;
  /** The fetch the live call goes through (under the middleware). Default `globalThis.fetch`. */
  readonly fetch?: typeof fetch | undefined;
  /** The transport of providers (never the live call's fetch). Default `globalThis.fetch`. */
  readonly providerFetch?: typeof fetch | undefined;
}

/**
 * Runs the checks and prints them.
 *
 * @param options Flags.
 * @param io Streams and environment.
 * @returns 0 when every step of every target passed, 1 when any failed or was skipped, 2 when
 *   the profile is invalid.
 * @throws {UsageError} for a malformed `--url` or `--timeout`.
 *
 * @example
 * ```ts
 * import { runDoctor } from "./doctor.ts";
 * import { parseProfile } from "../mod.ts";
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => Response.json({ experiments: [] }),
 * );
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "http://127.0.0.1:${server.addr.port}", provider: ci, secret: { var: T }, auth: bearer }]
 * `, { env: {} });
 * const out: string[] = [];
 * const code = await runDoctor({ loaded: profile }, {
 *   stdout: (t) => out.push(t),
 *   stderr: () => {},
 *   env: (n) => n === "T" ? "token-1" : undefined,
 *   isTty: false,
 * });
 * await server.shutdown();
 * if (code !== 0 || out.join("").includes("token-1")) throw new Error(out.join(""));
 * ```
 */
export async function runDoctor(options: DoctorOptions, io: CliIo): Promise<number> {
  const timeoutMs = parseTimeout(options.timeout);
  const urls = (options.url ?? []).map(parseTarget);
  const out = new Reporter(io, options.json === true);
  const now = () => performance.now();

  // 1. Profile.
  let profile: Profile;
  const started = now();
  const profileStep = out.start("profile");
  try {
    profile = options.loaded ??
      (await loadCliProfile(options.profile, io, { embedded: options.embedded })).profile;
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    const step: StepResult = {
      step: "profile",
      status: "fail",
      ms: elapsed(started, now),
      detail: `${error.file}: ${error.issues.length} issue(s)`,
      cause: error.issues.map((i) =>
        `${formatIssueLocation(error.file, i)}: ${i.message.split("\n")[0]}`
      )
        .join("\n"),
      hint: "fix the profile (`mlflow-secrets-auth validate` lists every issue)",
    };
    profileStep.end(step);
    out.invalidProfile(error.file, step, error.issues);
    return 2;
  }
  // MLflow's TLS variables, for the rule of MLFLOW_TRACKING_URI: as exec and proxy use them.
  const tracking = withTrackingTlsFromEnv(
    createPlan(profile),
    io.env("MLFLOW_TRACKING_URI"),
    io.env,
  );
  const plan = tracking.plan;
  for (const note of tracking.notes) {
    io.stderr(
      `mlflow-secrets-auth doctor: ${note.level === "warn" ? "warning: " : ""}${note.message}\n`,
    );
  }
  const profileResult: StepResult = {
    step: "profile",
    status: "pass",
    ms: elapsed(started, now),
    detail: `${plan.source}: ${plural(plan.rules.length, "host rule")}, ${
      plural(Object.keys(plan.providers).length, "provider")
    }`,
  };
  profileStep.end(profileResult);

  // Shared resolver and middleware: the same code path MLflow requests take.
  const redactor = new Redactor();
  const logLevel = envLogLevel(io.env("MLFLOW_SECRETS_AUTH_LOG_LEVEL"));
  const logger = createLogger({
    redactor,
    level: logLevel,
    write: (line) => io.stderr(line),
  });
  const resolver = new SecretResolver(plan, {
    redactor,
    logger,
    env: io.env,
    ...(options.providerFetch ? { providerFetch: options.providerFetch } : {}),
    ...(options.providers ? { providers: options.providers } : {}),
  });
  const authFetch = createAuthFetch(plan, {
    resolver,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const ctx: CheckContext = { plan, resolver, authFetch, timeoutMs, out, now, redactor };

  const targets: TargetResult[] = [];
  try {
    if (urls.length === 0) {
      for (const rule of [...plan.rules].sort((a, b) => a.index - b.index)) {
        out.heading(`hosts[${rule.index}] ${rule.pattern.canonical}`);
        targets.push(await checkTarget(ctx, `hosts[${rule.index}]`, rule, undefined));
      }
    } else {
      for (const url of urls) {
        const shown = redactUrl(url);
        out.heading(shown);
        const step = out.start("rule");
        const t0 = now();
        const rule = url.username !== "" || url.password !== "" ? undefined : matchRule(plan, url);
        if (rule === undefined) {
          const result: StepResult = {
            step: "rule",
            status: "fail",
            ms: elapsed(t0, now),
            detail: "no rule",
            cause: url.username !== "" || url.password !== ""
              ? "the URL has userinfo (user@host), which never gets a secret"
              : "no host rule matches this URL: MLflow's requests to it would carry no credentials",
            hint:
              "add a host rule whose match covers it (`mlflow-secrets-auth explain --url ...` shows the matching)",
          };
          step.end(result);
          targets.push({ target: shown, rule: null, status: "fail", steps: [result] });
          continue;
        }
        step.cancel();
        targets.push(await checkTarget(ctx, shown, rule, url));
      }
    }
  } finally {
    await authFetch.close();
  }

  const summary = {
    passed: targets.filter((t) => t.status === "pass").length,
    failed: targets.filter((t) => t.status === "fail").length,
    warned: targets.filter((t) => t.status === "warn").length,
  };
  const ok = summary.failed === 0 && summary.warned === 0;
  const report: DoctorReport = { file: plan.source, ok, profile: profileResult, targets, summary };
  out.report(report, urls.length ? "URL" : "rule");
  return ok ? 0 : 1;
}

/** A `--url` value, or a usage error naming it (its userinfo masked). */
function parseTarget(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `Cannot check "${
        maskUserinfo(text)
      }": it is not an absolute URL; pass the tracking URL, e.g. --url https://mlflow.company.com`,
      { cause: invalidUrlCause(text) },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(
      `Cannot check "${redactUrl(url)}": only http and https tracking URLs can be checked`,
    );
  }
  return url;
}

/** `--timeout` in milliseconds (a bare number is seconds); default 10 s. */
function parseTimeout(text: string | undefined): number {
  if (text === undefined) return 10_000;
  try {
    const ms = parseDuration(/^\d+(\.\d+)?$/.test(text) ? Number(text) : text);
    if (ms > 0) return ms;
  } catch {
    // reported below
  }
  throw new UsageError(
    `Cannot use --timeout "${text}": it is not a positive duration; write e.g. 10s, 500ms or 1m`,
  );
}

/** The log level `MLFLOW_SECRETS_AUTH_LOG_LEVEL` asks for; silent unless it names one. */
function envLogLevel(raw: string | undefined): LogLevel {
  const v = raw?.trim().toLowerCase();
  return v === "debug" || v === "info" || v === "warn" || v === "error" ? v : "silent";
}
