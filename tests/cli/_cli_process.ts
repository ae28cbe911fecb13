/**
 * The real CLI (`deno run -A cli.ts …`) as a child process with a clean environment: only `PATH`,
 * `NO_COLOR`, the Deno cache and the variables a test names; HOME is a fresh directory (see
 * `peerEnv`). Used where
 * a test must see what the process itself writes, and that it survives.
 */

import { peerEnv, watchListening } from "../_peers/_process.ts";

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
export interface CliProxy extends AsyncDisposable {
  readonly url: string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and waits: exit code and all of stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/**
 * Starts `cli.ts proxy --listen 127.0.0.1:0 …args` and waits for its start-up line.
 *
 * @param args Flags after `proxy`.
 * @param env Variables for the child (see {@linkcode cliEnv}).
 * @returns The running proxy.
 */
export async function startCliProxy(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CliProxy> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "proxy", "--listen", "127.0.0.1:0", ...args],
    env: cliEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const watch = watchListening(child);
  let stopping: Promise<{ code: number; stderr: string }> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      if (!watch.exited()) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Exited meanwhile.
        }
      }
      const s = await watch.status;
      await watch.reading;
      return { code: s.code, stderr: watch.stderr() };
    })();
  let url: string;
  try {
    url = await watch.url;
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    alive: () => !watch.exited(),
    stderr: watch.stderr,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
