/**
 * The `compile` command: its flags, help and examples. What it runs (`cli/compile.ts`) loads
 * when it runs.
 *
 * @module
 */

import { Command, type CommandUnknownOpts } from "../../deps/commander.ts";
import {
  type CommandContext,
  embedProfileOption,
  execPermissionOption,
  helpAfter,
  listenPermissionOption,
} from "./_shared.ts";

/**
 * Defines `compile`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function compileCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("compile")
    .description(
      "Build one executable (deno compile) with the profile embedded and its permissions baked in",
    )
    .addOption(embedProfileOption())
    .option("-o, --output <file>", "output executable", "dist/mlflow-auth")
    .option("--target <triple>", "target, e.g. aarch64-unknown-linux-gnu (default: this machine)")
    .addOption(listenPermissionOption())
    .addOption(execPermissionOption())
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      helpAfter({
        notes: ["Needs the Deno runtime denort: cached, downloadable, or named by DENORT_BIN."],
        examples: [
          "mlflow-secrets-auth compile --profile mlflow-auth.yaml -o dist/mlflow-auth",
          "DENORT_BIN=/opt/denort mlflow-secrets-auth compile -o dist/mlflow-auth",
        ],
      }),
    )
    .action(async (opts) => {
      const { runCompile } = await import("../compile.ts");
      ctx.setCode(await runCompile(opts, ctx.io));
    });
}
