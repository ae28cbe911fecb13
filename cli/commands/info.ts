/**
 * The `info` command: its flags, help and examples. What it runs (`cli/info.ts`) loads when it
 * runs.
 *
 * @module
 */

import { Command, type CommandUnknownOpts } from "../../deps/commander.ts";
import {
  type CommandContext,
  fromEnvOption,
  helpAfter,
  profileFromEnv,
  profileOption,
} from "./_shared.ts";

/**
 * Defines `info`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function infoCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("info")
    .description(
      "Show versions, the profile and how it was found, providers and whether their SDKs load, cache, retry and log settings",
    )
    .addOption(profileOption(ctx))
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      helpAfter({
        examples: [
          "mlflow-secrets-auth info",
          "mlflow-secrets-auth info --json --profile /etc/mlflow-auth.yaml",
        ],
      }),
    )
    .action(async (opts) => {
      const { runInfo } = await import("../info.ts");
      const loaded = await profileFromEnv(opts, ctx.io);
      ctx.setCode(
        await runInfo({
          ...opts,
          embedded: ctx.embedded,
          loaded,
          providers: ctx.providers,
          version: ctx.version,
        }, ctx.io),
      );
    });
}
