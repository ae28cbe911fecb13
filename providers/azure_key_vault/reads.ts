/**
 * What the `azure-key-vault` provider reads: a secret by name, its latest version or a pinned
 * one; a value that parses as a JSON object is used as an object. The version id and the
 * `expires` attribute come with it.
 *
 * @module
 */

import type { SecretClient } from "../../deps/azure_keyvault_secrets.ts";
import { raceAbort } from "../../core/retry.ts";
import { ProviderSetupError } from "../errors.ts";
import { secretFromText } from "../_json_value.ts";
import type { ResolvedSecret, SecretRef } from "../types.ts";

/** `<vault>/secrets/<name>[/<version>][#<field>]`. */
export function describeRef(vaultUrl: string, ref: SecretRef): string {
  const version = ref.version === undefined || ref.version === "" ? "" : `/${String(ref.version)}`;
  const field = ref.field === undefined ? "" : `#${String(ref.field)}`;
  return `${vaultUrl}/secrets/${String(ref.name)}${version}${field}`;
}

/**
 * Reads one secret with the SDK and returns its value and version.
 *
 * @throws {ProviderSetupError} when Key Vault returns no value; anything the SDK throws, as is.
 */
export async function readSecret(
  client: SecretClient,
  secretName: string,
  options: { readonly version: string | undefined; readonly signal: AbortSignal },
): Promise<ResolvedSecret> {
  const { version, signal } = options;
  const secret = await raceAbort(
    client.getSecret(secretName, {
      ...(version !== undefined ? { version } : {}),
      abortSignal: signal,
    }),
    signal,
  );
  if (secret.value === undefined) {
    throw new ProviderSetupError(`Key Vault returned no value for secret "${secretName}"`);
  }
  const versionId = secret.properties.version;
  const expires = secret.properties.expiresOn?.getTime();
  return {
    value: secretFromText(secret.value),
    ...(versionId !== undefined && versionId !== "" ? { version: versionId } : {}),
    // The secret's `expires` attribute: the cache keeps the value until shortly before it.
    ...(expires !== undefined && Number.isFinite(expires) ? { expiresAt: expires } : {}),
  };
}
