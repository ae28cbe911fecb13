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
 * @module
 */

import type { TokenCredential } from "../deps/azure_identity.ts";
import type { SecretClient } from "../deps/azure_keyvault_secrets.ts";
import { SecretResolutionError } from "../core/errors.ts";
import { isTransientStatus, raceAbort } from "../core/retry.ts";
import { secretFromText } from "./_json_value.ts";
import type {
  ProviderConfigIssue,
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
} from "./types.ts";

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

/** A problem found while setting the client up, before any request. */
class SetupError extends Error {
  readonly status: number | undefined;

  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "SetupError";
    this.status = status;
  }
}

const CREDENTIAL_ERRORS = new Set([
  "CredentialUnavailableError",
  "AuthenticationError",
  "AggregateAuthenticationError",
  "AuthenticationRequiredError",
]);

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
 * import { createAzureKeyVaultProvider } from "./azure_key_vault.ts";
 * import { Redactor } from "../core/redact.ts";
 * import { silentLogger } from "../core/log.ts";
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
        const secret = await raceAbort(
          secretClient.getSecret(secretName, {
            ...(version !== undefined ? { version } : {}),
            abortSignal: signal,
          }),
          signal,
        );
        if (secret.value === undefined) {
          throw new SetupError(`Key Vault returned no value for secret "${secretName}"`);
        }
        const versionId = secret.properties.version;
        return {
          value: secretFromText(secret.value),
          ...(versionId !== undefined && versionId !== "" ? { version: versionId } : {}),
        };
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

function describeRef(vaultUrl: string, ref: SecretRef): string {
  const version = ref.version === undefined || ref.version === "" ? "" : `/${String(ref.version)}`;
  const field = ref.field === undefined ? "" : `#${String(ref.field)}`;
  return `${vaultUrl}/secrets/${String(ref.name)}${version}${field}`;
}

async function createClient(
  vaultUrl: string,
  options: AzureKeyVaultProviderOptions,
  context: ProviderContext,
): Promise<SecretClient> {
  const started = context.now();
  const credentialOptions = options.credential ?? {};
  const type = credentialOptions.type ?? "default";
  const issues = configIssues(options);
  if (issues.length > 0) throw new SetupError(issues.map((i) => i.message).join("; "));
  const clientSecret = type === "client_secret"
    ? await readClientSecret(credentialOptions, context)
    : undefined;
  const tlsOptions = options.tls?.ca_cert === undefined
    ? undefined
    : { ca: await trustedRoots(options.tls.ca_cert, context) };
  const [identity, { SecretClient }] = await Promise.all([
    import("../deps/azure_identity.ts"),
    import("../deps/azure_keyvault_secrets.ts"),
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
      throw new SetupError(`credential type "${String(type)}" is not supported`);
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

/**
 * What the schema cannot express: a usable vault URL, what each credential type needs, and keys
 * the chosen type would silently ignore. Pointers are relative to the provider block.
 */
function configIssues(options: AzureKeyVaultProviderOptions): ProviderConfigIssue[] {
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

async function readClientSecret(
  c: AzureCredentialOptions,
  context: ProviderContext,
): Promise<string> {
  let secret: string | undefined;
  if (c.client_secret_env !== undefined) {
    try {
      secret = context.env(c.client_secret_env);
    } catch (cause) {
      throw new SetupError(
        `reading environment variable "${c.client_secret_env}" is not permitted; run with --allow-env`,
        401,
        { cause },
      );
    }
    if (secret === undefined || secret === "") {
      throw new SetupError(
        `the client secret variable "${c.client_secret_env}" is not set; export it before starting`,
        401,
      );
    }
  } else {
    const path = c.client_secret_file!;
    try {
      secret = (await Deno.readTextFile(path)).replace(/\r?\n$/, "");
    } catch (cause) {
      throw new SetupError(
        `the client secret file "${path}" cannot be read: ${whyUnreadable(cause)}`,
        401,
        { cause },
      );
    }
    if (secret === "") throw new SetupError(`the client secret file "${path}" is empty`, 401);
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
      throw new SetupError(
        `the ${what} "${file}" cannot be read: ${whyUnreadable(cause)}`,
        undefined,
        {
          cause,
        },
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

interface ClassifyContext {
  readonly provider: string;
  readonly reference: string;
  readonly vaultUrl: string;
  readonly secretName: string;
  readonly version: string | undefined;
  readonly credentialType: AzureCredentialType;
  readonly context: ProviderContext;
}

function classify(error: unknown, c: ClassifyContext): SecretResolutionError {
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

  if (error instanceof SetupError) {
    return fail(error.message, error.status !== undefined ? { status: error.status } : {});
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

/** What MSAL and Node say when a token endpoint cannot be reached. */
const NETWORK_FAILURE =
  /network_error|endpoints_resolution_error|Network unreachable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN/;

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
  const code = String((e as { code?: unknown }).code ?? "");
  return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/
    .test(code);
}
