/**
 * The `explain` command: its flags, help and examples. What it runs (`cli/explain.ts`) loads
 * when it runs.
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
 * Defines `explain`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function explainCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("explain")
    .description("Show which rule matches a URL and which headers it would inject (redacted)")
    .addOption(profileOption(ctx))
    .option("-u, --url <url...>", "tracking URL(s) to explain")
    .argument("[url...]", "tracking URL(s) to explain, as with --url")
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      helpAfter({
        examples: [
          "mlflow-secrets-auth explain",
          "mlflow-secrets-auth explain https://mlflow.company.com/api/2.0/mlflow/runs/get",
          "mlflow-secrets-auth explain --from-env      # migrate from the Python plugin's variables",
        ],
      }),
    )
    .action(async (urls, opts) => {
      const { runExplain } = await import("../explain.ts");
      const url = [...(opts.url ?? []), ...urls];
      const loaded = await profileFromEnv(opts, ctx.io);
      ctx.setCode(
        await runExplain({
          ...opts,
          ...(url.length > 0 ? { url } : {}),
          embedded: ctx.embedded,
          loaded,
        }, ctx.io),
      );
    });
}
