/**
 * The command line's own error: a usage error (exit 2).
 *
 * @module
 */

import { MlflowSecretsAuthError } from "../core/errors.ts";

/**
 * The command line was called wrongly (unknown flag, missing argument, conflicting options). The
 * CLI exits 2 with its message. `mod.ts` still re-exports it, deprecated: the library no longer
 * throws it (bad arguments are `TypeError`s).
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * const err = new UsageError('Cannot explain: "--url" is not a URL; pass an absolute URL');
 * if (err.name !== "UsageError") throw new Error("wrong name");
 * ```
 */
export class UsageError extends MlflowSecretsAuthError {
  /**
   * Creates the error.
   *
   * @param message What was wrong and what to do.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/**
 * What a library function that only checks what the command line asked for (such as
 * `startProxy`, which checks its options and binds its address before it resolves) threw, as the
 * CLI reports it: the library's own errors keep their class and exit code; anything else (a
 * `TypeError` for a bad upstream, address or client token, the failure to bind) becomes a
 * {@linkcode UsageError} with the same message and `cause` (exit 2).
 *
 * @param error What was thrown.
 * @returns The error to throw on.
 *
 * @example
 * ```ts
 * import { asUsageError, UsageError } from "./errors.ts";
 * const err = asUsageError(new TypeError("Cannot start the proxy: no upstream"));
 * if (!(err instanceof UsageError) || err.message !== "Cannot start the proxy: no upstream") {
 *   throw new Error("not converted");
 * }
 * ```
 */
export function asUsageError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof MlflowSecretsAuthError) return error;
  return new UsageError(
    error.message,
    error.cause === undefined ? undefined : { cause: error.cause },
  );
}
