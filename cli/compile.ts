/**
 * `compile`: one executable (`deno compile`) with an embedded profile, the schema, only the
 * provider code the profile uses, and the narrowest permissions that profile needs baked in.
 * Its default profile is the embedded one; `--profile` still overrides it (given read access).
 *
 * ```sh
 * mlflow-secrets-auth compile --profile mlflow-auth.yaml -o dist/mlflow-auth [--target x86_64-unknown-linux-gnu]
 * dist/mlflow-auth proxy --upstream https://mlflow.company.com
 * ```
 *
 * The executable is the bundle (see `bundle`) appended to the Deno runtime `denort`, which
 * `deno compile` downloads from dl.deno.land unless `DENORT_BIN` names one or it is cached.
 * Before building anything, this command checks that a runtime can be had, and fails at once
 * (with a short network probe at most) when it cannot, naming `DENORT_BIN` and the bundle route.
 *
 * @module
 */

import { basename, resolve } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { buildBundle, formatBytes, sourceRoot } from "./_artifact.ts";
import { type CliIo, commandOf } from "./io.ts";
import { loadCliProfile } from "./load.ts";
import { type ArtifactPermissions, artifactPermissions, permissionFlags } from "./permissions.ts";
import { exampleUpstream } from "./bundle.ts";

/** Options of {@linkcode runCompile}. */
export interface CompileOptions {
  /** Profile file (else `MLFLOW_SECRETS_AUTH_PROFILE`, else `./mlflow-auth.yaml`). */
  readonly profile?: string | undefined;
  /** Output executable. Default `dist/mlflow-auth` (`.exe` added for Windows by deno). */
  readonly output?: string | undefined;
  /** Target triple, e.g. `aarch64-unknown-linux-gnu`. Default this machine's. */
  readonly target?: string | undefined;
  /** Where the proxy will listen, for its permission: `host:port`, or `host` for any port. */
  readonly listen?: string | undefined;
  /** Also allow the `exec` command (`--allow-run`, the whole environment). */
  readonly exec?: boolean | undefined;
  /** Machine-readable report. */
  readonly json?: boolean | undefined;
  /** How the runtime is found; for tests. */
  readonly runtime?: RuntimeProbeOptions | undefined;
}

/** How {@linkcode findCompileRuntime} looks for the runtime. */
export interface RuntimeProbeOptions {
  /** The download URL to probe. Default the one `deno compile` uses. */
  readonly url?: string;
  /** Probe timeout in milliseconds. Default 5000. */
  readonly timeoutMs?: number;
  /** fetch used for the probe. */
  readonly fetch?: typeof fetch;
  /** The `deno` binary. Default `Deno.execPath()`. */
  readonly deno?: string;
  /** The profile path, for the suggested `bundle` command. */
  readonly profile?: string;
  /** How the user runs this program, for the suggested command. Default `mlflow-secrets-auth`. */
  readonly command?: string;
}

/** Where `deno compile` will take its runtime from. */
export type CompileRuntime =
  | { readonly source: "DENORT_BIN"; readonly path: string }
  | { readonly source: "cache"; readonly path: string }
  | { readonly source: "download"; readonly url: string };

