/**
 * `--from-env`: a profile built from the environment variables of the Python plugin this project
 * descends from (`mlflow-secrets-auth` 0.2.0 on PyPI), for a one-step migration.
 *
 * The old plugin read one secret from the first enabled provider (vault, then
 * aws-secrets-manager, then azure-key-vault) and sent it to every host whose name matched
 * `MLFLOW_SECRETS_ALLOWED_HOSTS` (shell-style globs, any scheme, any port), or to every host at
 * all when that variable was unset. The profile built here sends the same secret, the same way,
 * to `MLFLOW_TRACKING_URI` and to the allowlisted hosts that can be written as host rules; it
 * never copies a secret value (tokens stay in the variables they were in). MLflow's own
 * `MLFLOW_TRACKING_SERVER_CERT_PATH` and `MLFLOW_TRACKING_CLIENT_CERT_PATH` become the tracking
 * server rule's `tls:` block (paths only). Every place where the old behaviour was unsafe or
 * cannot be carried over is reported as a warning.
 *
 * @module
 */

import { stringify } from "../deps/yaml.ts";
import { isLoopbackHost } from "../profile/host_match.ts";
import { parseProfile, type Profile } from "../profile/profile.ts";
import { UsageError } from "./errors.ts";
import type { FromEnvMapping } from "../providers/descriptor.ts";
import {
  PROVIDER_DESCRIPTORS as REGISTRY_DESCRIPTORS,
  PROVIDERS as REGISTRY,
} from "../providers/registry.ts";
import type { CliIo } from "./io.ts";
import { schemaReference } from "./_schema_ref.ts";

/** A profile built from the environment, its YAML text and the warnings met on the way. */
export interface FromEnvProfile {
  /** The validated profile (source `<from-env>`). */
  readonly profile: Profile;
  /** The YAML text, ready to be saved as `mlflow-auth.yaml`. */
  readonly yaml: string;
  /** What the old configuration did unsafely, or what could not be carried over. */
  readonly warnings: readonly string[];
}

/** The display name of a profile built from the environment. */
export const FROM_ENV_SOURCE = "<from-env>";

const TRUTHY = new Set(["1", "true", "yes", "on"]);

/**
 * The kinds the Python plugin knew, each with its mapping, in its priority order (the
 * registry's: the plugin tried vault, then aws-secrets-manager, then azure-key-vault).
 */
function mappings(): [string, FromEnvMapping][] {
  return [...REGISTRY_DESCRIPTORS].flatMap(([kind, d]): [string, FromEnvMapping][] =>
    d.fromEnv === undefined ? [] : [[kind, d.fromEnv]]
  );
}

