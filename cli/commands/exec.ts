/**
 * The `exec` command: its flags, help and examples. What it runs (`cli/exec.ts`) loads when it
 * runs.
 *
 * @module
 */

import { Command, type CommandUnknownOpts, Option } from "../../deps/commander.ts";
import {
  type CommandContext,
  helpAfter,
  logFormatOption,
  logLevelOption,
  profileOption,
} from "./_shared.ts";

/**
 * Defines `exec`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function execCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("exec")
    .description(
      "Run a command with MLflow pointed at a private auth proxy; the real credential stays out of its environment",
    )
    .addOption(profileOption(ctx))
    .option(
      "-u, --upstream <url>",
      "tracking server (default: proxy.upstream, else $MLFLOW_TRACKING_URI)",
    )
    .addOption(
      new Option(
        "--env-mode <mode>",
        "proxy: the child gets the proxy and a client token; direct: the real credential (weaker, no rotation)",
      ).choices(["proxy", "direct"]).default("proxy"),
    )
    .option("--access-log", "one line per proxied request on stderr")
    .option(
      "--scrub-cloud-env",
      "also remove AWS_*, AZURE_* and Azure managed identity variables from the child (kept by default)",
    )
    .option(
      "--keep-env <names>",
      "comma-separated variables to keep although the profile names them (a copy of the credential is removed all the same)",
    )
    .option(
      "--preflight",
      "resolve the secret before the child starts and refuse to start it on failure (the default)",
    )
    .option(
      "--no-preflight",
      "secret stores (vault, aws, azure): start the child at once and resolve the secret meanwhile; copies of it in the environment are then not removed",
    )
    .option(
      "--allow-dumpable",
      "start even when this process cannot be made unreadable to the child (needs Linux and --allow-ffi)",
    )
    .option(
      "--require-client-token",
      "demand the client token from every request, even from processes of this user (see below)",
    )
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .argument("<command...>", "the command to run, after --")
    .passThroughOptions()
    .addHelpText(
      "after",
      helpAfter({
        notes: [
          "The child gets MLFLOW_TRACKING_URI (the proxy) and MLFLOW_TRACKING_TOKEN (a random client",
          "token). Removed from its environment: MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN, every",
          "variable the profile names (${VAR}, *_env settings, the env provider's var, VAULT_TOKEN",
          "for a vault provider), and every variable holding a copy of the credential (the log",
          "line names it). Kept by default: AWS_*, AZURE_* and Azure managed identity variables, which",
          "the job may need for its artifact store; --scrub-cloud-env removes them too. --keep-env",
          "keeps named variables the job needs (a port, a host name); whatever holds a copy of the",
          "credential is removed all the same.",
          "",
          "Start-up: env and file secrets are read before the child starts (microseconds). A secret",
          "from a store (vault, aws-secrets-manager, azure-key-vault) is resolved first too, by",
          "default: a failure stops exec before the child exists, and copies of the value in the",
          "environment are removed. --no-preflight starts the child at once instead: its first",
          "request waits for the secret, a failure answers 503 (naming the provider and reference)",
          "and is logged; the named variables are still removed, but copies of the value under other",
          "names cannot be searched for before the child starts (a warning names any found later).",
          "",
          "On Linux the proxy also serves a request with no Authorization header when it comes from a",
          "process of this user (socket owners read from /proc/net/tcp), for clients that ignore",
          "MLFLOW_TRACKING_TOKEN (the MLflow Java client); other users still need the token.",
          "--require-client-token demands it from everyone.",
          "",
          "This process makes itself non-dumpable (prctl PR_SET_DUMPABLE, through --allow-ffi), so",
          "the child cannot read its environment or memory in /proc; without that it refuses to",
          "start unless --allow-dumpable is given. See SECURITY.md for what exec protects against.",
          "",
          "SIGINT and SIGTERM are forwarded; the exit code is the child's (128 + signal number when",
          "a signal killed it). Requests still in flight when the child exits (from its descendants)",
          "finish before exec exits; a signal during that wait exits at once.",
          "",
        ],
        examples: [
          "mlflow-secrets-auth exec -- python train.py --epochs 3",
          "mlflow-secrets-auth exec --upstream https://mlflow.company.com -- mlflow experiments search",
        ],
      }),
    )
    .action(async (command, opts) => {
      const { runExec } = await import("../exec.ts");
      ctx.setCode(
        await runExec(
          command,
          { ...opts, embedded: ctx.embedded, providers: ctx.providers },
          ctx.io,
        ),
      );
    });
}
