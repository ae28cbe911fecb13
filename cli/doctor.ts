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
 * @module
 */

import { templateFields } from "../profile/auth_spec.ts";
import { parseDuration } from "../core/duration.ts";
import { createPlan, matchRule, type Plan, type PlanRule } from "../profile/plan.ts";
import type { Profile } from "../profile/profile.ts";
import { createAuthFetch } from "../http/auth_fetch.ts";
import {
  formatIssueLocation,
  ProfileError,
  SecretResolutionError,
  UsageError,
} from "../core/errors.ts";
import { createLogger, type LogLevel } from "../core/log.ts";
import { Redactor } from "../core/redact.ts";
import { invalidUrlCause, maskUserinfo } from "../core/_display_url.ts";
import { SecretResolver } from "../engine/resolver.ts";
import type { ProviderFactory, SecretValue } from "../providers/types.ts";
import { redactUrl } from "./explain.ts";
import { type CliIo, useColour } from "./io.ts";
import { type EmbeddedProfile, loadCliProfile } from "./load.ts";
import { loadSdks } from "./_sdk.ts";

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

/** Outcome of a step. `warn` and `skip` are not passes. */
export type StepStatus = "pass" | "fail" | "warn" | "skip";

/** The steps, in order. */
export type StepName = "profile" | "rule" | "provider" | "secret" | "header" | "server";

/** One step's result. Never holds a secret, a header value or an unredacted URL. */
export interface StepResult {
  readonly step: StepName;
  readonly status: StepStatus;
  /** Milliseconds the step took. */
  readonly ms: number;
  /** What was found. */
  readonly detail: string;
  /** Why it failed or was skipped. */
  readonly cause?: string;
  /** What to do about it. */
  readonly hint?: string;
}

/** The checks of one rule or URL. */
export interface TargetResult {
  /** `hosts[0]` or the URL checked (redacted). */
  readonly target: string;
  /** The rule's label, or null when no rule matched. */
  readonly rule: string | null;
  /** `fail` if any step failed, else `warn` if any was skipped or warned, else `pass`. */
  readonly status: "pass" | "fail" | "warn";
  readonly steps: readonly StepResult[];
}

/** The whole report, as `--json` prints it. */
export interface DoctorReport {
  /** Profile source. */
  readonly file: string;
  /** True only when every step of every target passed. */
  readonly ok: boolean;
  readonly profile: StepResult;
  readonly targets: readonly TargetResult[];
  readonly summary: { readonly passed: number; readonly failed: number; readonly warned: number };
}

const STEP_LABEL: Readonly<Record<StepName, string>> = {
  profile: "profile valid",
  rule: "rule matched",
  provider: "provider reachable and authenticated",
  secret: "secret read",
  header: "header built",
  server: "live call to the tracking server",
};

const API_PATH = "/api/2.0/mlflow/experiments/search?max_results=1";

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
    if (options.json) {
      io.stdout(
        JSON.stringify(
          { file: error.file, ok: false, profile: step, issues: error.issues, targets: [] },
          null,
          2,
        ) +
          "\n",
      );
    }
    return 2;
  }
  const plan = createPlan(profile);
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
  if (options.json) {
    const report: DoctorReport = {
      file: plan.source,
      ok,
      profile: profileResult,
      targets,
      summary,
    };
    io.stdout(JSON.stringify(report, null, 2) + "\n");
  } else {
    const parts = [
      `${summary.passed} of ${plural(targets.length, urls.length ? "URL" : "rule")} passed`,
    ];
    if (summary.failed) parts.push(`${summary.failed} failed`);
    if (summary.warned) parts.push(`${summary.warned} not fully checked (warning)`);
    io.stdout(`\n${parts.join("; ")}\n`);
  }
  return ok ? 0 : 1;
}

interface CheckContext {
  readonly plan: Plan;
  readonly resolver: SecretResolver;
  readonly authFetch: ReturnType<typeof createAuthFetch>;
  readonly timeoutMs: number;
  readonly out: Reporter;
  readonly now: () => number;
  readonly redactor: Redactor;
}

