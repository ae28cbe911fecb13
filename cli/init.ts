/**
 * `init`: writes a starter profile, with the `$schema` line editors use for completion. From
 * flags, or by asking on a terminal for what the flags did not give. The text is validated
 * before anything is written, and an existing file is never overwritten without `--force`.
 *
 * @module
 */

import { parseProfile } from "../profile/profile.ts";
import { UsageError } from "./errors.ts";
import { PROVIDER_DESCRIPTORS, PROVIDER_KINDS, PROVIDERS } from "../providers/registry.ts";
import type { InitTemplate } from "../providers/descriptor.ts";
import { invalidUrlCause, maskUserinfo } from "../core/_display_url.ts";
import { buildProfileFromEnv, printWarnings } from "./from_env.ts";
import type { CliIo } from "./io.ts";
import { schemaReferenceFor } from "./_schema_ref.ts";

/** Provider kinds `init` can write: the registry's, in its order (the schema's). */
export const INIT_KINDS: readonly string[] = PROVIDER_KINDS.filter((k) =>
  PROVIDER_DESCRIPTORS.get(k)?.init !== undefined
);

/** Options of {@linkcode runInit} (the command's flags). */
export interface InitOptions {
  /** Output file. Default `./mlflow-auth.yaml`. */
  readonly profile?: string | undefined;
  /** Provider kind, one of {@linkcode INIT_KINDS}. */
  readonly provider?: string | undefined;
  /** Tracking server URL, becomes the rule's `match`. */
  readonly host?: string | undefined;
  /** `bearer`, `basic` or `oauth2_client_credentials`. Default bearer. */
  readonly auth?: string | undefined;
  /** oauth2_client_credentials: the identity provider's token endpoint. */
  readonly tokenUrl?: string | undefined;
  /** oauth2_client_credentials: scopes to ask for. */
  readonly scope?: string | undefined;
  /** Field of a JSON-object secret. */
  readonly field?: string | undefined;
  /** Provider instance name. Default: from the kind. */
  readonly name?: string | undefined;
  /** env: variable name. */
  readonly var?: string | undefined;
  /** file: file path; vault: secret path. */
  readonly path?: string | undefined;
  /** vault: address. Default $VAULT_ADDR. */
  readonly address?: string | undefined;
  /** vault: KV mount. */
  readonly mount?: string | undefined;
  /** vault: auth method. Default token. */
  readonly vaultAuth?: string | undefined;
  /** vault kubernetes auth: role. */
  readonly role?: string | undefined;
  /** aws: secret id or ARN. */
  readonly secretId?: string | undefined;
  /** aws: region. */
  readonly region?: string | undefined;
  /** azure: vault URL. */
  readonly vaultUrl?: string | undefined;
  /** azure: secret name. */
  readonly secretName?: string | undefined;
  /** Overwrite an existing file. */
  readonly force?: boolean | undefined;
  /** Print the profile instead of writing it. */
  readonly stdout?: boolean | undefined;
  /** Build the profile from the Python plugin's environment variables. */
  readonly fromEnv?: boolean | undefined;
}

interface Answers {
  kind: string;
  template: InitTemplate;
  host: string;
  auth: "bearer" | "basic" | "oauth2_client_credentials";
  tokenUrl?: string;
  scope?: string;
  field?: string;
  name: string;
  /** The kind's own answers, by question key. */
  values: Record<string, string>;
}

/**
 * Writes (or prints) a starter profile.
 *
 * @param options Flags.
 * @param io Streams, environment and, on a terminal, `prompt`.
 * @returns 0 when written.
 * @throws {UsageError} when required flags are missing off a terminal, a value is wrong, or the
 *   file exists and `--force` was not given.
 * @throws {ProfileError} when the values do not make a valid profile (nothing is written).
 *
 * @example
 * ```ts
 * import { runInit } from "./init.ts";
 * const out: string[] = [];
 * const io = { stdout: (t: string) => out.push(t), stderr: () => {}, env: () => undefined, isTty: false };
 * await runInit({ provider: "env", host: "https://mlflow.example.com", var: "T", stdout: true }, io);
 * if (!out.join("").startsWith("# yaml-language-server: $schema=")) throw new Error("no schema line");
 * ```
 */
