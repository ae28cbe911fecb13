/**
 * Helpers for the `bundle` and `compile` tests: an in-process CLI with captured output, and
 * profiles that point at loopback peers whose ports are only known at run time.
 */

import type { CliIo } from "../../cli/io.ts";

/** A CLI io that records output and reads a fixed environment. */
export function captureIo(env: Readonly<Record<string, string>> = {}): {
  io: CliIo;
  out: string[];
  err: string[];
} {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      env: (n) => Object.hasOwn(env, n) ? env[n] : undefined,
      isTty: false,
    },
    out,
    err,
  };
}

/**
 * An env-provider profile for a tracking endpoint on loopback whose port is given at run time
 * (`TRACKING_PORT`).
 */
export const ENV_PROFILE = `# An air-gapped test profile.
version: 1
providers:
  ci:
    kind: env
hosts:
  - match: http://127.0.0.1:\${TRACKING_PORT}
    provider: ci
    secret: { var: MLFLOW_TOKEN }
    auth: bearer
`;

/**
 * An AWS Secrets Manager profile (moto on loopback, port given at run time as `MOTO_PORT`):
 * basic auth from a JSON secret.
 */
export const AWS_PROFILE = `# An air-gapped test profile with a real secret provider.
version: 1
providers:
  aws:
    kind: aws-secrets-manager
    region: eu-west-1
    endpoint: http://127.0.0.1:\${MOTO_PORT}
hosts:
  - match: http://127.0.0.1:\${TRACKING_PORT}
    provider: aws
    secret: { id: mlflow/airgap/auth }
    auth: basic
`;

/** Writes a file in a new temporary directory; returns both paths. */
export async function tempFile(name: string, text: string): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "msa-build-test-" });
  await Deno.writeTextFile(`${dir}/${name}`, text);
  return { dir, path: `${dir}/${name}` };
}

/**
 * The npm packages a bundle holds, from the module comments esbuild leaves (paths into Deno's
 * npm cache, or into a `node_modules` folder), named as `node_modules/.deno` names them:
 * `@aws-sdk+client-secrets-manager@3.1164.0`.
 */
export function bundledPackages(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/^\/\/ (?:\S*\/)?node_modules\/\.deno\/([^/\s]+)\//gm)) {
    found.add(m[1]!);
  }
  const cache = /^\/\/ \S*\/npm\/registry\.npmjs\.org\/((?:@[^/\s]+\/)?[^/\s@]+)\/([^/\s]+)\//gm;
  for (const m of code.matchAll(cache)) found.add(`${m[1]!.replace("/", "+")}@${m[2]!}`);
  return [...found].sort();
}

/** The project's own modules inside a bundle (from esbuild's `// path` comments). */
export function bundledModules(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/^\/\/ ((?:providers|runtime|config|cli)\/[\w.]+\.ts)$/gm)) {
    found.add(m[1]!);
  }
  return [...found].sort();
}

/** Runs a command; returns exit code, output and wall time. */
export async function run(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  const out = await new Deno.Command(cmd, {
    args: [...args],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env, clearEnv: true } : {}),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    ms: Math.round(performance.now() - started),
  };
}

/** A Vault profile (the Vault double on loopback, port given at run time as `VAULT_PORT`). */
export const VAULT_PROFILE = `# An air-gapped test profile with Vault and AppRole.
version: 1
providers:
  vault:
    kind: vault
    address: http://127.0.0.1:\${VAULT_PORT}
    auth: { method: approle, role_id_env: VAULT_ROLE_ID, secret_id_env: VAULT_SECRET_ID }
hosts:
  - match: http://127.0.0.1:\${TRACKING_PORT}
    provider: vault
    secret: { path: mlflow/auth, mount: kv, field: token }
    auth: bearer
`;
