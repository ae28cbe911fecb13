/**
 * The public `parseProfile` and `loadProfile`: those of `profile/profile.ts` with the built-in
 * providers filled in.
 *
 * The layers below never import the registry of providers: a profile is validated against the
 * provider factories it is given and keeps them (`Profile.factories`), and the plan, the resolver,
 * `createAuthFetch`, `installGlobalFetch` and `startProxy` create providers from those. The one
 * place where "the built-in providers" is decided is therefore where a profile is read: here for
 * the library, in the command line for `cli.ts`, and in a bundle's generated entry for a bundle.
 *
 * @module
 */

import {
  loadProfile as loadProfileWith,
  type LoadProfileOptions,
  parseProfile as parseProfileWith,
  type ParseProfileOptions,
  type Profile,
} from "./profile/profile.ts";
import { PROVIDERS } from "./providers/registry.ts";

/**
 * Parses and validates a profile text, against the built-in providers unless `providers` says
 * otherwise.
 *
 * @param text YAML text.
 * @param options Source name, environment and, rarely, other provider factories.
 * @returns The profile.
 * @throws {ProfileError} listing every issue, each with line:column and a JSON pointer.
 *
 * @example
 * ```ts
 * import { parseProfile } from "./builtin.ts";
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts:
 *   - match: https://mlflow.example.com
 *     provider: ci
 *     secret: { var: MLFLOW_TOKEN }
 *     auth: bearer
 * `, { env: {} });
 * if (!profile.factories.has("vault")) throw new Error("built-in providers missing");
 * ```
 */
export function parseProfile(text: string, options: ParseProfileOptions = {}): Profile {
  return parseProfileWith(text, { providers: PROVIDERS, ...options });
}

/**
 * Reads and validates a profile file, against the built-in providers unless `providers` says
 * otherwise. Only a regular file of at most 1 MiB is read: a FIFO, a device or a directory is
 * refused before it is opened.
 *
 * @param path File path.
 * @param options Environment for interpolation and, rarely, other provider factories.
 * @returns The profile.
 * @throws {ProfileError} when the file is missing, unreadable, not a regular file, over 1 MiB
 *   or invalid.
 *
 * @example
 * ```ts
 * import { loadProfile } from "./builtin.ts";
 * const profile = await loadProfile("examples/basic.yaml", { env: {} });
 * if (profile.source !== "examples/basic.yaml") throw new Error("wrong source");
 * ```
 */
export function loadProfile(path: string, options: LoadProfileOptions = {}): Promise<Profile> {
  return loadProfileWith(path, { providers: PROVIDERS, ...options });
}
