/**
 * `info`: what this installation is and what the profile sets up: versions, the profile path
 * and how it was found, each provider and whether its SDK loads, cache, retry and log settings.
 * Never resolves a secret.
 *
 * @module
 */

import { createPlan } from "../profile/plan.ts";
import { type Profile, resolveProfilePath } from "../profile/profile.ts";
import {
  formatIssueLocation,
  issueCount,
  ProfileError,
  type ProfileIssue,
} from "../core/errors.ts";
import { PROVIDERS } from "../providers/registry.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { type RuleSummary, summarise } from "./explain.ts";
import { FROM_ENV_SOURCE } from "./from_env.ts";
import type { CliIo } from "./io.ts";
import { type EmbeddedProfile, loadCliProfile } from "./load.ts";
import { loadSdks, SDK_PACKAGES, type SdkStatus } from "./_sdk.ts";

/** Options of {@linkcode runInfo}. */
export interface InfoOptions {
  /** The `--profile` value. */
  readonly profile?: string | undefined;
  /** The artifact's embedded profile. */
  readonly embedded?: EmbeddedProfile | undefined;
  /** A profile to use instead of loading one (`--from-env`). */
  readonly loaded?: Profile | undefined;
  /** Machine-readable output. */
  readonly json?: boolean | undefined;
  /** Provider factories by kind; default the built-in registry. */
  readonly providers?: ReadonlyMap<string, ProviderFactory> | undefined;
  /** This program's version. */
  readonly version: string;
}

/** One provider of the profile. */
export interface ProviderInfo {
  readonly name: string;
  readonly kind: string;
  /** Whether this build has an implementation of the kind. */
  readonly available: boolean;
  /** The SDKs it loads, each tried. */
  readonly sdks: readonly SdkStatus[];
}

/** What `info --json` prints. */
export interface InfoReport {
  readonly version: string;
  readonly deno: { readonly deno: string; readonly v8: string; readonly typescript: string };
  readonly profile: {
    readonly path: string;
    readonly origin: "flag" | "env" | "embedded" | "default" | "from-env";
    readonly valid: boolean;
    readonly issues: readonly ProfileIssue[];
  };
  readonly kinds: readonly string[];
  readonly providers: readonly ProviderInfo[];
  readonly rules: readonly Pick<
    RuleSummary,
    | "rule"
    | "canonical"
    | "provider"
    | "cache"
    | "retry"
    | "refresh_on"
    | "leak_guard"
    | "version"
  >[];
  readonly logging: {
    readonly level: string;
    readonly level_from: string;
    readonly format: string;
    readonly format_from: string;
  };
}

/**
 * Prints the report.
 *
 * @param options Flags.
 * @param io Streams and environment.
 * @returns 0; 2 when the profile is missing or invalid; 1 when a provider's SDK does not load
 *   or its kind is not in this build.
 *
 * @example
 * ```ts
 * import { runInfo } from "./info.ts";
 * const out: string[] = [];
 * const io = { stdout: (t: string) => out.push(t), stderr: () => {}, env: () => undefined, isTty: false };
 * const code = await runInfo({ profile: "examples/basic.yaml", json: true, version: "0.0.0" }, io);
 * if (code !== 0 || JSON.parse(out.join("")).profile.origin !== "flag") throw new Error("wrong");
 * ```
 */
export async function runInfo(options: InfoOptions, io: CliIo): Promise<number> {
  const kinds = [...(options.providers ?? PROVIDERS).keys()];
  let path: string;
  let origin: InfoReport["profile"]["origin"];
  let profile: Profile | undefined;
  let issues: readonly ProfileIssue[] = [];
  if (options.loaded !== undefined) {
    profile = options.loaded;
    path = options.loaded.source === FROM_ENV_SOURCE ? FROM_ENV_SOURCE : options.loaded.source;
    origin = options.loaded.source === FROM_ENV_SOURCE ? "from-env" : "flag";
  } else {
    try {
      const loaded = await loadCliProfile(options.profile, io, { embedded: options.embedded });
      profile = loaded.profile;
      path = loaded.path;
      origin = loaded.origin;
    } catch (error) {
      if (!(error instanceof ProfileError)) throw error;
      const where = resolveProfilePath(options.profile, io.env);
      path = error.file;
      origin = where.origin === "default" && options.embedded !== undefined
        ? "embedded"
        : where.origin;
      issues = error.issues;
    }
  }

  const providers: ProviderInfo[] = [];
  let rules: InfoReport["rules"] = [];
  let logging: InfoReport["logging"] = loggingInfo(undefined, io);
  if (profile !== undefined) {
    for (const [name, settings] of Object.entries(profile.data.providers)) {
      providers.push({
        name,
        kind: settings.kind,
        available: kinds.includes(settings.kind),
        sdks: await loadSdks(settings.kind),
      });
    }
    const plan = createPlan(profile);
    rules = [...plan.rules].sort((a, b) => a.index - b.index).map((r) => {
      const s = summarise(r, plan.providers[r.provider]);
      return {
        rule: s.rule,
        canonical: s.canonical,
        provider: s.provider,
        cache: s.cache,
        retry: s.retry,
        refresh_on: s.refresh_on,
        leak_guard: s.leak_guard,
        version: s.version,
      };
    });
    logging = loggingInfo(profile, io);
  }
  const report: InfoReport = {
    version: options.version,
    deno: { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript },
    profile: { path, origin, valid: profile !== undefined, issues },
    kinds,
    providers,
    rules,
    logging,
  };

  if (options.json) {
    io.stdout(JSON.stringify(report, null, 2) + "\n");
  } else {
    io.stdout(formatReport(report));
  }
  if (profile === undefined) return 2;
  const broken = providers.some((p) => !p.available || p.sdks.some((s) => !s.loaded));
  return broken ? 1 : 0;
}

