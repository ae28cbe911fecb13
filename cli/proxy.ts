/**
 * `proxy`: runs the local auth proxy in front of one tracking server until SIGINT or SIGTERM,
 * then drains in-flight requests and exits 0.
 *
 * Toward an https upstream it uses the rule's `tls:` settings; where the rule leaves one unset,
 * MLflow's `MLFLOW_TRACKING_SERVER_CERT_PATH` and `MLFLOW_TRACKING_CLIENT_CERT_PATH` fill it (the
 * profile wins; see `_tracking_tls.ts`).
 *
 * @module
 */

import { createPlan, type Plan } from "../profile/plan.ts";
import type { Profile } from "../profile/profile.ts";
import { asUsageError, UsageError } from "./errors.ts";
import { createLogger, LOG_FORMATS, LOG_LEVELS, type Logger, type LogLevel } from "../core/log.ts";
import { startProxy } from "../http/proxy.ts";
import { Redactor } from "../core/redact.ts";
import { SecretResolver } from "../engine/resolver.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { DEFAULT_LISTEN } from "./_defaults.ts";
import { protectOrRefuse, type ProtectResult } from "./_protect.ts";
import { withTrackingTlsFromEnv } from "./_tracking_tls.ts";
import type { CliIo } from "./io.ts";
import { type EmbeddedProfile, loadCliProfile } from "./load.ts";

/** Options of {@linkcode runProxy}, as parsed from the command line. */
export interface ProxyCommandOptions {
  readonly profile?: string | undefined;
  readonly upstream?: string | undefined;
  readonly listen?: string | undefined;
  readonly allowRemote?: boolean | undefined;
  /** `--allowed-host`: more Host values to serve (see `ProxyOptions.allowedHosts`). */
  readonly allowedHost?: readonly string[] | undefined;
  readonly clientTokenEnv?: string | undefined;
  /** `false` with `--no-access-log`. */
  readonly accessLog?: boolean | undefined;
  readonly logLevel?: string | undefined;
  readonly logFormat?: string | undefined;
  /** `--max-connections`: most client connections at once. */
  readonly maxConnections?: string | undefined;
  /** How long to wait for in-flight requests at shutdown, in seconds. */
  readonly drainTimeout?: string | undefined;
  /** Run even when this process cannot be made non-dumpable (with a warning). */
  readonly allowDumpable?: boolean | undefined;
  /** Makes this process non-dumpable (tests). Default: `prctl(PR_SET_DUMPABLE, 0)` through FFI. */
  readonly protect?: (() => ProtectResult) | undefined;
  /** Stops the proxy when aborted (tests; the command line uses SIGINT and SIGTERM). */
  readonly signal?: AbortSignal | undefined;
  /** The profile built into an artifact (`bundle`, `compile`), if any. */
  readonly embedded?: EmbeddedProfile | undefined;
  /**
   * Provider factories (an artifact carries its own); default the profile's (the built-in ones for a
   * profile the command line loads).
   */
  readonly providers?: ReadonlyMap<string, ProviderFactory> | undefined;
}

/** Default listen address of the `proxy` command. */
export { DEFAULT_LISTEN };

/**
 * Runs the proxy until a signal (SIGINT, SIGTERM, or `options.signal`).
 *
 * @param options Flags.
 * @param io Streams and environment.
 * @returns 0 after a clean shutdown.
 * @throws {UsageError} for a missing upstream, a bad address or client token variable, or a
 *   process that cannot be made non-dumpable without `--allow-dumpable`.
 * @throws {ProfileError} when the profile is missing or invalid.
 */
