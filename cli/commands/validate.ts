/**
 * The `validate` command: its flags, help and examples. What it runs (`cli/validate.ts`) loads
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
 * Defines `validate`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function validateCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("validate")
    .description("Check a profile; list every issue with file:line:col and JSON pointer")
    .addOption(profileOption(ctx))
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      helpAfter({
        examples: [
          "mlflow-secrets-auth validate --profile mlflow-auth.yaml",
          "mlflow-secrets-auth validate --json",
          "mlflow-secrets-auth validate --from-env",
        ],
      }),
    )
    .action(async (opts) => {
      const { runValidate } = await import("../validate.ts");
      const loaded = await profileFromEnv(opts, ctx.io);
      ctx.setCode(await runValidate({ ...opts, embedded: ctx.embedded, loaded }, ctx.io));
    });
}
