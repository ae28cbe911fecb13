/**
 * The mlflow-secrets-auth command line.
 *
 * `main(args, io)` parses arguments, runs one command and returns its exit code: 0 success,
 * 1 runtime failure, 2 profile or usage error. It never calls `Deno.exit` itself; the entry
 * point below does. Provider SDKs are never loaded by `--help`, `validate`, `explain` or
 * `schema`.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const out: string[] = [];
 * const code = await main(["schema"], {
 *   stdout: (t) => out.push(t), stderr: () => {}, env: () => undefined, isTty: false,
 * });
 * if (code !== 0 || !out.join("").includes("$schema")) throw new Error("schema not printed");
 * ```
 *
 * @module
 */

import type * as Commander from "./deps/commander.ts";
import { ProfileError, SecretResolutionError } from "./core/errors.ts";
import { UsageError } from "./cli/errors.ts";
import { type CliIo, processIo, profileOptionOf } from "./cli/io.ts";
import { HELP } from "./cli/_help.ts";
import type { CommandContext } from "./cli/commands/_shared.ts";
import type { EmbeddedProfile } from "./cli/load.ts";
import type { ProviderFactory } from "./providers/types.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The version printed by `--version`. */
export const VERSION: string = denoJson.version;

/**
 * What a built artifact (`bundle`, `compile`) passes to {@linkcode main}: the generated entry
 * module hands these in, so nothing is kept in global state.
 */
export interface MainOptions {
  /**
   * The profile built into the artifact: the default when neither `--profile` nor
   * `MLFLOW_SECRETS_AUTH_PROFILE` is given (before `./mlflow-auth.yaml`).
   */
  readonly embeddedProfile?: EmbeddedProfile;
  /** Provider factories by kind; default the built-in registry. An artifact carries only its own. */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
  /**
   * Answer `--help`, `<command> --help` and `--version` from the texts generated from this
   * command line at build time (`cli/_help.ts`, `deno task gen:help`), without loading the
   * argument parser: the fastest start. Default true; ignored with an embedded profile, whose
   * help differs.
   */
  readonly staticHelp?: boolean;
}

/**
 * The generated text for a request for help or the version, if `args` is one.
 *
 * @param args Arguments after the program name.
 * @returns The text, or undefined when the arguments ask for something else.
 */
function staticHelp(args: readonly string[]): string | undefined {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) return `${VERSION}\n`;
  const last = args.at(-1);
  if (args.length === 0 || (last !== "--help" && last !== "-h")) return undefined;
  const command = args.slice(0, -1).join(" ");
  return Object.hasOwn(HELP, command) ? HELP[command] : undefined;
}

/**
 * Runs the command line.
 *
 * @param args Arguments after the program name.
 * @param io Streams and environment.
 * @param options What a built artifact carries: an embedded profile, its provider factories.
 * @returns The exit code.
 */
export async function main(
  args: readonly string[],
  io: CliIo = processIo(),
  options: MainOptions = {},
): Promise<number> {
  if (options.staticHelp !== false && options.embeddedProfile === undefined) {
    const text = staticHelp(args);
    if (text !== undefined) {
      io.stdout(text);
      return 0;
    }
  }
  const profileOption = profileOptionOf(args);
  if (profileOption !== undefined) io = { ...io, profileOption };
  let code = 0;
  const program = await buildProgram({
    io,
    embedded: options.embeddedProfile,
    providers: options.providers,
    version: VERSION,
    setCode: (c) => {
      code = c;
    },
  });
  try {
    await program.parseAsync([...args], { from: "user" });
    return code;
  } catch (error) {
    const { CommanderError } = await import("./deps/commander.ts");
    if (error instanceof CommanderError) {
      return ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code)
        ? 0
        : 2;
    }
    return reportError(error, io);
  }
}

/**
 * The program: its name, version and output settings, and every command of
 * `cli/commands/_list.ts`, each defined by its own module (flags, help, examples) that loads
 * what it runs only when it runs. They load with the parser, after {@linkcode main} has answered
 * `--help` from the generated texts.
 *
 * @param ctx What every command gets.
 * @returns The parser, ready for `parseAsync`.
 */
async function buildProgram(ctx: CommandContext): Promise<Commander.Command> {
  const [{ Command }, { COMMANDS }] = await Promise.all([
    import("./deps/commander.ts"),
    import("./cli/commands/_list.ts"),
  ]);
  const program = new Command()
    .name("mlflow-secrets-auth")
    .description(
      "Inject authentication headers, fetched from secret managers, into MLflow tracking requests.",
    )
    .version(VERSION, "-V, --version")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s),
      outputError: (s, write) => write(s),
      // Help has no colour; saying so also keeps commander from reading FORCE_COLOR and
      // CLICOLOR_FORCE, which would need --allow-env just to print --help.
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      // One width everywhere, so that help is the same on every terminal and can be generated
      // ahead of time (MainOptions.staticHelp).
      getOutHelpWidth: () => 80,
      getErrHelpWidth: () => 80,
    })
    .showHelpAfterError("(run with --help for usage)");
  // Each command gets the program's settings (output, exit override, positional options), as
  // program.command() would give them.
  for (const define of COMMANDS) program.addCommand(define(ctx).copyInheritedSettings(program));
  return program;
}

/**
 * Maps an error to an exit code and a message on stderr: profile and usage errors 2, anything
 * else 1.
 *
 * @param error What was thrown.
 * @param io Streams.
 * @returns The exit code.
 */
export function reportError(error: unknown, io: CliIo): number {
  if (error instanceof ProfileError || error instanceof UsageError) {
    io.stderr(`${error.message}\n`);
    return 2;
  }
  if (error instanceof SecretResolutionError) {
    io.stderr(`${error.message}\n`);
    return 1;
  }
  io.stderr(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