/** The variable that enables one kind, e.g. `MLFLOW_SECRETS_AUTH_ENABLE_VAULT`. */
function enableVariable(kind: string): string {
  return `MLFLOW_SECRETS_AUTH_ENABLE_${kind.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Builds a profile from the Python plugin's environment variables.
 *
 * @param env Environment lookup.
 * @param options `schemaRef`: the `$schema` location written in the first line (default: this
 *   module's schema, relative to the working directory).
 * @returns The profile, its YAML and the warnings.
 * @throws {UsageError} when no provider is enabled, a required variable is missing, or there is
 *   no host to send the secret to.
 * @throws {ProfileError} when the values given do not make a valid profile (e.g. a bad URL).
 *
 * @example
 * ```ts
 * import { buildProfileFromEnv } from "./from_env.ts";
 * const vars: Record<string, string> = {
 *   MLFLOW_SECRETS_AUTH_ENABLE: "vault",
 *   VAULT_ADDR: "https://vault.company.com",
 *   VAULT_TOKEN: "s.do-not-copy",
 *   MLFLOW_VAULT_SECRET_PATH: "secret/data/mlflow/auth",
 *   MLFLOW_TRACKING_URI: "https://mlflow.company.com",
 *   MLFLOW_SECRETS_ALLOWED_HOSTS: "mlflow.company.com",
 * };
 * const { profile, yaml } = buildProfileFromEnv((n) => vars[n]);
 * if (yaml.includes("s.do-not-copy")) throw new Error("a token was copied");
 * if (profile.data.hosts[0]!.match !== "https://mlflow.company.com") throw new Error("wrong host");
 * ```
 */
export function buildProfileFromEnv(
  env: (name: string) => string | undefined,
  options: { readonly schemaRef?: string } = {},
): FromEnvProfile {
  const get = (name: string): string | undefined => {
    const v = env(name)?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const warnings: string[] = [];

  // Which provider: the first enabled one, in the old plugin's priority order.
  const known = mappings();
  const kinds = known.map(([kind]) => kind);
  const listed = (get("MLFLOW_SECRETS_AUTH_ENABLE") ?? "").split(",")
    .map((p) => p.trim().toLowerCase()).filter((p) => p !== "");
  for (const name of listed) {
    if (!kinds.includes(name)) {
      warnings.push(
        `MLFLOW_SECRETS_AUTH_ENABLE names "${name}", which the Python plugin did not know; it is ignored`,
      );
    }
  }
  const enabled = known.filter(([kind]) =>
    listed.includes(kind) || TRUTHY.has((get(enableVariable(kind)) ?? "").toLowerCase())
  );
  const chosen = enabled[0];
  if (chosen === undefined) {
    const choices = kinds.length > 1
      ? `${kinds.slice(0, -1).join(", ")} or ${kinds.at(-1)}`
      : kinds.join("");
    throw new UsageError(
      `Cannot build a profile from the environment: no provider is enabled; set MLFLOW_SECRETS_AUTH_ENABLE to ${choices} (or ${
        enableVariable(kinds[0] ?? "")
      }=true)`,
    );
  }
  const [kind, mapping] = chosen;
  if (enabled.length > 1) {
    warnings.push(
      `several providers are enabled (${
        enabled.map(([k]) => k).join(", ")
      }); the Python plugin used only the first, "${kind}", and so does this profile`,
    );
  }

  const missing: string[] = [];
  const built = mapping.build({
    get,
    need(name) {
      const v = get(name);
      if (v === undefined) missing.push(name);
      return v ?? "";
    },
    missing(what) {
      missing.push(what);
    },
    warn(text) {
      warnings.push(text);
    },
    refuse(reason): never {
      throw new UsageError(`Cannot build a profile from the environment: ${reason}`);
    },
  });
  const provider = { kind, ...built.provider };
  const secret = built.secret;
  const providerName = mapping.name;
  if (missing.length > 0) {
    throw new UsageError(
      `Cannot build a profile from the environment: the ${kind} provider is enabled but ${
        missing.map((m) => m.includes(" ") ? m : `"${m}"`).join(", ")
      } ${missing.length === 1 ? "is" : "are"} not set; export ${
        missing.length === 1 ? "it" : "them"
      } as for the Python plugin`,
    );
  }

  const auth = authFromEnv(get(`${mapping.prefix}_AUTH_MODE`), get("MLFLOW_AUTH_HEADER_NAME"), {
    modeVar: `${mapping.prefix}_AUTH_MODE`,
    warnings,
  });
  const ttl = ttlFromEnv(
    `${mapping.prefix}_TTL_SEC`,
    get(`${mapping.prefix}_TTL_SEC`),
    warnings,
  );
  const hosts = hostsFromEnv(get("MLFLOW_TRACKING_URI"), get("MLFLOW_SECRETS_ALLOWED_HOSTS"), {
    warnings,
  }).map((h) => {
    const tls = h.tracking ? tlsFromEnv(h.match, get, warnings) : undefined;
    return {
      match: h.match,
      provider: providerName,
      secret,
      auth,
      ...(h.insecure ? { allow_insecure_http: true } : {}),
      ...(tls !== undefined ? { tls } : {}),
    };
  });

  const data: Record<string, unknown> = {
    version: 1,
    providers: { [providerName]: provider },
    hosts,
  };
  if (ttl !== undefined) data.defaults = { cache: { ttl } };
  const level = logLevel(get("MLFLOW_SECRETS_LOG_LEVEL"));
  if (level !== undefined) data.logging = { level };

  const schemaRef = options.schemaRef ?? schemaReference(".");
  const yaml = [
    `# yaml-language-server: $schema=${schemaRef}`,
    "# Built by `mlflow-secrets-auth --from-env` from the Python plugin's environment variables.",
    "# Review it, save it as mlflow-auth.yaml, then run `mlflow-secrets-auth doctor`.",
    stringify(escapeDollars(data), { lineWidth: 0 }).trimEnd(),
    "",
  ].join("\n");
  const profile = parseProfile(yaml, { source: FROM_ENV_SOURCE, env: {}, providers: REGISTRY });
  return { profile, yaml, warnings };
}

/**
 * Builds the profile for a command's `--from-env`: warnings go to stderr and, unless the
 * command writes JSON, the YAML to stdout (for the user to keep) before the command's output.
 *
 * @param io Streams and environment.
 * @param options `json`: the command writes JSON, so stdout gets nothing else.
 * @returns The profile.
 * @throws {UsageError} see {@linkcode buildProfileFromEnv}.
 *
 * @example
 * ```ts
 * import { loadFromEnv } from "./from_env.ts";
 * const vars: Record<string, string> = {
 *   MLFLOW_SECRETS_AUTH_ENABLE: "aws-secrets-manager",
 *   AWS_REGION: "eu-west-1",
 *   MLFLOW_AWS_SECRET_ID: "mlflow/prod",
 *   MLFLOW_TRACKING_URI: "https://mlflow.example.com",
 * };
 * const err: string[] = [];
 * const profile = loadFromEnv(
 *   { stdout: () => {}, stderr: (t) => err.push(t), env: (n) => vars[n], isTty: false },
 *   { json: true },
 * );
 * if (profile.source !== "<from-env>" || !err.join("").includes("every host")) throw new Error();
 * ```
 */
