/**
 * `exec`: runs a command with MLflow pointed at a private auth proxy.
 *
 * The proxy listens on an ephemeral loopback port and demands a random client token. The child
 * gets `MLFLOW_TRACKING_URI` (the proxy) and `MLFLOW_TRACKING_TOKEN` (the client token) and never
 * the real credential, nor what leads to it:
 *
 * - This process makes itself non-dumpable before it reads any secret
 *   (`prctl(PR_SET_DUMPABLE, 0)`, which needs `--allow-ffi`), so the child and its descendants
 *   cannot read its initial environment (`/proc/<pid>/environ`, where the `env` provider's
 *   variable still sits) or its memory (`/proc/<pid>/mem`). Where that cannot be done (no
 *   `--allow-ffi`, not Linux) it refuses to start unless `--allow-dumpable` accepts the risk.
 * - Every variable the profile names is removed from the child's environment: each `${NAME}`,
 *   each `*_env` setting (`token_env`, `role_id_env`, `secret_id_env`, `client_secret_env`, …),
 *   the `env` provider's `var`, the variables a provider reads by default (`VAULT_TOKEN`), and
 *   `MLFLOW_TRACKING_USERNAME` / `PASSWORD` / `TOKEN` / `AUTH` (the last loads a request-auth
 *   plugin that would fetch the credential inside the child). `--keep-env` exempts names the job needs
 *   (a port, a host name) from this, never from the next point.
 * - Every variable holding a copy of the credential is removed too: a value equal to any form
 *   of it (the secret, the fields a header is built from, the header value, for basic auth the
 *   password, `user:password` and its base64, static header values from the environment), or
 *   containing a form of six characters or more. The log line names the variable, never the
 *   value.
 * - When the child starts: a secret from a local source (`env`, `file`) is read first (it takes
 *   microseconds), so that the environment can be searched for copies of it. A secret from a
 *   secret store (`vault`, `aws-secrets-manager`, `azure-key-vault`, a network round trip and an
 *   SDK to load) is also resolved first by default (the preflight): a failure stops `exec`
 *   before the child exists, and copies are searched for. `--no-preflight` starts the child at
 *   once instead and resolves the secret concurrently: a request that arrives first waits for
 *   it, a failure answers the child 503 (MLflow's JSON error shape, naming the provider and the
 *   reference) and is logged on stderr; the variables the profile names are removed all the
 *   same, but copies of the value under other names cannot be searched for before the child
 *   starts (once the value is known, a warning names any such variable).
 * - Ambient cloud credentials (`AWS_*`, `AZURE_*`, Azure managed identity variables) stay by
 *   default, because the job may need them for its artifact store; `--scrub-cloud-env` removes
 *   them too. With a cloud provider in the profile, the child can read the secret with them: a
 *   warning says so.
 *
 * The proxy demands the client token, with one exception: on Linux, a request that carries no
 * `Authorization` at all is served when the socket it comes from belongs to this process's user
 * (both ends' owners read from `/proc/net/tcp` and `/proc/net/tcp6`). That is for clients that
 * read `MLFLOW_TRACKING_URI` but never `MLFLOW_TRACKING_TOKEN`, the MLflow Java client among them;
 * it lets in no one the token keeps out today, since a process of the same user can read the
 * token from the child's environment. Other users' processes still need the token (401), and so
 * does every request where the owner cannot be told. `--require-client-token` turns the
 * exception off.
 *
 * TLS toward the tracking server follows the rule's `tls:` settings; where the rule leaves one
 * unset, MLflow's own `MLFLOW_TRACKING_SERVER_CERT_PATH` (a CA bundle) and
 * `MLFLOW_TRACKING_CLIENT_CERT_PATH` (certificate and key in one file) fill it, as the Python
 * client would use them (the profile wins). The child talks plain http to the proxy, so both are
 * removed from its environment; with `--env-mode direct` they stay, and the rule's own files are
 * passed in them where the child has none.
 *
 * SIGINT and SIGTERM are forwarded (a Ctrl-C that already reached the child through the terminal
 * is not sent twice); the exit code is the child's (128 + signal number when a signal killed it).
 * Once the child has exited, requests still in flight (from its descendants) are drained before
 * `exec` exits; a signal during that drain ends `exec` at once.
 *
 * `--env-mode direct` skips the proxy and exports the real credential instead
 * (`MLFLOW_TRACKING_TOKEN`, or `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`). That is
 * weaker: the secret sits in the child's environment, where its own children and crash reports
 * can see it, and it cannot rotate while the child runs.
 *
 * @module
 */

