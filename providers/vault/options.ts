/**
 * The vault provider's settings: the types of its profile block, the checks the schema cannot
 * express ({@linkcode checkVaultOptions}, the registry entry's `check`), and the settings
 * derived from a valid block.
 *
 * @module
 */

import { isLoopbackHost } from "../../core/loopback.ts";
import type { ProviderConfigIssue } from "../types.ts";
import { trimSlashes } from "./_util.ts";

/** How the provider obtains a Vault token. */
export type VaultAuthMethod = "token" | "token_file" | "approle" | "kubernetes";

/** The `auth:` block of a vault provider. */
export interface VaultAuthOptions {
  /** `token`, `token_file`, `approle` or `kubernetes`. */
  readonly method: VaultAuthMethod;
  /** method `token`: environment variable holding the token. Default `VAULT_TOKEN`. */
  readonly token_env?: string;
  /** method `token_file`: file holding the token. Default `~/.vault-token`. */
  readonly token_file?: string;
  /** method `approle`: environment variable holding the role id. */
  readonly role_id_env?: string;
  /** method `approle`: file holding the role id. */
  readonly role_id_file?: string;
  /** method `approle`: environment variable holding the secret id. */
  readonly secret_id_env?: string;
  /** method `approle`: file holding the secret id. */
  readonly secret_id_file?: string;
  /** method `kubernetes`: the Vault role. */
  readonly role?: string;
  /** method `kubernetes`: service-account token file. Default the standard path. */
  readonly jwt_file?: string;
  /** Auth mount. Default `approle` or `kubernetes`. */
  readonly mount?: string;
}

/** The `tls:` block of a vault provider. */
export interface VaultTlsOptions {
  /** PEM file of the CA that signed Vault's certificate. */
  readonly ca_cert?: string;
  /** PEM client certificate for mutual TLS. */
  readonly client_cert?: string;
  /** PEM client key for mutual TLS. */
  readonly client_key?: string;
}

/** Options of the vault provider: its block in the profile. */
export interface VaultProviderOptions {
  /** Always `vault`. */
  readonly kind?: "vault";
  /** Vault address, e.g. `https://vault.company.com:8200`. */
  readonly address: string;
  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. */
  readonly namespace?: string;
  /** Allow `http://` to a host that is not loopback. */
  readonly allow_insecure_http?: boolean;
  /** TLS settings. */
  readonly tls?: VaultTlsOptions;
  /** How to obtain a token. */
  readonly auth: VaultAuthOptions;
}

const AUTH_MOUNT_PATTERN = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const AUTH_METHODS: readonly VaultAuthMethod[] = ["token", "token_file", "approle", "kubernetes"];

/**
 * Checks a vault provider block for what the schema cannot express: the address, TLS pairs, the
 * settings each auth method needs. Returns every issue, each with a JSON pointer relative to the
 * provider block; the profile validator reports them with line and column.
 *
 * @param options The provider block.
 * @returns Issues; empty when the block is usable.
 *
 * @example
 * ```ts
 * import { checkVaultOptions } from "./options.ts";
 * const issues = checkVaultOptions({
 *   address: "http://vault.company.com:8200",
 *   auth: { method: "kubernetes" },
 * });
 * if (issues.map((i) => i.pointer).join() !== "/address,/auth") throw new Error("missed one");
 * ```
 */
