/**
 * The `init` command: its flags, help and examples. What it runs (`cli/init.ts`) loads when it
 * runs; its choice lists are that module's constants, defined in a module of their own so that
 * defining the command loads no profile parser.
 *
 * @module
 */

import { Command, type CommandUnknownOpts, Option } from "../../deps/commander.ts";
import { INIT_KINDS, VAULT_METHODS } from "../_init_choices.ts";
import { type CommandContext, helpAfter } from "./_shared.ts";

/**
 * Defines `init`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function initCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("init")
    .description("Write a starter profile (asks on a terminal for what the flags do not give)")
    .option("-p, --profile <path>", "file to write", "./mlflow-auth.yaml")
    .addOption(new Option("--provider <kind>", "provider kind").choices(INIT_KINDS))
    .option("--host <url>", "tracking server URL, e.g. https://mlflow.company.com")
    .addOption(new Option("--auth <type>", "how the secret is sent").choices(["bearer", "basic"]))
    .option("--field <name>", "field of a JSON-object secret to use")
    .option("--name <name>", "provider instance name")
    .option("--var <name>", "env: environment variable holding the secret")
    .option("--path <path>", "file: the secret file; vault: the secret path")
    .option("--address <url>", "vault: address (default: $VAULT_ADDR)")
    .option("--mount <mount>", "vault: KV mount")
    .addOption(new Option("--vault-auth <method>", "vault: auth method").choices(VAULT_METHODS))
    .option("--role <role>", "vault: Kubernetes auth role")
    .option("--secret-id <id>", "aws-secrets-manager: secret name or ARN")
    .option("--region <region>", "aws-secrets-manager: region")
    .option("--vault-url <url>", "azure-key-vault: vault URL (https)")
    .option("--secret-name <name>", "azure-key-vault: secret name")
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
