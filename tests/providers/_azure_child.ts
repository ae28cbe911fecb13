/**
 * Resolves one Azure Key Vault reference in a fresh process and prints the outcome as one JSON
 * line. Managed identity needs this: MSAL keeps the managed identity source (its endpoint, read
 * from the environment once) and its tokens in static state, for the life of the process.
 *
 * Input: `Deno.args[0]`, JSON `{ options, ref }`. The environment is the process's own.
 */

import {
  type AzureKeyVaultProviderOptions,
  createAzureKeyVaultProvider,
} from "../../providers/azure_key_vault/mod.ts";
import type { SecretRef } from "../../providers/types.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { createLogger } from "../../core/log.ts";
import { Redactor } from "../../core/redact.ts";

/** What the child prints. */
export type ChildOutcome =
  | {
    readonly ok: true;
    readonly value: unknown;
    readonly version?: string;
    readonly logs: string[];
  }
  | {
    readonly ok: false;
    readonly error: {
      readonly name: string;
      readonly message: string;
      readonly status?: number;
      readonly transient?: boolean;
      readonly inspected: string;
    };
    readonly logs: string[];
  };

if (import.meta.main) {
  const input = JSON.parse(Deno.args[0] ?? "{}") as {
    options: AzureKeyVaultProviderOptions;
    ref: SecretRef;
  };
  const redactor = new Redactor();
  const logs: string[] = [];
  const provider = createAzureKeyVaultProvider("azure-ml", input.options, {
    env: (name) => Deno.env.get(name),
    fetch,
    now: Date.now,
    logger: createLogger({ redactor, level: "debug", write: (l) => logs.push(l) }),
    redactor,
  });
  let outcome: ChildOutcome;
  try {
    const r = await provider.resolve(input.ref, { signal: AbortSignal.timeout(20_000) });
    outcome = { ok: true, value: r.value, ...(r.version ? { version: r.version } : {}), logs };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    outcome = {
      ok: false,
      error: {
        name: err.name,
        message: err.message,
        ...(e instanceof SecretResolutionError
          ? { ...(e.status !== undefined ? { status: e.status } : {}), transient: e.transient }
          : {}),
        inspected: Deno.inspect(err, { depth: 10, colors: false }),
      },
      logs,
    };
  }
  console.log(JSON.stringify(outcome));
}
