/**
 * The Deno permissions a built artifact (`bundle`, `compile`) needs to serve `proxy` for one
 * profile, as narrow as the profile allows: network access to the hosts its rules match (the
 * upstream must match one), to their OAuth2 token endpoints, to its providers and to the listen
 * address; the environment variables it names; the files its providers read; system information
 * only where an SDK asks for it; and `--allow-ffi`, with which `proxy` and `exec` make themselves
 * non-dumpable (`prctl(PR_SET_DUMPABLE, 0)` in libc) before they read a secret.
 *
 * Values come from the profile as interpolated at build time. Where a host or port is written
 * with `${VAR}`, only the run-time value is right: a variable port grants every port of the
 * host, a variable host grants network access to every host (and says so in `notes`).
 *
 * @module
 */

import type { Profile } from "../profile/profile.ts";
import { compileHostPattern } from "../profile/host_match.ts";
import { escapePointer, parseYamlSource } from "../profile/yaml_source.ts";
import type { PermissionGrant, ProviderDescriptor } from "../providers/descriptor.ts";
import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";
import { DEFAULT_LISTEN } from "./_defaults.ts";

/** Permissions, each list sorted; `"all"` means the flag without a list. */
export interface ArtifactPermissions {
  /** `--allow-net`: `host`, `host:port`, `*.domain:port`. */
  readonly net: readonly string[] | "all";
  /** `--allow-env`: names, `PREFIX_*`. */
  readonly env: readonly string[] | "all";
  /** `--allow-read`: paths; empty for none. */
  readonly read: readonly string[];
  /** `--allow-sys`: kinds such as `osRelease`; empty for none. */
  readonly sys: readonly string[] | "all";
  /** `--allow-run` (for `exec`'s child). */
  readonly run: boolean;
  /**
   * `--allow-ffi`: `proxy` and `exec` call `prctl(PR_SET_DUMPABLE, 0)` in libc, so that other
   * processes of the same user (`exec`'s child among them) cannot read their environment or
   * memory; without it they refuse to start unless given `--allow-dumpable`.
   */
  readonly ffi: boolean;
  /** Why a permission is broader than a list, or what an operator must add. */
  readonly notes: readonly string[];
}

/** Options of {@linkcode artifactPermissions}. */
export interface ArtifactPermissionOptions {
  /** The profile's YAML text, to find `${VAR}` references. */
  readonly text: string;
  /**
   * Where the proxy will listen: `host:port`, or `host` for any port. Default the profile's
   * `proxy.listen`, else the proxy's default, `127.0.0.1:5055`.
   */
  readonly listen?: string | undefined;
  /** Home directory at run time, for `~` paths. Default `$HOME` at build time. */
  readonly home?: string | undefined;
  /**
   * Also allow `exec`: running the child (`--allow-run`), an ephemeral loopback port, and the
   * whole environment (the child's is derived from it).
   */
  readonly exec?: boolean | undefined;
  /** Provider descriptors by kind: what each kind's settings need. Default the registry's. */
  readonly providers?: ReadonlyMap<string, ProviderDescriptor> | undefined;
}

/** The `proxy` command's default listen address. */
export { DEFAULT_LISTEN };

/** What the command line itself reads, whatever the profile. */
export const CLI_ENV: readonly string[] = [
  "LOG_STREAM", // yaml's parse()
  "LOG_TOKENS", // yaml's parse()
  "MLFLOW_SECRETS_AUTH_LOG_FORMAT",
  "MLFLOW_SECRETS_AUTH_LOG_LEVEL",
  "MLFLOW_SECRETS_AUTH_PROFILE",
  // MLflow's TLS variables, for the tracking server's rule (cli/_tracking_tls.ts).
  "MLFLOW_TRACKING_CLIENT_CERT_PATH",
  "MLFLOW_TRACKING_INSECURE_TLS",
  "MLFLOW_TRACKING_SERVER_CERT_PATH",
  "NO_COLOR",
];

interface Acc {
  net: Set<string>;
  netAll: boolean;
  env: Set<string>;
  envAll: boolean;
  read: Set<string>;
  sys: Set<string>;
  sysAll: boolean;
  notes: string[];
}

