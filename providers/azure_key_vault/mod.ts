/**
 * The `azure-key-vault` provider: a secret is an Azure Key Vault secret, its latest version or a
 * pinned one.
 *
 * ```yaml
 * providers:
 *   azure-ml:
 *     kind: azure-key-vault
 *     vault_url: https://ml-secrets.vault.azure.net     # https only
 *     credential:
 *       type: default          # default | client_secret | managed_identity | workload_identity | azure_cli
 *       # client_secret: tenant_id, client_id, client_secret_env or client_secret_file
 *       # managed_identity: client_id (user-assigned; omit for system-assigned)
 *       # authority_host, additionally_allowed_tenants: optional
 *     disable_challenge_resource_verification: false   # only for vaults outside *.vault.azure.net
 *     tls: { ca_cert: /etc/ssl/private-ca.pem }         # optional, for a vault behind a private CA
 * hosts:
 *   - match: https://mlflow.company.com
 *     provider: azure-ml
 *     secret: { name: mlflow-token, version: 0123abcd, field: token }   # version optional
 *     auth: bearer
 * ```
 *
 * Uses `@azure/keyvault-secrets` and `@azure/identity`, loaded on the first `resolve`. A value
 * that parses as a JSON object is used as an object. The SDK's own retries are turned off (for the
 * vault and the token endpoints): the runtime retries transient failures (throttling, 5xx, network
 * errors, including those of a token endpoint) under one policy and deadline. Not found, access
 * denied, a disabled secret and a credential that cannot get a token are not retried; their errors
 * name the vault, the secret and the credential type, and the credential chain's reasons, never a
 * token or a secret.
 *
 * Every access token obtained and the client secret are registered with the redactor.
 *
 * This folder: `options.ts` (the block's types and the checks the schema cannot express),
 * `credentials.ts` (the credential and the SDK client), `reads.ts` (the call and the value),
 * `errors.ts` (what a failure means and says).
 *
 * @module
 */

import type { SecretClient } from "../../deps/azure_keyvault_secrets.ts";
import { raceAbort } from "../../core/retry.ts";
import type {
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
} from "../types.ts";
import {
  type AzureCredentialType,
  type AzureKeyVaultProviderOptions,
  configIssues,
} from "./options.ts";
import { createClient } from "./credentials.ts";
import { describeRef, readSecret } from "./reads.ts";
import { classify } from "./errors.ts";

export type {
  AzureCredentialOptions,
  AzureCredentialType,
  AzureKeyVaultProviderOptions,
} from "./options.ts";

/**
 * Creates an azure-key-vault provider. Nothing is loaded or read until the first `resolve`; the
 * SDK client and credential are then created once and reused.
 *
 * The process environment is read by `@azure/identity` itself for `default`,
 * `managed_identity` and `workload_identity` (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
 * `AZURE_FEDERATED_TOKEN_FILE`, `IDENTITY_ENDPOINT`, …); `client_secret_env` is read through
 * `context.env`.
 *
 * @param name Instance name.
 * @param options Provider block.
 * @param context Environment, logger and redactor.
 * @returns The provider.
 *
 * @example
 * ```ts
 * import { createAzureKeyVaultProvider } from "./mod.ts";
 * import { Redactor } from "../../core/redact.ts";
 * import { silentLogger } from "../../core/log.ts";
 * const p = createAzureKeyVaultProvider("azure-ml", {
 *   vault_url: "https://ml-secrets.vault.azure.net",
 *   credential: { type: "managed_identity" },
 * }, { env: () => undefined, fetch, now: Date.now, logger: silentLogger, redactor: new Redactor() });
 * const d = p.describe({ name: "mlflow-token", version: "0123abcd", field: "token" });
 * if (d !== "https://ml-secrets.vault.azure.net/secrets/mlflow-token/0123abcd#token") {
 *   throw new Error(d);
 * }
 * ```
 */
export function createAzureKeyVaultProvider(
  name: string,
  options: AzureKeyVaultProviderOptions,
  context: ProviderContext,
): SecretProvider {
  const vaultUrl = options.vault_url.replace(/\/+$/, "");
  const credentialType: AzureCredentialType = options.credential?.type ?? "default";
  let client: Promise<SecretClient> | undefined;
  const getClient = (): Promise<SecretClient> => {
    client ??= createClient(vaultUrl, options, context).catch((error) => {
      client = undefined;
      throw error;
    });
    return client;
  };
  const describe = (ref: SecretRef): string => describeRef(vaultUrl, ref);

  return {
    name,
    kind: "azure-key-vault",
    describe,
    async resolve(ref, { signal }): Promise<ResolvedSecret> {
      signal.throwIfAborted();
      const secretName = String(ref.name);
      const version = ref.version === undefined || ref.version === ""
        ? undefined
        : String(ref.version);
      try {
        const secretClient = await raceAbort(getClient(), signal);
        return await readSecret(secretClient, secretName, { version, signal });
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const failure = classify(error, {
          provider: name,
          reference: describe(ref),
          vaultUrl,
          secretName,
          version,
          credentialType,
          context,
        });
        // Not authenticated: build the credential again next time, so that a rotated client
        // secret (file or variable) is read anew.
        if (failure.status === 401) client = undefined;
        throw failure;
      }
    },
    close(): void {
      client = undefined;
    },
  };
}

/** Registry entry. Its `check` reports, at validation time, settings that cannot work. */
export const azureKeyVaultProvider: ProviderFactory = {
  kind: "azure-key-vault",
  create: (name, config, context) =>
    createAzureKeyVaultProvider(name, config as unknown as AzureKeyVaultProviderOptions, context),
  check: (config) => configIssues(config as unknown as AzureKeyVaultProviderOptions),
};
