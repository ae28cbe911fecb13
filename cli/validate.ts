/**
 * `validate`: lists every issue of a profile, each with file:line:col and a JSON pointer.
 *
 * @module
 */

import { formatIssueLocation, isFileIssue, issueCount, ProfileError } from "../core/errors.ts";
import type { Profile } from "../profile/profile.ts";
import type { CliIo } from "./io.ts";
import { type EmbeddedProfile, loadCliProfile } from "./load.ts";

/** Options of {@linkcode runValidate}. */
export interface ValidateOptions {
  readonly profile?: string | undefined;
  /** The artifact's embedded profile (see {@linkcode loadCliProfile}). */
  readonly embedded?: EmbeddedProfile | undefined;
  readonly json?: boolean | undefined;
  /** A profile to use instead of loading one (e.g. built from environment variables). */
  readonly loaded?: Profile | undefined;
}

/**
 * Validates the profile. Exit code 0 when valid, 2 when not.
 *
 * @param options Flags.
 * @param io Streams.
 * @returns The exit code.
 */
export async function runValidate(options: ValidateOptions, io: CliIo): Promise<number> {
  try {
    const { profile, path } = options.loaded !== undefined
      ? { profile: options.loaded, path: options.loaded.source }
      : await loadCliProfile(options.profile, io, { embedded: options.embedded });
    if (options.json) {
      io.stdout(JSON.stringify({ valid: true, file: path, issues: [] }, null, 2) + "\n");
    } else {
      const n = profile.data.hosts.length;
      io.stdout(
        `${path}: valid (${n} host rule${n === 1 ? "" : "s"}, ${
          Object.keys(profile.data.providers).length
        } provider(s))\n`,
      );
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    if (options.json) {
      io.stdout(
        JSON.stringify({ valid: false, file: error.file, issues: error.issues }, null, 2) + "\n",
      );
    } else {
      if (isFileIssue(error.issues)) {
        io.stderr(`${error.message}\n`);
        return 2;
      }
      io.stderr(`${error.file}: ${issueCount(error.issues.length)}\n`);
      for (const issue of error.issues) {
        const [first, ...rest] = issue.message.split("\n");
        io.stderr(`${formatIssueLocation(error.file, issue)}: ${first} [${issue.rule}]\n`);
        for (const line of rest) if (line.trim() !== "") io.stderr(`    ${line}\n`);
      }
    }
    return 2;
  }
}
