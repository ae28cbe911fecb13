/**
 * What the demos (`scripts/demo.ts`, `scripts/demo_aws.ts`) share: progress output (colour only
 * on a terminal without `NO_COLOR`), processes run with their output captured (scanned for
 * secrets at the end), a clean-up list run on exit and on Ctrl-C, and the exit code.
 *
 * @module
 */

const encoder = new TextEncoder();

/** One captured output, scanned for secrets at the end. */
export interface Captured {
  readonly name: string;
  text: string;
}

/** What {@linkcode Demo.run} returns for a finished process. */
export interface RunOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** A demo in progress: output, captured logs, clean-ups and Ctrl-C handling. */
export class Demo {
  /** Aborted on Ctrl-C: stops a server start in progress. */
  readonly stopping: AbortController = new AbortController();
  /** Every captured output so far. */
  readonly captured: Captured[] = [];
  readonly #steps: number;
  readonly #tty = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  readonly #cleanups: (() => Promise<void>)[] = [];
  readonly #children = new Set<Deno.ChildProcess>();
  #cleaning: Promise<void> | undefined;
  #interrupted = false;
  #interruptedAt = 0;

  /**
   * Installs the Ctrl-C handler.
   *
   * @param steps How many numbered steps the demo has.
   */
  constructor(steps: number) {
    this.#steps = steps;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => this.#onSignal());
    }
  }

  /** Bold text (on a terminal). */
  readonly bold = (s: string): string => this.#paint("1", s);
  /** Dim text. */
  readonly dim = (s: string): string => this.#paint("2", s);
  /** Green text. */
  readonly green = (s: string): string => this.#paint("32", s);
  /** Red text. */
  readonly red = (s: string): string => this.#paint("31", s);
  /** Cyan text. */
  readonly cyan = (s: string): string => this.#paint("36", s);

  /** Writes without a newline. */
  write(s: string): void {
    Deno.stdout.writeSync(encoder.encode(s));
  }

  /** A progress line; silent once interrupted (the main flow may still be winding down). */
  say(s = ""): void {
    if (!this.#interrupted) this.write(`${s}\n`);
  }

  /** A numbered step. */
  step(n: number, text: string): void {
    this.say(`${this.bold(`[${n}/${this.#steps}]`)} ${text}`);
  }

  /** A report row. */
  row(key: string, value: string): void {
    this.say(`  ${key.padEnd(18)} ${value}`);
  }

  /** Registers a clean-up (run newest first). */
  defer(fn: () => Promise<void>): void {
    this.#cleanups.push(fn);
  }

  /** Runs `fn`, showing an elapsed-time ticker on a terminal. */
  async withTicker<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    if (!this.#tty) {
      this.say(this.dim(`      waiting for ${what}…`));
      return await fn();
    }
    const timer = setInterval(() => {
      this.write(`\r      ${this.dim(`waiting for ${what}… ${seconds(performance.now() - t0)}`)}`);
    }, 250);
    try {
      return await fn();
    } finally {
      clearInterval(timer);
      this.write("\r\x1b[2K");
    }
  }

  /** Runs a process in `cwd`, capturing (and optionally following) its output. */
  async run(
    name: string,
    command: string,
    args: readonly string[],
    options: {
      readonly env: Readonly<Record<string, string>>;
      readonly cwd: string;
      readonly onStderrLine?: (line: string) => void;
    },
  ): Promise<RunOutcome> {
    const t0 = performance.now();
    const child = new Deno.Command(command, {
      args: [...args],
      env: { ...options.env },
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#children.add(child);
    let stderr = "";
    let pending = "";
    const [stdout] = await Promise.all([
      new Response(child.stdout).text(),
      child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({
          write(chunk) {
            stderr += chunk;
            pending += chunk;
            const parts = pending.split("\n");
            pending = parts.pop() ?? "";
            for (const line of parts) options.onStderrLine?.(line);
          },
        }),
      ),
    ]);
    const { code } = await child.status;
    this.#children.delete(child);
    this.captured.push({ name, text: `${stdout}\n${stderr}` });
    return { code, stdout, stderr, ms: performance.now() - t0 };
  }

  /**
   * Counts the occurrences of any of `forms` in every captured output.
   *
   * @returns Occurrences, lines and bytes scanned, and the names of the outputs.
   */
  scan(forms: readonly string[]): { found: number; lines: number; bytes: number; names: string } {
    let lines = 0;
    let bytes = 0;
    let found = 0;
    for (const c of this.captured) {
      lines += c.text.split("\n").length;
      bytes += c.text.length;
      for (const f of forms) found += c.text.split(f).length - 1;
    }
    return { found, lines, bytes, names: this.captured.map((c) => c.name).join(", ") };
  }

  /**
   * Runs the demo's main function, then the clean-ups, and exits: 0 on success, 1 on failure,
   * 130 after Ctrl-C.
   */
  async main(fn: () => Promise<void>): Promise<never> {
    let exitCode = 0;
    try {
      await fn();
    } catch (error) {
      if (!this.#interrupted) {
        exitCode = 1;
        this.say(
          `\n${this.red("demo failed")}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    } finally {
      if (!this.#interrupted) {
        await this.#cleanup();
        this.say(this.dim("cleaned up: servers stopped, temporary files removed"));
      }
    }
    if (this.#interrupted) return await new Promise<never>(() => {});
    Deno.exit(exitCode);
  }

  #paint(code: string, s: string): string {
    return this.#tty ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  #cleanup(): Promise<void> {
    this.#cleaning ??= (async () => {
      for (const child of this.#children) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Exited.
        }
      }
      // Newest first; a resource registered while this runs is still closed.
      while (this.#cleanups.length > 0) await this.#cleanups.pop()!().catch(() => {});
    })();
    return this.#cleaning;
  }

  #onSignal(): void {
    // `deno task` passes a Ctrl-C on as well, so the same one can arrive twice: only a later one
    // means "leave now, skip the clean-up".
    if (this.#interrupted) {
      if (performance.now() - this.#interruptedAt > 3_000) Deno.exit(130);
      return;
    }
    this.#interrupted = true;
    this.#interruptedAt = performance.now();
    this.stopping.abort(new DOMException("interrupted", "AbortError"));
    this.write(
      `\n${this.red("interrupted")}: stopping the servers and removing the temporary files…\n`,
    );
    // Servers still starting die with this process: their launchers watch its pipes.
    setTimeout(() => Deno.exit(130), 30_000);
    this.#cleanup().finally(() => {
      this.write(this.dim("cleaned up\n"));
      Deno.exit(130);
    });
  }
}

/** Milliseconds as `1.2 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