async function checkTarget(
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
  const skipRest = (from: StepName[], why: string): void => {
    for (const name of from) {
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
    detail: `${rule.label}, provider "${rule.provider}" (${rule.providerKind})`,
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
  t0 = now();
  let secret: { value: SecretValue; version?: string };
  try {
    secret = await resolver.secretFor(rule);
  } catch (error) {
    const where = classifyResolution(error);
    if (where === "provider") {
      record(failure("provider", t0, now, ctx, error, sdkMs), h);
      skipRest(["secret", "header", "server"], "the provider did not answer the read");
      return done();
    }
    record({
      step: "provider",
      status: "pass",
      ms: sdkMs,
      detail: `${rule.provider} (${rule.providerKind}): ${sdkText}; it answered`,
    }, h);
    record(failure("secret", t0, now, ctx, error), out.start("secret"));
    skipRest(["header", "server"], "no secret");
    return done();
  }
  const readMs = elapsed(t0, now);
  record({
    step: "provider",
    status: "pass",
    ms: sdkMs,
    detail: `${rule.provider} (${rule.providerKind}): ${sdkText}; it answered`,
  }, h);

  // 4. Secret: shape, the fields the auth spec needs, version.
  h = out.start("secret");
  const fieldProblem = missingFields(rule, secret.value);
  const version = secret.version !== undefined
    ? `version "${ctx.redactor.redact(secret.version)}"`
    : "no version reported";
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
  record({
    step: "secret",
    status: "pass",
    ms: readMs,
    detail: `${reference}: ${shape(secret.value)}; ${neededText(rule, secret.value)}; ${version}`,
  }, h);

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
  record(await liveCall(ctx, base), h);
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
): StepResult {
  const message = ctx.redactor.redact(error instanceof Error ? error.message : String(error));
  let hint: string;
  if (error instanceof SecretResolutionError) {
    if (/CR, LF or NUL/.test(error.reason)) {
      hint =
        "remove line breaks from the stored secret (a trailing newline from `echo` is a common cause)";
    } else if (error.field !== undefined) {
      hint =
        "store the field in the secret, or name the right one in the rule (field, token_field, username_field, password_field, the template)";
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
    hint:
      "store the field in the secret, or name the right one in the rule (token_field, username_field, password_field, the header template)",
  };
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

/** The tracking base URL for the live call, or undefined for a wildcard rule with no URL. */
function liveBase(rule: PlanRule, url: URL | undefined): string | undefined {
  if (url !== undefined) {
    const cut = url.pathname.search(/\/(ajax-)?api\/2\.0\//);
    const path = (cut === -1 ? url.pathname : url.pathname.slice(0, cut)).replace(/\/+$/, "");
    return `${url.origin}${path}`;
  }
  if (rule.pattern.wildcard) return undefined;
  return rule.pattern.canonical;
}

async function liveCall(ctx: CheckContext, base: string): Promise<StepResult> {
  const { now } = ctx;
  const t0 = now();
  const url = new URL(`${base}${API_PATH}`);
  const shown = `${redactUrl(new URL(base)).replace(/\/$/, "")}${API_PATH}`;
  const result = (
    status: StepStatus,
    detail: string,
    cause?: string,
    hint?: string,
  ): StepResult => ({
    step: "server",
    status,
    ms: elapsed(t0, now),
    detail: ctx.redactor.redact(`GET ${shown}: ${detail}`),
    ...(cause !== undefined ? { cause: ctx.redactor.redact(cause) } : {}),
    ...(hint !== undefined ? { hint } : {}),
  });
  const signal = AbortSignal.timeout(ctx.timeoutMs);
  let response: Response;
  try {
    response = await ctx.authFetch(url, {
      method: "GET",
      redirect: "manual",
      signal,
      headers: { accept: "application/json" },
    });
  } catch (error) {
    return networkFailure(error, signal, ctx, result);
  }
  const statusText = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  const s = response.status;
  if (s === 200) {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      return networkFailure(error, signal, ctx, result);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      const type = response.headers.get("content-type") ?? "none";
      return result(
        "fail",
        `${statusText}, not MLflow JSON`,
        `the server answered 200 with a body that is not MLflow's JSON (content-type "${
          type.split(";")[0]
        }")`,
        "a login page or another service answered instead of MLflow: check the URL, and that any proxy in front accepts this header",
      );
    }
    const experiments = (body as { experiments?: unknown }).experiments;
    const count = Array.isArray(experiments) ? experiments.length : 0;
    return result("pass", `${statusText}, MLflow answered (${plural(count, "experiment")} listed)`);
  }
  await response.body?.cancel().catch(() => {});
  if (s >= 300 && s < 400) {
    const location = response.headers.get("location");
    let next: URL | undefined;
    try {
      next = location === null ? undefined : new URL(location, url);
    } catch {
      next = undefined;
    }
    if (next === undefined) {
      return result(
        "fail",
        statusText,
        `the server redirected (${s}) without a usable Location`,
        "call the final URL directly: fix MLFLOW_TRACKING_URI and the rule's match",
      );
    }
    if (next.origin !== url.origin) {
      return result(
        "fail",
        `${statusText}, redirect to another origin`,
        `the server redirected (${s}) to another origin, "${next.origin}": credentials are not sent across origins, so MLflow's calls would arrive there without them`,
        `point MLFLOW_TRACKING_URI and the rule's match at the final server${
          next.protocol === "https:" && url.protocol === "http:" ? " (use https://)" : ""
        }, or fix the redirect on the server or proxy`,
      );
    }
    return result(
      "fail",
      `${statusText}, redirect on the same origin`,
      `the server redirected (${s}) to "${redactUrl(next)}"`,
      "MLflow clients do not expect a redirect here: put the final path prefix in MLFLOW_TRACKING_URI and the rule's match",
    );
  }
  if (s === 401) {
    return result(
      "fail",
      statusText,
      "the tracking server rejected the credentials (401), also after the secret was fetched again",
      "check that the secret holds a valid credential for this server, and that the auth type (bearer, basic, header) and header name are what it expects",
    );
  }
  if (s === 403) {
    return result(
      "fail",
      statusText,
      "the tracking server refused access (403)",
      "the credential was accepted but may not list experiments, or a proxy refused it: check the user's permissions and the proxy",
    );
  }
  if (s === 404) {
    return result(
      "fail",
      statusText,
      "there is no MLflow API at this URL (404)",
      "check the host and the path prefix in the rule's match (and MLFLOW_TRACKING_URI)",
    );
  }
  if (s === 429) {
    return result("fail", statusText, "the tracking server is rate limiting (429)", "retry later");
  }
  if (s >= 500) {
    return result(
      "fail",
      statusText,
      s === 502 || s === 503 || s === 504
        ? `a gateway in front of MLflow could not get an answer from it (${s})`
        : `the tracking server failed (${s})`,
      "look at the tracking server's (and any proxy's) logs; the credentials were not the problem",
    );
  }
  return result(
    "fail",
    statusText,
    `the tracking server answered ${s} instead of 200`,
    "check the URL and the server's logs",
  );
}

function networkFailure(
  error: unknown,
  signal: AbortSignal,
  ctx: CheckContext,
  result: (status: StepStatus, detail: string, cause?: string, hint?: string) => StepResult,
): StepResult {
  if (signal.aborted || (error instanceof DOMException && error.name === "TimeoutError")) {
    return result(
      "fail",
      "timed out",
      `no answer within ${formatMs(ctx.timeoutMs)}`,
      "check that the server is up and reachable from here (proxy settings, firewall), or raise --timeout",
    );
  }
  if (error instanceof SecretResolutionError) {
    return result("fail", "secret failed", error.message, "see the secret step above");
  }
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return result(
      "fail",
      "not permitted",
      "network access to this host is not permitted",
      "run with --allow-net (or add the host to it)",
    );
  }
  const detail = networkDetail(error);
  const lower = detail.toLowerCase();
  if (/certificate|tls|ssl|handshake|unknownissuer|x509/.test(lower)) {
    return result(
      "fail",
      "TLS error",
      `the TLS handshake failed: ${detail}`,
      "the server's certificate is not trusted here or does not name this host: pass its CA with DENO_CERT=/path/ca.pem (or --cert), or fix the certificate",
    );
  }
  if (lower.includes("connection refused")) {
    return result(
      "fail",
      "connection refused",
      `the connection was refused: ${detail}`,
      "nothing listens there: check that the tracking server runs, and the host and port in the rule",
    );
  }
  if (
    lower.includes("dns error") || lower.includes("lookup address") ||
    lower.includes("name or service")
  ) {
    return result(
      "fail",
      "host not found",
      `the host name does not resolve: ${detail}`,
      "check the host name in the rule, and DNS",
    );
  }
  return result(
    "fail",
    "network error",
    `the request failed: ${detail}`,
    "check the network path to the server (proxy settings, firewall)",
  );
}

/** The innermost useful message of a fetch error, without the URL Deno puts in it. */
function networkDetail(error: unknown): string {
  const messages: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && e !== null && depth < 6; depth++) {
    if (e instanceof Error) {
      messages.push(e.message);
      e = e.cause;
    } else {
      messages.push(String(e));
      break;
    }
  }
  const last = messages.filter((m) => m !== "" && m !== "fetch failed").pop() ??
    messages[0] ?? "unknown error";
  return last.replace(/^error sending request for url \([^)]*\):\s*/, "")
    .replace(/https?:\/\/\S+/g, (u) => {
      try {
        return redactUrl(new URL(u));
      } catch {
        return "<url>";
      }
    });
}

// ---------------------------------------------------------------------------------------------
// Output: a spinner and colour on a terminal (unless NO_COLOR), plain lines otherwise.

interface StepHandle {
  end(result: StepResult): void;
  cancel(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

class Reporter {
  readonly #io: CliIo;
  readonly #json: boolean;
  readonly #fancy: boolean;

  constructor(io: CliIo, json: boolean) {
    this.#io = io;
    this.#json = json;
    this.#fancy = !json && useColour(io);
  }

  heading(text: string): void {
    if (this.#json) return;
    this.#io.stdout(`\n${this.#fancy ? `\x1b[1m${text}\x1b[22m` : text}\n`);
  }

  start(step: StepName): StepHandle {
    if (!this.#fancy) {
      return { end: (r) => this.line(r), cancel: () => {} };
    }
    let frame = 0;
    const label = STEP_LABEL[step];
    const draw = () =>
      this.#io.stdout(`\r\x1b[2K  \x1b[36m${FRAMES[frame++ % FRAMES.length]}\x1b[39m ${label}…`);
    draw();
    const timer = setInterval(draw, 80);
    return {
      end: (r) => {
        clearInterval(timer);
        this.#io.stdout("\r\x1b[2K");
        this.line(r);
      },
      cancel: () => {
        clearInterval(timer);
        this.#io.stdout("\r\x1b[2K");
      },
    };
  }

  line(r: StepResult): void {
    if (this.#json) return;
    const label = STEP_LABEL[r.step];
    const mark = this.#fancy ? FANCY_MARK[r.status] : PLAIN_MARK[r.status];
    const lines = [`  ${mark} ${label}: ${r.detail} (${r.ms} ms)`];
    const pad = this.#fancy ? "      " : "         ";
    for (const [key, text] of [["cause", r.cause], ["hint", r.hint]] as const) {
      if (text === undefined) continue;
      const [first, ...rest] = text.split("\n");
      lines.push(`${pad}${key}: ${first}`);
      for (const more of rest) lines.push(`${pad}  ${more}`);
    }
    this.#io.stdout(lines.join("\n") + "\n");
  }
}

const PLAIN_MARK: Readonly<Record<StepStatus, string>> = {
  pass: "[ok]  ",
  fail: "[FAIL]",
  warn: "[WARN]",
  skip: "[skip]",
};

const FANCY_MARK: Readonly<Record<StepStatus, string>> = {
  pass: "\x1b[32m✔\x1b[39m",
  fail: "\x1b[31m✘\x1b[39m",
  warn: "\x1b[33m⚠\x1b[39m",
  skip: "\x1b[2m○\x1b[22m",
};

// ---------------------------------------------------------------------------------------------

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

function envLogLevel(raw: string | undefined): LogLevel {
  const v = raw?.trim().toLowerCase();
  return v === "debug" || v === "info" || v === "warn" || v === "error" ? v : "silent";
}

function elapsed(t0: number, now: () => number): number {
  return Math.max(0, Math.round(now() - t0));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
