/**
 * What an `azure-key-vault` failure means: anything the SDK or a credential throws becomes a
 * `SecretResolutionError`: 404 for a missing secret or version, 403 for denied or disabled, 401
 * for a credential that cannot get a token, transient for throttling, 5xx and network errors (a
 * token endpoint's included). Messages name the vault, the secret and the credential type, never
 * a token or a secret.
 *
 * @module
 */

import { SecretResolutionError } from "../../core/errors.ts";
import { isTransientStatus, TRANSIENT_NETWORK_CODES } from "../../core/retry.ts";
import { ProviderSetupError } from "../errors.ts";
import type { ProviderContext } from "../types.ts";
import type { AzureCredentialType } from "./options.ts";

const CREDENTIAL_ERRORS = new Set([
  "CredentialUnavailableError",
  "AuthenticationError",
  "AggregateAuthenticationError",
  "AuthenticationRequiredError",
]);

/** What a failure is about, for its message. */
export interface ClassifyContext {
  readonly provider: string;
  readonly reference: string;
  readonly vaultUrl: string;
  readonly secretName: string;
  readonly version: string | undefined;
  readonly credentialType: AzureCredentialType;
  readonly context: ProviderContext;
}

/** Turns anything the SDK or a credential throws into a `SecretResolutionError`. */
export function classify(error: unknown, c: ClassifyContext): SecretResolutionError {
  if (error instanceof SecretResolutionError) return error;
  const redact = (text: string): string => c.context.redactor.redact(text);
  const fail = (reason: string, extra: { status?: number; transient?: boolean } = {}) =>
    new SecretResolutionError(redact(reason), {
      provider: c.provider,
      reference: c.reference,
      ...extra,
      cause: c.context.redactor.redactError(error),
    });
  const secret = c.version === undefined
    ? `secret "${c.secretName}"`
    : `version "${c.version}" of secret "${c.secretName}"`;
  const via = `credential type "${c.credentialType}"`;

  if (error instanceof ProviderSetupError) {
    return fail(error.message, {
      ...(error.status !== undefined ? { status: error.status } : {}),
      ...(error.transient ? { transient: true } : {}),
    });
  }
  const e = error instanceof Error ? error : new Error(String(error));
  const message = oneLine(e.message);

  if (CREDENTIAL_ERRORS.has(e.name)) {
    const noToken = `${via} could not get a token for vault "${c.vaultUrl}": ${
      credentialReasons(e)
    }`;
    // One credential (not a whole chain) that met a throttled, failing or unreachable token
    // endpoint: worth another attempt.
    if (e.name !== "AggregateAuthenticationError") {
      const status = statusInChain(e);
      if (status !== undefined && isTransientStatus(status)) {
        return fail(`${noToken}; its token endpoint answered ${status}`, {
          status,
          transient: true,
        });
      }
      if (status === undefined && namesInChain(e).includes("ServerError")) {
        // MSAL replays the last 429/5xx of a token endpoint, without asking it, for the
        // Retry-After it was given (60 s by default).
        return fail(
          `${noToken}; its token endpoint failed recently and MSAL holds requests back for a while`,
          { status: 429, transient: true },
        );
      }
      if (NETWORK_FAILURE.test(chainText(e))) {
        return fail(`${noToken}; its token endpoint could not be reached`, { transient: true });
      }
    }
    const hint = /AdditionallyAllowedTenants/i.test(e.message)
      ? "add the vault's tenant to credential.additionally_allowed_tenants"
      : "check the credential settings, or choose another credential.type";
    return fail(`${noToken}; ${hint}`, { status: 401 });
  }

  if (e.name === "RestError") {
    const status = (e as { statusCode?: unknown }).statusCode;
    const code = (e as { code?: unknown }).code;
    if (typeof status !== "number") {
      if (isTlsTrustError(e)) {
        return fail(
          `the TLS certificate of vault "${c.vaultUrl}" is not trusted (${message}); trust its CA with NODE_EXTRA_CA_CERTS or tls.ca_cert`,
        );
      }
      return fail(`vault "${c.vaultUrl}" could not be reached: ${message}`, { transient: true });
    }
    const answered = `vault "${c.vaultUrl}" answered ${status}${
      typeof code === "string" ? ` ${code}` : ""
    }`;
    if (status === 404) {
      return fail(
        `${secret} does not exist in vault "${c.vaultUrl}" (Key Vault answered 404${
          typeof code === "string" ? ` ${code}` : ""
        }); check the name${
          c.version === undefined ? "" : " and version"
        }, and that it was not deleted`,
        { status: 404 },
      );
    }
    if (status === 403 && /disabled/i.test(e.message)) {
      return fail(
        `${secret} is disabled in vault "${c.vaultUrl}" (Key Vault answered 403: ${message}); enable it, or pin an enabled version`,
        { status: 403 },
      );
    }
    if (status === 403) {
      return fail(
        `${answered} to ${via}: ${message}; grant this identity "get" on secrets (an access policy, or the "Key Vault Secrets User" role) and check the vault's firewall`,
        { status: 403 },
      );
    }
    if (status === 401) {
      return fail(
        `${answered} to ${via}: the token was rejected (${message}); check the credential's tenant and that the vault trusts it`,
        { status: 401 },
      );
    }
    if (isTransientStatus(status)) {
      return fail(`${answered}: ${message}`, { status, transient: true });
    }
    return fail(`${answered}: ${message}`, { status });
  }

  if (e instanceof Deno.errors.NotCapable || e.name === "NotCapable") {
    return fail(`a Deno permission is missing: ${message}`);
  }
  if (/challenge resource .* does not match/i.test(e.message)) {
    return fail(
      `vault "${c.vaultUrl}" is not under the resource its authentication challenge names (${message}); use the vault's *.vault.azure.net URL, or set disable_challenge_resource_verification: true only for an emulator or a private endpoint you trust`,
    );
  }
  if (isTlsTrustError(e)) {
    return fail(
      `the TLS certificate of vault "${c.vaultUrl}" or of its token endpoint is not trusted (${message}); trust its CA with NODE_EXTRA_CA_CERTS or tls.ca_cert`,
    );
  }
  if (e instanceof TypeError || isNetworkCode(e)) {
    return fail(`vault "${c.vaultUrl}" could not be reached: ${e.name}: ${message}`, {
      transient: true,
    });
  }
  return fail(`reading ${secret} with ${via} failed: ${e.name}: ${message}`);
}

