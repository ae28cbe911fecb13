/**
 * The mlflow-secrets-auth command line.
 *
 * `main(args, io)` parses arguments, runs one command and returns its exit code: 0 success,
 * 1 runtime failure, 2 profile or usage error. It never calls `Deno.exit` itself; the entry
 * point below does. Provider SDKs are never loaded by `--help`, `validate`, `explain` or
 * `schema`.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const out: string[] = [];
 * const code = await main(["schema"], {
 *   stdout: (t) => out.push(t), stderr: () => {}, env: () => undefined, isTty: false,
 * });
 * if (code !== 0 || !out.join("").includes("$schema")) throw new Error("schema not printed");
 * ```
 *
 * @module
 */

import type * as Commander from "./deps/commander.ts";
import { ProfileError, SecretResolutionError, UsageError } from "./core/errors.ts";
import { type CliIo, processIo, profileOptionOf } from "./cli/io.ts";
import { HELP } from "./cli/_help.ts";
import type { EmbeddedProfile } from "./cli/load.ts";
import type { Profile } from "./profile/profile.ts";
import type { ProviderFactory } from "./providers/types.ts";
import { PROVIDER_KINDS } from "./providers/registry.ts";
import { initFlags } from "./cli/_init_flags.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The profile `--from-env` asks for, or undefined. */
async function fromEnv(
  opts: { readonly fromEnv?: true | undefined; readonly json?: true | undefined },
  io: CliIo,
): Promise<Profile | undefined> {
  if (!opts.fromEnv) return undefined;
  const { loadFromEnv } = await import("./cli/from_env.ts");
  return loadFromEnv(io, { json: opts.json === true });
}

/** The version printed by `--version`. */
export const VERSION: string = denoJson.version;

/**
 * What a built artifact (`bundle`, `compile`) passes to {@linkcode main}: the generated entry
 * module hands these in, so nothing is kept in global state.
 */
export interface MainOptions {
  /**
   * The profile built into the artifact: the default when neither `--profile` nor
   * `MLFLOW_SECRETS_AUTH_PROFILE` is given (before `./mlflow-auth.yaml`).
   */
  readonly embeddedProfile?: EmbeddedProfile;
  /** Provider factories by kind; default the built-in registry. An artifact carries only its own. */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
  /**
   * Answer `--help`, `<command> --help` and `--version` from the texts generated from this
   * command line at build time (`cli/_help.ts`, `deno task gen:help`), without loading the
   * argument parser: the fastest start. Default true; ignored with an embedded profile, whose
   * help differs.
   */
  readonly staticHelp?: boolean;
}

/**
 * The generated text for a request for help or the version, if `args` is one.
 *
 * @param args Arguments after the program name.
 * @returns The text, or undefined when the arguments ask for something else.
 */
function staticHelp(args: readonly string[]): string | undefined {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) return `${VERSION}\n`;
  const last = args.at(-1);
  if (args.length === 0 || args.length > 2 || (last !== "--help" && last !== "-h")) {
    return undefined;
  }
  return Object.hasOwn(HELP, args.slice(0, -1).join(" "))
    ? HELP[args.slice(0, -1).join(" ")]
    : undefined;
}

/**
 * Runs the command line.
 *
 * @param args Arguments after the program name.
 * @param io Streams and environment.
 * @param options What a built artifact carries: an embedded profile, its provider factories.
 * @returns The exit code.
 */
export async function main(
  args: readonly string[],
  io: CliIo = processIo(),
  options: MainOptions = {},
): Promise<number> {
  if (options.staticHelp !== false && options.embeddedProfile === undefined) {
    const text = staticHelp(args);
    if (text !== undefined) {
      io.stdout(text);
      return 0;
    }
  }
  const profileOption = profileOptionOf(args);
  if (profileOption !== undefined) io = { ...io, profileOption };
  let code = 0;
  const commander = await import("./deps/commander.ts");
  const program = buildProgram(commander, io, (c) => {
    code = c;
  }, options);
  try {
    await program.parseAsync([...args], { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof commander.CommanderError) {
      return ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code)
        ? 0
        : 2;
    }
    return reportError(error, io);
  }
}