/**
 * Computes the permissions an artifact needs to run `proxy` with a profile.
 *
 * @param profile The validated profile.
 * @param options Text, listen address.
 * @returns The permissions.
 *
 * @example
 * ```ts
 * import { parseProfile } from "../profile/profile.ts";
 * import { artifactPermissions, permissionFlags } from "./permissions.ts";
 * const text = `
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }]
 * `;
 * const perms = artifactPermissions(parseProfile(text, { env: {} }), { text });
 * const flags = permissionFlags(perms);
 * if (!flags.includes("--allow-net=127.0.0.1:5055,mlflow.example.com:443")) throw new Error(flags.join(" "));
 * ```
 */
export function artifactPermissions(
  profile: Profile,
  options: ArtifactPermissionOptions,
): ArtifactPermissions {
  const acc: Acc = {
    net: new Set(),
    netAll: false,
    env: new Set(CLI_ENV),
    envAll: false,
    read: new Set(),
    sys: new Set(),
    sysAll: false,
    notes: [],
  };
  const raw = parseYamlSource(options.text, profile.source).data;
  const home = options.home ?? Deno.env.get("HOME") ?? "~";
  const section = profile.data.proxy as { listen?: unknown } | undefined;
  const listen = options.listen ??
    (typeof section?.listen === "string" ? section.listen : DEFAULT_LISTEN);
  acc.net.add(listen.replace(/:0$/, ""));
  if (options.exec) {
    acc.net.add("127.0.0.1");
    acc.envAll = true;
    acc.notes.push(
      "exec: --allow-run has no list (the child is chosen at run time) and --allow-env none, because the child's environment is derived from the whole environment",
    );
  }

  for (const name of variableNames(options.text)) acc.env.add(name);

  const data = profile.data;
  data.hosts.forEach((rule, i) => {
    addUrl(acc, profile, raw, `/hosts/${i}/match`, rule.match);
    // An oauth2 rule's token endpoint, where the client secret is traded for access tokens.
    if (typeof rule.auth === "object" && rule.auth.type === "oauth2_client_credentials") {
      addUrl(acc, profile, raw, `/hosts/${i}/auth/token_url`, rule.auth.token_url);
    }
    // The rule's TLS files toward the tracking server.
    for (const path of Object.values(rule.tls ?? {})) {
      if (typeof path === "string" && path !== "") {
        acc.read.add(path.startsWith("~/") ? `${home}${path.slice(1)}` : path);
        // `~/` is expanded from HOME where the artifact runs.
        if (path.startsWith("~/")) acc.env.add("HOME");
      }
    }
  });

  const used = new Set(data.hosts.map((h) => h.provider));
  const descriptors = options.providers ?? PROVIDER_DESCRIPTORS;
  for (const [name, settings] of Object.entries(data.providers)) {
    if (!used.has(name)) continue;
    const at = `/providers/${escapePointer(name)}`;
    const grant: PermissionGrant = {
      provider: name,
      secrets: data.hosts.filter((h) => h.provider === name).map((h) => h.secret),
      home,
      tilde: (p) => p.startsWith("~/") ? `${home}${p.slice(1)}` : p,
      url(pointer, url) {
        addUrl(acc, profile, raw, `${at}${pointer}`, url);
      },
      net(host) {
        acc.net.add(host);
      },
      env(variable) {
        acc.env.add(variable);
      },
      allEnv() {
        acc.envAll = true;
      },
      read(path) {
        acc.read.add(path);
      },
      sys(kind) {
        acc.sys.add(kind);
      },
      allSys() {
        acc.sysAll = true;
      },
      note(text) {
        acc.notes.push(text);
      },
    };
    descriptors.get(settings.kind)?.permissions(settings, grant);
  }

  // `host` (every port) covers `host:port`.
  for (const n of acc.net) {
    const colon = n.lastIndexOf(":");
    if (colon > 0 && !n.endsWith("]") && acc.net.has(n.slice(0, colon))) acc.net.delete(n);
  }
  // A name a `PREFIX_*` pattern covers need not be listed again.
  const prefixes = [...acc.env].filter((n) => n.endsWith("*")).map((n) => n.slice(0, -1));
  for (const n of acc.env) {
    if (!n.endsWith("*") && prefixes.some((p) => n.startsWith(p))) acc.env.delete(n);
  }
  const sorted = (s: Set<string>): string[] => [...s].sort();
  return {
    net: acc.netAll ? "all" : sorted(acc.net),
    env: acc.envAll ? "all" : sorted(acc.env),
    read: sorted(acc.read),
    sys: acc.sysAll ? "all" : sorted(acc.sys),
    run: options.exec === true,
    ffi: true,
    notes: acc.notes,
  };
}

