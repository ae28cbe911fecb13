/**
 * Loading the profile the way every command does: `--profile`, else
 * `MLFLOW_SECRETS_AUTH_PROFILE`, else `./mlflow-auth.yaml`.
 *
 * @module
 */

import { loadProfile, type Profile, resolveProfilePath } from "../config/profile.ts";
import type { CliIo } from "./io.ts";

/** A loaded profile and how its path was found. */
export interface LoadedProfile {
  readonly profile: Profile;
  readonly path: string;
  readonly origin: "flag" | "env" | "default";
}

/**
 * Loads the profile for a command.
 *
 * @param flag The `--profile` value.
 * @param io Environment.
 * @throws {ProfileError} when missing or invalid.
 */
export async function loadCliProfile(flag: string | undefined, io: CliIo): Promise<LoadedProfile> {
  const { path, origin } = resolveProfilePath(flag, io.env);
  const profile = await loadProfile(path, { env: io.env });
  return { profile, path, origin };
}