const ORIGIN_TEXT: Readonly<Record<InfoReport["profile"]["origin"], string>> = {
  "flag": "from --profile",
  "env": "from $MLFLOW_SECRETS_AUTH_PROFILE",
  "embedded": "embedded in this build",
  "default": "the default, ./mlflow-auth.yaml",
  "from-env": "built from the Python plugin's environment variables (--from-env)",
};

function formatReport(r: InfoReport): string {
  const lines: string[] = [
    `mlflow-secrets-auth ${r.version}`,
    `Deno ${r.deno.deno} (V8 ${r.deno.v8}, TypeScript ${r.deno.typescript})`,
    "",
    `Profile: ${r.profile.path} (${ORIGIN_TEXT[r.profile.origin]})`,
  ];
  if (!r.profile.valid) {
    lines.push(`  invalid: ${issueCount(r.profile.issues.length)}`);
    for (const issue of r.profile.issues) {
      lines.push(
        `    ${formatIssueLocation(r.profile.path, issue)}: ${issue.message.split("\n")[0]}`,
      );
    }
    lines.push("  run `mlflow-secrets-auth validate` for details");
  } else {
    lines.push(`  valid: ${r.rules.length} host rule(s), ${r.providers.length} provider(s)`);
  }
  lines.push("", `Provider kinds in this build: ${r.kinds.join(", ")}`);
  if (r.providers.length > 0) {
    lines.push("Providers:");
    for (const p of r.providers) {
      const sdk = SDK_PACKAGES[p.kind]?.length === 0
        ? "built in, no SDK"
        : p.sdks.map((s) =>
          s.loaded ? `${s.package} loads (${s.ms} ms)` : `${s.package} DOES NOT LOAD: ${s.error}`
        ).join("; ");
      lines.push(
        `  ${p.name} (${p.kind}): ${p.available ? "" : "NOT AVAILABLE in this build; "}${sdk}`,
      );
    }
  }
  if (r.rules.length > 0) {
    lines.push("Cache and retry, per rule:");
    for (const rule of r.rules) {
      lines.push(
        `  ${rule.rule} ${rule.canonical} (${rule.provider}): cache ttl ${rule.cache.ttl}, refresh ahead ${rule.cache.refresh_ahead}, stale-if-error ${rule.cache.stale_if_error}; retry ${rule.retry.attempts} attempt(s), ${rule.retry.attempt_timeout} each, deadline ${rule.retry.deadline}; refresh on ${
          rule.refresh_on.join(", ") || "nothing"
        }; leak guard ${rule.leak_guard}`,
        `    cache ends sooner than the ttl at (whichever comes first): ${
          rule.cache.bounded_by.join(", ")
        }`,
        `    version reported (access log, metrics, doctor): ${
          rule.version ?? "none for this secret"
        }`,
      );
    }
  }
  lines.push(
    `Logging: level ${r.logging.level} (${r.logging.level_from}), format ${r.logging.format} (${r.logging.format_from}); to stderr`,
    "",
  );
  return lines.join("\n");
}

function loggingInfo(profile: Profile | undefined, io: CliIo): InfoReport["logging"] {
  const envLevel = io.env("MLFLOW_SECRETS_AUTH_LOG_LEVEL")?.trim().toLowerCase();
  const envFormat = io.env("MLFLOW_SECRETS_AUTH_LOG_FORMAT")?.trim().toLowerCase();
  const levels = ["debug", "info", "warn", "error", "silent"];
  const formats = ["text", "json"];
  const fileLevel = profile?.data.logging?.level;
  const fileFormat = profile?.data.logging?.format;
  const [level, level_from] = envLevel !== undefined && levels.includes(envLevel)
    ? [envLevel, "$MLFLOW_SECRETS_AUTH_LOG_LEVEL"]
    : fileLevel !== undefined
    ? [fileLevel, "profile"]
    : ["warn", "default"];
  const [format, format_from] = envFormat !== undefined && formats.includes(envFormat)
    ? [envFormat, "$MLFLOW_SECRETS_AUTH_LOG_FORMAT"]
    : fileFormat !== undefined
    ? [fileFormat, "profile"]
    : ["text", "default"];
  return { level, level_from, format, format_from };
}
