/**
 * The `proxy` command as a separate process (`deno run -A cli.ts proxy …`), so that its memory
 * can be read from `/proc` while it streams.
 */

import { MLFLOW_QUIET_ENV } from "../_peers/mlflow.ts";
import { peerEnv, watchListening } from "../_peers/_process.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** A running proxy process. */
export interface ProxyProcess extends AsyncDisposable {
  /** The proxy's base URL, from its start-up line. */
  readonly url: string;
  /** Its pid. */
  readonly pid: number;
  /** Current and peak resident memory, in bytes (Linux `/proc/<pid>/status`). */
  memory(): Promise<{ rss: number; peak: number }>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Everything it wrote on stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and waits: exit code and stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/**
 * Starts `cli.ts proxy` with the given flags (`--listen 127.0.0.1:0` added) and waits for its
 * start-up line.
 *
 * @param args Flags after `proxy`.
 * @param env Extra environment variables.
 * @returns The process.
 */
export async function startProxyProcess(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<ProxyProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "proxy", "--listen", "127.0.0.1:0", ...args],
    env: peerEnv({ ...MLFLOW_QUIET_ENV, ...env }),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const watch = watchListening(child);
  let stopped: Promise<{ code: number; stderr: string }> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited.
      }
      const status = await watch.status;
      await watch.reading;
      return { code: status.code, stderr: watch.stderr() };
    })();
    return stopped;
  };
  let url: string;
  try {
    url = await watch.url;
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    pid: child.pid,
    async memory() {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const kb = (key: string) =>
        Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
      return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
    },
    alive: () => !watch.exited(),
    stderr: watch.stderr,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