/** The runtime cannot be had: the message says why and what to do. */
export class CompileRuntimeError extends Error {
  /**
   * @param message What is wrong and what to do.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CompileRuntimeError";
  }
}

/** What `compile --json` prints. */
export interface CompileReport {
  readonly output: string;
  readonly bytes: number;
  readonly bundleBytes: number;
  readonly target: string;
  readonly runtime: CompileRuntime["source"];
  readonly providers: readonly string[];
  readonly embedded: string;
  readonly permissions: ArtifactPermissions;
  readonly ms: number;
}

/**
 * Builds the executable.
 *
 * @param options Flags.
 * @param io Streams and environment.
 * @returns 0 on success, 1 when no runtime can be had or `deno compile` fails.
 * @throws {ProfileError} when the profile is invalid.
 */
export async function runCompile(options: CompileOptions, io: CliIo): Promise<number> {
  const started = performance.now();
  const root = await sourceRoot("compile");
  const { profile, path } = await loadCliProfile(options.profile, io);
  const text = await Deno.readTextFile(path);
  const target = options.target ?? Deno.build.target;
  const output = options.output ?? "dist/mlflow-auth";
  const deno = options.runtime?.deno ?? Deno.execPath();
  let runtime: CompileRuntime;
  try {
    runtime = await findCompileRuntime(target, io.env, {
      profile: path,
      command: commandOf(io),
      ...options.runtime,
    });
  } catch (error) {
    if (!(error instanceof CompileRuntimeError)) throw error;
    io.stderr(`${error.message}\n`);
    return 1;
  }
  const embedded = `embedded:${basename(path)}`;
  const permissions = artifactPermissions(profile, {
    text,
    listen: options.listen,
    exec: options.exec,
  });
  const work = await Deno.makeTempDir({ prefix: "mlflow-secrets-auth-compile-" });
  try {
    const bundle = `${work}/mlflow-auth.js`;
    const built = await buildBundle(profile, {
      root,
      output: bundle,
      text,
      source: embedded,
      deno,
    });
    const dir = output.replace(/[/\\][^/\\]*$/, "");
    if (dir !== output && dir !== "") await Deno.mkdir(dir, { recursive: true });
    const denortBin = io.env("DENORT_BIN");
    const out = await new Deno.Command(deno, {
      args: [
        "compile",
        "--quiet",
        "--no-config",
        "--no-prompt",
        ...permissionFlags(permissions),
        "--target",
        target,
        "--output",
        output,
        bundle,
      ],
      env: { NO_COLOR: "1", ...(denortBin ? { DENORT_BIN: denortBin } : {}) },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const why = new TextDecoder().decode(out.stderr).trim().split("\n").slice(0, 8).join("\n");
      io.stderr(`Cannot compile: deno compile failed (exit ${out.code}):\n${why}\n`);
      return 1;
    }
    const file = target.includes("windows") && !output.endsWith(".exe") ? `${output}.exe` : output;
    if (target === Deno.build.target) {
      const problem = await checkExecutable(resolve(file), commandOf(io));
      if (problem !== undefined) {
        await Deno.remove(file).catch(() => {});
        io.stderr(`${problem}\n`);
        return 1;
      }
    }
    const bytes = (await Deno.stat(file)).size;
    const report: CompileReport = {
      output: file,
      bytes,
      bundleBytes: built.bytes,
      target,
      runtime: runtime.source,
      providers: built.kinds,
      embedded,
      permissions,
      ms: Math.round(performance.now() - started),
    };
    if (options.json) {
      io.stdout(JSON.stringify(report, null, 2) + "\n");
      return 0;
    }
    io.stdout(
      `Compiled ${file} for ${target}: ${formatBytes(bytes)} (bundle ${
        formatBytes(built.bytes)
      }), profile "${basename(path)}" embedded, providers: ${built.kinds.join(", ")}\n`,
    );
    io.stdout(`Permissions baked in: ${permissionFlags(permissions).join(" ") || "(none)"}\n`);
    io.stdout(`Run it: ${file} proxy --upstream ${exampleUpstream(profile)}\n`);
    for (const note of permissions.notes) io.stdout(`Note: ${note}\n`);
    return 0;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Finds where `deno compile` will take the runtime from: `DENORT_BIN`, the download cache, or a
 * download that a short probe shows possible. Never waits longer than the probe's timeout.
 *
 * @param target Target triple.
 * @param env Environment lookup (`DENORT_BIN`, `DENO_DIR`).
 * @param options Probe URL, timeout, fetch.
 * @returns The runtime's source.
 * @throws {CompileRuntimeError} naming `DENORT_BIN` and the bundle route, when there is none.
 *
 * @example
 * ```ts
 * import { CompileRuntimeError, findCompileRuntime } from "./compile.ts";
 * const missing = await findCompileRuntime(
 *   "x86_64-unknown-linux-gnu",
 *   (n) => n === "DENORT_BIN" ? "/nonexistent/denort" : undefined,
 * ).catch((e) => e);
 * if (!(missing instanceof CompileRuntimeError) || !missing.message.includes("bundle")) {
 *   throw new Error("no clear failure");
 * }
 * ```
 */
export async function findCompileRuntime(
  target: string,
  env: (name: string) => string | undefined,
  options: RuntimeProbeOptions = {},
): Promise<CompileRuntime> {
  const version = Deno.version.deno;
  const archive = `denort-${target}.zip`;
  const instead = `or build a bundle instead, which runs with nothing but the deno binary: ${
    options.command ?? "mlflow-secrets-auth"
  } bundle --profile ${options.profile ?? "<profile>"} -o dist/mlflow-auth.js`;
  const denortBin = env("DENORT_BIN");
  if (denortBin !== undefined && denortBin !== "") {
    const cli = await isDenoCli(denortBin);
    if (cli === "missing") {
      throw new CompileRuntimeError(
        `Cannot compile: DENORT_BIN names "${denortBin}", which does not exist; point it at a denort binary of Deno ${version} for ${target}, ${instead}`,
      );
    }
    if (cli === "cli") {
      throw new CompileRuntimeError(
        `Cannot compile: DENORT_BIN names "${denortBin}", which is the deno command line, not the denort runtime (a binary built on it would only be the deno command line); point DENORT_BIN at denort ${version} for ${target} (from ${archive} of the Deno release), ${instead}`,
      );
    }
    return { source: "DENORT_BIN", path: denortBin };
  }
  const denoDir = env("DENO_DIR") || await defaultDenoDir(options.deno ?? Deno.execPath());
  if (denoDir !== undefined) {
    const cached = `${denoDir}/dl/release/v${version}/${archive}`;
    if (await Deno.stat(cached).then((s) => s.isFile, () => false)) {
      return { source: "cache", path: cached };
    }
  }
  const url = options.url ?? `https://dl.deno.land/release/v${version}/${archive}`;
  const timeoutMs = options.timeoutMs ?? 5_000;
  let why: string;
  try {
    const res = await (options.fetch ?? fetch)(url, {
      method: "HEAD",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    if (res.ok) return { source: "download", url };
    why = res.status === 404
      ? `it has no runtime for target "${target}" (404)`
      : `it answered ${res.status}`;
  } catch (cause) {
    why = cause instanceof DOMException && cause.name === "TimeoutError"
      ? `it did not answer within ${timeoutMs} ms`
      : cause instanceof Deno.errors.NotCapable
      ? "network access to it is not permitted (--allow-net)"
      : `it cannot be reached (${describeCause(cause)})`;
  }
  throw new CompileRuntimeError(
    `Cannot compile: the Deno runtime that compiled programs start from (${archive}, Deno ${version}) is not cached and cannot be downloaded from ${
      new URL(url).host
    }: ${why}; set DENORT_BIN to a denort binary of Deno ${version} for ${target}, ${instead}`,
  );
}

/** The innermost message of an error chain (fetch wraps the reason in its `cause`). */
function describeCause(error: unknown): string {
  let e = error;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** Runs `path --version`: a deno command line prints `deno X.Y.Z`; denort alone refuses. */
async function isDenoCli(path: string): Promise<"cli" | "runtime" | "missing"> {
  if (!await Deno.stat(path).then((s) => s.isFile, () => false)) return "missing";
  try {
    const out = await new Deno.Command(path, {
      args: ["--version"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    return /^deno \d/.test(new TextDecoder().decode(out.stdout)) ? "cli" : "runtime";
  } catch {
    return "runtime";
  }
}

async function defaultDenoDir(deno: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(deno, {
      args: ["info", "--json"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir?: string };
    return info.denoDir;
  } catch {
    return undefined;
  }
}

/** A compiled program must answer `--version` with ours, not with deno's. */
async function checkExecutable(file: string, command: string): Promise<string | undefined> {
  const out = await new Deno.Command(file, {
    args: ["--version"],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.success && text === denoJson.version) return undefined;
  if (/^deno \d/.test(text)) {
    return `Cannot compile: the result behaves as the deno command line, not as mlflow-secrets-auth (its runtime is a deno binary, not denort); set DENORT_BIN to a denort binary, or build a bundle instead: ${command} bundle`;
  }
  return `Cannot compile: the result does not run (\`${file} --version\` printed "${
    text.slice(0, 200)
  }", exit ${out.code}); build a bundle instead: ${command} bundle`;
}