import { createPlan, matchRule, type Plan, type PlanRule } from "../profile/plan.ts";
import { asUsageError, UsageError } from "./errors.ts";
import { invalidUrlCause, maskUserinfo } from "../core/_display_url.ts";
import type { Logger } from "../core/log.ts";
import { type ProxyHandle, startProxy } from "../http/proxy.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";
import type { Profile } from "../profile/profile.ts";
import {
  credentialForms,
  decodeBasic,
  holdsCredential,
  isCloudVariable,
  MLFLOW_CREDENTIAL_VARS,
  profileVariables,
} from "./_child_env.ts";
import { protectOrRefuse, type ProtectResult } from "./_protect.ts";
import { TRACKING_TLS_VARS, withTrackingTlsFromEnv } from "./_tracking_tls.ts";
import type { CliIo } from "./io.ts";
import { type EmbeddedProfile, loadCliProfile } from "./load.ts";
import { createCliResolver, proxySection } from "./proxy.ts";
import { runChild } from "./_exec_child.ts";

/** Options of {@linkcode runExec}, as parsed from the command line. */
export interface ExecOptions {
  readonly profile?: string | undefined;
  readonly upstream?: string | undefined;
  /** `proxy` (default) or `direct`. */
  readonly envMode?: string | undefined;
  /** Write one access line per proxied request on stderr. */
  readonly accessLog?: boolean | undefined;
  readonly logLevel?: string | undefined;
  readonly logFormat?: string | undefined;
  /** Also remove ambient cloud credentials (`AWS_*`, `AZURE_*`, managed identity) from the child. */
  readonly scrubCloudEnv?: boolean | undefined;
  /**
   * Comma-separated variables to keep although the profile names them (or `--scrub-cloud-env`
   * covers them). A variable holding a form of the credential is removed all the same.
   */
  readonly keepEnv?: string | undefined;
  /**
   * Resolve the secret before the child starts (`true`, the default), or, for a secret store
   * (`false`, `--no-preflight`), start the child at once and resolve it concurrently. Secrets
   * from local sources (`env`, `file`) are always read first.
   */
  readonly preflight?: boolean | undefined;
  /** Run even when this process cannot be made non-dumpable (with a warning). */
  readonly allowDumpable?: boolean | undefined;
  /**
   * Demand the client token from every request, even from processes of this user (by default,
   * on Linux, a request without `Authorization` from a socket of this user is served).
   */
  readonly requireClientToken?: boolean | undefined;
  /** The profile built into an artifact (`bundle`, `compile`), if any. */
  readonly embedded?: EmbeddedProfile | undefined;
  /**
   * Provider factories (an artifact carries its own); default the profile's (the built-in ones for a
   * profile the command line loads).
   */
  readonly providers?: ReadonlyMap<string, ProviderFactory> | undefined;
}

/** Process-level inputs of {@linkcode runExec}, replaceable in tests. */
export interface ExecDeps {
  /** The full environment to derive the child's from. Default: `Deno.env.toObject()`. */
  readonly environ?: Readonly<Record<string, string>>;
  /** The child's stdio. Default `inherit`. */
  readonly stdio?: "inherit" | "null";
  /** Called just before the child is spawned (tests: a signal in that instant). */
  readonly beforeSpawn?: () => void;
  /** Called once the child is running, with its pid and the proxy (tests). */
  readonly onSpawn?: (info: { pid: number; proxy?: ProxyHandle }) => void;
  /** Makes this process non-dumpable. Default: `prctl(PR_SET_DUMPABLE, 0)` through FFI. */
  readonly protect?: () => ProtectResult;
}

/**
 * Runs a command under the profile's authentication.
 *
 * @param command The command and its arguments.
 * @param options Flags.
 * @param io Streams and environment.
 * @param deps Environment and stdio overrides (tests).
 * @returns The child's exit code; 127 when the command is not found, 126 when it cannot run.
 * @throws {UsageError} for a missing or unusable upstream, `--env-mode direct` with a header
 *   rule, or a process that cannot be made non-dumpable without `--allow-dumpable`.
 * @throws {SecretResolutionError} when the credential cannot be resolved before the child
 *   starts (a local source, or the preflight); the child is not started. With `--no-preflight`
 *   and a secret store, a failure is answered to the child's requests (503) and logged instead.
 */