/**
 * The `deno run` / `deno compile` flags for a set of permissions.
 *
 * @param perms Permissions.
 * @returns Flags, e.g. `["--allow-net=127.0.0.1:5055", "--allow-env=NO_COLOR"]`.
 *
 * @example
 * ```ts
 * import { permissionFlags } from "./permissions.ts";
 * const flags = permissionFlags({
 *   net: ["127.0.0.1:5055"], env: "all", read: [], sys: ["osRelease"], run: false, ffi: true,
 *   notes: [],
 * });
 * if (flags.join(" ") !== "--allow-net=127.0.0.1:5055 --allow-env --allow-sys=osRelease --allow-ffi") {
 *   throw new Error(flags.join(" "));
 * }
 * ```
 */
export function permissionFlags(perms: ArtifactPermissions): string[] {
  const flag = (name: string, value: readonly string[] | "all"): string[] =>
    value === "all"
      ? [`--allow-${name}`]
      : value.length === 0
      ? []
      : [`--allow-${name}=${value.join(",")}`];
  return [
    ...flag("net", perms.net),
    ...flag("env", perms.env),
    ...flag("read", perms.read),
    ...flag("sys", perms.sys),
    ...(perms.run ? ["--allow-run"] : []),
    ...(perms.ffi ? ["--allow-ffi"] : []),
  ];
}

/**
 * Quotes arguments for a POSIX shell, only where needed.
 *
 * @param args Arguments.
 * @returns One command line.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./permissions.ts";
 * if (shellQuote(["deno", "--allow-env=AWS_*"]) !== "deno '--allow-env=AWS_*'") throw new Error();
 * ```
 */
export function shellQuote(args: readonly string[]): string {
  return args.map((a) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}

/**
 * Names of the variables a profile text interpolates (`${NAME}`, `${NAME:-default}`).
 *
 * @param text Profile YAML.
 * @returns Sorted names.
 *
 * @example
 * ```ts
 * import { variableNames } from "./permissions.ts";
 * if (variableNames("a: ${B}\nc: $${D}\n").join() !== "B") throw new Error("wrong");
 * ```
 */
export function variableNames(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)) {
    if (m[1] !== undefined) names.add(m[1]);
  }
  return [...names].sort();
}

/**
 * Adds the network grant for a URL-valued field: `host:port` from the build-time value, unless
 * the source wrote the host or port with a variable (then known only at run time).
 */
function addUrl(acc: Acc, profile: Profile, raw: unknown, pointer: string, value: string): void {
  const written = profile.interpolated.has(pointer) ? rawAt(raw, pointer) : undefined;
  if (typeof written === "string" && written.includes("${")) {
    // Each `${...}` becomes one marker character, so a `:` inside `${VAR:-default}` is not
    // taken for the port separator.
    const marked = written.replace(/\$\{[^}]*\}/g, VARIABLE);
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(\*\.)?([^/?#]*)/.exec(marked);
    const authority = m?.[2] ?? VARIABLE;
    const colon = authority.startsWith("[")
      ? authority.indexOf("]") + 1
      : authority.lastIndexOf(":");
    const host = colon <= 0 ? authority : authority.slice(0, colon);
    const port = colon <= 0 ? "" : authority.slice(colon + 1);
    if (host.includes(VARIABLE) || host === "") {
      acc.netAll = true;
      acc.notes.push(
        `${pointer} takes its host from a variable, known only at run time: --allow-net has no list`,
      );
      return;
    }
    if (port.includes(VARIABLE)) {
      acc.net.add(`${m?.[1] ?? ""}${host.toLowerCase()}`);
      acc.notes.push(
        `${pointer} takes its port from a variable: --allow-net grants every port of ${host}`,
      );
      return;
    }
  }
  try {
    const p = compileHostPattern(value);
    acc.net.add(`${p.wildcard ? "*." : ""}${p.host}:${p.port}`);
  } catch {
    acc.netAll = true;
    acc.notes.push(`${pointer} is not a URL with a host: --allow-net has no list`);
  }
}

const VARIABLE = "\u0000";

function rawAt(data: unknown, pointer: string): unknown {
  let node = data;
  for (const part of pointer.split("/").slice(1)) {
    const key = part.replaceAll("~1", "/").replaceAll("~0", "~");
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