export async function runInit(options: InitOptions, io: CliIo): Promise<number> {
  const target = options.profile ?? "./mlflow-auth.yaml";
  const schemaRef = schemaReferenceFor(target);
  let text: string;
  let summary: string;
  if (options.fromEnv) {
    const built = buildProfileFromEnv(io.env, { schemaRef });
    printWarnings(io, built.warnings);
    text = built.yaml;
    summary =
      `built from the Python plugin's environment variables, ${built.profile.data.hosts.length} host rule(s)`;
  } else {
    const answers = collect(options, io);
    text = renderProfile(answers, schemaRef);
    summary = `${answers.kind} provider "${answers.name}", 1 host rule`;
  }
  // Validate exactly what will be written; `$$` in values stays literal.
  parseProfile(text, { source: target, env: {}, providers: PROVIDERS });

  if (options.stdout) {
    io.stdout(text);
    return 0;
  }
  try {
    await Deno.writeTextFile(target, text, options.force ? {} : { createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new UsageError(
        `Cannot write "${target}": the file exists; pass --force to overwrite it, or --profile to write elsewhere`,
        { cause: error },
      );
    }
    throw new UsageError(
      `Cannot write "${target}": ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const flag = target === "./mlflow-auth.yaml" || target === "mlflow-auth.yaml"
    ? ""
    : ` --profile ${target}`;
  io.stdout(
    `Wrote ${target} (${summary}; valid).\nNext: mlflow-secrets-auth validate${flag} && mlflow-secrets-auth doctor${flag}\n`,
  );
  return 0;
}

function collect(options: InitOptions, io: CliIo): Answers {
  const interactive = io.isTty && io.prompt !== undefined;
  const missing: string[] = [];
  const ask = (
    flag: string,
    given: string | undefined,
    question: string,
    fallback?: string,
  ): string | undefined => {
    if (given !== undefined && given !== "") return given;
    if (!interactive) {
      if (fallback !== undefined) return fallback;
      missing.push(flag);
      return undefined;
    }
    const answer = io.prompt!(question, fallback)?.trim();
    if (answer === undefined) throw new UsageError("Cannot write a profile: init was cancelled");
    if (answer === "") {
      if (fallback !== undefined) return fallback;
      throw new UsageError(`Cannot write a profile: ${flag} needs a value`);
    }
    return answer;
  };

  const kindText = ask(
    "--provider",
    options.provider,
    `Provider kind (${INIT_KINDS.join(", ")})`,
    interactive ? "vault" : undefined,
  );
  if (kindText === undefined) throw missingFlags(missing, undefined);
  const kind = INIT_KINDS.find((k) => k === kindText.toLowerCase());
  const template = kind === undefined ? undefined : PROVIDER_DESCRIPTORS.get(kind)?.init;
  if (kind === undefined || template === undefined) {
    throw new UsageError(
      `Cannot write a profile: provider kind "${kindText}" is unknown; use one of ${
        INIT_KINDS.join(", ")
      }`,
    );
  }
  const host = ask("--host", options.host, "Tracking server URL (e.g. https://mlflow.company.com)");
  const a: Answers = {
    kind,
    template,
    host: "",
    auth: "bearer",
    name: options.name ?? template.name,
    values: {},
  };
  if (options.field !== undefined) a.field = options.field;
  const flags = options as unknown as Readonly<Record<string, unknown>>;
  for (const q of template.questions) {
    if (q.when !== undefined && !q.when(a.values)) continue;
    const given = typeof flags[q.key] === "string" ? flags[q.key] as string : undefined;
    const value = q.ask === "flag" ? given : q.ask === "terminal"
      ? given ??
        (interactive ? ask(q.flag, undefined, q.question, q.fallback?.(io.env)) : undefined)
      : ask(q.flag, given, q.question, q.fallback?.(io.env));
    if (value === undefined) continue;
    if (q.choices !== undefined && !q.choices.values.includes(value)) {
      throw new UsageError(
        `Cannot write a profile: ${q.choices.what} "${value}" is unknown; use one of ${
          q.choices.values.join(", ")
        }`,
      );
    }
    a.values[q.key] = value;
  }
  const authText = (options.auth ??
    (interactive
      ? ask("--auth", undefined, "Auth type (bearer, basic, oauth2_client_credentials)", "bearer")
      : "bearer"))!
    .toLowerCase();
  if (authText === "oauth2_client_credentials") {
    a.tokenUrl = ask(
      "--token-url",
      options.tokenUrl,
      "Token endpoint of the identity provider (e.g. https://idp.company.com/oauth2/token)",
    );
    const scope = options.scope ??
      (interactive ? ask("--scope", undefined, "Scopes to ask for (empty: none)", "") : undefined);
    if (scope !== undefined && scope !== "") a.scope = scope;
  }
  if (missing.length > 0) throw missingFlags(missing, kind);
  if (authText !== "bearer" && authText !== "basic" && authText !== "oauth2_client_credentials") {
    throw new UsageError(
      `Cannot write a profile: auth "${authText}" is unknown; use bearer, basic or oauth2_client_credentials (edit the file for a custom header)`,
    );
  }
  a.auth = authText;
  a.host = normaliseHost(host!);
  return a;
}

function missingFlags(missing: readonly string[], kind: string | undefined): UsageError {
  // --token-url is asked for by the auth type, not by the provider kind.
  const oauth2 = missing.includes("--token-url");
  const needs = [
    ...(kind !== undefined && missing.some((f) => f !== "--token-url") ? [`provider ${kind}`] : []),
    ...(oauth2 ? ["--auth oauth2_client_credentials"] : []),
  ];
  const example = oauth2
    ? "mlflow-secrets-auth init --provider env --host https://mlflow.company.com --auth oauth2_client_credentials --token-url https://idp.company.com/oauth2/token --var MLFLOW_OAUTH_CLIENT"
    : "mlflow-secrets-auth init --provider vault --host https://mlflow.company.com --address https://vault.company.com:8200 --path mlflow/auth";
  return new UsageError(
    `Cannot write a profile: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} required${
      needs.length > 0 ? ` for ${needs.join(" and ")}` : ""
    } when not on a terminal; e.g. ${example}`,
  );
}

function normaliseHost(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `Cannot write a profile: --host "${
        maskUserinfo(text)
      }" is not a URL; pass the tracking server's URL, e.g. https://mlflow.company.com`,
      { cause: invalidUrlCause(text) },
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError(
      "Cannot write a profile: --host must not carry user:password@; the secret provides the credentials",
    );
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * A YAML scalar for a value, safe in block and flow context: plain when it is a simple word,
 * else double-quoted (JSON strings are YAML). `$` is written as `$$` so interpolation leaves it
 * alone.
 */
function scalar(value: string | number): string {
  if (typeof value === "number") return String(value);
  const v = value.replaceAll("$", () => "$$");
  const plain = /^[A-Za-z_][A-Za-z0-9_./@-]*$/.test(v) &&
    !/^(true|false|null|yes|no|on|off|y|n)$/i.test(v);
  return plain ? v : JSON.stringify(v);
}

function flow(entries: readonly (readonly [string, string | number | undefined])[]): string {
  return `{ ${
    entries.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${scalar(v!)}`).join(", ")
  } }`;
}

function authLines(a: Answers): string[] {
  if (a.auth === "oauth2_client_credentials") {
    return [
      "    auth:                     # Authorization: Bearer <access token from the token endpoint>",
      "      type: oauth2_client_credentials",
      `      token_url: ${scalar(a.tokenUrl!)}`,
      '      client_id_field: client_id          # the secret: {"client_id": ..., "client_secret": ...}',
      "      client_secret_field: client_secret",
      a.scope !== undefined ? `      scope: ${scalar(a.scope)}` : "      # scope: mlflow",
      "      # audience: https://mlflow.company.com",
      "      client_auth: basic                  # or body",
    ];
  }
  return [
    `    auth: ${a.auth}${
      a.auth === "bearer"
        ? "                # Authorization: Bearer <token>"
        : "                 # Authorization: Basic base64(user:pass)"
    }`,
  ];
}

/**
 * The starter profile text for a set of answers.
 *
 * @param a Answers.
 * @param schemaRef The `$schema` location.
 */
function renderProfile(a: Answers, schemaRef: string): string {
  const block = a.template.render(a.values, scalar);
  const provider: string[] = [`  ${a.name}:`, `    kind: ${a.kind}`, ...block.provider];
  const secret = flow([...block.secret, ["field", a.field]]);
  return [
    `# yaml-language-server: $schema=${schemaRef}`,
    "# mlflow-secrets-auth profile, written by `mlflow-secrets-auth init`.",
    "# Check it with `mlflow-secrets-auth validate`, then `mlflow-secrets-auth doctor`.",
    "version: 1",
    "providers:",
    ...provider,
    "hosts:                      # only these origins ever receive the secret",
    `  - match: ${scalar(a.host)}`,
    `    provider: ${scalar(a.name)}`,
    `    secret: ${secret}`,
    ...authLines(a),
    "defaults:",
    "  cache: { ttl: 5m }",
    "  retry: { attempts: 3 }",
    "  refresh_on: [401]",
    "",
  ].join("\n");
}