export async function runExec(
  command: readonly string[],
  options: ExecOptions,
  io: CliIo,
  deps: ExecDeps = {},
): Promise<number> {
  if (command.length === 0) {
    throw new UsageError(
      "Cannot exec: no command given; pass it after --, e.g. exec -- python train.py",
    );
  }
  const mode = options.envMode ?? "proxy";
  if (mode !== "proxy" && mode !== "direct") {
    throw new UsageError(`Cannot use --env-mode "${mode}": expected "proxy" or "direct"`);
  }
  // Before any secret is read: the child must not be able to read this process.
  protectOrRefuse("exec", {
    allowDumpable: options.allowDumpable === true,
    warn: io.stderr,
    protect: deps.protect,
  });
  const { profile } = await loadCliProfile(options.profile, io, { embedded: options.embedded });
  const profilePlan = createPlan(profile);
  const upstream = options.upstream ?? proxySection(profile).upstream ??
    nonEmpty(io.env("MLFLOW_TRACKING_URI"));
  if (upstream === undefined) {
    throw new UsageError(
      `Cannot exec: no tracking server; pass --upstream, set proxy.upstream in "${profile.source}", or export MLFLOW_TRACKING_URI`,
    );
  }
  if (!/^https?:\/\//i.test(upstream)) {
    throw new UsageError(
      `Cannot exec: the tracking server "${
        maskUserinfo(upstream)
      }" is not an http(s) URL; pass --upstream https://…`,
    );
  }
  // MLflow's TLS variables, for the tracking server's rule where the profile leaves them unset.
  const tracking = withTrackingTlsFromEnv(profilePlan, upstream, io.env);
  const plan = tracking.plan;
  const { resolver, logger } = createCliResolver(plan, io, {
    level: options.logLevel,
    format: options.logFormat,
    fallbackLevel: options.accessLog ? "info" : undefined,
  }, options.providers);
  for (const note of tracking.notes) logger[note.level](note.message);
  const environ = deps.environ ?? Deno.env.toObject();

  let proxy: ProxyHandle | undefined;
  try {
    const keep = keepList(options.keepEnv);
    const childEnv = childEnvironment(environ, profile, plan, {
      scrubCloud: options.scrubCloudEnv === true,
      keep,
      logger,
    });
    if (mode === "proxy") {
      dropTrackingTlsVariables(childEnv, keep, logger);
      const clientToken = randomToken();
      proxy = await startProxy(plan, {
        upstream,
        listen: "127.0.0.1:0",
        clientToken,
        acceptSameUser: options.requireClientToken !== true,
        resolver,
        logger,
        accessLog: options.accessLog === true,
      }).catch((error) => {
        // A bad upstream (TypeError) or no loopback port to bind: a usage error, as before.
        throw asUsageError(error);
      });
      if (options.preflight === false && !isLocalKind(proxy.rule.providerKind)) {
        childEnv.MLFLOW_TRACKING_URI = proxy.url;
        childEnv.MLFLOW_TRACKING_TOKEN = clientToken;
        const warmUp = resolveConcurrently(proxy, { ...childEnv }, logger);
        try {
          return await runChild(command, childEnv, io, deps, proxy);
        } finally {
          await warmUp.stop();
        }
      }
      // Fail closed before the child starts: a credential that cannot be had now is an error.
      const { headers } = await resolver.headersFor(proxy.rule);
      const { value } = await resolver.secretFor(proxy.rule);
      dropSecretBearing(childEnv, credentialForms(proxy.rule, value, headers), logger);
      childEnv.MLFLOW_TRACKING_URI = proxy.url;
      childEnv.MLFLOW_TRACKING_TOKEN = clientToken;
    } else {
      const rule = ruleFor(plan, upstream);
      if (rule.auth.type === "header") {
        throw new UsageError(
          `Cannot use --env-mode direct with rule ${rule.label}: MLflow clients cannot send a custom "${rule.authHeader}" header from the environment; use the default proxy mode`,
        );
      }
      if (rule.auth.type === "oauth2_client_credentials") {
        throw new UsageError(
          `Cannot use --env-mode direct with rule ${rule.label}: its access token expires and must be renewed while the child runs; use the default proxy mode`,
        );
      }
      const { headers } = await resolver.headersFor(rule);
      const { value } = await resolver.secretFor(rule);
      const credential = directCredential(rule, headers, logger);
      dropSecretBearing(childEnv, credentialForms(rule, value, headers), logger);
      Object.assign(childEnv, credential);
      passRuleTls(childEnv, rule, logger);
      childEnv.MLFLOW_TRACKING_URI = upstream;
      io.stderr(
        "mlflow-secrets-auth exec: --env-mode direct puts the real credential in the child's environment; it cannot rotate while the child runs\n",
      );
    }
    return await runChild(command, childEnv, io, deps, proxy);
  } finally {
    if (proxy !== undefined) {
      // The child is gone, but requests of its descendants may still be in flight: they finish
      // (up to the proxy's drain time) before exec exits. The signal listeners are removed by
      // now, so a SIGINT or SIGTERM here ends exec at once (128 + signal number).
      const inFlight = proxy.metrics.inFlight;
      if (inFlight > 0) {
        logger.info(
          "the child has exited; waiting for the requests still in flight before exiting (a signal exits at once)",
          { requests: inFlight },
        );
      }
      await proxy.shutdown();
    }
    await resolver.close();
  }
}

