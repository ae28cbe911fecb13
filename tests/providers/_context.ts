/**
 * A provider context for tests: an explicit environment instead of the process's, a fresh
 * redactor, and a debug log whose every line is kept so a test can search it for secrets.
 */

import type { ProviderContext } from "../../providers/types.ts";
import { createLogger } from "../../core/log.ts";
import { Redactor } from "../../core/redact.ts";

/** A {@linkcode ProviderContext} that also holds the log lines written through it. */
export type RecordingContext = ProviderContext & { readonly lines: string[] };

/**
 * Makes a context that reads variables from `env` only and keeps every log line.
 *
 * @param env The variables the provider may read.
 * @returns The context, with `lines` growing as the provider logs.
 */
export function recordingContext(env: Readonly<Record<string, string>> = {}): RecordingContext {
  const redactor = new Redactor();
  const lines: string[] = [];
  return {
    env: (name) => env[name],
    fetch,
    now: Date.now,
    logger: createLogger({ redactor, level: "debug", write: (l) => lines.push(l) }),
    redactor,
    lines,
  };
}
