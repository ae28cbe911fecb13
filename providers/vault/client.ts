/**
 * The vault provider's Vault client: `npm:node-vault`, loaded on first use (never at import),
 * with this provider's transport plugged in ({@linkcode VaultConnection}), and the few API
 * calls the provider makes, each abortable and each failing with an error that holds no SDK
 * object ({@linkcode VaultApi}). node-vault's `debug` dependency enumerates the environment
 * when it loads, so the provider needs `--allow-env` without a list.
 *
 * @module
 */

import { raceAbort } from "../../core/retry.ts";
import type { Redactor } from "../../core/redact.ts";
import type { LoginRequest } from "./auth/types.ts";
import type { CredentialReader } from "./credentials.ts";
import { reduceError } from "./errors.ts";
import type { VaultTlsOptions } from "./options.ts";
import { createTlsClient, transport } from "./transport.ts";

/** The part of node-vault this provider uses. */
interface NodeVaultClient {
  read(path: string, requestOptions?: Record<string, unknown>): Promise<unknown>;
  approleLogin(args: Record<string, unknown>): Promise<unknown>;
  kubernetesLogin(args: Record<string, unknown>): Promise<unknown>;
  tokenLookupSelf(args: Record<string, unknown>): Promise<unknown>;
  tokenRenewSelf(args: Record<string, unknown>): Promise<unknown>;
}

type NodeVaultFactory = (options: Record<string, unknown>) => NodeVaultClient;

/** Where and how to reach Vault. */
export interface VaultConnectionOptions {
  /** The Vault address. */
  readonly address: URL;
  /** The namespace sent as `X-Vault-Namespace`, if any. */
  readonly namespace: string | undefined;
  /** The `tls:` block. */
  readonly tls: VaultTlsOptions;
  /** The context's `fetch`. */
  readonly fetch: typeof fetch;
  /** Reads the PEM files. */
  readonly files: CredentialReader;
  /** Masks known credentials in Vault's errors. */
  readonly redactor: Redactor;
}

/** Loads node-vault and builds the client, once (again after a failure or a `close`). */
export class VaultConnection {
  readonly #options: VaultConnectionOptions;
  #api: Promise<VaultApi> | undefined;
  #httpClient: Deno.HttpClient | undefined;

  /**
   * Creates the connection; loads and reads nothing yet.
   *
   * @param options Address, namespace, TLS, transport.
   */
  constructor(options: VaultConnectionOptions) {
    this.#options = options;
  }

  /**
   * The API, loading node-vault and reading the TLS files on the first call.
   *
   * @returns The API; the same promise until it fails or the connection is closed.
   */
  api(): Promise<VaultApi> {
    if (this.#api === undefined) {
      this.#api = this.#create();
      this.#api.catch(() => {
        this.#api = undefined;
        this.#httpClient?.close();
        this.#httpClient = undefined;
      });
    }
    return this.#api;
  }

  /** Closes the TLS client and forgets the API; the next call builds them again. */
  close(): void {
    this.#httpClient?.close();
    this.#httpClient = undefined;
    this.#api = undefined;
  }

  async #create(): Promise<VaultApi> {
    const { address, namespace } = this.#options;
    this.#httpClient = await createTlsClient(address, this.#options.tls, this.#options.files);
    const mod = await import("../../deps/node_vault.ts") as unknown as {
      default: NodeVaultFactory;
    };
    const vault = mod.default({
      endpoint: address.href.replace(/\/$/, ""),
      apiVersion: "v1",
      namespace,
      // node-vault logs request bodies (login credentials) through `debug` when DEBUG names it.
      debug: () => {},
      "request-promise": { defaults: () => transport(this.#options.fetch, this.#httpClient) },
    });
    // node-vault falls back to VAULT_TOKEN, VAULT_NAMESPACE and VAULT_PREFIX from the process
    // environment for unset options, and keeps login tokens on itself. The profile is the only
    // source here, and every call passes its token explicitly.
    Object.defineProperty(vault, "token", { get: () => undefined, set: () => {} });
    Object.defineProperty(vault, "namespace", { get: () => namespace, set: () => {} });
    Object.defineProperty(vault, "pathPrefix", { get: () => "", set: () => {} });
    return new VaultApi(vault, this.#options.redactor);
  }
}

/**
 * The Vault API calls the provider makes. Each takes the caller's signal (an abort ends the
 * call at once) and fails with a `VaultHttpError`, a `VaultRedirectError`, a network
 * `TypeError` or the signal's reason.
 */
export class VaultApi {
  readonly #vault: NodeVaultClient;
  readonly #redactor: Redactor;

  /**
   * Wraps a node-vault client.
   *
   * @param vault The client, built with this provider's transport.
   * @param redactor Masks known credentials in Vault's errors.
   */
  constructor(vault: NodeVaultClient, redactor: Redactor) {
    this.#vault = vault;
    this.#redactor = redactor;
  }

  /**
   * `GET /v1/<apiPath>` with the token.
   *
   * @param apiPath Path below `/v1/`, query included.
   * @param token The Vault token.
   * @param signal Cancellation.
   * @returns Vault's answer.
   */
  read(apiPath: string, token: string, signal: AbortSignal): Promise<unknown> {
    return this.#call(
      apiPath,
      signal,
      () => this.#vault.read(apiPath, tokenOptions(token, signal)),
    );
  }

  /**
   * Posts a login (no token needed).
   *
   * @param request What the auth method built.
   * @param signal Cancellation.
   * @returns Vault's answer, with `auth.client_token`.
   */
  login(request: LoginRequest, signal: AbortSignal): Promise<unknown> {
    const args = { mount_point: request.mount, ...request.body, requestOptions: { signal } };
    return this.#call(
      request.path,
      signal,
      () =>
        request.method === "approle"
          ? this.#vault.approleLogin(args)
          : this.#vault.kubernetesLogin(args),
    );
  }

  /**
   * `auth/token/lookup-self`.
   *
   * @param token The Vault token.
   * @param signal Cancellation.
   * @returns Vault's answer, with `data.ttl` and `data.renewable`.
   */
  lookupSelf(token: string, signal: AbortSignal): Promise<unknown> {
    return this.#call(
      "auth/token/lookup-self",
      signal,
      () => this.#vault.tokenLookupSelf({ requestOptions: tokenOptions(token, signal) }),
    );
  }

  /**
   * `auth/token/renew-self`.
   *
   * @param token The Vault token.
   * @param signal Cancellation.
   * @returns Vault's answer, with `auth.lease_duration` and `auth.renewable`.
   */
  renewSelf(token: string, signal: AbortSignal): Promise<unknown> {
    return this.#call(
      "auth/token/renew-self",
      signal,
      () => this.#vault.tokenRenewSelf({ requestOptions: tokenOptions(token, signal) }),
    );
  }

  /** Calls node-vault and turns its failures into errors that hold no SDK object. */
  async #call<T>(apiPath: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    try {
      return await raceAbort(fn(), signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw reduceError(e, apiPath, this.#redactor);
    }
  }
}

function tokenOptions(token: string, signal: AbortSignal): Record<string, unknown> {
  return { headers: { "X-Vault-Token": token }, signal };
}
