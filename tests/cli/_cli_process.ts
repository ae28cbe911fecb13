/**
 * The real CLI (`deno run -A cli.ts …`) as a child process with a clean environment: only `PATH`,
 * `NO_COLOR`, the Deno cache and the variables a test names; HOME is a fresh directory (see
 * `peerEnv`). Used where
 * a test must see what the process itself writes, and that it survives.
 */

import { peerEnv } from "../_peers/_process.ts";
import { type ProxyProcess, startProxyProcess } from "../e2e/_proxy_process.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** What a finished CLI process wrote. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment of a CLI child: `PATH`, `NO_COLOR`, `DENO_DIR` (the cache, so nothing is
 * fetched), a fresh `HOME`, plus `env`. Nothing else of this process's environment passes.
 *
 * @param env The variables the test gives.
 * @returns The whole environment.
 */
export function cliEnv(env: Readonly<Record<string, string>> = {}): Record<string, string> {
  return peerEnv({ NO_COLOR: "1", ...env });
}

/**
 * Runs `cli.ts` with `args` and waits for it.
 *
 * @param args Command and flags.
 * @param env Variables for the child (see {@linkcode cliEnv}).
 * @returns Exit code, stdout and stderr.
 */
export async function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: cliEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** A `cli.ts proxy` child: its URL and what it wrote so far. */
export type CliProxy = ProxyProcess;

/**
 * Starts `cli.ts proxy --listen 127.0.0.1:0 …args` and waits for its start-up line.
 *
 * @param args Flags after `proxy`.
 * @param env Variables for the child (see {@linkcode cliEnv}).
 * @returns The running proxy.
 */
export function startCliProxy(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CliProxy> {
  return startProxyProcess(args, { NO_COLOR: "1", ...env });
}
