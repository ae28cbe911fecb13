/**
 * What the command line and the bundler know about the `azure-key-vault` kind: its SDK packages,
 * the permissions a provider block needs, its `init` template and its `--from-env` mapping.
 *
 * @module
 */

import { type ProviderDescriptor, setting } from "../descriptor.ts";
import { azureKeyVaultProvider } from "./mod.ts";

/** The `azure-key-vault` kind's descriptor. */
export const azureKeyVaultDescriptor: ProviderDescriptor = {
  factory: azureKeyVaultProvider,
  exported: { module: import.meta.url, name: "azureKeyVaultDescriptor" },
  sdks: [
    {
      package: "@azure/identity",
      module: new URL("../../deps/azure_identity.ts", import.meta.url).href,
      load: () => import("../../deps/azure_identity.ts"),
    },
    {
      package: "@azure/keyvault-secrets",
      module: new URL("../../deps/azure_keyvault_secrets.ts", import.meta.url).href,
      load: () => import("../../deps/azure_keyvault_secrets.ts"),
    },
  ],
  permissions(settings, grant) {
    const name = grant.provider;
    grant.url("/vault_url", String(settings.vault_url));
    const cred = (settings.credential ?? {}) as Record<string, unknown>;
    const type = setting(cred.type) ?? "default";
    const authority = setting(cred.authority_host);
    if (authority !== undefined) grant.url("/credential/authority_host", authority);
    else grant.net("login.microsoftonline.com:443");
    if (type === "default" || type === "managed_identity") {
      grant.net("169.254.169.254:80"); // instance metadata (managed identity)
    }
    const secretEnv = setting(cred.client_secret_env);
    if (secretEnv !== undefined) grant.env(secretEnv);
    const secretFile = setting(cred.client_secret_file);
    if (secretFile !== undefined) grant.read(grant.tilde(secretFile));
    const tls = (settings.tls ?? {}) as Record<string, unknown>;
    const ca = setting(tls.ca_cert);
    if (ca !== undefined) grant.read(grant.tilde(ca));
    for (
      const v of [
        "AZURE_*",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "NODE_EXTRA_CA_CERTS",
        "HOME",
      ]
    ) {
      grant.env(v);
    }
    if (type === "default" || type === "workload_identity") {
      grant.note(
        `azure-key-vault provider "${name}" (credential ${type}): add the file AZURE_FEDERATED_TOKEN_FILE names to --allow-read when workload identity is used`,
      );
    }
    if (type === "azure_cli" || type === "default") {
      grant.note(
        `azure-key-vault provider "${name}" (credential ${type}): the Azure CLI credential also needs --allow-run=az`,
      );
    }
    grant.allSys(); // HTTPS through node:https
  },
  init: {
    name: "azure",
    questions: [
      {
        key: "vaultUrl",
        flag: "--vault-url",
        argument: "url",
        help: "vault URL (https)",
        question: "Key Vault URL (https://NAME.vault.azure.net)",
      },
      {
        key: "secretName",
        flag: "--secret-name",
        argument: "name",
        help: "secret name",
        question: "Secret name",
      },
    ],
    render: (a, scalar) => ({
      provider: [
        `    vault_url: ${scalar(a.vaultUrl!)}`,
        "    credential: { type: default }   # DefaultAzureCredential; or client_secret, managed_identity, ...",
      ],
      secret: [["name", a.secretName]],
    }),
  },
  fromEnv: {
    name: "azure",
    prefix: "MLFLOW_AZURE",
    build(env) {
      const url = env.need("AZURE_KEY_VAULT_URL");
      if (url !== "" && !url.toLowerCase().startsWith("https://")) {
        env.refuse(
          "AZURE_KEY_VAULT_URL is not an https:// URL; the Python plugin refused it too — set the vault's https URL",
        );
      }
      return {
        provider: { vault_url: url, credential: { type: "default" } },
        secret: { name: env.need("MLFLOW_AZURE_SECRET_NAME") },
      };
    },
  },
  exec: { ambientCloud: true },
  secretFacts: {
    expiry: () => ["the secret's expires attribute"],
    version: (_config, ref) =>
      typeof ref.version === "string" ? "the pinned secret version" : "the secret version id",
  },
};
