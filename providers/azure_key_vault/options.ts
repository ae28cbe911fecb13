/**
 * The `azure-key-vault` provider block: its types, and the checks the schema cannot express (a
 * usable vault URL, what each credential type needs, keys the chosen type would ignore).
 *
 * @module
 */

import type { ProviderConfigIssue } from "../types.ts";

/** How the provider gets a token for the vault. */
export type AzureCredentialType =
  | "default"
  | "client_secret"
  | "managed_identity"
  | "workload_identity"
  | "azure_cli";

/** The `credential:` block. */
export interface AzureCredentialOptions {
  /**
   * `default` (DefaultAzureCredential: environment, workload identity, managed identity, then the
   * developer tools), `client_secret`, `managed_identity`, `workload_identity` or `azure_cli`.
   * Default `default`.
   */
  readonly type?: AzureCredentialType;
  /** Tenant id: required for `client_secret`; optional for `default`, `workload_identity`, `azure_cli`. */
  readonly tenant_id?: string;
  /**
   * Client id: the app (`client_secret`, required), the user-assigned identity
   * (`managed_identity`, `default`) or the federated app (`workload_identity`).
   */
  readonly client_id?: string;
  /** Environment variable holding the client secret (`client_secret`). */
  readonly client_secret_env?: string;
  /** File holding the client secret, one trailing newline trimmed (`client_secret`). */
  readonly client_secret_file?: string;
  /** Entra ID authority, for sovereign clouds or a private authority; disables instance discovery. */
  readonly authority_host?: string;
  /** Tenants besides `tenant_id` the credential may get tokens for (`*` for any). */
  readonly additionally_allowed_tenants?: readonly string[];
}

/** Options of the azure-key-vault provider: its profile block. */
export interface AzureKeyVaultProviderOptions {
  /** Always `azure-key-vault`. */
  readonly kind?: "azure-key-vault";
  /** Vault URL, https only, e.g. `https://ml-secrets.vault.azure.net`. */
  readonly vault_url: string;
  /** The credential. Default `{ type: default }`. */
  readonly credential?: AzureCredentialOptions;
  /**
   * Skip the check that the vault's authentication challenge names a resource the vault's host
   * belongs to. Only for vaults outside `*.vault.azure.net` (emulators, private endpoints with
   * other names): with it, a token for Key Vault is sent to whatever `vault_url` names.
   */
  readonly disable_challenge_resource_verification?: boolean;
  /** TLS settings. */
  readonly tls?: {
    /**
     * PEM file of CA certificates trusted, besides the built-in roots and `NODE_EXTRA_CA_CERTS`,
     * for this provider's HTTPS calls (vault and token endpoints).
     */
    readonly ca_cert?: string;
  };
}

/**
 * What the schema cannot express: a usable vault URL, what each credential type needs, and keys
 * the chosen type would silently ignore. Pointers are relative to the provider block.
 */
export function configIssues(options: AzureKeyVaultProviderOptions): ProviderConfigIssue[] {
  const issues: ProviderConfigIssue[] = [];
  const fail = (pointer: string, message: string): void => {
    issues.push({ pointer, message });
  };
  let url: URL | undefined;
  try {
    url = new URL(options.vault_url);
  } catch {
    fail(
      "/vault_url",
      `vault_url "${options.vault_url}" is not a URL; use https://<name>.vault.azure.net`,
    );
  }
  if (url !== undefined) {
    if (url.protocol !== "https:") {
      fail("/vault_url", `vault_url "${options.vault_url}" must use https://`);
    } else if (url.username || url.password || url.search || url.hash) {
      fail(
        "/vault_url",
        `vault_url "${url.origin}" must not hold credentials, a query or a fragment`,
      );
    }
  }
  const c = options.credential ?? {};
  const type = c.type ?? "default";
  if (type === "client_secret") {
    const missing = (["tenant_id", "client_id"] as const).filter((k) => c[k] === undefined);
    if (missing.length > 0) {
      fail(
        "/credential",
        `credential type "client_secret" needs ${missing.map((k) => `"${k}"`).join(" and ")}; add ${
          missing.length === 1 ? "it" : "them"
        } to the credential block`,
      );
    }
    if ((c.client_secret_env === undefined) === (c.client_secret_file === undefined)) {
      fail(
        "/credential",
        'credential type "client_secret" needs exactly one of "client_secret_env" and "client_secret_file"',
      );
    }
  }
  const unused: Record<AzureCredentialType, readonly (keyof AzureCredentialOptions)[]> = {
    default: ["client_secret_env", "client_secret_file"],
    client_secret: [],
    managed_identity: [
      "tenant_id",
      "client_secret_env",
      "client_secret_file",
      "authority_host",
      "additionally_allowed_tenants",
    ],
    workload_identity: ["client_secret_env", "client_secret_file"],
    azure_cli: ["client_id", "client_secret_env", "client_secret_file", "authority_host"],
  };
  for (const key of unused[type] ?? []) {
    if (c[key] !== undefined) {
      fail(
        `/credential/${key}`,
        `credential type "${type}" does not use "${key}"; remove it or change credential.type`,
      );
    }
  }
  if (c.authority_host !== undefined) {
    let authority: URL | undefined;
    try {
      authority = new URL(c.authority_host);
    } catch {
      // reported below
    }
    if (authority?.protocol !== "https:") {
      fail(
        "/credential/authority_host",
        `authority_host "${c.authority_host}" must be an https:// URL, e.g. https://login.microsoftonline.us`,
      );
    }
  }
  return issues;
}
