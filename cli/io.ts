/**
 * The command line's view of the outside world, injected so tests run `main()` in-process.
 *
 * @module
 */

/** Streams, environment and terminal facts. */
export interface CliIo {
  /** Writes to standard output. */
  readonly stdout: (text: string) => void;
  /** Writes to standard error. */
  readonly stderr: (text: string) => void;
  /** Reads an environment variable. */
  readonly env: (name: string) => string | undefined;
  /** Whether stdout is a terminal (spinners, colour). */
  readonly isTty: boolean;
  /**
   * Asks a question on the terminal (`init`); null when input ends. Absent when stdin is not a
   * terminal, so nothing waits for an answer that cannot come.
   */
  readonly prompt?: (message: string, defaultValue?: string) => string | null;
  /**
   * How the profile option was spelled on the command line (`-p` or `--profile`), so that a
   * message names the flag the user typed; absent when it was not given.
   */
  readonly profileOption?: string;
  /**
   * How the user runs this program, for hints that show a command: `mlflow-secrets-auth` when
   * installed, else e.g. `deno run -A cli.ts`. Default `mlflow-secrets-auth`.
   */
  readonly command?: () => string;
}

/**
 * The command a hint should show to run this program again.
 *
 * @param io Streams and environment.
 * @returns E.g. `mlflow-secrets-auth` or `deno run -A cli.ts`.
 */
export function commandOf(io: CliIo): string {
  return io.command?.() ?? "mlflow-secrets-auth";
}

/**
 * How the profile option was spelled in `args` (the last spelling wins, as the last value
 * does), before any `--`.
 *
 * @param args Arguments after the program name.
 * @returns `-p`, `--profile`, or undefined.
 *
 * @example
 * ```ts
 * import { profileOptionOf } from "./io.ts";
 * if (profileOptionOf(["validate", "-p", "a.yaml"]) !== "-p") throw new Error("-p");
 * if (profileOptionOf(["exec", "--", "tool", "--profile", "x"]) !== undefined) throw new Error("--");
 * ```
 */
export function profileOptionOf(args: readonly string[]): string | undefined {
  let found: string | undefined;
  for (const a of args) {
    if (a === "--") break;
    if (a === "--profile" || a.startsWith("--profile=")) found = "--profile";
    else if (/^-p/.test(a)) found = "-p";
  }
  return found;
}

/**
 * How this process was started, as a command to type: the installed `mlflow-secrets-auth` when a
 * command of that name on PATH runs this very file, else `deno run -A <path to cli.ts>`; a built
 * artifact names itself. Asks for no permission: without read access it answers
 * `mlflow-secrets-auth`.
 */
function selfCommand(): string {
  const main = Deno.mainModule;
  if (!main.startsWith("file:")) return `deno run -A ${main}`;
  const path = decodeURIComponent(new URL(main).pathname);
  const name = path.slice(path.lastIndexOf("/") + 1);
  const exe = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(exe.slice(exe.lastIndexOf("/") + 1))) return exe; // compiled
  if (name !== "cli.ts") return `deno run <permissions> ${name}`; // a bundle
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  if (!granted({ name: "read" }) || !granted({ name: "env", variable: "PATH" })) {
    return "mlflow-secrets-auth";
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    try {
      if (Deno.readTextFileSync(`${dir}/mlflow-secrets-auth`).includes(main)) {
        return "mlflow-secrets-auth";
      }
    } catch {
      // Not there, or not a text file.
    }
  }
  const cwd = Deno.cwd();
  return `deno run -A ${path.startsWith(`${cwd}/`) ? path.slice(cwd.length + 1) : path}`;
}

const encoder = new TextEncoder();

/** The real process: Deno's stdout/stderr and environment. */
export function processIo(): CliIo {
  return {
    stdout: (t) => writeAll(Deno.stdout, t),
    stderr: (t) => writeAll(Deno.stderr, t),
    env: (name) => {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined;
      }
    },
    isTty: Deno.stdout.isTerminal(),
    command: selfCommand,
    ...(Deno.stdin.isTerminal()
      ? {
        prompt: (message: string, defaultValue?: string) =>
          globalThis.prompt(message, defaultValue),
      }
      : {}),
  };
}

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

/** Whether colour may be used: a TTY and no `NO_COLOR`. */
export function useColour(io: CliIo): boolean {
  const noColour = io.env("NO_COLOR");
  return io.isTty && (noColour === undefined || noColour === "");
}
