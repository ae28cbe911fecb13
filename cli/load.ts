/**
 * Loading the profile the way every command does: `--profile`, else
 * `MLFLOW_SECRETS_AUTH_PROFILE`, else the profile embedded in a built artifact (when there is
 * one), else `./mlflow-auth.yaml`.
 *
 * @module
 */

import {
  absolutePath,
  loadProfile,
  parseProfile,
  type Profile,
  resolveProfilePath,
} from "../profile/profile.ts";
import { ProfileError } from "../core/errors.ts";
import { PROVIDERS } from "../providers/registry.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { type CliIo, commandOf } from "./io.ts";

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
  /** Provider factories to validate against and run with. Default the built-in registry. */
  readonly providers?: ReadonlyMap<string, ProviderFactory> | undefined;
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
  const providers = options.providers ?? PROVIDERS;
  if (origin === "default" && options.embedded !== undefined) {
    const { text, source } = options.embedded;
    return {
      profile: parseProfile(text, { source, env: io.env, providers }),
      path: source,
      origin: "embedded",
    };
  }
  try {
    const profile = await loadProfile(path, { env: io.env, providers });
    return { profile, path, origin };
  } catch (error) {
    if (!(error instanceof ProfileError && error.cause instanceof Deno.errors.NotFound)) {
      throw error;
    }
    throw new ProfileError(path, [{
      pointer: "",
      message: missingProfileMessage(path, origin, io),
      rule: "read",
    }], { cause: error.cause });
  }
}

/**
 * Why the profile was looked for where it was, and what to do: names the flag as typed, the
 * variable, or the default, with the absolute path tried.
 */
function missingProfileMessage(
  path: string,
  origin: "flag" | "env" | "default",
  io: CliIo,
): string {
  const abs = absolutePath(path);
  const cmd = commandOf(io);
  const flag = io.profileOption ?? "--profile";
  switch (origin) {
    case "flag":
      return `Cannot read the profile "${abs}" given with ${flag}: the file does not exist; check the path, or create it with \`${cmd} init ${flag} ${path}\``;
    case "env":
      return `Cannot read the profile "${abs}" named by MLFLOW_SECRETS_AUTH_PROFILE: the file does not exist; correct or unset the variable, or create the file with \`${cmd} init --profile ${path}\``;
    case "default":
      return `Cannot read the profile "${abs}": neither -p/--profile nor MLFLOW_SECRETS_AUTH_PROFILE is set, so ./mlflow-auth.yaml in the current directory was tried, and it does not exist; create it with \`${cmd} init\`, or pass -p <path>`;
  }
}
