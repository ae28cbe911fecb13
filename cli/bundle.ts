/**
 * `bundle`: one self-contained JavaScript file with an embedded profile and only the provider
 * code that profile uses, for hosts without a registry (air-gapped clusters). It runs with
 * nothing but the `deno` binary:
 *
 * ```sh
 * mlflow-secrets-auth bundle --profile mlflow-auth.yaml -o dist/mlflow-auth.js
 * deno run --no-config --no-prompt <printed permissions> dist/mlflow-auth.js proxy --upstream https://mlflow.company.com
 * ```
 *
 * The profile is validated first (with this machine's environment: set the variables it names).
 * It is embedded as written and interpolated again where the bundle runs.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { basename } from "node:path";
import type { Profile } from "../profile/profile.ts";
import { buildBundle, formatBytes, sourceRoot } from "./_artifact.ts";
import type { CliIo } from "./io.ts";
import { loadCliProfile } from "./load.ts";
import {
  type ArtifactPermissions,
  artifactPermissions,
  permissionFlags,
  shellQuote,
} from "./permissions.ts";

/** Options of {@linkcode runBundle}. */
export interface BundleOptions {
  /** Profile file (else `MLFLOW_SECRETS_AUTH_PROFILE`, else `./mlflow-auth.yaml`). */
  readonly profile?: string | undefined;
  /** Output file. Default `dist/mlflow-auth.js`. */
  readonly output?: string | undefined;
  /** Where the proxy will listen, for its permission: `host:port`, or `host` for any port. */
  readonly listen?: string | undefined;
  /** Also allow the `exec` command (`--allow-run`, the whole environment). */
  readonly exec?: boolean | undefined;
  /** Minify the bundle. */
  readonly minify?: boolean | undefined;
  /** Machine-readable report. */
  readonly json?: boolean | undefined;
}

/** What `bundle --json` prints. */
export interface BundleReport {
  /** Output path. */
  readonly output: string;
  /** Size in bytes. */
  readonly bytes: number;
  /** Provider kinds inside. */
  readonly providers: readonly string[];
  /** Name of the embedded profile. */
  readonly embedded: string;
  /** The permissions `proxy` needs. */
  readonly permissions: ArtifactPermissions;
  /** The `deno run` command, up to and including the bundle path. */
  readonly run: readonly string[];
  /** Build time in milliseconds. */
  readonly ms: number;
}

/**
 * Builds the bundle and prints how to run it.
 *
 * @param options Flags.
 * @param io Streams.
 * @returns 0 on success.
 * @throws {ProfileError} when the profile is invalid.
 * @throws {UsageError} when not run from the sources.
 */
export async function runBundle(options: BundleOptions, io: CliIo): Promise<number> {
  const root = await sourceRoot("bundle");
  const { profile, path } = await loadCliProfile(options.profile, io);
  const text = await Deno.readTextFile(path);
  const output = options.output ?? "dist/mlflow-auth.js";
  const embedded = `embedded:${basename(path)}`;
  const built = await buildBundle(profile, {
    root,
    output,
    text,
    source: embedded,
    ...(options.minify ? { minify: true } : {}),
  });
  const permissions = artifactPermissions(profile, {
    text,
    listen: options.listen,
    exec: options.exec,
  });
  const run = [
    "deno",
    "run",
    "--no-config",
    "--no-prompt",
    ...permissionFlags(permissions),
    output,
  ];
  const upstream = exampleUpstream(profile);
  const banner = [
    `// mlflow-secrets-auth ${denoJson.version}, bundled by Deno ${Deno.version.deno}, with the embedded profile "${
      basename(path)
    }" and the providers: ${built.kinds.join(", ")}.`,
    `// Run: ${shellQuote(run)} proxy --upstream ${upstream}`,
    "",
  ].join("\n");
  const code = await Deno.readTextFile(output);
  await Deno.writeTextFile(output, banner + code);
  const bytes = built.bytes + new TextEncoder().encode(banner).length;
  const report: BundleReport = {
    output,
    bytes,
    providers: built.kinds,
    embedded,
    permissions,
    run,
    ms: built.ms,
  };
  if (options.json) {
    io.stdout(JSON.stringify(report, null, 2) + "\n");
    return 0;
  }
  io.stdout(
    `Bundled ${output}: ${formatBytes(bytes)} in ${(built.ms / 1000).toFixed(1)} s, profile "${
      basename(path)
    }" embedded, providers: ${built.kinds.join(", ")}\n`,
  );
  io.stdout(`Run it where only the deno binary (${Deno.version.deno}) is installed:\n`);
  io.stdout(`  ${shellQuote(run)} proxy --upstream ${upstream}\n`);
  for (const note of permissions.notes) io.stdout(`Note: ${note}\n`);
  return 0;
}

/** The first exact host rule, as an example `--upstream`. */
export function exampleUpstream(profile: Profile): string {
  const rule = profile.data.hosts.find((h) => !h.match.includes("*."));
  return rule?.match ?? "https://mlflow.company.com";
}