/**
 * What MSAL and Node say when a token endpoint cannot be reached: MSAL's own words, or one of the
 * transient network codes anywhere in a name, message or code of the chain.
 */
const NETWORK_FAILURE = new RegExp(
  ["network_error", "endpoints_resolution_error", "Network unreachable", ...TRANSIENT_NETWORK_CODES]
    .join("|"),
);

/** The first HTTP status carried by an error or its causes (`statusCode`, MSAL's `status`). */
function statusInChain(error: unknown): number | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { statusCode, status } = e as { statusCode?: unknown; status?: unknown };
    if (typeof statusCode === "number") return statusCode;
    if (typeof status === "number") return status;
  }
  return undefined;
}

/** Names of an error and its causes. */
function namesInChain(error: unknown): string[] {
  const names: string[] = [];
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    names.push(e.name);
  }
  return names;
}

/** Names, messages and codes of an error and its causes, for matching. */
function chainText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    parts.push(e.name, e.message, String((e as { code?: unknown }).code ?? ""));
  }
  return parts.join(" ");
}

/** The reasons of a credential error; for a chain, one per credential tried. */
function credentialReasons(e: Error): string {
  const errors = (e as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.length > 0) {
    return errors
      .map((x) => x instanceof Error ? shorten(oneLine(x.message)) : shorten(String(x)))
      .join("; ");
  }
  return shorten(oneLine(e.message));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

function shorten(text: string, max = 400): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function isTlsTrustError(e: Error): boolean {
  const code = String((e as { code?: unknown }).code ?? "");
  return /CERT|UNABLE_TO_VERIFY|SELF_SIGNED/i.test(code) ||
    /certificate|unable to verify|self[- ]signed|UnknownIssuer/i.test(e.message);
}

function isNetworkCode(e: Error): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && TRANSIENT_NETWORK_CODES.has(code);
}