/**
 * Whether a provider kind reads a local source (a variable, a file: its descriptor says so): no
 * network, no SDK, microseconds. Its secret is always read before the child starts. Any other
 * kind is a secret store, resolved first unless `--no-preflight`.
 */
function isLocalKind(kind: string): boolean {
  return PROVIDER_DESCRIPTORS.get(kind)?.exec?.local === true;
}

/**
 * Starts resolving the proxy's credential while the child runs (`--no-preflight`). The child's
 * first request joins the same resolution (the cache is single-flight). A failure is logged
 * once with why (the proxy answers the child's requests 503 meanwhile, naming the provider and
 * reference); once the value is known, a variable of the child's environment holding a copy of
 * it is named in a warning, since it could not be removed before the child started.
 */
function resolveConcurrently(
  proxy: ProxyHandle,
  childEnv: Readonly<Record<string, string>>,
  logger: Logger,
): { stop(): Promise<void> } {
  const abort = new AbortController();
  const { resolver, rule } = proxy;
  const done = (async () => {
    try {
      const { headers } = await resolver.headersFor(rule, abort.signal);
      const { value } = await resolver.secretFor(rule, abort.signal);
      const forms = credentialForms(rule, value, headers);
      const copies = Object.keys(childEnv).filter((n) => holdsCredential(childEnv[n]!, forms));
      if (copies.length > 0) {
        logger.warn(
          "the child was started with variables holding a copy of the credential (--no-preflight cannot remove them); unset them, or run without --no-preflight",
          { variables: copies.sort().join(",") },
        );
      }
    } catch (error) {
      if (abort.signal.aborted) return;
      logger.error(
        "cannot resolve the credential; the child's requests to the tracking server are answered 503 until it can be",
        { error: error instanceof Error ? error.message : String(error) },
      );
    }
  })();
  return {
    async stop() {
      abort.abort();
      await done;
    },
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

function ruleFor(plan: Plan, upstream: string): PlanRule {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    throw new UsageError(`Cannot exec: "${maskUserinfo(upstream)}" is not an absolute URL`, {
      cause: invalidUrlCause(upstream),
    });
  }
  const rule = url.username === "" && url.password === "" ? matchRule(plan, url) : undefined;
  if (rule === undefined) {
    throw new UsageError(
      `Cannot exec: the tracking server "${url.origin}" matches no host rule of profile "${plan.source}"; add a rule whose match covers it`,
    );
  }
  return rule;
}

/** The names `--keep-env` lists. */
function keepList(value: string | undefined): ReadonlySet<string> {
  const names = (value ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "");
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new UsageError(
        `Cannot use --keep-env "${name}": not a variable name; list names separated by commas`,
      );
    }
    if (MLFLOW_CREDENTIAL_VARS.includes(name)) {
      throw new UsageError(
        `Cannot use --keep-env "${name}": exec sets or removes the MLflow credential variables itself`,
      );
    }
  }
  return new Set(names);
}

/**
 * A copy of the environment without the MLflow credential variables, the variables the profile
 * names and, with `scrubCloud`, the ambient cloud credentials; `keep` exempts names from the
 * last two.
 */