export function checkVaultOptions(options: VaultProviderOptions): ProviderConfigIssue[] {
  const issues: ProviderConfigIssue[] = [];
  const fail = (pointer: string, message: string): void => {
    issues.push({ pointer, message });
  };
  let address: URL | undefined;
  if (typeof options.address !== "string" || options.address === "") {
    fail(
      "/address",
      '"address" is required; set it to the Vault address, e.g. https://vault.company.com:8200',
    );
  } else {
    try {
      address = new URL(options.address);
    } catch {
      fail("/address", `address "${options.address}" is not a URL; use https://host:8200`);
    }
  }
  if (address !== undefined) {
    if (address.protocol !== "https:" && address.protocol !== "http:") {
      fail(
        "/address",
        `address "${options.address}" must use https:// (or http:// to a loopback host)`,
      );
    } else if (address.username || address.password || address.search || address.hash) {
      fail(
        "/address",
        `address "${address.origin}" must not hold credentials, a query or a fragment`,
      );
    } else if (
      address.protocol === "http:" && !isLoopbackHost(address.hostname) &&
      options.allow_insecure_http !== true
    ) {
      fail(
        "/address",
        `address "${address.origin}" uses http:// to a host that is not loopback, so the token would travel in clear text; use https:// or set allow_insecure_http: true`,
      );
    }
  }
  const tls = options.tls ?? {};
  if ((tls.client_cert === undefined) !== (tls.client_key === undefined)) {
    fail("/tls", "tls.client_cert and tls.client_key go together; set both or neither");
  }
  if (address?.protocol === "http:" && (tls.ca_cert || tls.client_cert)) {
    fail("/tls", `tls settings need an https:// address, not "${address.origin}"`);
  }
  const auth = options.auth;
  if (auth === undefined || typeof auth !== "object") {
    fail(
      "/auth",
      '"auth" is required; set auth.method to token, token_file, approle or kubernetes',
    );
    return issues;
  }
  if (!AUTH_METHODS.includes(auth.method)) {
    fail(
      "/auth/method",
      `auth.method "${
        String(auth.method)
      }" is unknown; use token, token_file, approle or kubernetes`,
    );
  }
  for (const key of ["token_env", "role_id_env", "secret_id_env"] as const) {
    const v = auth[key];
    if (v !== undefined && !ENV_NAME_PATTERN.test(v)) {
      fail(`/auth/${key}`, `auth.${key} "${v}" is not an environment variable name`);
    }
  }
  if (auth.mount !== undefined && !AUTH_MOUNT_PATTERN.test(trimSlashes(auth.mount))) {
    fail(
      "/auth/mount",
      `auth.mount "${auth.mount}" may hold only letters, digits, ".", "_", "-" and "/"`,
    );
  }
  if (auth.method === "approle") {
    if ((auth.role_id_env === undefined) === (auth.role_id_file === undefined)) {
      fail("/auth", "auth method approle needs exactly one of role_id_env and role_id_file");
    }
    if (auth.secret_id_env !== undefined && auth.secret_id_file !== undefined) {
      fail("/auth", "auth method approle takes at most one of secret_id_env and secret_id_file");
    }
  }
  if (auth.method === "kubernetes" && (typeof auth.role !== "string" || auth.role === "")) {
    fail("/auth", "auth method kubernetes needs auth.role, the Vault role to log in as");
  }
  if (options.namespace !== undefined && /[\r\n]/.test(options.namespace)) {
    fail("/namespace", "namespace must be a single line");
  }
  return issues;
}

/**
 * Checks the options (see {@linkcode checkVaultOptions}) and returns the parsed address.
 *
 * @param name Instance name from the profile.
 * @param options The provider block.
 * @returns The Vault address.
 * @throws {Error} With every issue's message, when there is any.
 */
export function validateOptions(name: string, options: VaultProviderOptions): URL {
  const issues = checkVaultOptions(options);
  if (issues.length > 0) {
    throw new Error(
      `Cannot configure provider "${name}": ${issues.map((i) => i.message).join("; ")}`,
    );
  }
  return new URL(options.address);
}

/**
 * The namespace to send as `X-Vault-Namespace`, without surrounding slashes.
 *
 * @param options The provider block.
 * @returns The namespace, or undefined when none is set (or it is only slashes).
 */
export function namespaceOf(options: VaultProviderOptions): string | undefined {
  return options.namespace === undefined || trimSlashes(options.namespace) === ""
    ? undefined
    : trimSlashes(options.namespace);
}