export function loadFromEnv(io: CliIo, options: { readonly json?: boolean } = {}): Profile {
  const built = buildProfileFromEnv(io.env);
  printWarnings(io, built.warnings);
  if (!options.json) io.stdout(`${built.yaml}\n`);
  return built.profile;
}

/** Writes each warning to stderr, prefixed with `warning:`. */
export function printWarnings(io: CliIo, warnings: readonly string[]): void {
  for (const w of warnings) io.stderr(`warning: ${w}\n`);
}

function authFromEnv(
  rawMode: string | undefined,
  header: string | undefined,
  ctx: { readonly modeVar: string; readonly warnings: string[] },
): unknown {
  let mode = (rawMode ?? "bearer").toLowerCase();
  if (mode !== "bearer" && mode !== "basic") {
    ctx.warnings.push(
      `${ctx.modeVar}="${rawMode}" is neither bearer nor basic; this profile uses bearer`,
    );
    mode = "bearer";
  }
  const custom = header !== undefined && header.toLowerCase() !== "authorization";
  if (mode === "basic") {
    ctx.warnings.push(
      'with basic auth the Python plugin also accepted a secret {"token": "user:pass"}; profiles read "user:pass" strings or {"username", "password"} objects only',
    );
    if (custom) {
      ctx.warnings.push(
        `MLFLOW_AUTH_HEADER_NAME="${header}" with basic auth: the Python plugin sent "Basic ..." in that header; profiles send Basic credentials in Authorization only, so this profile does — use a header rule ({type: header}) with a pre-encoded secret if the server needs "${header}"`,
      );
    }
    return "basic";
  }
  if (custom) return { type: "header", name: header, value: "{{token}}" };
  return "bearer";
}

function ttlFromEnv(name: string, raw: string | undefined, warnings: string[]): number | undefined {
  if (raw === undefined) return undefined;
  // Python's int(): optional sign, digits, single underscores between digits.
  if (!/^[+-]?\d+(_\d+)*$/.test(raw)) {
    warnings.push(
      `${name}="${raw}" is not an integer; the Python plugin used 300 s, and so does this profile`,
    );
    return undefined;
  }
  let ttl = Number(raw.replaceAll("_", ""));
  if (ttl <= 0) {
    warnings.push(
      `${name}=${raw} is not positive; the Python plugin used 300 s, and so does this profile`,
    );
    ttl = 300;
  } else if (ttl > 86_400) {
    warnings.push(
      `${name}=${raw} is above one day; the Python plugin clamped it to 86400 s, and so does this profile`,
    );
    ttl = 86_400;
  }
  return ttl === 300 ? undefined : ttl;
}

function logLevel(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  switch (raw.toUpperCase()) {
    case "DEBUG":
      return "debug";
    case "WARNING":
    case "WARN":
      return "warn";
    case "ERROR":
    case "CRITICAL":
    case "FATAL":
      return "error";
    default:
      return "info";
  }
}

interface HostEntry {
  readonly match: string;
  readonly insecure: boolean;
  /** Made from MLFLOW_TRACKING_URI (the server MLflow's TLS variables are for). */
  readonly tracking?: boolean;
}

/**
 * The tracking server rule's `tls:` block from MLflow's own variables, as the Python client used
 * them: `MLFLOW_TRACKING_SERVER_CERT_PATH` (a CA bundle) becomes `ca_cert`;
 * `MLFLOW_TRACKING_CLIENT_CERT_PATH` (certificate and key in one file, `requests`' `cert`) becomes
 * both `client_cert` and `client_key`. Paths are copied, never file contents.
 */
function tlsFromEnv(
  match: string,
  get: (name: string) => string | undefined,
  warnings: string[],
): Record<string, string> | undefined {
  const ca = get("MLFLOW_TRACKING_SERVER_CERT_PATH");
  const client = get("MLFLOW_TRACKING_CLIENT_CERT_PATH");
  if (/^(true|1|yes)$/i.test(get("MLFLOW_TRACKING_INSECURE_TLS") ?? "")) {
    warnings.push(
      "MLFLOW_TRACKING_INSECURE_TLS is set: the Python client skipped verifying the tracking server's certificate; profiles always verify it — give its CA with tls.ca_cert",
    );
  }
  if (ca === undefined && client === undefined) return undefined;
  if (!match.startsWith("https://")) {
    warnings.push(
      "MLFLOW_TRACKING_SERVER_CERT_PATH and MLFLOW_TRACKING_CLIENT_CERT_PATH do nothing for a plain-http tracking server; no tls block is written",
    );
    return undefined;
  }
  return {
    ...(ca !== undefined ? { ca_cert: ca } : {}),
    ...(client !== undefined ? { client_cert: client, client_key: client } : {}),
  };
}

