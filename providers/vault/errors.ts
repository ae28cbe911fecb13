/**
 * The vault provider's own errors, each reduced to data that holds no credential: a Vault
 * answer ({@linkcode VaultHttpError}), a redirect that is never followed
 * ({@linkcode VaultRedirectError}) and a client certificate refused by a server in front of Vault
 * ({@linkcode VaultTlsRefusal}); and the reduction of node-vault's failures to them. A
 * credential source that failed (a variable unset, a file unreadable) is the providers' shared
 * `ProviderSetupError`.
 * They never leave the provider: `error_mapping.ts` turns them into `SecretResolutionError`s.
 *
 * @module
 */

import type { Redactor } from "../../core/redact.ts";
import type { TlsFailure } from "../../core/_tls_failure.ts";
import { isRecord, record } from "./_util.ts";

/** Extra facts about a {@linkcode VaultHttpError}. */
export interface VaultHttpErrorDetails {
  /** Whether Vault wrapped its errors in a multierror. */
  readonly wrapped?: boolean;
  /** For a 403: what `auth/token/lookup-self` said about the token. */
  readonly token?: "valid" | "refused";
}

/** A Vault answer other than 200/204, reduced to data that holds no credential. */
export class VaultHttpError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Vault's `errors`, flattened and redacted. */
  readonly errors: readonly string[];
  /** Vault's `warnings`, redacted. */
  readonly warnings: readonly string[];
  /** `{ data }` of the answer when it held a data object (KV v2 metadata of a 404), else null. */
  readonly body: unknown;
  /** The API path called, below `/v1/`, query included. */
  readonly where: string;
  /**
   * Whether Vault wrapped its errors in a multierror (`1 error occurred: ...`). Vault and
   * OpenBao answer a token they do not know with a bare `permission denied`, and a known token
   * that its policies do not allow with the wrapped form.
   */
  readonly wrapped: boolean;
  /** For a 403: what `auth/token/lookup-self` said about the token, when it was asked. */
  readonly token: "valid" | "refused" | undefined;

  /**
   * Creates the error.
   *
   * @param status HTTP status.
   * @param errors Vault's errors, already redacted.
   * @param warnings Vault's warnings, already redacted.
   * @param body `{ data }` or null.
   * @param where API path below `/v1/`.
   * @param more Whether the errors were wrapped; the token verdict.
   */
  constructor(
    status: number,
    errors: readonly string[],
    warnings: readonly string[],
    body: unknown,
    where: string,
    more: VaultHttpErrorDetails = {},
  ) {
    super(`Vault answered ${status} to ${where}${errors.length ? `: ${errors.join(", ")}` : ""}`);
    this.name = "VaultHttpError";
    this.status = status;
    this.errors = errors;
    this.warnings = warnings;
    this.body = body;
    this.where = where;
    this.wrapped = more.wrapped ?? false;
    this.token = more.token;
  }
}

/** Vault answered with a redirect, which is never followed. */
export class VaultRedirectError extends Error {
  /** HTTP status (3xx). */
  readonly status: number;
  /** Origin of the `Location`, or `""`. Never its path or query. */
  readonly target: string;

  /**
   * Creates the error.
   *
   * @param status HTTP status.
   * @param target Origin of the `Location`, or `""`.
   */
  constructor(status: number, target: string) {
    super(`Vault answered ${status} with a redirect${target ? ` to ${target}` : ""}`);
    this.name = "VaultRedirectError";
    this.status = status;
    this.target = target;
  }
}

/**
 * A TLS-terminating server in front of Vault (nginx with `ssl_verify_client on`) answered that
 * the client certificate is missing or refused; the request never reached Vault.
 */
export class VaultTlsRefusal extends Error {
  /** HTTP status of the refusal (nginx: 400). */
  readonly status: number;
  /** Which refusal, and the words of the page. */
  readonly failure: TlsFailure;

  /**
   * Creates the error.
   *
   * @param status HTTP status.
   * @param failure The refusal.
   */
  constructor(status: number, failure: TlsFailure) {
    super(failure.detail);
    this.name = "VaultTlsRefusal";
    this.status = status;
    this.failure = failure;
  }
}

const MULTIERROR = /^\d+ errors? occurred:\n/;

/**
 * Turns a node-vault failure into a {@linkcode VaultHttpError} that holds no SDK object (its
 * `ApiResponseError` carries the whole response); other errors pass through unchanged.
 *
 * @param e What node-vault threw.
 * @param apiPath The API path called, below `/v1/`.
 * @param redactor Masks known credentials in Vault's errors and warnings.
 * @returns The reduced error, or `e`.
 */
export function reduceError(e: unknown, apiPath: string, redactor: Redactor): unknown {
  if (
    e instanceof VaultRedirectError || e instanceof VaultHttpError || e instanceof VaultTlsRefusal
  ) return e;
  if (isApiResponseError(e)) {
    const body = e.response.body;
    const b = record(body);
    const raw = Array.isArray(b.errors)
      ? b.errors.filter((x): x is string => typeof x === "string")
      : [];
    const errors = raw.map((x) => redactor.redact(flattenMultierror(x)));
    const warnings = Array.isArray(b.warnings)
      ? b.warnings.filter((x): x is string => typeof x === "string").map((x) => redactor.redact(x))
      : [];
    return new VaultHttpError(
      e.response.statusCode,
      errors,
      warnings,
      isRecord(b.data) ? { data: b.data } : null,
      apiPath,
      { wrapped: raw.some((x) => MULTIERROR.test(x)) },
    );
  }
  return e;
}

/**
 * Whether Vault said the namespace does not exist.
 *
 * @param e A Vault answer.
 * @returns Whether one of its errors starts with "namespace not found".
 */
export function isNamespaceNotFound(e: VaultHttpError): boolean {
  return e.errors.some((x) => /^namespace not found/i.test(x));
}

/**
 * Whether Vault said the token is invalid.
 *
 * @param e A Vault answer.
 * @returns Whether one of its errors mentions "invalid token".
 */
export function mentionsInvalidToken(e: VaultHttpError): boolean {
  return e.errors.some((x) => /invalid token/i.test(x));
}

function isApiResponseError(
  e: unknown,
): e is { response: { statusCode: number; body: unknown } } {
  if (typeof e !== "object" || e === null || !("response" in e)) return false;
  const r = (e as { response: unknown }).response;
  return typeof r === "object" && r !== null &&
    typeof (r as { statusCode?: unknown }).statusCode === "number";
}

/** `2 errors occurred:\n\t* a\n\t* b\n\n` → `a, b`. */
function flattenMultierror(text: string): string {
  const m = /^\d+ errors? occurred:\n([\s\S]*)$/.exec(text);
  if (m === null) return text.trim();
  return m[1]!.split("\n").map((l) => l.replace(/^\t\* /, "").trim()).filter((l) => l !== "")
    .join(", ");
}
