/**
 * The npm packages (SDKs) each provider kind loads on first use, and a timed check that they
 * load. Used by `info` and `doctor` only: nothing here runs at import time. Each kind's
 * descriptor names its packages and how to load them.
 *
 * @module
 */

import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";

/** Packages each provider kind imports lazily (from its descriptor); `env` and `file` need none. */
export const SDK_PACKAGES: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  [...PROVIDER_DESCRIPTORS].map(([kind, d]) => [kind, d.sdks.map((sdk) => sdk.package)]),
);

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
  for (const sdk of PROVIDER_DESCRIPTORS.get(kind)?.sdks ?? []) {
    const name = sdk.package;
    const started = now();
    try {
      await sdk.load();
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