function childEnvironment(
  environ: Readonly<Record<string, string>>,
  profile: Profile,
  plan: Plan,
  options: { scrubCloud: boolean; keep: ReadonlySet<string>; logger: Logger },
): Record<string, string> {
  const env: Record<string, string> = { ...environ };
  for (const name of MLFLOW_CREDENTIAL_VARS) delete env[name];
  const present = [...profileVariables(profile, plan).keys()].filter((n) => Object.hasOwn(env, n));
  const named = present.filter((n) => !options.keep.has(n));
  for (const name of named) delete env[name];
  if (named.length > 0) {
    options.logger.info("removed the variables the profile names from the child's environment", {
      variables: named.sort().join(","),
    });
  }
  const kept = present.filter((n) => options.keep.has(n));
  if (kept.length > 0) {
    options.logger.warn(
      "kept variables the profile names in the child's environment (--keep-env); any holding a form of the credential is removed all the same",
      { variables: kept.sort().join(",") },
    );
  }
  const cloud = Object.keys(env).filter((n) => isCloudVariable(n) && !options.keep.has(n)).sort();
  if (options.scrubCloud) {
    for (const name of cloud) delete env[name];
    if (cloud.length > 0) {
      options.logger.info("removed the ambient cloud variables from the child's environment", {
        variables: cloud.join(","),
      });
    }
  } else if (cloud.length > 0) {
    const kinds = new Set(Object.values(plan.providers).map((p) => p.kind));
    if ([...kinds].some((k) => PROVIDER_DESCRIPTORS.get(k)?.exec?.ambientCloud === true)) {
      options.logger.warn(
        "the child keeps the ambient cloud variables, with which it may read the secret from the cloud provider itself; pass --scrub-cloud-env to remove them",
        { variables: cloud.join(",") },
      );
    }
  }
  return env;
}

/**
 * Removes MLflow's TLS variables from the child of the proxy mode: they describe the tracking
 * server, which the proxy reaches with them; the child talks plain http to the loopback proxy.
 * `--keep-env` keeps them for a job that also calls the server directly.
 * (Left in place they would do nothing over http, except that the Python client's `requests`
 * fails when `MLFLOW_TRACKING_CLIENT_CERT_PATH` names a file it cannot find.)
 */
function dropTrackingTlsVariables(
  env: Record<string, string>,
  keep: ReadonlySet<string>,
  logger: Logger,
): void {
  const present = TRACKING_TLS_VARS.filter((n) => Object.hasOwn(env, n) && !keep.has(n));
  for (const name of present) delete env[name];
  if (present.length > 0) {
    logger.info(
      "removed MLflow's TLS variables from the child's environment: the proxy uses them toward the tracking server, the child talks plain http to the proxy",
      { variables: present.join(",") },
    );
  }
}

/**
 * `--env-mode direct`: the child reaches the tracking server itself, so the rule's `tls:` files
 * are passed as MLflow's variables where the child has none: `tls.ca_cert` as
 * `MLFLOW_TRACKING_SERVER_CERT_PATH`, a client certificate whose key is in the same file as
 * `MLFLOW_TRACKING_CLIENT_CERT_PATH`. A key in a separate file cannot be passed: a warning says so.
 */
function passRuleTls(env: Record<string, string>, rule: PlanRule, logger: Logger): void {
  const tls = rule.tls;
  if (tls === undefined) return;
  if (tls.caCert !== undefined && env.MLFLOW_TRACKING_SERVER_CERT_PATH === undefined) {
    env.MLFLOW_TRACKING_SERVER_CERT_PATH = tls.caCert.path;
  }
  if (tls.clientCert !== undefined && env.MLFLOW_TRACKING_CLIENT_CERT_PATH === undefined) {
    if (tls.clientCert.path === tls.clientKey?.path) {
      env.MLFLOW_TRACKING_CLIENT_CERT_PATH = tls.clientCert.path;
    } else {
      logger.warn(
        "--env-mode direct cannot pass a client key kept apart from its certificate: MLflow reads one file holding both from MLFLOW_TRACKING_CLIENT_CERT_PATH; use the proxy mode, or point client_cert and client_key at one such file",
        { rule: rule.label },
      );
    }
  }
}

/** Removes every variable holding a form of the credential; logs each name (never a value). */
function dropSecretBearing(
  env: Record<string, string>,
  forms: readonly string[],
  logger: Logger,
): void {
  for (const [name, value] of Object.entries(env)) {
    if (holdsCredential(value, forms)) {
      delete env[name];
      logger.warn("removed a variable holding the credential from the child's environment", {
        variable: name,
      });
    }
  }
}

function directCredential(
  rule: PlanRule,
  headers: readonly (readonly [string, string])[],
  logger: Logger,
): Record<string, string> {
  const value = headers[0]![1];
  if (Object.keys(rule.headers).length > 0) {
    logger.warn("--env-mode direct cannot pass the rule's static headers; use the proxy mode", {
      rule: rule.label,
    });
  }
  if (rule.auth.type === "bearer") {
    return { MLFLOW_TRACKING_TOKEN: value.replace(/^Bearer /, "") };
  }
  const { username, password } = decodeBasic(value.replace(/^Basic /, ""))!;
  return { MLFLOW_TRACKING_USERNAME: username, MLFLOW_TRACKING_PASSWORD: password };
}

/** 32 random bytes, base64url: the client token. */
function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}