function hostsFromEnv(
  trackingUri: string | undefined,
  allowed: string | undefined,
  ctx: { readonly warnings: string[] },
): HostEntry[] {
  const { warnings } = ctx;
  const hosts: HostEntry[] = [];
  const patterns = allowed === undefined
    ? undefined
    : allowed.split(",").map((h) => h.trim().toLowerCase()).filter((h) => h !== "");
  let trackingHost: string | undefined;
  if (trackingUri !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(trackingUri);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      warnings.push(
        `MLFLOW_TRACKING_URI is not an http(s) URL (scheme "${
          url?.protocol.replace(/:$/, "") ?? "none"
        }"): no credentials are needed for it, so no rule is made from it`,
      );
    } else {
      if (url.username !== "" || url.password !== "") {
        warnings.push(
          "MLFLOW_TRACKING_URI carries credentials (user:password@); they are not copied into the profile — remove them from the URI",
        );
      }
      trackingHost = url.hostname.toLowerCase();
      const path = url.pathname.replace(/\/+$/, "");
      const insecure = url.protocol === "http:" && !isLoopbackHost(url.hostname);
      if (insecure) {
        warnings.push(
          `MLFLOW_TRACKING_URI is plain http on a non-loopback host: the secret travels in clear text; this profile keeps it working with allow_insecure_http: true — switch the server to https`,
        );
      }
      hosts.push({ match: `${url.protocol}//${url.host}${path}`, insecure, tracking: true });
      if (patterns !== undefined && !patterns.some((p) => globMatch(p, trackingHost!))) {
        warnings.push(
          `MLFLOW_TRACKING_URI's host "${trackingHost}" is not in MLFLOW_SECRETS_ALLOWED_HOSTS, so the Python plugin never sent it the secret; this profile does — delete that rule if that was intended`,
        );
      }
    }
  }
  if (patterns === undefined) {
    warnings.push(
      `MLFLOW_SECRETS_ALLOWED_HOSTS is not set: the Python plugin sent the secret to every host MLflow talked to; this profile sends it only to ${
        hosts.length > 0 ? `"${hosts.map((h) => h.match).join('", "')}"` : "the hosts it lists"
      }`,
    );
  } else {
    let converted = false;
    for (const p of patterns) {
      if (p === trackingHost) continue;
      const wildcard = /^\*\.([^*?[\]]+)$/.exec(p);
      if (wildcard !== null && wildcard[1]!.includes(".")) {
        hosts.push({ match: `https://*.${wildcard[1]}`, insecure: false });
        converted = true;
      } else if (/[*?[\]]/.test(p)) {
        const example = p.replaceAll("*", "attacker.example").replaceAll("?", "x");
        warnings.push(
          `MLFLOW_SECRETS_ALLOWED_HOSTS pattern "${p}" is not carried over: the Python plugin's "*" matched any characters, dots included (e.g. "${example}"); list the hosts, or write "*.example.com" to match whole labels`,
        );
      } else if (/^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/.test(p)) {
        hosts.push({ match: `https://${p}`, insecure: false });
        converted = true;
      } else {
        warnings.push(
          `MLFLOW_SECRETS_ALLOWED_HOSTS entry "${p}" is not a host name; it is ignored`,
        );
      }
    }
    if (converted) {
      warnings.push(
        "MLFLOW_SECRETS_ALLOWED_HOSTS matched host names on any scheme and port; the rules made from it match https on port 443 only — edit them if a server uses another",
      );
    }
  }
  if (hosts.length === 0) {
    throw new UsageError(
      "Cannot build a profile from the environment: there is no host to send the secret to; set MLFLOW_TRACKING_URI to the tracking server's http(s) URL",
    );
  }
  return hosts;
}

/**
 * Python's `fnmatch` on lower-cased names: `*` and `?` match any character, dots included;
 * `[seq]` and `[!seq]` match sets.
 *
 * @param pattern An old `MLFLOW_SECRETS_ALLOWED_HOSTS` entry.
 * @param name A host name.
 * @returns Whether the old plugin considered the host allowed by this entry.
 *
 * @example
 * ```ts
 * import { globMatch } from "./from_env.ts";
 * if (!globMatch("mlflow.*.com", "mlflow.evil.attacker.com")) throw new Error("crosses dots");
 * ```
 */
export function globMatch(pattern: string, name: string): boolean {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end === -1) {
        re += "\\[";
      } else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`).test(name);
}

function escapeDollars(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("$", () => "$$");
  if (Array.isArray(value)) return value.map(escapeDollars);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)]));
  }
  return value;
}
