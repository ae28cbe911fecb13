/**
 * The closed list of provider kinds: one descriptor per kind (its factory, and what the command
 * line and the bundler need), in the order the schema lists the kinds. Built from an explicit
 * list: nothing registers itself by being imported. Each provider module is light; SDKs load on
 * first use.
 *
 * Only the top imports this module (`mod.ts` through `builtin.ts`, `cli.ts`, `cli/`); the layers
 * below are handed the factories. A bundle replaces this module with one generated for the kinds
 * its profile uses, exporting the same names.
 *
 * @module
 */

import type { ProviderDescriptor } from "./descriptor.ts";
import type { ProviderFactory } from "./types.ts";
import { envDescriptor } from "./env.ts";
import { fileDescriptor } from "./file.ts";
import { vaultDescriptor } from "./vault/descriptor.ts";
import { awsSecretsManagerDescriptor } from "./aws_secrets_manager/descriptor.ts";
import { azureKeyVaultDescriptor } from "./azure_key_vault/descriptor.ts";

const DESCRIPTORS: readonly ProviderDescriptor[] = [
  envDescriptor,
  fileDescriptor,
  vaultDescriptor,
  awsSecretsManagerDescriptor,
  azureKeyVaultDescriptor,
];

/** Provider descriptors by kind. */
export const PROVIDER_DESCRIPTORS: ReadonlyMap<string, ProviderDescriptor> = new Map(
  DESCRIPTORS.map((d) => [d.factory.kind, d]),
);

/** Provider factories by kind. */
export const PROVIDERS: ReadonlyMap<string, ProviderFactory> = new Map(
  DESCRIPTORS.map((d) => [d.factory.kind, d.factory]),
);

/** The provider kinds, in the schema's order (e.g. for a command line's choices). */
export const PROVIDER_KINDS: readonly string[] = DESCRIPTORS.map((d) => d.factory.kind);