function buildProgram(
  { Argument, Command, Option }: typeof Commander,
  io: CliIo,
  setCode: (code: number) => void,
  options: MainOptions,
) {
  const embedded = options.embeddedProfile;
  /** `--from-env`, for the commands that read a profile. */
  const fromEnvOption = () =>
    new Option(
      "--from-env",
      "build the profile from the Python plugin's environment variables (printed as YAML, warnings on stderr)",
    );
  const profileOption = () =>
    new Option(
      "-p, --profile <path>",
      embedded === undefined
        ? "profile file (default: $MLFLOW_SECRETS_AUTH_PROFILE, else ./mlflow-auth.yaml)"
        : `profile file (default: $MLFLOW_SECRETS_AUTH_PROFILE, else the embedded ${embedded.source})`,
    );
  const program = new Command()
    .name("mlflow-secrets-auth")
    .description(
      "Inject authentication headers, fetched from secret managers, into MLflow tracking requests.",
    )
    .version(VERSION, "-V, --version")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      outputError: (s, write) => write(s),
      // Help has no colour; saying so also keeps commander from reading FORCE_COLOR and
      // CLICOLOR_FORCE, which would need --allow-env just to print --help.
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      // One width everywhere, so that help is the same on every terminal and can be generated
      // ahead of time (MainOptions.staticHelp).
      getOutHelpWidth: () => 80,
      getErrHelpWidth: () => 80,
    })
    .showHelpAfterError("(run with --help for usage)");

  program.command("validate")
    .description("Check a profile; list every issue with file:line:col and JSON pointer")
    .addOption(profileOption())
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      "\nExamples:\n  mlflow-secrets-auth validate --profile mlflow-auth.yaml\n  mlflow-secrets-auth validate --json\n  mlflow-secrets-auth validate --from-env",
    )
    .action(async (opts) => {
      // Every command module loads on use only, so that --help parses no YAML and no schema.
      const { runValidate } = await import("./cli/validate.ts");
      setCode(await runValidate({ ...opts, embedded, loaded: await fromEnv(opts, io) }, io));
    });

  program.command("explain")
    .description("Show which rule matches a URL and which headers it would inject (redacted)")
    .addOption(profileOption())
    .option("-u, --url <url...>", "tracking URL(s) to explain")
    .argument("[url...]", "tracking URL(s) to explain, as with --url")
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      "\nExamples:\n  mlflow-secrets-auth explain\n  mlflow-secrets-auth explain https://mlflow.company.com/api/2.0/mlflow/runs/get\n  mlflow-secrets-auth explain --from-env      # migrate from the Python plugin's variables",
    )
    .action(async (urls, opts) => {
      const { runExplain } = await import("./cli/explain.ts");
      const url = [...(opts.url ?? []), ...urls];
      setCode(
        await runExplain({
          ...opts,
          ...(url.length > 0 ? { url } : {}),
          embedded,
          loaded: await fromEnv(opts, io),
        }, io),
      );
    });

  program.command("schema")
    .description("Print the profile JSON Schema")
    .addHelpText(
      "after",
      "\nExamples:\n  mlflow-secrets-auth schema > profile.schema.json",
    )
    .action(async () => {
      const { default: schema } = await import("./schema/profile.schema.json", {
        with: { type: "json" },
      });
      io.stdout(JSON.stringify(schema, null, 2) + "\n");
      setCode(0);
    });

  program.command("doctor")
    .description(
      "Check every host rule end to end: provider, secret, header, and a live call to the tracking server",
    )
    .addOption(profileOption())
    .option("-u, --url <url...>", "tracking URL(s) to check instead of every rule")
    .option("--timeout <duration>", "time allowed for the live call (e.g. 10s, 500ms)", "10s")
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      [
        "",
        "Steps, for every rule (or the rule of each --url): profile valid, rule matched, provider",
        "reachable and authenticated, secret read, header built (type and length only), then",
        "GET <server>/api/2.0/mlflow/experiments/search?max_results=1 through the same middleware.",
        "Exit 0 only when every step of every rule passes; a wildcard rule needs --url for the call.",
        "",
        "Examples:",
        "  mlflow-secrets-auth doctor",
        "  mlflow-secrets-auth doctor --url https://mlflow.staging.company.com --json",
        "  mlflow-secrets-auth doctor --from-env",
      ].join("\n"),
    )
    .action(async (opts) => {
      const { runDoctor } = await import("./cli/doctor.ts");
      const loaded = await fromEnv(opts, io);
      setCode(await runDoctor({ ...opts, embedded, loaded, providers: options.providers }, io));
    });

  program.command("info")
    .description(
      "Show versions, the profile and how it was found, providers and whether their SDKs load, cache, retry and log settings",
    )
    .addOption(profileOption())
    .option("--json", "machine-readable output")
    .addOption(fromEnvOption())
    .addHelpText(
      "after",
      "\nExamples:\n  mlflow-secrets-auth info\n  mlflow-secrets-auth info --json --profile /etc/mlflow-auth.yaml",
    )
    .action(async (opts) => {
      const { runInfo } = await import("./cli/info.ts");
      const loaded = await fromEnv(opts, io);
      setCode(
        await runInfo(
          { ...opts, embedded, loaded, providers: options.providers, version: VERSION },
          io,
        ),
      );
    });

  const init = program.command("init")
    .description("Write a starter profile (asks on a terminal for what the flags do not give)")
    .option("-p, --profile <path>", "file to write", "./mlflow-auth.yaml")
    .addOption(new Option("--provider <kind>", "provider kind").choices(PROVIDER_KINDS))
    .option("--host <url>", "tracking server URL, e.g. https://mlflow.company.com")
    .addOption(new Option("--auth <type>", "how the secret is sent").choices(["bearer", "basic"]))
    .option("--field <name>", "field of a JSON-object secret to use")
    .option("--name <name>", "provider instance name");
  // Each provider kind's template adds its flags.
  for (const flag of initFlags()) {
    const option = new Option(flag.flags, flag.description);
    init.addOption(flag.choices !== undefined ? option.choices(flag.choices) : option);
  }
  init
    .option("--force", "overwrite an existing file")
    .option("--stdout", "print the profile instead of writing it")
    .option("--from-env", "build it from the Python plugin's environment variables")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  mlflow-secrets-auth init                      # asks, on a terminal",
        "  mlflow-secrets-auth init --provider vault --host https://mlflow.company.com \\",
        "      --address https://vault.company.com:8200 --path mlflow/auth",
        "  mlflow-secrets-auth init --provider env --host http://127.0.0.1:5000 --var MLFLOW_TOKEN",
        "  mlflow-secrets-auth init --provider aws-secrets-manager --host https://mlflow.company.com \\",
        "      --secret-id mlflow/prod --region eu-west-1",
        "  mlflow-secrets-auth init --from-env           # migrate from the Python plugin",
      ].join("\n"),
    )
    .action(async (opts) => {
      const { runInit } = await import("./cli/init.ts");
      setCode(await runInit(opts, io));
    });

  const logOptions = () =>
    [
      new Option("--log-level <level>", "lowest log level written").choices([
        "debug",
        "info",
        "warn",
        "error",
        "silent",
      ]),
      new Option("--log-format <format>", "log line format").choices(["text", "json"]),
    ] as const;

  const [proxyLogLevel, proxyLogFormat] = logOptions();
  program.command("proxy")
    .description(
      "Run a local proxy that adds the profile's credentials to every request for one tracking server",
    )
    .addOption(profileOption())
    .option("-u, --upstream <url>", "tracking server to forward to (default: proxy.upstream)")
    .option(
      "-l, --listen <address>",
      "host:port to bind (default: proxy.listen, else 127.0.0.1:5055)",
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
    .addOption(proxyLogLevel)
    .addOption(proxyLogFormat)
    .option("--drain-timeout <seconds>", "time SIGINT/SIGTERM allow in-flight requests", "30")
    .option(
      "--allow-dumpable",
      "start even when this process cannot be made unreadable to other processes of the same user (needs Linux and --allow-ffi)",
    )
    .addHelpText(
      "after",
      [
        "",
        "Clients use the proxy as their tracking URI: MLFLOW_TRACKING_URI=http://127.0.0.1:5055.",
        "Health and Prometheus metrics: /__mlflow-secrets-auth/health, /__mlflow-secrets-auth/metrics.",
        "",
        "Examples:",
        "  mlflow-secrets-auth proxy --upstream https://mlflow.company.com",
        "  MLFLOW_PROXY_TOKEN=$(openssl rand -hex 32) mlflow-secrets-auth proxy \\",
        "      --listen 0.0.0.0:5055 --allow-remote --client-token-env MLFLOW_PROXY_TOKEN",
      ].join("\n"),
    )
    .action(async (opts) => {
      const { runProxy } = await import("./cli/proxy.ts");
      setCode(await runProxy({ ...opts, embedded, providers: options.providers }, io));
    });

  const [execLogLevel, execLogFormat] = logOptions();
  program.command("exec")
    .description(
      "Run a command with MLflow pointed at a private auth proxy; the real credential stays out of its environment",
    )
    .addOption(profileOption())
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
    .addOption(execLogLevel)
    .addOption(execLogFormat)
    .argument("<command...>", "the command to run, after --")
    .passThroughOptions()
    .addHelpText(
      "after",
      [
        "",
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
        "Examples:",
        "  mlflow-secrets-auth exec -- python train.py --epochs 3",
        "  mlflow-secrets-auth exec --upstream https://mlflow.company.com -- mlflow experiments search",
      ].join("\n"),
    )
    .action(async (command, opts) => {
      const { runExec } = await import("./cli/exec.ts");
      setCode(await runExec(command, { ...opts, embedded, providers: options.providers }, io));
    });

  program.command("completions")
    .description("Print a shell completion script")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(["bash", "zsh", "fish"]))
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  source <(mlflow-secrets-auth completions bash)",
        "  source <(mlflow-secrets-auth completions zsh)",
        "  mlflow-secrets-auth completions fish | source",
      ].join("\n"),
    )
    .action(async (shell) => {
      const { completionScript } = await import("./cli/completions.ts");
      io.stdout(completionScript(program, shell));
      setCode(0);
    });

  const buildProfileOption = () =>
    new Option(
      "-p, --profile <path>",
      "profile to embed (default: $MLFLOW_SECRETS_AUTH_PROFILE, else ./mlflow-auth.yaml)",
    );
  const listenOption = () =>
    new Option(
      "--listen <address>",
      "where the proxy will listen, for its permission: host:port, or host for any port (default: proxy.listen, else 127.0.0.1:5055)",
    );

  const execOption = () =>
    new Option(
      "--exec",
      "also permit the exec command: --allow-run, --allow-env without a list, any loopback port",
    );

  program.command("bundle")
    .description(
      "Build one JavaScript file with the profile embedded, runnable with only the deno binary",
    )
    .addOption(buildProfileOption())
    .option("-o, --output <file>", "output file", "dist/mlflow-auth.js")
    .addOption(listenOption())
    .addOption(execOption())
    .option("--minify", "minify the bundle")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nExamples:\n  mlflow-secrets-auth bundle --profile mlflow-auth.yaml -o dist/mlflow-auth.js\n  deno run <printed permissions> dist/mlflow-auth.js proxy --upstream https://mlflow.company.com",
    )
    .action(async (opts) => {
      const { runBundle } = await import("./cli/bundle.ts");
      setCode(await runBundle(opts, io));
    });

  program.command("compile")
    .description(
      "Build one executable (deno compile) with the profile embedded and its permissions baked in",
    )
    .addOption(buildProfileOption())
    .option("-o, --output <file>", "output executable", "dist/mlflow-auth")
    .option("--target <triple>", "target, e.g. aarch64-unknown-linux-gnu (default: this machine)")
    .addOption(listenOption())
    .addOption(execOption())
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nNeeds the Deno runtime denort: cached, downloadable, or named by DENORT_BIN.\nExamples:\n  mlflow-secrets-auth compile --profile mlflow-auth.yaml -o dist/mlflow-auth\n  DENORT_BIN=/opt/denort mlflow-secrets-auth compile -o dist/mlflow-auth",
    )
    .action(async (opts) => {
      const { runCompile } = await import("./cli/compile.ts");
      setCode(await runCompile(opts, io));
    });

  return program;
}

/**
 * Maps an error to an exit code and a message on stderr: profile and usage errors 2, anything
 * else 1.
 *
 * @param error What was thrown.
 * @param io Streams.
 * @returns The exit code.
 */
export function reportError(error: unknown, io: CliIo): number {
  if (error instanceof ProfileError || error instanceof UsageError) {
    io.stderr(`${error.message}\n`);
    return 2;
  }
  if (error instanceof SecretResolutionError) {
    io.stderr(`${error.message}\n`);
    return 1;
  }
  io.stderr(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
