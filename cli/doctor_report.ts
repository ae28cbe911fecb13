/**
 * `doctor`'s output: the result types (what `--json` prints) and the reporter. On a terminal
 * (unless `NO_COLOR`) a spinner runs while a step runs and marks are coloured; otherwise each
 * step is one plain line; with `--json` nothing is printed until the whole report.
 *
 * @module
 */

import { type CliIo, useColour } from "./io.ts";
import type { ProfileIssue } from "../core/errors.ts";

/** Outcome of a step. `warn` and `skip` are not passes. */
export type StepStatus = "pass" | "fail" | "warn" | "skip";

/** The steps, in order. */
export type StepName =
  | "profile"
  | "rule"
  | "provider"
  | "secret"
  | "token"
  | "header"
  | "server";

/** One step's result. Never holds a secret, a header value or an unredacted URL. */
export interface StepResult {
  readonly step: StepName;
  readonly status: StepStatus;
  /** Milliseconds the step took. */
  readonly ms: number;
  /** What was found. */
  readonly detail: string;
  /** Why it failed or was skipped. */
  readonly cause?: string;
  /** What to do about it. */
  readonly hint?: string;
}

/** The checks of one rule or URL. */
export interface TargetResult {
  /** `hosts[0]` or the URL checked (redacted). */
  readonly target: string;
  /** The rule's label, or null when no rule matched. */
  readonly rule: string | null;
  /** `fail` if any step failed, else `warn` if any was skipped or warned, else `pass`. */
  readonly status: "pass" | "fail" | "warn";
  readonly steps: readonly StepResult[];
}

/** The whole report, as `--json` prints it. */
export interface DoctorReport {
  /** Profile source. */
  readonly file: string;
  /** True only when every step of every target passed. */
  readonly ok: boolean;
  readonly profile: StepResult;
  readonly targets: readonly TargetResult[];
  readonly summary: { readonly passed: number; readonly failed: number; readonly warned: number };
}

/** What each step checks, as the text output names it. */
/** What each step checks, as the text output names it. */
const STEP_LABEL: Readonly<Record<StepName, string>> = {
  profile: "profile valid",
  rule: "rule matched",
  provider: "provider reachable and authenticated",
  secret: "secret read",
  token: "access token obtained",
  header: "header built",
  server: "live call to the tracking server",
};

/** A step being run: ends with its result, or is cancelled without a line. */
export interface StepHandle {
  /** Stops the spinner and prints the step's line. */
  end(result: StepResult): void;
  /** Stops the spinner and prints nothing. */
  cancel(): void;
}

/** The spinner's frames. */
const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** Prints steps, headings and the final report. */
export class Reporter {
  readonly #io: CliIo;
  readonly #json: boolean;
  readonly #fancy: boolean;

  /**
   * @param io Streams and environment: a spinner and colour only on a terminal without `NO_COLOR`.
   * @param json Print nothing but the final report, as JSON.
   */
  constructor(io: CliIo, json: boolean) {
    this.#io = io;
    this.#json = json;
    this.#fancy = !json && useColour(io);
  }

  /** Prints the heading of a target (a rule or a URL). */
  heading(text: string): void {
    if (this.#json) return;
    this.#io.stdout(`\n${this.#fancy ? `\x1b[1m${text}\x1b[22m` : text}\n`);
  }

  /** Starts a step: on a terminal, a spinner runs until the step ends. */
  start(step: StepName): StepHandle {
    if (!this.#fancy) {
      return { end: (r) => this.line(r), cancel: () => {} };
    }
    let frame = 0;
    const label = STEP_LABEL[step];
    const draw = () =>
      this.#io.stdout(`\r\x1b[2K  \x1b[36m${FRAMES[frame++ % FRAMES.length]}\x1b[39m ${label}…`);
    draw();
    const timer = setInterval(draw, 80);
    return {
      end: (r) => {
        clearInterval(timer);
        this.#io.stdout("\r\x1b[2K");
        this.line(r);
      },
      cancel: () => {
        clearInterval(timer);
        this.#io.stdout("\r\x1b[2K");
      },
    };
  }

  /** Prints a step's line, with its cause and hint below it. */
  line(r: StepResult): void {
    if (this.#json) return;
    const label = STEP_LABEL[r.step];
    const mark = this.#fancy ? FANCY_MARK[r.status] : PLAIN_MARK[r.status];
    const lines = [`  ${mark} ${label}: ${r.detail} (${r.ms} ms)`];
    const pad = this.#fancy ? "      " : "         ";
    for (const [key, text] of [["cause", r.cause], ["hint", r.hint]] as const) {
      if (text === undefined) continue;
      const [first, ...rest] = text.split("\n");
      lines.push(`${pad}${key}: ${first}`);
      for (const more of rest) lines.push(`${pad}  ${more}`);
    }
    this.#io.stdout(lines.join("\n") + "\n");
  }

  /**
   * Ends a run whose profile is invalid: with `--json`, the report of the profile step and
   * every issue (the text output has printed the step already).
   */
  invalidProfile(file: string, step: StepResult, issues: readonly ProfileIssue[]): void {
    if (!this.#json) return;
    this.#io.stdout(
      JSON.stringify({ file, ok: false, profile: step, issues, targets: [] }, null, 2) + "\n",
    );
  }

  /**
   * Ends a run: the whole report with `--json`, else a summary line.
   *
   * @param report The report.
   * @param noun What the targets are: the rules of the profile, or the URLs given.
   */
  report(report: DoctorReport, noun: "rule" | "URL"): void {
    if (this.#json) {
      this.#io.stdout(JSON.stringify(report, null, 2) + "\n");
      return;
    }
    const { summary, targets } = report;
    const parts = [`${summary.passed} of ${plural(targets.length, noun)} passed`];
    if (summary.failed) parts.push(`${summary.failed} failed`);
    if (summary.warned) parts.push(`${summary.warned} not fully checked (warning)`);
    this.#io.stdout(`\n${parts.join("; ")}\n`);
  }
}

const PLAIN_MARK: Readonly<Record<StepStatus, string>> = {
  pass: "[ok]  ",
  fail: "[FAIL]",
  warn: "[WARN]",
  skip: "[skip]",
};

const FANCY_MARK: Readonly<Record<StepStatus, string>> = {
  pass: "\x1b[32m✔\x1b[39m",
  fail: "\x1b[31m✘\x1b[39m",
  warn: "\x1b[33m⚠\x1b[39m",
  skip: "\x1b[2m○\x1b[22m",
};

/** Milliseconds since `t0`, rounded, never negative. */
export function elapsed(t0: number, now: () => number): number {
  return Math.max(0, Math.round(now() - t0));
}

/** "1 rule", "2 rules". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
