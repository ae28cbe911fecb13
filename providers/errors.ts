/**
 * The one error type providers share for a failure of their own, before or apart from their
 * backend's answer: a setting that cannot work, an environment variable that is unset, a
 * credential file that cannot be read. It never leaves a provider: each one's classification turns
 * it into a `SecretResolutionError` with its provider, reference and `cause`.
 *
 * @module
 */

/** Options of {@linkcode ProviderSetupError}. */
export interface ProviderSetupErrorOptions extends ErrorOptions {
  /** The HTTP status this failure stands for (e.g. 401 for a credential that cannot be read). */
  readonly status?: number;
  /** True when trying again may succeed (a file being rotated). Default false. */
  readonly transient?: boolean;
}

/**
 * A provider could not get ready to call its backend, or could not use what it got. Its message
 * is the reason alone (what, why, what to do), never a secret value.
 *
 * @example
 * ```ts
 * import { ProviderSetupError } from "./errors.ts";
 * const err = new ProviderSetupError('environment variable "VAULT_TOKEN" is not set; export it', {
 *   status: 401,
 * });
 * if (err.transient || err.status !== 401) throw new Error("wrong classification");
 * ```
 */
export class ProviderSetupError extends Error {
  /** The HTTP status this failure stands for, if any. */
  readonly status: number | undefined;
  /** Whether a retry may help. */
  readonly transient: boolean;

  /**
   * Creates the error.
   *
   * @param reason What could not be done, why, and what to do; never a secret value.
   * @param options Status, transience and `cause`.
   */
  constructor(reason: string, options: ProviderSetupErrorOptions = {}) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProviderSetupError";
    this.status = options.status;
    this.transient = options.transient ?? false;
  }
}
