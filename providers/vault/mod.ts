/**
 * The `vault` provider: HashiCorp Vault KV v1 and v2 secrets, on any mount.
 *
 * ```yaml
 * providers:
 *   corp-vault:
 *     kind: vault
 *     address: https://vault.company.com:8200     # http:// only for loopback or allow_insecure_http
 *     namespace: ml-platform                       # optional, sent as X-Vault-Namespace
 *     tls: { ca_cert: /etc/ssl/vault-ca.pem }      # optional: client_cert, client_key
 *     auth:
 *       method: approle                            # token | token_file | approle | kubernetes
 *       role_id_env: VAULT_ROLE_ID                 # or role_id_file
 *       secret_id_file: /run/secrets/vault-secret-id   # or secret_id_env
 *       mount: approle                             # optional
 * hosts:
 *   - match: https://mlflow.company.com
 *     provider: corp-vault
 *     secret: { path: mlflow/auth, mount: secret, kv: auto, field: token }   # version: 3 optional
 *     auth: bearer
 * ```
 *
 * Auth methods (`auth/`): `token` (from `token_env`, default `VAULT_TOKEN`), `token_file`
 * (default `~/.vault-token` or a Vault Agent sink; re-read when the file changes), `approle`
 * (role id and secret id each from an environment variable or a file, read at each login) and
 * `kubernetes` (`role`, the service-account token in `jwt_file`, `mount`). The other modules:
 * `options.ts` (settings and their checks), `client.ts` and `transport.ts` (node-vault, loaded
 * on first use, over the context's `fetch`; redirects never followed), `session.ts` (renewal,
 * re-login), `kv.ts` (mount lookup, KV v1 and v2 reads), `error_mapping.ts` (Vault's answers
 * to messages that say what to check), `resolve.ts` (one read, end to end).
 *
 * @module
 */

import type { ProviderContext, ProviderFactory, SecretProvider, SecretRef } from "../types.ts";
import { createAuthMethod } from "./auth/method.ts";
import { canLogin } from "./auth/types.ts";
import { VaultConnection } from "./client.ts";
import { CredentialReader } from "./credentials.ts";
import { MountTable } from "./kv.ts";
import {
  checkVaultOptions,
  namespaceOf,
  validateOptions,
  type VaultProviderOptions,
} from "./options.ts";
import { describeRef } from "./reference.ts";
import { resolveVaultSecret } from "./resolve.ts";
import { SessionKeeper } from "./session.ts";

export { checkVaultOptions } from "./options.ts";
export type {
  VaultAuthMethod,
  VaultAuthOptions,
  VaultProviderOptions,
  VaultTlsOptions,
} from "./options.ts";

/**
 * Creates a vault provider. Validates the options at once (no I/O); the first `resolve` loads
 * node-vault, reads TLS files and obtains a token.
 *
 * @param name Instance name from the profile.
 * @param options The provider's block from the profile.
 * @param context I/O, clock, logger and redactor.
 * @returns The provider.
 * @throws {Error} When the options are inconsistent: an `http://` address to a host that is not
 * loopback without `allow_insecure_http`, an auth method without its required settings, a
 * client certificate without its key.
 *
 * @example
 * ```ts
 * import { createVaultProvider } from "./mod.ts";
 * import { Redactor } from "../../core/redact.ts";
 * import { silentLogger } from "../../core/log.ts";
 * // A stand-in for Vault that knows one KV v2 secret.
 * const vault: typeof fetch = (input) => {
 *   const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
 *   if (path === "/v1/auth/token/lookup-self") {
 *     return Promise.resolve(Response.json({ data: { ttl: 0, renewable: false } }));
 *   }
 *   if (path === "/v1/secret/data/mlflow/auth") {
 *     return Promise.resolve(Response.json({
 *       data: { data: { token: "t0k3n" }, metadata: { version: 7 } },
 *     }));
 *   }
 *   return Promise.resolve(Response.json({ errors: [] }, { status: 404 }));
 * };
 * const provider = createVaultProvider("corp-vault", {
 *   address: "http://127.0.0.1:8200",
 *   auth: { method: "token" },
 * }, {
 *   env: (n) => n === "VAULT_TOKEN" ? "hvs.example-token" : undefined,
 *   fetch: vault, now: Date.now, logger: silentLogger, redactor: new Redactor(),
 * });
 * const ref = { path: "mlflow/auth", mount: "secret", kv: 2, field: "token" };
 * const secret = await provider.resolve(ref, { signal: new AbortController().signal });
 * if (JSON.stringify(secret.value) !== '{"token":"t0k3n"}') throw new Error("wrong value");
 * if (secret.version !== "7") throw new Error("wrong version");
 * if (provider.describe(ref) !== "secret/mlflow/auth#token") throw new Error("wrong name");
 * ```
 */
export function createVaultProvider(
  name: string,
  options: VaultProviderOptions,
  context: ProviderContext,
): SecretProvider {
  const address = validateOptions(name, options);
  const namespace = namespaceOf(options);
  const { redactor, logger } = context;
  const now = (): number => context.now();
  const credentials = new CredentialReader((variable) => context.env(variable), redactor);
  const auth = createAuthMethod(options.auth, credentials, redactor);
  const connection = new VaultConnection({
    address,
    namespace,
    tls: options.tls ?? {},
    fetch: context.fetch,
    files: credentials,
    redactor,
  });
  const sessions = new SessionKeeper({ name, auth, now, logger, redactor });
  const mounts = new MountTable();
  const errors = { name, address, namespace, auth, redactor };
  const parts = { connection, sessions, mounts, now, errors };
  return {
    name,
    kind: "vault",
    describe: (ref: SecretRef) => describeRef(ref),
    resolve: (raw, { signal }) => resolveVaultSecret(parts, raw, signal),
    close(): void {
      connection.close();
      sessions.clear();
      if (!canLogin(auth)) auth.forget();
      mounts.clear();
    },
  };
}

/** Registry entry. */
export const vaultProvider: ProviderFactory = {
  kind: "vault",
  create: (name, config, context) =>
    createVaultProvider(name, config as unknown as VaultProviderOptions, context),
  check: (config) => checkVaultOptions(config as unknown as VaultProviderOptions),
};
