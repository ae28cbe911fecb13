/**
 * The closed list of provider kinds. Built from an explicit list: nothing registers itself by
 * being imported. Each provider module is light; SDKs load on first use.
 *
 * @module
 */

import type { ProviderFactory } from "./types.ts";
import { awsSecretsManagerProvider } from "./aws_secrets_manager/provider.ts";
import { azureKeyVaultProvider } from "./azure_key_vault/provider.ts";
import { envProvider } from "./env.ts";
import { fileProvider } from "./file.ts";
import { vaultProvider } from "./vault/mod.ts";

const FACTORIES: readonly ProviderFactory[] = [
  envProvider,
  fileProvider,
  awsSecretsManagerProvider,
  azureKeyVaultProvider,
  vaultProvider,
];

/** Provider factories by kind. */
export const PROVIDERS: ReadonlyMap<string, ProviderFactory> = new Map(
  FACTORIES.map((f) => [f.kind, f]),
);
