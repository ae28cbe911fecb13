/**
 * What the command modules share: the context `main()` hands each of them, the options several
 * commands take (spelled, described and limited to their choices once), the layout of the help
 * text after the options, and `--from-env`.
 *
 * Everything here loads with the argument parser, after `main()` has answered `--help` from the
 * generated texts; what a command runs loads only when that command is run.
 *
 * @module
 */

import { Option } from "../../deps/commander.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../../core/log.ts";
import type { Profile } from "../../profile/profile.ts";
import type { ProviderFactory } from "../../providers/types.ts";
import { DEFAULT_LISTEN } from "../_defaults.ts";
import type { CliIo } from "../io.ts";
import type { EmbeddedProfile } from "../load.ts";

/** What every command needs from `main()`. */
export interface CommandContext {
  /** Streams and environment. */
  readonly io: CliIo;
  /** The profile built into an artifact (`bundle`, `compile`), if any. */
  readonly embedded: EmbeddedProfile | undefined;
  /** Provider factories by kind; undefined for the built-in registry. */
  readonly providers: ReadonlyMap<string, ProviderFactory> | undefined;
  /** The version printed by `--version` and `info`. */
  readonly version: string;
  /** Records the command's exit code, which `main()` returns. */
  readonly setCode: (code: number) => void;
}

/** `-p, --profile`, for the commands that read a profile (it names the embedded one, if any). */
export function profileOption(ctx: CommandContext): Option<"-p, --profile <path>"> {
  return new Option(
    "-p, --profile <path>",
    ctx.embedded === undefined
      ? "profile file (default: $MLFLOW_SECRETS_AUTH_PROFILE, else ./mlflow-auth.yaml)"
      : `profile file (default: $MLFLOW_SECRETS_AUTH_PROFILE, else the embedded ${ctx.embedded.source})`,
  );
}

/** `--from-env`, for the commands that read a profile. */
export function fromEnvOption(): Option<"--from-env"> {
  return new Option(
    "--from-env",
    "build the profile from the Python plugin's environment variables (printed as YAML, warnings on stderr)",
  );
}

/** `--log-level`, limited to the logger's levels. */
export function logLevelOption(): Option<
  "--log-level <level>",
  undefined,
  undefined,
  undefined,
  false,
  LogLevel
> {
  return new Option("--log-level <level>", "lowest log level written").choices(LOG_LEVELS);
}

/** `--log-format`, limited to the logger's formats. */
export function logFormatOption(): Option<
  "--log-format <format>",
  undefined,
  undefined,
  undefined,
  false,
  LogFormat
> {
  return new Option("--log-format <format>", "log line format").choices(LOG_FORMATS);
}

/** `-p, --profile` of the commands that build an artifact: the profile to embed. */
export function embedProfileOption(): Option<"-p, --profile <path>"> {
  return new Option(
    "-p, --profile <path>",
    "profile to embed (default: $MLFLOW_SECRETS_AUTH_PROFILE, else ./mlflow-auth.yaml)",
  );
}

/** `--listen` of the commands that build an artifact: the address its permissions allow. */
export function listenPermissionOption(): Option<"--listen <address>"> {
  return new Option(
    "--listen <address>",
    `where the proxy will listen, for its permission: host:port, or host for any port (default: proxy.listen, else ${DEFAULT_LISTEN})`,
  );
}

/** `--exec` of the commands that build an artifact. */
export function execPermissionOption(): Option<"--exec"> {
  return new Option(
    "--exec",
    "also permit the exec command: --allow-run, --allow-env without a list, any loopback port",
  );
}

/** The help text printed after a command's options. */
export interface HelpAfter {
  /** Lines before the examples (end with "" for a blank line between). */
  readonly notes?: readonly string[];
  /** Example command lines, indented by two spaces (continuation lines start with spaces). */
  readonly examples: readonly string[];
}

/**
 * Lays out the help text after the options: a blank line, the notes, then the examples.
 *
 * @param help Notes and examples.
 * @returns The text for `addHelpText("after", ...)`.
 */
export function helpAfter(help: HelpAfter): string {
  return [
    "",
    ...help.notes ?? [],
    "Examples:",
    ...help.examples.map((line) => `  ${line}`),
  ].join("\n");
}

/**
 * The profile `--from-env` asks for, or undefined when it was not given.
 *
 * @param opts The command's parsed options.
 * @param io Streams and environment.
 * @returns The profile built from the Python plugin's variables, or undefined.
 */
export async function profileFromEnv(
  opts: { readonly fromEnv?: true | undefined; readonly json?: true | undefined },
  io: CliIo,
): Promise<Profile | undefined> {
  if (!opts.fromEnv) return undefined;
  const { loadFromEnv } = await import("../from_env.ts");
  return loadFromEnv(io, { json: opts.json === true });
}
