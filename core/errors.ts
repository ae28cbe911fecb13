/**
 * Error classes shared by every layer. Each carries data, never a secret value. Every error class
 * of this library extends {@linkcode MlflowSecretsAuthError}; bad arguments to a library function
 * are `TypeError`s, as in the standard library.
 *
 * Message style: sentence case, no closing period, values in double quotes, what could not be
 * done, a colon, why, then what to do.
 *
 * @module
 */

/**
 * The base class of every error class of this library: `instanceof MlflowSecretsAuthError` tells
 * them from failures of the runtime or of bad arguments (`TypeError`); `name` tells them apart.
 *
 * @example
 * ```ts
 * import { MlflowSecretsAuthError, SecretResolutionError } from "./errors.ts";
 * const err = new SecretResolutionError("Vault answered 403 permission denied", {
 *   provider: "corp-vault",
 *   reference: "secret/mlflow/auth",
 * });
 * if (!(err instanceof MlflowSecretsAuthError)) throw new Error("not a library error");
 * if (err.name !== "SecretResolutionError") throw new Error("wrong name");
 * ```
 */
export class MlflowSecretsAuthError extends Error {
  /**
   * Creates the error.
   *
   * @param message What could not be done, why, and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MlflowSecretsAuthError";
  }
}

/** One problem found in a profile, with where it is. */
export interface ProfileIssue {
  /** JSON pointer of the offending value, e.g. `/hosts/0/match`. */
  readonly pointer: string;
  /** 1-based line in the profile file, when known. */
  readonly line?: number;
  /** 1-based column in the profile file, when known. */
  readonly column?: number;
  /** What is wrong and what to do, in one sentence. */
  readonly message: string;
  /** The rule that was broken: a schema keyword (`required`, `enum`) or a check name. */
  readonly rule: string;
}

/**
 * A profile could not be parsed or is invalid. Carries every issue found, not only the first.
 *
 * @example
 * ```ts
 * import { ProfileError } from "./errors.ts";
 * const err = new ProfileError("mlflow-auth.yaml", [
 *   { pointer: "/version", line: 1, column: 10, message: "must be 1", rule: "const" },
 * ]);
 * if (!err.message.includes("mlflow-auth.yaml:1:10")) throw new Error("no location");
 * ```
 */
export class ProfileError extends MlflowSecretsAuthError {
  /** The profile's file name (or `<inline>`). */
  readonly file: string;
  /** Every issue found. */
  readonly issues: readonly ProfileIssue[];

  /**
   * Creates the error; its message lists every issue.
   *
   * @param file Where the profile came from.
   * @param issues Every issue found, at least one.
   * @param options Standard error options (`cause`).
   */
  constructor(file: string, issues: readonly ProfileIssue[], options?: ErrorOptions) {
    super(formatProfileIssues(file, issues), options);
    this.name = "ProfileError";
    this.file = file;
    this.issues = issues;
  }
}

/**
 * Whether the issues are one problem with the file as a whole (it cannot be read): no position,
 * no pointer. Its message is a whole sentence and is shown alone.
 */
export function isFileIssue(issues: readonly ProfileIssue[]): boolean {
  return issues.length === 1 && issues[0]!.pointer === "" && issues[0]!.line === undefined;
}

/** Formats issues one per line as `file:line:col: message (at pointer, rule)`. */
export function formatProfileIssues(file: string, issues: readonly ProfileIssue[]): string {
  if (isFileIssue(issues)) return issues[0]!.message;
  const head = `Cannot use profile "${file}": ${issueCount(issues.length)} found`;
  const lines = issues.map((i) => {
    const [first, ...rest] = i.message.split("\n");
    const snippet = rest.filter((l) => l.trim() !== "").map((l) => `      ${l}`);
    return [`  ${formatIssueLocation(file, i)}: ${first} (${i.rule})`, ...snippet].join("\n");
  });
  return [head, ...lines].join("\n");
}

/** `file:line:col` when the line is known, plus ` at /pointer` below the document's root. */
export function formatIssueLocation(file: string, issue: ProfileIssue): string {
  const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
  return issue.pointer === "" ? where : `${where} at ${issue.pointer}`;
}

/**
 * "1 issue", "5 issues".
 *
 * @param n A count.
 * @returns The count and the noun.
 *
 * @example
 * ```ts
 * import { issueCount } from "./errors.ts";
 * if (issueCount(1) !== "1 issue" || issueCount(5) !== "5 issues") throw new Error("plural");
 * ```
 */
export function issueCount(n: number): string {
  return `${n} issue${n === 1 ? "" : "s"}`;
}

/** Options for {@linkcode SecretResolutionError}. */
export interface SecretResolutionErrorOptions extends ErrorOptions {
  /** Provider instance name from the profile. */
  readonly provider: string;
  /** Printable secret reference, e.g. `secret/mlflow/auth` (never a value). */
  readonly reference: string;
  /** HTTP status answered by the provider, when there was one. */
  readonly status?: number;
  /** True when trying again may succeed (network errors, timeouts, 429, 5xx). */
  readonly transient?: boolean;
  /** The host rule involved, e.g. `hosts[0] (https://mlflow.company.com)`. */
  readonly rule?: string;
  /** The secret field involved, when the problem is a field. */
  readonly field?: string;
}

/**
 * A secret could not be resolved or turned into a header. The request that needed it is not
 * sent.
 *
 * @example
 * ```ts
 * import { SecretResolutionError } from "./errors.ts";
 * const err = new SecretResolutionError("Vault answered 403 permission denied; check the token's policy", {
 *   provider: "corp-vault",
 *   reference: "secret/mlflow/auth",
 *   status: 403,
 * });
 * if (err.transient) throw new Error("403 is not transient");
 * ```
 */
export class SecretResolutionError extends MlflowSecretsAuthError {
  /** Provider instance name. */
  readonly provider: string;
  /** Printable secret reference. */
  readonly reference: string;
  /** Provider HTTP status, if any. */
  readonly status: number | undefined;
  /** Whether a retry may help. */
  readonly transient: boolean;
  /** Host rule involved, if any. */
  readonly rule: string | undefined;
  /** Field involved, if any. */
  readonly field: string | undefined;
  /** The reason alone, without the "Cannot read secret" prefix. */
  readonly reason: string;

  /**
   * Creates the error; its message names the reference and provider, then the reason.
   *
   * @param reason Why it failed and what to do; never a secret value.
   * @param options Provider, reference and classification.
   */
  constructor(reason: string, options: SecretResolutionErrorOptions) {
    super(
      `Cannot read secret "${options.reference}" from provider "${options.provider}"${
        options.rule ? ` for rule ${options.rule}` : ""
      }: ${reason}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "SecretResolutionError";
    this.provider = options.provider;
    this.reference = options.reference;
    this.status = options.status;
    this.transient = options.transient ?? false;
    this.rule = options.rule;
    this.field = options.field;
    this.reason = reason;
  }

  /** A copy of this error attributed to a host rule. */
  withRule(rule: string): SecretResolutionError {
    return new SecretResolutionError(this.reason, {
      provider: this.provider,
      reference: this.reference,
      ...(this.status !== undefined ? { status: this.status } : {}),
      transient: this.transient,
      rule,
      ...(this.field !== undefined ? { field: this.field } : {}),
      ...(this.cause !== undefined ? { cause: this.cause } : {}),
    });
  }
}
