/**
 * How the `azure-key-vault` provider builds its credential and SDK client: the credential type
 * chosen, a client secret read from a variable or a file, the trusted roots for a private CA, and
 * the SDK's own retries turned off. Every access token obtained and the client secret are
 * registered with the redactor.
 *
 * @module
 */

import type { TokenCredential } from "../../deps/azure_identity.ts";
import type { SecretClient } from "../../deps/azure_keyvault_secrets.ts";
import { ProviderSetupError } from "../errors.ts";
import type { ProviderContext } from "../types.ts";
import {
  type AzureCredentialOptions,
  type AzureKeyVaultProviderOptions,
  configIssues,
} from "./options.ts";

/**
 * Builds the credential and the SDK client; loads the SDKs on first call.
 *
 * @throws {ProviderSetupError} when the settings cannot work or the client secret cannot be read.
 */
export async function createClient(
  vaultUrl: string,
  options: AzureKeyVaultProviderOptions,
  context: ProviderContext,
): Promise<SecretClient> {
  const started = context.now();
  const credentialOptions = options.credential ?? {};
  const type = credentialOptions.type ?? "default";
  const issues = configIssues(options);
  if (issues.length > 0) throw new ProviderSetupError(issues.map((i) => i.message).join("; "));
  const clientSecret = type === "client_secret"
    ? await readClientSecret(credentialOptions, context)
    : undefined;
  const tlsOptions = options.tls?.ca_cert === undefined
    ? undefined
    : { ca: await trustedRoots(options.tls.ca_cert, context) };
  const [identity, { SecretClient }] = await Promise.all([
    import("../../deps/azure_identity.ts"),
    import("../../deps/azure_keyvault_secrets.ts"),
  ]);
  // The runtime retries transient failures; SDK retries would multiply its attempts.
  const common = {
    retryOptions: { maxRetries: 0 },
    ...(tlsOptions !== undefined ? { tlsOptions } : {}),
  };
  const tenancy = {
    ...(credentialOptions.authority_host !== undefined
      ? { authorityHost: credentialOptions.authority_host, disableInstanceDiscovery: true }
      : {}),
    ...(credentialOptions.additionally_allowed_tenants !== undefined
      ? { additionallyAllowedTenants: [...credentialOptions.additionally_allowed_tenants] }
      : {}),
  };
  const tenantId = credentialOptions.tenant_id;
  const clientId = credentialOptions.client_id;
  let credential: TokenCredential;
  switch (type) {
    case "default":
      credential = new identity.DefaultAzureCredential({
        ...common,
        ...tenancy,
        ...(tenantId !== undefined ? { tenantId } : {}),
        ...(clientId !== undefined
          ? { managedIdentityClientId: clientId, workloadIdentityClientId: clientId }
          : {}),
      });
      break;
    case "client_secret":
      credential = new identity.ClientSecretCredential(
        tenantId!,
        clientId!,
        clientSecret!,
        { ...common, ...tenancy },
      );
      break;
    case "managed_identity":
      credential = new identity.ManagedIdentityCredential(
        clientId !== undefined ? { ...common, clientId } : common,
      );
      break;
    case "workload_identity":
      credential = new identity.WorkloadIdentityCredential({
        ...common,
        ...tenancy,
        ...(tenantId !== undefined ? { tenantId } : {}),
        ...(clientId !== undefined ? { clientId } : {}),
      });
      break;
    case "azure_cli":
      credential = new identity.AzureCliCredential({
        ...(tenantId !== undefined ? { tenantId } : {}),
        ...(credentialOptions.additionally_allowed_tenants !== undefined
          ? { additionallyAllowedTenants: [...credentialOptions.additionally_allowed_tenants] }
          : {}),
      });
      break;
    default:
      throw new ProviderSetupError(`credential type "${String(type)}" is not supported`);
  }
  const registering: TokenCredential = {
    async getToken(scopes, getTokenOptions) {
      const token = await credential.getToken(scopes, getTokenOptions);
      if (token !== null) context.redactor.add(token.token);
      return token;
    },
  };
  const secretClient = new SecretClient(vaultUrl, registering, {
    ...common,
    disableChallengeResourceVerification: options.disable_challenge_resource_verification ??
      false,
    userAgentOptions: { userAgentPrefix: "mlflow-secrets-auth" },
  });
  context.logger.debug("azure key vault client created", {
    vault: vaultUrl,
    credential: type,
    ms: context.now() - started,
  });
  return secretClient;
}

async function readClientSecret(
  c: AzureCredentialOptions,
  context: ProviderContext,
): Promise<string> {
  let secret: string | undefined;
  if (c.client_secret_env !== undefined) {
    try {
      secret = context.env(c.client_secret_env);
    } catch (cause) {
      throw new ProviderSetupError(
        `reading environment variable "${c.client_secret_env}" is not permitted; run with --allow-env`,
        { status: 401, cause },
      );
    }
    if (secret === undefined || secret === "") {
      throw new ProviderSetupError(
        `the client secret variable "${c.client_secret_env}" is not set; export it before starting`,
        { status: 401 },
      );
    }
  } else {
    const path = c.client_secret_file!;
    try {
      secret = (await Deno.readTextFile(path)).replace(/\r?\n$/, "");
    } catch (cause) {
      throw new ProviderSetupError(
        `the client secret file "${path}" cannot be read: ${whyUnreadable(cause)}`,
        { status: 401, cause },
      );
    }
    if (secret === "") {
      throw new ProviderSetupError(`the client secret file "${path}" is empty`, { status: 401 });
    }
  }
  context.redactor.add(secret);
  return secret;
}

/** The built-in roots, `NODE_EXTRA_CA_CERTS` and the given file: `ca` replaces the defaults. */
async function trustedRoots(path: string, context: ProviderContext): Promise<string[]> {
  const read = async (file: string, what: string): Promise<string> => {
    try {
      return await Deno.readTextFile(file);
    } catch (cause) {
      throw new ProviderSetupError(
        `the ${what} "${file}" cannot be read: ${whyUnreadable(cause)}`,
        { cause },
      );
    }
  };
  const { rootCertificates } = await import("node:tls");
  const extraFile = context.env("NODE_EXTRA_CA_CERTS");
  const extra = extraFile === undefined || extraFile === ""
    ? []
    : [await read(extraFile, "NODE_EXTRA_CA_CERTS file")];
  return [...rootCertificates, ...extra, await read(path, "CA file (tls.ca_cert)")];
}

function whyUnreadable(cause: unknown): string {
  if (cause instanceof Deno.errors.NotFound) return "it does not exist";
  if (cause instanceof Deno.errors.NotCapable) return "no read permission; run with --allow-read";
  if (cause instanceof Deno.errors.PermissionDenied) {
    return "permission denied; check the file mode";
  }
  return cause instanceof Error ? cause.message : String(cause);
}
