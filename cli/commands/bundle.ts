/**
 * The `bundle` command: its flags, help and examples. What it runs (`cli/bundle.ts`) loads when
 * it runs.
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
 * Defines `bundle`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function bundleCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("bundle")
    .description(
      "Build one JavaScript file with the profile embedded, runnable with only the deno binary",
    )
    .addOption(embedProfileOption())
    .option("-o, --output <file>", "output file", "dist/mlflow-auth.js")
    .addOption(listenPermissionOption())
    .addOption(execPermissionOption())
    .option("--minify", "minify the bundle")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      helpAfter({
        examples: [
          "mlflow-secrets-auth bundle --profile mlflow-auth.yaml -o dist/mlflow-auth.js",
          "deno run <printed permissions> dist/mlflow-auth.js proxy --upstream https://mlflow.company.com",
        ],
      }),
    )
    .action(async (opts) => {
      const { runBundle } = await import("../bundle.ts");
      ctx.setCode(await runBundle(opts, ctx.io));
    });
}
