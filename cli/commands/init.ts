/**
 * The `init` command: its flags, help and examples. What it runs (`cli/init.ts`) loads when it
 * runs; its `--provider` choices and each kind's flags come from the provider registry's
 * descriptors (`cli/_init_flags.ts`), which load no profile parser.
 *
 * @module
 */

import { Command, type CommandUnknownOpts, Option } from "../../deps/commander.ts";
import { PROVIDER_KINDS } from "../../providers/registry.ts";
import { initFlags } from "../_init_flags.ts";
import { type CommandContext, helpAfter } from "./_shared.ts";

/**
 * Defines `init`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function initCommand(ctx: CommandContext): CommandUnknownOpts {
  const init = new Command("init")
    .description("Write a starter profile (asks on a terminal for what the flags do not give)")
    .option("-p, --profile <path>", "file to write", "./mlflow-auth.yaml")
    .addOption(new Option("--provider <kind>", "provider kind").choices(PROVIDER_KINDS))
    .option("--host <url>", "tracking server URL, e.g. https://mlflow.company.com")
    .addOption(
      new Option("--auth <type>", "how the secret is sent").choices([
        "bearer",
        "basic",
        "oauth2_client_credentials",
      ]),
    )
    .option(
      "--token-url <url>",
      "oauth2_client_credentials: the identity provider's token endpoint",
    )
    .option("--scope <scopes>", "oauth2_client_credentials: scopes to ask for")
    .option("--field <name>", "field of a JSON-object secret to use")
    .option("--name <name>", "provider instance name");
  // Each provider kind's template adds its flags.
  for (const flag of initFlags()) {
    const option = new Option(flag.flags, flag.description);
    init.addOption(flag.choices !== undefined ? option.choices(flag.choices) : option);
  }
  return init
    .option("--force", "overwrite an existing file")
    .option("--stdout", "print the profile instead of writing it")
    .option("--from-env", "build it from the Python plugin's environment variables")
    .addHelpText(
      "after",
      helpAfter({
        examples: [
          "mlflow-secrets-auth init                      # asks, on a terminal",
          "mlflow-secrets-auth init --provider vault --host https://mlflow.company.com \\",
          "    --address https://vault.company.com:8200 --path mlflow/auth",
          "mlflow-secrets-auth init --provider env --host http://127.0.0.1:5000 --var MLFLOW_TOKEN",
          "mlflow-secrets-auth init --provider aws-secrets-manager --host https://mlflow.company.com \\",
          "    --secret-id mlflow/prod --region eu-west-1",
          "mlflow-secrets-auth init --from-env           # migrate from the Python plugin",
        ],
      }),
    )
    .action(async (opts) => {
      const { runInit } = await import("../init.ts");
      ctx.setCode(await runInit(opts, ctx.io));
    });
}
