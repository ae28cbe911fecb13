/**
 * Loading the profile the way every command does: `--profile`, else
 * `MLFLOW_SECRETS_AUTH_PROFILE`, else the profile embedded in a built artifact (when there is
 * one), else `./mlflow-auth.yaml`.
 *
 * @module
 */

import { loadProfile, parseProfile, type Profile, resolveProfilePath } from "../config/profile.ts";
import type { CliIo } from "./io.ts";

/** A profile built into an artifact (`bundle`, `compile`): its YAML text and a display name. */
export interface EmbeddedProfile {
  /** The YAML text, interpolated at run time like a file's. */
  readonly text: string;
  /** The name used in messages, e.g. `embedded:mlflow-auth.yaml`. */
  readonly source: string;
}

/** A loaded profile and how its path was found. */
export interface LoadedProfile {
  readonly profile: Profile;
  readonly path: string;
  readonly origin: "flag" | "env" | "embedded" | "default";
}

/** Options of {@linkcode loadCliProfile}. */
export interface LoadCliProfileOptions {
  /** The artifact's embedded profile, used when neither the flag nor the variable is set. */
  readonly embedded?: EmbeddedProfile | undefined;
}

/**
 * Loads the profile for a command.
 *
 * @param flag The `--profile` value.
 * @param io Environment.
 * @param options The embedded profile, if any.
 * @throws {ProfileError} when missing or invalid.
 */
export async function loadCliProfile(
  flag: string | undefined,
  io: CliIo,
  options: LoadCliProfileOptions = {},
): Promise<LoadedProfile> {
  const { path, origin } = resolveProfilePath(flag, io.env);
  if (origin === "default" && options.embedded !== undefined) {
    const { text, source } = options.embedded;
    return {
      profile: parseProfile(text, { source, env: io.env }),
      path: source,
      origin: "embedded",
    };
  }
  const profile = await loadProfile(path, { env: io.env });
  return { profile, path, origin };
}
