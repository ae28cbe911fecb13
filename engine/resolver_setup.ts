/**
 * How adapters (the middleware, the proxy) set up a resolver: a redactor of its own, providers
 * given the process environment, and a stderr logger whose level and format come from the
 * options, else `MLFLOW_SECRETS_AUTH_LOG_LEVEL` and `MLFLOW_SECRETS_AUTH_LOG_FORMAT`, else the
 * profile.
 *
 * @module
 */

import type { Plan } from "../profile/plan.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { createLogger, type LogFormat, type Logger, type LogLevel } from "../core/log.ts";
import { Redactor } from "../core/redact.ts";
import { SecretResolver } from "./resolver.ts";

/** How adapters (middleware, proxy) set up a resolver and its logger. */
export interface ResolverSetup {
  /** Environment lookup. Default: the process environment (unreadable variables are unset). */
  readonly env?: (name: string) => string | undefined;
  /**
   * The transport of providers (Vault traffic, its token included): separate from any fetch the
   * adapter uses for tracking requests. Default: `globalThis.fetch` when the resolver is created.
   */
  readonly providerFetch?: typeof fetch;
  /** Clock. */
  readonly now?: () => number;
  /** Random source, for jitter. */
  readonly random?: () => number;
  /** Provider factories (default: the plan's). */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
  /** Logger. Default: stderr, level and format from the options, the environment or the plan. */
  readonly logger?: Logger;
  /** Receives log lines when no logger is given. Default: stderr. */
  readonly logWrite?: (line: string) => void;
  /** Log level, over `MLFLOW_SECRETS_AUTH_LOG_LEVEL` and the profile. */
  readonly logLevel?: LogLevel;
  /** Log format, over `MLFLOW_SECRETS_AUTH_LOG_FORMAT` and the profile. */
  readonly logFormat?: LogFormat;
}

/**
 * The process environment as a lookup; a variable Deno may not read counts as unset.
 *
 * @param name Variable name.
 * @returns Its value, or undefined.
 */
export function processEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * A stderr logger for a plan: level and format from `setup`, else `MLFLOW_SECRETS_AUTH_LOG_LEVEL`
 * and `MLFLOW_SECRETS_AUTH_LOG_FORMAT`, else the profile's `logging`.
 *
 * @param plan The plan.
 * @param setup Overrides and the environment.
 * @param redactor Masks secrets in every line.
 * @returns The logger.
 */
export function createPlanLogger(plan: Plan, setup: ResolverSetup, redactor: Redactor): Logger {
  const env = setup.env ?? processEnv;
  return createLogger({
    redactor,
    level: setup.logLevel ?? oneOf(env("MLFLOW_SECRETS_AUTH_LOG_LEVEL"), LEVELS) ??
      plan.logging.level,
    format: setup.logFormat ?? oneOf(env("MLFLOW_SECRETS_AUTH_LOG_FORMAT"), FORMATS) ??
      plan.logging.format,
    ...(setup.logWrite ? { write: setup.logWrite } : {}),
    ...(setup.now ? { now: setup.now } : {}),
  });
}

/**
 * Creates a resolver with its own redactor and, unless one is given, a logger from
 * {@linkcode createPlanLogger}.
 *
 * @param plan The plan.
 * @param setup I/O and logging.
 * @returns The resolver.
 */
export function createResolver(plan: Plan, setup: ResolverSetup = {}): SecretResolver {
  const redactor = new Redactor();
  return new SecretResolver(plan, {
    redactor,
    logger: setup.logger ?? createPlanLogger(plan, setup, redactor),
    env: setup.env ?? processEnv,
    ...(setup.providerFetch ? { providerFetch: setup.providerFetch } : {}),
    ...(setup.now ? { now: setup.now } : {}),
    ...(setup.random ? { random: setup.random } : {}),
    ...(setup.providers ? { providers: setup.providers } : {}),
  });
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];
const FORMATS: readonly LogFormat[] = ["text", "json"];

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[]): T | undefined {
  const v = value?.trim().toLowerCase();
  return allowed.find((a) => a === v);
}
