/**
 * The `proxy` command: its flags, help and examples. What it runs (`cli/proxy.ts`) loads when
 * it runs.
 *
 * @module
 */

import { Command, type CommandUnknownOpts } from "../../deps/commander.ts";
import { DEFAULT_LISTEN } from "../_defaults.ts";
import {
  type CommandContext,
  helpAfter,
  logFormatOption,
  logLevelOption,
  profileOption,
} from "./_shared.ts";

/**
 * Defines `proxy`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function proxyCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("proxy")
    .description(
      "Run a local proxy that adds the profile's credentials to every request for one tracking server",
    )
    .addOption(profileOption(ctx))
    .option("-u, --upstream <url>", "tracking server to forward to (default: proxy.upstream)")
    .option(
      "-l, --listen <address>",
      `host:port to bind (default: proxy.listen, else ${DEFAULT_LISTEN})`,
    )
    .option("--allow-remote", "allow a non-loopback --listen address (needs --client-token-env)")
    .option(
      "--allowed-host <host>",
      "also serve this Host (name:port, name for any port, * for any); repeatable. By default only the listen address and localhost:PORT are served",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      "--client-token-env <name>",
      "variable holding the token clients must send as Authorization: Bearer <token>",
    )
    .option(
      "--max-connections <n>",
      "most client connections at once; past it the longest-idle one is closed, else 503 (default: from the open-file limit)",
    )
    .option("--no-access-log", "no line per request on stderr")
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .option("--drain-timeout <seconds>", "time SIGINT/SIGTERM allow in-flight requests", "30")
    .option(
      "--allow-dumpable",
      "start even when this process cannot be made unreadable to other processes of the same user (needs Linux and --allow-ffi)",
    )
    .addHelpText(
      "after",
      helpAfter({
        notes: [
          `Clients use the proxy as their tracking URI: MLFLOW_TRACKING_URI=http://${DEFAULT_LISTEN}.`,
          "Health and Prometheus metrics: /__mlflow-secrets-auth/health, /__mlflow-secrets-auth/metrics.",
          "",
        ],
        examples: [
          "mlflow-secrets-auth proxy --upstream https://mlflow.company.com",
          "MLFLOW_PROXY_TOKEN=$(openssl rand -hex 32) mlflow-secrets-auth proxy \\",
          "    --listen 0.0.0.0:5055 --allow-remote --client-token-env MLFLOW_PROXY_TOKEN",
        ],
      }),
    )
    .action(async (opts) => {
      const { runProxy } = await import("../proxy.ts");
      ctx.setCode(
        await runProxy({ ...opts, embedded: ctx.embedded, providers: ctx.providers }, ctx.io),
      );
    });
}
