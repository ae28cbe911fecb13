/**
 * Turns what went wrong in a vault read into the `SecretResolutionError` the runtime reports:
 * each Vault answer, redirect, credential source failure and network error becomes a message
 * that says what failed, why, and what to check, with the right status and `transient` flag.
 * A 403 is ambiguous (Vault answers it to a token it does not know and to a policy that does
 * not allow the read), so {@linkcode judgeToken} asks `auth/token/lookup-self` first.
 *
 * @module
 */

import { SecretResolutionError } from "../../core/errors.ts";
import type { Redactor } from "../../core/redact.ts";
import { isTransientStatus, transientNetworkCode } from "../../core/retry.ts";
import { ProviderSetupError } from "../errors.ts";
import { describeTlsFailure, type TlsFailure, tlsFailure } from "../../core/_tls_failure.ts";
import { record, stripQuery } from "./_util.ts";
import { type AuthMethod, canLogin, type LoginMethod } from "./auth/types.ts";
import type { VaultApi } from "./client.ts";
import {
  isNamespaceNotFound,
  mentionsInvalidToken,
  VaultHttpError,
  VaultRedirectError,
  VaultTlsRefusal,
} from "./errors.ts";
import type { Location } from "./kv.ts";
import type { VaultRef } from "./reference.ts";

/** The provider facts the messages name. */
export interface ErrorContext {
  /** Provider instance name. */
  readonly name: string;
  /** The Vault address. */
  readonly address: URL;
  /** The namespace, if any. */
  readonly namespace: string | undefined;
  /** The auth method. */
  readonly auth: AuthMethod;
  /** Masks known credentials in network errors. */
  readonly redactor: Redactor;
}

/** The read that failed. */
export interface FailedRead {
  /** The checked reference. */
  readonly ref: VaultRef;
  /** Its printable form. */
  readonly reference: string;
  /** Where the read looked, when the mount was known. */
  readonly location: Location | undefined;
}

/**
 * After a 403 to a read: asks `auth/token/lookup-self` whether Vault knows the token at all,
 * since Vault and OpenBao answer 403 "permission denied" both to a token they do not know and
 * to a policy that does not allow the read.
 *
 * @param api The Vault API.
 * @param e The 403.
 * @param options The token that was refused, and the caller's signal.
 * @returns The error with the verdict attached (`valid`, `refused`, or none when unclear).
 */
export async function judgeToken(
  api: VaultApi,
  e: VaultHttpError,
  options: { readonly token: string; readonly signal: AbortSignal },
): Promise<VaultHttpError> {
  const { token, signal } = options;
  let verdict: "valid" | "refused" | undefined;
  try {
    await api.lookupSelf(token, signal);
    verdict = "valid";
  } catch (probe) {
    if (signal.aborted) throw signal.reason;
    if (probe instanceof VaultHttpError && probe.status === 403) {
      // A known token without the default policy may not look itself up: Vault then wraps
      // the error, as for any policy denial.
      verdict = mentionsInvalidToken(probe) || !probe.wrapped ? "refused" : undefined;
    }
  }
  return new VaultHttpError(e.status, e.errors, e.warnings, e.body, e.where, {
    wrapped: e.wrapped,
    ...(verdict !== undefined ? { token: verdict } : {}),
  });
}

/**
 * The error to report for a failed read.
 *
 * @param e What the read threw.
 * @param read The reference and where it was read.
 * @param context Provider name, address, namespace, auth method, redactor.
 * @returns A `SecretResolutionError` (unchanged when `e` already is one).
 */
