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

import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { ProfileError, SecretResolutionError, UsageError } from "./runtime/errors.ts";
import { type CliIo, processIo } from "./cli/io.ts";
import { runValidate } from "./cli/validate.ts";
import { runExplain } from "./cli/explain.ts";
import { PROFILE_SCHEMA } from "./config/validate.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The version printed by `--version`. */
export const VERSION: string = denoJson.version;

/**
 * Runs the command line.
 *
 * @param args Arguments after the program name.
 * @param io Streams and environment.
 * @returns The exit code.
 */
export async function main(args: readonly string[], io: CliIo = processIo()): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...args], { from: "user" });
    return code;
  } catch (error) {
    return reportError(error, io);
  }
}

function buildProgram(io: CliIo, setCode: (code: number) => void) {
  const profileOption = () =>
    new Option(
      "-p, --profile <path>",
      "profile file (default: $MLFLOW_SECRETS_AUTH_PROFILE, else ./mlflow-auth.yaml)",
    );
  const program = new Command()
    .name("mlflow-secrets-auth")
    .description(
      "Inject authentication headers, fetched from secret managers, into MLflow tracking requests.",
    )
    .version(VERSION, "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      outputError: (s, write) => write(s),
    })
    .showHelpAfterError("(run with --help for usage)");

  program.command("validate")
    .description("Check a profile; list every issue with file:line:col and JSON pointer")
    .addOption(profileOption())
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExamples:\n  mlflow-secrets-auth validate --profile mlflow-auth.yaml\n  mlflow-secrets-auth validate --json")
    .action(async (opts) => setCode(await runValidate(opts, io)));

  program.command("explain")
    .description("Show which rule matches a URL and which headers it would inject (redacted)")
    .addOption(profileOption())
    .option("-u, --url <url...>", "tracking URL(s) to explain")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nExamples:\n  mlflow-secrets-auth explain\n  mlflow-secrets-auth explain --url https://mlflow.company.com/api/2.0/mlflow/runs/get",
    )
    .action(async (opts) => setCode(await runExplain(opts, io)));

  program.command("schema")
    .description("Print the profile JSON Schema")
    .action(() => {
      io.stdout(JSON.stringify(PROFILE_SCHEMA, null, 2) + "\n");
      setCode(0);
    });

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
  if (error instanceof CommanderError) {
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
    if (error.code === "commander.help") return 0;
    return 2;
  }
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
