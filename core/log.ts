/**
 * A small leveled logger that writes redacted lines to stderr (or a given writer).
 *
 * @module
 */

import { REDACTION_FAILED, type Redactor } from "./redact.ts";

/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
/** Line formats. */
export type LogFormat = "text" | "json";
/** Every log level, lowest first (the `--log-level` choices). */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];
/** Every line format (the `--log-format` choices). */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const RANK: Readonly<Record<LogLevel, number>> = {
  debug: 0,
  info: 1,
  warn: 2,
  error: 3,
  silent: 4,
};

/** Structured fields attached to a line. Values are redacted like the message. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A logger. */
export interface Logger {
  /** Writes a debug line. */
  debug(message: string, fields?: LogFields): void;
  /** Writes an info line. */
  info(message: string, fields?: LogFields): void;
  /** Writes a warning. */
  warn(message: string, fields?: LogFields): void;
  /** Writes an error line. */
  error(message: string, fields?: LogFields): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. Default `warn`. */
  readonly level?: LogLevel;
  /** Line format. Default `text`. */
  readonly format?: LogFormat;
  /** Masks secrets in every line. */
  readonly redactor: Redactor;
  /** Receives each finished line (with a trailing newline). Default: stderr. */
  readonly write?: (line: string) => void;
  /** Clock, for timestamps. */
  readonly now?: () => number;
}

/**
 * Creates a logger. Every line, fields included, passes through the redactor. A line that cannot
 * be built or masked (a field that does not serialise, a failing redactor) is never written: a
 * fixed notice ({@linkcode REDACTION_FAILED}) is written in its place.
 *
 * @param options Level, format, redactor and writer.
 * @returns A logger.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * import { Redactor } from "./redact.ts";
 * const lines: string[] = [];
 * const redactor = new Redactor();
 * redactor.add("hunter2-canary");
 * const log = createLogger({ redactor, level: "info", write: (l) => lines.push(l) });
 * log.info("got hunter2-canary", { provider: "env" });
 * if (lines[0]!.includes("hunter2-canary")) throw new Error("leak");
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const min = RANK[options.level ?? "warn"];
  const format = options.format ?? "text";
  const now = options.now ?? Date.now;
  const write = options.write ?? writeStderr;
  const format_ = (time: string, level: LogLevel, message: string, fields?: LogFields) => {
    if (format === "json") {
      return JSON.stringify({ time, level, msg: message, ...safeFields(fields) });
    }
    const extra = fields === undefined ? "" : Object.entries(safeFields(fields))
      .map(([k, v]) => ` ${k}=${typeof v === "string" ? quoteIfNeeded(v) : JSON.stringify(v)}`)
      .join("");
    return `${time} ${level.toUpperCase()} ${message}${extra}`;
  };
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (RANK[level] < min) return;
    const time = new Date(now()).toISOString();
    let line: string;
    try {
      line = options.redactor.redact(format_(time, level, message, fields));
    } catch {
      line = REDACTION_FAILED;
    }
    // A line that could not be built or masked is dropped; a fixed notice takes its place.
    if (line === REDACTION_FAILED) line = format_(time, level, REDACTION_FAILED);
    write(line + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

function safeFields(fields: LogFields | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (fields === undefined) return out;
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v instanceof Error ? `${v.name}: ${v.message}` : v;
  }
  return out;
}

function quoteIfNeeded(v: string): string {
  return /^[\w./:@+-]*$/.test(v) ? v : JSON.stringify(v);
}

const encoder = new TextEncoder();
function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line));
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
