/**
 * What the command line and the bundler know about the `vault` kind: its SDK package, the
 * permissions a provider block needs, its `init` template and its `--from-env` mapping.
 *
 * @module
 */

import { isLoopbackHost } from "../../core/loopback.ts";
import { type FromEnvLookup, type ProviderDescriptor, setting } from "../descriptor.ts";
import type { SecretRef } from "../types.ts";
import { vaultProvider } from "./mod.ts";

/** The auth methods `init` can write. */
const INIT_METHODS = ["token", "token_file", "approle", "kubernetes"] as const;

/** The `vault` kind's descriptor. */
export const vaultDescriptor: ProviderDescriptor = {
  factory: vaultProvider,
  exported: { module: import.meta.url, name: "vaultDescriptor" },
  sdks: [{
    package: "node-vault",
    module: new URL("../../deps/node_vault.ts", import.meta.url).href,
    load: () => import("../../deps/node_vault.ts"),
  }],
  permissions(settings, grant) {
    const name = grant.provider;
    grant.url("/address", String(settings.address));
    const auth = (settings.auth ?? {}) as Record<string, unknown>;
    const tls = (settings.tls ?? {}) as Record<string, unknown>;
    for (const k of ["ca_cert", "client_cert", "client_key"]) {
      const path = setting(tls[k]);
      if (path !== undefined) grant.read(grant.tilde(path));
    }
    for (const k of ["role_id_file", "secret_id_file"]) {
      const path = setting(auth[k]);
      if (path !== undefined) grant.read(grant.tilde(path));
    }
    if (auth.method === "token_file") {
      grant.read(grant.tilde(setting(auth.token_file) ?? "~/.vault-token"));
      if (setting(auth.token_file) === undefined) {
        grant.note(
          `vault provider "${name}" reads ~/.vault-token, taken as "${grant.home}/.vault-token"; set auth.token_file for another home`,
        );
      }
    }
    if (auth.method === "kubernetes") {
      grant.read(
        setting(auth.jwt_file) ?? "/var/run/secrets/kubernetes.io/serviceaccount/token",
      );
    }
    // node-vault's `debug` dependency enumerates the whole environment when it loads.
    grant.allEnv();
    grant.note(
      `vault provider "${name}": --allow-env has no list, because node-vault's debug dependency reads the whole environment when it loads`,
    );
  },
  init: {
    name: "vault",
    questions: [
      {
        key: "address",
        flag: "--address",
        argument: "url",
        help: "address (default: $VAULT_ADDR)",
        question: "Vault address",
        fallback: (env) => env("VAULT_ADDR") || undefined,
      },
      {
        key: "path",
        flag: "--path",
        argument: "path",
        help: "the secret path",
        question: "Secret path (e.g. mlflow/auth)",
      },
      {
        key: "mount",
        flag: "--mount",
        argument: "mount",
        help: "KV mount",
        question: "KV mount",
        ask: "flag",
      },
      {
        key: "vaultAuth",
        flag: "--vault-auth",
        argument: "method",
        help: "auth method",
        question: `Vault auth method (${INIT_METHODS.join(", ")})`,
        fallback: () => "token",
        choices: { values: INIT_METHODS, what: "Vault auth method" },
      },
      {
        key: "role",
        flag: "--role",
        argument: "role",
        help: "Kubernetes auth role",
        question: "Kubernetes auth role",
        when: (a) => a.vaultAuth === "kubernetes",
      },
    ],
    render(a, scalar) {
      const provider = [`    address: ${scalar(a.address!)}`, "    auth:"];
      switch (a.vaultAuth) {
        case "token":
          provider.push(
            "      method: token           # the token is read from $VAULT_TOKEN (token_env renames it)",
          );
          break;
        case "token_file":
          provider.push(
            "      method: token_file      # default ~/.vault-token (token_file: a Vault Agent sink)",
          );
          break;
        case "approle":
          provider.push(
            "      method: approle",
            "      role_id_env: VAULT_ROLE_ID",
            "      secret_id_env: VAULT_SECRET_ID",
          );
          break;
        case "kubernetes":
          provider.push("      method: kubernetes", `      role: ${scalar(a.role!)}`);
          break;
      }
      return { provider, secret: [["path", a.path], ["mount", a.mount]] };
    },
  },
  fromEnv: {
    name: "vault",
    prefix: "MLFLOW_VAULT",
    build(env) {
      const address = env.need("VAULT_ADDR");
      let auth: Record<string, unknown>;
      if (env.get("VAULT_TOKEN") !== undefined) {
        auth = { method: "token", token_env: "VAULT_TOKEN" };
      } else if (
        env.get("VAULT_ROLE_ID") !== undefined && env.get("VAULT_SECRET_ID") !== undefined
      ) {
        auth = {
          method: "approle",
          role_id_env: "VAULT_ROLE_ID",
          secret_id_env: "VAULT_SECRET_ID",
        };
      } else {
        env.missing("VAULT_TOKEN (or VAULT_ROLE_ID and VAULT_SECRET_ID)");
        auth = { method: "token", token_env: "VAULT_TOKEN" };
      }
      const provider: Record<string, unknown> = { address, auth };
      if (insecureHttp(address)) {
        provider.allow_insecure_http = true;
        env.warn(
          `VAULT_ADDR is plain http on a non-loopback host: the Vault token travels in clear text; this profile keeps it working with allow_insecure_http: true — switch Vault to https`,
        );
      }
      return { provider, secret: vaultSecret(env.need("MLFLOW_VAULT_SECRET_PATH"), env) };
    },
  },
  // node-vault reads VAULT_TOKEN when it loads, and it is the token method's default.
  exec: { defaultEnv: ["VAULT_TOKEN"] },
  secretFacts: {
    limit: "a KV v1 lease or the Vault token's remaining TTL",
    expiry: (_config, ref) => [
      ...(kvOf(ref) === 2 ? [] : [
        `a KV v1 lease_duration${kvOf(ref) === 1 ? "" : " (on a KV v1 mount)"}`,
      ]),
      "the Vault token's remaining TTL",
    ],
    version: (_config, ref) => {
      if (typeof ref.version === "number") return `KV v2 version ${ref.version} (pinned)`;
      if (kvOf(ref) === 1) return undefined;
      return `the KV v2 version number${kvOf(ref) === 2 ? "" : " (none on a KV v1 mount)"}`;
    },
  },
};

function kvOf(ref: SecretRef): 1 | 2 | "auto" {
  return ref.kv === 1 || ref.kv === "1" ? 1 : ref.kv === 2 || ref.kv === "2" ? 2 : "auto";
}

/** The old plugin always read below the "secret" mount: KV v2 first, then KV v1. */
function vaultSecret(path: string, env: FromEnvLookup): Record<string, unknown> {
  if (path.startsWith("secret/data/")) {
    return { mount: "secret", path: path.slice("secret/data/".length), kv: 2 };
  }
  if (path.startsWith("secret/")) return { mount: "secret", path: path.slice("secret/".length) };
  const rest = path.replace(/^\/+/, "");
  if (rest !== "") {
    env.warn(
      `MLFLOW_VAULT_SECRET_PATH "${path}" does not start with "secret/": the Python plugin read it below the "secret" mount ("secret/${rest}"), and so does this profile; set mount if you meant another one`,
    );
  }
  return { mount: "secret", path: rest };
}

function insecureHttp(address: string): boolean {
  try {
    const url = new URL(address);
    return url.protocol === "http:" && !isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}
