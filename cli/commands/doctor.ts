/**
 * The `doctor` command: its flags, help and examples. What it runs (`cli/doctor.ts`) loads when
 * it runs.
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
 * Defines `doctor`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function doctorCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("doctor")
    .description(
      "Check every host rule end to end: provider, secret, header, and a live call to the tracking server",
    )
    .addOption(profileOption(ctx))
    .option("-u, --url <url...>", "tracking URL(s) to check instead of every rule")
    .option("--timeout <duration>", "time allowed for the live call (e.g. 10s, 500ms)", "10s")
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      helpAfter({
        notes: [
          "Steps, for every rule (or the rule of each --url): profile valid, rule matched, provider",
          "reachable and authenticated, secret read, access token obtained (oauth2 rules), header",
          "built (type and length only), then GET <server>/api/2.0/mlflow/experiments/search?max_results=1",
          "through the same middleware.",
          "Exit 0 only when every step of every rule passes; a wildcard rule needs --url for the call.",
          "",
        ],
        examples: [
          "mlflow-secrets-auth doctor",
          "mlflow-secrets-auth doctor --url https://mlflow.staging.company.com --json",
          "mlflow-secrets-auth doctor --from-env",
        ],
      }),
    )
    .action(async (opts) => {
      const { runDoctor } = await import("../doctor.ts");
      const loaded = await profileFromEnv(opts, ctx.io);
      ctx.setCode(
        await runDoctor(
          { ...opts, embedded: ctx.embedded, loaded, providers: ctx.providers },
          ctx.io,
        ),
      );
    });
}
