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