export async function runProxy(options: ProxyCommandOptions, io: CliIo): Promise<number> {
  // Before any secret is read: clients of the same user must not read this process.
  protectOrRefuse("proxy", {
    allowDumpable: options.allowDumpable === true,
    warn: io.stderr,
    protect: options.protect,
  });
  const { profile } = await loadCliProfile(options.profile, io, { embedded: options.embedded });
  const profilePlan = createPlan(profile);
  const section = proxySection(profile);
  const upstream = options.upstream ?? section.upstream;
  if (upstream === undefined || upstream === "") {
    throw new UsageError(
      `Cannot start the proxy: no upstream; pass --upstream https://mlflow.example.com or set proxy.upstream in "${profile.source}"`,
    );
  }
  const clientToken = readClientToken(options.clientTokenEnv, io);
  const accessLog = options.accessLog !== false;
  // MLflow's TLS variables, for the upstream's rule where the profile leaves them unset.
  const tracking = withTrackingTlsFromEnv(profilePlan, upstream, io.env);
  const plan = tracking.plan;
  const { resolver, logger } = createCliResolver(plan, io, {
    level: options.logLevel,
    format: options.logFormat,
    fallbackLevel: accessLog ? "info" : undefined,
  }, options.providers);
  for (const note of tracking.notes) logger[note.level](note.message);
  const drainTimeoutMs = parseSeconds(options.drainTimeout, "--drain-timeout") ?? 30_000;
  const maxConnections = parseCount(options.maxConnections, "--max-connections");
  const proxy = await startProxy(plan, {
    upstream,
    listen: options.listen ?? section.listen ?? DEFAULT_LISTEN,
    allowRemote: options.allowRemote === true,
    ...(options.allowedHost?.length ? { allowedHosts: options.allowedHost } : {}),
    ...(clientToken !== undefined ? { clientToken } : {}),
    resolver,
    logger,
    accessLog,
    drainTimeoutMs,
    ...(maxConnections === undefined ? {} : { maxConnections }),
  }).catch(async (error) => {
    await resolver.close();
    // A bad upstream, address or client token (TypeError) or an address that cannot be bound.
    throw asUsageError(error);
  });

  const stop = Promise.withResolvers<string>();
  const onSignal = (name: string) => () => stop.resolve(name);
  const listeners = installSignalListeners(["SIGINT", "SIGTERM"], onSignal);
  const onAbort = () => stop.resolve("abort");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) stop.resolve("abort");
  try {
    io.stderr(
      `mlflow-secrets-auth proxy: listening on ${proxy.url} for ${proxy.upstream} (rule hosts[${proxy.rule.index}], client token ${
        clientToken === undefined ? "not required" : "required"
      }); metrics at ${proxy.url}/__mlflow-secrets-auth/metrics\n`,
    );
    try {
      await resolver.headersFor(proxy.rule);
    } catch (error) {
      logger.warn("the credential cannot be resolved yet; requests get 503 until it can", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
    const why = await stop.promise;
    io.stderr(
      `mlflow-secrets-auth proxy: ${
        why === "abort" ? "stopping" : `${why} received`
      }; draining in-flight requests\n`,
    );
    await proxy.shutdown();
    return 0;
  } finally {
    removeSignalListeners(listeners);
    options.signal?.removeEventListener("abort", onAbort);
    await proxy.shutdown();
    await resolver.close();
  }
}

/** The profile's `proxy:` section. */
export function proxySection(profile: Profile): { upstream?: string; listen?: string } {
  const p = profile.data.proxy;
  if (p === null || typeof p !== "object") return {};
  const { upstream, listen } = p as { upstream?: unknown; listen?: unknown };
  return {
    ...(typeof upstream === "string" ? { upstream } : {}),
    ...(typeof listen === "string" ? { listen } : {}),
  };
}

/** Reads a client token from the variable named by `--client-token-env`. */
function readClientToken(name: string | undefined, io: CliIo): string | undefined {
  if (name === undefined) return undefined;
  const value = io.env(name);
  if (value === undefined || value === "") {
    throw new UsageError(
      `Cannot read the client token: environment variable "${name}" is not set or empty; export a long random value in it`,
    );
  }
  return value;
}

/** Logging choices for {@linkcode createCliResolver}. */
export interface CliLogChoice {
  /** `--log-level`, if given. */
  readonly level?: string | undefined;
  /** `--log-format`, if given. */
  readonly format?: string | undefined;
  /** Level used when neither the flag nor the environment sets one (else the profile's). */
  readonly fallbackLevel?: LogLevel | undefined;
}

/**
 * A resolver and a logger writing to the CLI's stderr, sharing one redactor. Level: the flag,
 * else `MLFLOW_SECRETS_AUTH_LOG_LEVEL`, else `fallbackLevel`, else the profile's; format
 * likewise.
 *
 * @param plan The plan.
 * @param io Streams and environment.
 * @param choice Flags.
 * @param providers Provider factories; default the profile's.
 */
export function createCliResolver(
  plan: Plan,
  io: CliIo,
  choice: CliLogChoice,
  providers?: ReadonlyMap<string, ProviderFactory>,
): { resolver: SecretResolver; logger: Logger; redactor: Redactor } {
  const level = pick(choice.level, LOG_LEVELS, "--log-level") ??
    pick(io.env("MLFLOW_SECRETS_AUTH_LOG_LEVEL"), LOG_LEVELS) ?? choice.fallbackLevel ??
    plan.logging.level;
  const format = pick(choice.format, LOG_FORMATS, "--log-format") ??
    pick(io.env("MLFLOW_SECRETS_AUTH_LOG_FORMAT"), LOG_FORMATS) ?? plan.logging.format;
  const redactor = new Redactor();
  const logger = createLogger({ redactor, level, format, write: (line) => io.stderr(line) });
  const resolver = new SecretResolver(plan, {
    redactor,
    logger,
    env: io.env,
    ...(providers ? { providers } : {}),
  });
  return { resolver, logger, redactor };
}

function pick<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag?: string,
): T | undefined {
  if (value === undefined || value === "") return undefined;
  const v = value.trim().toLowerCase();
  const found = allowed.find((a) => a === v);
  if (found === undefined && flag !== undefined) {
    throw new UsageError(
      `Cannot use ${flag} "${value}": expected one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
    );
  }
  return found;
}

/** Parses a number of seconds given on the command line, in milliseconds. */
export function parseSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`Cannot use ${flag} "${value}": expected a number of seconds`);
  }
  return Math.round(n * 1000);
}

/** Parses a positive whole number given on the command line. */
function parseCount(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) {
    throw new UsageError(`Cannot use ${flag} "${value}": expected a whole number of at least 1`);
  }
  return Number(value);
}

/** Installed signal listeners, for removal. */
export type SignalListeners = readonly (readonly [Deno.Signal, () => void])[];

/** Adds listeners for the given signals (skipping any the platform does not support). */
export function installSignalListeners(
  signals: readonly Deno.Signal[],
  make: (signal: Deno.Signal) => () => void,
): SignalListeners {
  const out: [Deno.Signal, () => void][] = [];
  for (const s of signals) {
    const listener = make(s);
    try {
      Deno.addSignalListener(s, listener);
      out.push([s, listener]);
    } catch {
      // Not supported here (e.g. SIGTERM on Windows).
    }
  }
  return out;
}

/** Removes listeners added by {@linkcode installSignalListeners}. */
export function removeSignalListeners(listeners: SignalListeners): void {
  for (const [s, l] of listeners) {
    try {
      Deno.removeSignalListener(s, l);
    } catch {
      // Already gone.
    }
  }
}
