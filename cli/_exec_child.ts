/**
 * The child of `exec`: spawned with exactly the environment it is given, SIGINT and SIGTERM
 * forwarded (a Ctrl-C the terminal already delivered is not sent twice, a signal during the
 * spawn is held and forwarded once the child runs), and its exit status turned into an exit code.
 *
 * @module
 */

import type { ProxyHandle } from "../http/proxy.ts";
import type { CliIo } from "./io.ts";
import { installSignalListeners, removeSignalListeners } from "./proxy.ts";

/** What {@linkcode runChild} takes from `exec`'s test hooks. */
export interface ChildDeps {
  /** The child's stdio; default `inherit`. */
  readonly stdio?: "inherit" | "null" | undefined;
  /** Called just before the child is spawned (tests: a signal in that instant). */
  readonly beforeSpawn?: (() => void) | undefined;
  /** Called once the child is running, with its pid and the proxy (tests). */
  readonly onSpawn?: ((info: { pid: number; proxy?: ProxyHandle }) => void) | undefined;
}

/** Linux signal numbers, for the 128 + n exit code. */
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/**
 * Runs the command until it exits.
 *
 * @param command The program and its arguments.
 * @param env The child's whole environment (nothing else is inherited).
 * @param io Streams, for a command that cannot be run.
 * @param deps Test hooks.
 * @param proxy The proxy the child talks to, for `onSpawn`.
 * @returns The child's exit code; 128 + the signal number when a signal killed it; 127 when the
 *   command is not found, 126 when it cannot run.
 */
export async function runChild(
  command: readonly string[],
  env: Record<string, string>,
  io: CliIo,
  deps: ChildDeps,
  proxy: ProxyHandle | undefined,
): Promise<number> {
  const [program, ...args] = command as [string, ...string[]];
  const stdio = deps.stdio ?? "inherit";
  // The listeners are in place before the child exists: a signal that arrives while it is being
  // spawned is held and forwarded as soon as it runs, instead of killing this process and leaving
  // the child running without its proxy.
  // Ctrl-C on a terminal sends SIGINT to the whole foreground process group, the child included:
  // forwarding that one too would interrupt the child twice (twice KeyboardInterrupt in Python).
  // So a SIGINT is forwarded when this process is not in the terminal's foreground group (a
  // supervisor's kill), or when it is the second one.
  let child: Deno.ChildProcess | undefined;
  const held: Deno.Signal[] = [];
  let interruptsSeen = 0;
  const forward = (signal: Deno.Signal) => {
    if (child === undefined) return void held.push(signal);
    try {
      child.kill(signal);
    } catch {
      // The child has already exited.
    }
  };
  const listeners = installSignalListeners(["SIGINT", "SIGTERM"], (signal) => () => {
    if (signal === "SIGINT" && interruptsSeen++ === 0 && inForegroundOfTerminal()) return;
    forward(signal);
  });
  try {
    deps.beforeSpawn?.();
    child = new Deno.Command(program, {
      args,
      env,
      clearEnv: true,
      stdin: stdio,
      stdout: stdio,
      stderr: stdio,
    }).spawn();
  } catch (error) {
    removeSignalListeners(listeners);
    if (error instanceof Deno.errors.NotFound) {
      io.stderr(`mlflow-secrets-auth exec: cannot run "${program}": command not found\n`);
      return 127;
    }
    io.stderr(
      `mlflow-secrets-auth exec: cannot run "${program}": ${
        error instanceof Error ? error.message : String(error)
      }\n`,
    );
    return 126;
  }
  for (const signal of held.splice(0)) forward(signal);
  try {
    deps.onSpawn?.({ pid: child.pid, ...(proxy ? { proxy } : {}) });
    const status = await child.status;
    const signo = status.signal === null ? undefined : SIGNAL_NUMBERS[status.signal];
    return signo === undefined ? status.code : 128 + signo;
  } finally {
    removeSignalListeners(listeners);
  }
}

/** Whether this process is in its terminal's foreground process group (Linux `/proc`). */
function inForegroundOfTerminal(): boolean {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    // After "pid (comm) ": state ppid pgrp session tty_nr tpgid …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(fields[2]);
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}
