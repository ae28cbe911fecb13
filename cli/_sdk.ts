/**
 * The npm packages (SDKs) each provider kind loads on first use, and a timed check that they
 * load. Used by `info` and `doctor` only: nothing here runs at import time.
 *
 * @module
 */

/** Packages each provider kind imports lazily; `env` and `file` need none. */
export const SDK_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  "env": [],
  "file": [],
  "vault": ["node-vault"],
  "aws-secrets-manager": ["@aws-sdk/client-secrets-manager", "@aws-sdk/credential-providers"],
  "azure-key-vault": ["@azure/identity", "@azure/keyvault-secrets"],
};

/** The module (path from the source root) that pins each package; `deps/` holds one per package. */
export const SDK_MODULES: Readonly<Record<string, string>> = {
  "node-vault": "deps/node_vault.ts",
  "@aws-sdk/client-secrets-manager": "deps/aws_secrets_manager.ts",
  "@aws-sdk/credential-providers": "deps/aws_credential_providers.ts",
  "@azure/identity": "deps/azure_identity.ts",
  "@azure/keyvault-secrets": "deps/azure_keyvault_secrets.ts",
};

// Literal specifiers of the modules that pin each package, so that `deno info` lists them as
// dynamic imports (never static ones).
const LOADERS: Readonly<Record<string, () => Promise<unknown>>> = {
  "node-vault": () => import("../deps/node_vault.ts"),
  "@aws-sdk/client-secrets-manager": () => import("../deps/aws_secrets_manager.ts"),
  "@aws-sdk/credential-providers": () => import("../deps/aws_credential_providers.ts"),
  "@azure/identity": () => import("../deps/azure_identity.ts"),
  "@azure/keyvault-secrets": () => import("../deps/azure_keyvault_secrets.ts"),
};

/** Whether one package loaded, and how long it took. */
export interface SdkStatus {
  /** npm package name. */
  readonly package: string;
  /** True when `import()` succeeded. */
  readonly loaded: boolean;
  /** Milliseconds the import took (near 0 when already loaded). */
  readonly ms: number;
  /** Why it failed, when it did. */
  readonly error?: string;
}

/**
 * Imports the SDKs of a provider kind, one after the other, timing each.
 *
 * @param kind A provider kind.
 * @param now Clock in milliseconds (default `performance.now`).
 * @returns One status per package; empty for kinds without an SDK.
 *
 * @example
 * ```ts
 * import { loadSdks } from "./_sdk.ts";
 * if ((await loadSdks("env")).length !== 0) throw new Error("env has no SDK");
 * ```
 */
export async function loadSdks(
  kind: string,
  now: () => number = () => performance.now(),
): Promise<SdkStatus[]> {
  const out: SdkStatus[] = [];
  for (const name of SDK_PACKAGES[kind] ?? []) {
    const started = now();
    try {
      const load = LOADERS[name];
      if (load === undefined) throw new Error(`no loader for "${name}"`);
      await load();
      out.push({ package: name, loaded: true, ms: Math.round(now() - started) });
    } catch (error) {
      out.push({
        package: name,
        loaded: false,
        ms: Math.round(now() - started),
        error: error instanceof Error
          ? `${error.name}: ${error.message.split("\n")[0]}`
          : String(error),
      });
    }
  }
  return out;
}
