/**
 * How the vault provider's HTTP requests travel: node-vault is given this module's transport
 * through its `request-promise` option, so every call goes through the context's `fetch` with
 * `redirect: "manual"` and the caller's `AbortSignal`. node-vault's built-in axios transport
 * follows redirects (a standby node's 307 would carry `X-Vault-Token` to whatever `Location`
 * names), cannot take an `AbortSignal`, and its errors carry the request headers. Here a
 * redirect is an error, every call is abortable, and errors are built from status and Vault's
 * `errors` only. TLS settings become a `Deno.createHttpClient`, so a private CA works without
 * `NODE_EXTRA_CA_CERTS`. The 400 page of nginx with `ssl_verify_client on` in front of Vault (no
 * client certificate, or a refused one) becomes a `VaultTlsRefusal`, not a Vault answer.
 *
 * @module
 */

import type { CredentialReader } from "./credentials.ts";
import { VaultRedirectError, VaultTlsRefusal } from "./errors.ts";
import { clientCertificateAnswer } from "../../core/_tls_failure.ts";
import type { VaultTlsOptions } from "./options.ts";

/** What node-vault's `request-promise` hook hands to a transport. */
export interface TransportRequest {
  /** HTTP method. */
  readonly method: string;
  /** Full URL. */
  readonly uri: string;
  /** Headers node-vault sets (`X-Vault-Token`, `X-Vault-Namespace`). */
  readonly headers?: Record<string, unknown>;
  /** JSON body. */
  readonly json?: unknown;
  /** The caller's cancellation. */
  readonly signal?: AbortSignal;
}

/** What the transport hands back to node-vault. */
export interface TransportResponse {
  /** HTTP status. */
  readonly statusCode: number;
  /** Parsed JSON body, or undefined when empty or not JSON. */
  readonly body: unknown;
  /** The request path, as node-vault reads it. */
  readonly request: { readonly path: string };
}

/**
 * The HTTP client for the TLS settings, or undefined when the defaults do (plain `http:`, or
 * no CA and no client certificate).
 *
 * @param address The Vault address.
 * @param tls The `tls:` block.
 * @param files Reads the PEM files.
 * @returns A client to pass to `fetch`, which the caller closes.
 * @throws {ProviderSetupError} When a PEM file cannot be read.
 */
export async function createTlsClient(
  address: URL,
  tls: VaultTlsOptions,
  files: CredentialReader,
): Promise<Deno.HttpClient | undefined> {
  if (address.protocol !== "https:" || !(tls.ca_cert || tls.client_cert)) return undefined;
  const caCerts = tls.ca_cert ? [await files.configFile(tls.ca_cert, "tls.ca_cert")] : [];
  const cert = tls.client_cert
    ? await files.configFile(tls.client_cert, "tls.client_cert")
    : undefined;
  const key = tls.client_key ? await files.configFile(tls.client_key, "tls.client_key") : undefined;
  return Deno.createHttpClient({
    ...(caCerts.length > 0 ? { caCerts } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
  });
}

/**
 * node-vault's `request-promise` hook: `fetch`, never following redirects.
 *
 * @param fetchFn The context's `fetch`.
 * @param httpClient The TLS client, if any.
 * @returns The function node-vault calls for each request.
 */
export function transport(
  fetchFn: typeof fetch,
  httpClient: Deno.HttpClient | undefined,
): (request: TransportRequest) => Promise<TransportResponse> {
  return async (request) => {
    const headers = new Headers({ "X-Vault-Request": "true" });
    for (const [k, v] of Object.entries(request.headers ?? {})) {
      if (typeof v === "string") headers.set(k, v);
    }
    let body: string | undefined;
    if (request.json !== undefined && request.json !== null && typeof request.json === "object") {
      body = JSON.stringify(request.json);
      headers.set("Content-Type", "application/json");
    }
    const init: RequestInit & { client?: Deno.HttpClient } = {
      method: request.method,
      headers,
      redirect: "manual",
      ...(body !== undefined ? { body } : {}),
      ...(request.signal !== undefined ? { signal: request.signal } : {}),
      ...(httpClient !== undefined ? { client: httpClient } : {}),
    };
    const res = await fetchFn(request.uri, init);
    if (
      res.type === "opaqueredirect" || res.redirected || (res.status >= 300 && res.status < 400)
    ) {
      await res.body?.cancel();
      let target = "";
      try {
        const location = res.headers.get("location");
        if (location) target = new URL(location, request.uri).origin;
      } catch {
        // An unparsable Location: reported without a target.
      }
      throw new VaultRedirectError(res.status, target);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text.trim() !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page): node-vault reports "Status <code>".
      }
    }
    const refusal = parsed === undefined ? clientCertificateAnswer(res.status, text) : undefined;
    if (refusal !== undefined) throw new VaultTlsRefusal(res.status, refusal);
    return {
      statusCode: res.status,
      body: parsed,
      request: { path: new URL(request.uri).pathname },
    };
  };
}
