/**
 * The `env` provider: a secret is the value of an environment variable.
 *
 * ```yaml
 * providers:
 *   ci-env:
 *     kind: env
 * hosts:
 *   - match: https://mlflow.company.com
 *     provider: ci-env
 *     secret: { var: MLFLOW_TOKEN }      # field: token, for a JSON-object value
 *     auth: bearer
 * ```
 *
 * A value that parses as a JSON object is used as an object.
 *
 * @module
 */

import { SecretResolutionError } from "../core/errors.ts";
import { secretFromText } from "./_json_value.ts";
import { type ProviderDescriptor, setting } from "./descriptor.ts";
import type { ProviderContext, ProviderFactory, SecretProvider, SecretRef } from "./types.ts";

/** Options of the env provider (none beyond `kind`). */
export interface EnvProviderOptions {
  /** Always `env`. */
  readonly kind?: "env";
}

/**
 * Creates an env provider.
 *
 * @param name Instance name.
 * @param _options Provider block.
 * @param context Supplies `env`.
 * @returns The provider.
 *
 * @example
 * ```ts
 * import { createEnvProvider } from "./env.ts";
 * import { Redactor } from "../core/redact.ts";
 * import { silentLogger } from "../core/log.ts";
 * const p = createEnvProvider("ci", {}, {
 *   env: (n) => n === "TOKEN" ? "abc123" : undefined,
 *   fetch, now: Date.now, logger: silentLogger, redactor: new Redactor(),
 * });
 * const r = await p.resolve({ var: "TOKEN" }, { signal: new AbortController().signal });
 * if (r.value !== "abc123") throw new Error("wrong value");
 * ```
 */
export function createEnvProvider(
  name: string,
  _options: EnvProviderOptions,
  context: ProviderContext,
): SecretProvider {
  return {
    name,
    kind: "env",
    describe: (ref: SecretRef) => `env:${String(ref.var)}`,
    async resolve(ref, { signal }) {
      signal.throwIfAborted();
      const variable = String(ref.var);
      let text: string | undefined;
      try {
        text = context.env(variable);
      } catch (cause) {
        throw new SecretResolutionError(
          `reading environment variable "${variable}" is not permitted; run with --allow-env`,
          { provider: name, reference: `env:${variable}`, status: 403, cause },
        );
      }
      if (text === undefined) {
        throw new SecretResolutionError(
          `environment variable "${variable}" is not set; export it before starting`,
          { provider: name, reference: `env:${variable}`, status: 404 },
        );
      }
      return await Promise.resolve({ value: secretFromText(text) });
    },
  };
}

/** Registry entry. */
export const envProvider: ProviderFactory = {
  kind: "env",
  create: (name, config, context) => createEnvProvider(name, config as EnvProviderOptions, context),
};

/** What the command line and the bundler know about the `env` kind. */
export const envDescriptor: ProviderDescriptor = {
  factory: envProvider,
  exported: { module: import.meta.url, name: "envDescriptor" },
  sdks: [],
  permissions(_config, grant) {
    for (const secret of grant.secrets) {
      const variable = setting(secret.var);
      if (variable !== undefined) grant.env(variable);
    }
  },
  init: {
    name: "ci-env",
    questions: [{
      key: "var",
      flag: "--var",
      argument: "name",
      help: "environment variable holding the secret",
      question: "Environment variable holding the token",
      fallback: () => "MLFLOW_TRACKING_TOKEN",
    }],
    render: (a) => ({ provider: [], secret: [["var", a.var]] }),
  },
  exec: { local: true, secretVariable: "var" },
  secretFacts: { expiry: () => [], version: () => undefined },
};