export function toResolutionError(
  e: unknown,
  read: FailedRead,
  context: ErrorContext,
): SecretResolutionError {
  const { ref, reference } = read;
  const { address, auth, redactor } = context;
  const base = { provider: context.name, reference };
  const by = auth.description;
  if (e instanceof SecretResolutionError) return e;
  if (e instanceof ProviderSetupError) {
    return new SecretResolutionError(e.message, {
      ...base,
      ...(e.status !== undefined ? { status: e.status } : {}),
      transient: e.transient,
      ...(e.cause !== undefined ? { cause: e.cause } : {}),
    });
  }
  if (e instanceof VaultRedirectError) {
    return new SecretResolutionError(
      `Vault at "${address.origin}" answered ${e.status} with a redirect${
        e.target ? ` to "${e.target}"` : ""
      }; redirects are never followed so the token cannot leak; set address to the active node`,
      { ...base, status: e.status, cause: new Error(e.message) },
    );
  }
  if (e instanceof VaultTlsRefusal) {
    return new SecretResolutionError(
      `cannot reach Vault at "${address.origin}": ${describeTlsFailure(e.failure)}; ${
        tlsHint(e.failure)
      }`,
      { ...base, status: e.status, cause: new Error(e.message) },
    );
  }
  if (e instanceof VaultHttpError) {
    const cause = new Error(e.message);
    const detail = e.errors.length > 0 ? ` ${e.errors.join(", ")}` : "";
    const where = e.where;
    if (e.status === 403) {
      if (isLoginCall(auth, where)) {
        // Login paths need no token: a 403 there means no auth method answers at that mount
        // (or, for Kubernetes, that the service-account token was not accepted).
        return new SecretResolutionError(
          `${auth.label} login at "${where}" failed: Vault answered 403${detail}; ${auth.loginDeniedHint}`,
          { ...base, status: 403, cause },
        );
      }
      if (e.token === "refused" || mentionsInvalidToken(e)) {
        return new SecretResolutionError(
          `Vault refused the token (${by}): it answered 403${detail} to "${
            stripQuery(where)
          }" and to "auth/token/lookup-self"; ${auth.tokenHint}`,
          { ...base, status: 403, cause },
        );
      }
      if (where.startsWith("sys/internal/ui/mounts/")) {
        const full = `${ref.mount ? `${ref.mount}/` : ""}${ref.path}`;
        return new SecretResolutionError(
          `Vault answered 403 to the mount lookup "${where}" (${by}): no mount holds "${full}" or the token's policies grant nothing under it; check the path and the policies, or set mount and kv to skip the lookup`,
          { ...base, status: 403, cause },
        );
      }
      const known = e.token === "valid" ? "the token is valid, but " : "";
      return new SecretResolutionError(
        `Vault answered 403${detail} for "${
          stripQuery(where)
        }" (${by}); ${known}check that the token's policies grant "read" on "${stripQuery(where)}"`,
        { ...base, status: 403, cause },
      );
    }
    if (e.status === 404 && isNamespaceNotFound(e)) {
      return new SecretResolutionError(
        `Vault answered 404${detail} for "${
          stripQuery(where)
        }": namespace "${context.namespace}" does not exist on Vault at "${address.origin}"; check namespace (a child namespace is written "parent/child")`,
        { ...base, status: 404, cause },
      );
    }
    if (e.status === 404) {
      return new SecretResolutionError(notFoundReason(e, read), {
        ...base,
        status: 404,
        cause,
      });
    }
    const transient = isTransientStatus(e.status);
    if (isLoginCall(auth, where)) {
      return new SecretResolutionError(
        `${auth.label} login at "${where}" failed: Vault answered ${e.status}${detail}; ${
          transient ? "retrying may help" : auth.loginHint
        }`,
        { ...base, status: e.status, transient, cause },
      );
    }
    if (e.status === 200) {
      return new SecretResolutionError(
        `Vault's answer to "${stripQuery(where)}" is not usable:${detail}`,
        { ...base, cause },
      );
    }
    const what = e.status === 503
      ? "; Vault is sealed or has no active node: the read is retried and succeeds once Vault is unsealed or an active node answers"
      : transient
      ? "; the read is retried"
      : "";
    return new SecretResolutionError(
      `Vault answered ${e.status}${detail} for "${stripQuery(where) || reference}"${what}`,
      { ...base, status: e.status, transient, cause },
    );
  }
  // fetch's network failure, or a Node-style one with a transient network code.
  if (e instanceof TypeError || (e instanceof Error && transientNetworkCode(e) !== undefined)) {
    const why = redactor.redact(chainMessage(e));
    const tls = tlsFailure(e);
    if (tls !== undefined) {
      return new SecretResolutionError(
        `cannot reach Vault at "${address.origin}": ${redactor.redact(describeTlsFailure(tls))}; ${
          tlsHint(tls)
        }`,
        { ...base, cause: redactor.redactError(e) },
      );
    }
    return new SecretResolutionError(`cannot reach Vault at "${address.origin}": ${why}`, {
      ...base,
      transient: true,
      cause: redactor.redactError(e),
    });
  }
  return new SecretResolutionError(
    `reading from Vault failed: ${redactor.redact(e instanceof Error ? e.message : String(e))}`,
    { ...base, cause: redactor.redactError(e) },
  );
}

/** What to do about a TLS failure toward Vault, in terms of the provider's `tls:` block. */
function tlsHint(failure: TlsFailure): string {
  switch (failure.kind) {
    case "untrusted":
      return "set tls.ca_cert to the CA that signed it";
    case "client-certificate-required":
      return "set tls.client_cert and tls.client_key";
    case "client-certificate-refused":
      return "check that tls.client_cert is issued by a CA the server accepts, and not expired";
    case "wrong-name":
      return "set address to a host name the certificate was issued for";
    case "expired":
      return "renew the server's certificate, or check this machine's clock";
    case "handshake":
      return "check the server's TLS configuration and the tls settings";
  }
}

/**
 * Whether a failed call was the auth method's own login (not a secret whose path happens to end
 * in `/login`).
 */
function isLoginCall(auth: AuthMethod, where: string): auth is LoginMethod {
  return canLogin(auth) && where === `auth/${auth.mount}/login`;
}

/** What a 404 to a read means: a KV v1 read of a KV v2 mount, a destroyed or deleted version. */
function notFoundReason(e: VaultHttpError, read: FailedRead): string {
  const { ref, location: loc } = read;
  const where = e.where;
  const kv = loc?.kv ?? (ref.kv === "auto" ? "auto" : ref.kv);
  const mount = loc?.mount ?? ref.mount ?? "";
  const rel = loc?.rel ?? ref.path;
  const mountText = mount === "" ? "" : ` on KV v${kv} mount "${mount}"`;
  const tried = ` (read "${stripQuery(where)}", KV version ${kv}${
    ref.version !== undefined ? `, version ${ref.version}` : ""
  })`;
  if (e.warnings.some((w) => w.startsWith("Invalid path for a versioned K/V"))) {
    return `"${mount}" is a KV v2 mount but "${rel}" was read as KV v1${tried}; set kv: 2 or kv: auto`;
  }
  const meta = record(record(record(e.body).data).metadata);
  const version = typeof meta.version === "number" ? meta.version : ref.version;
  if (meta.destroyed === true) {
    return `version ${version} of "${rel}"${mountText} was destroyed${tried}; pin another version`;
  }
  if (typeof meta.deletion_time === "string" && meta.deletion_time !== "") {
    return `version ${version} of "${rel}"${mountText} was deleted at ${meta.deletion_time}${tried}; undelete it or pin another version`;
  }
  return `Vault answered 404: no secret at "${rel}"${mountText}${tried}; check path, mount and kv`;
}

/** The messages of an error and its causes, joined with ": ". */
function chainMessage(e: unknown): string {
  const parts: string[] = [];
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur.message !== "" && !parts.includes(cur.message)) parts.push(cur.message);
  }
  return parts.join(": ");
}
