/**
 * The `vault` provider: HashiCorp Vault KV v1 and v2 secrets, on any mount.
 *
 * ```yaml
 * providers:
 *   corp-vault:
 *     kind: vault
 *     address: https://vault.company.com:8200     # http:// only for loopback or allow_insecure_http
 *     namespace: ml-platform                       # optional, sent as X-Vault-Namespace
 *     tls: { ca_cert: /etc/ssl/vault-ca.pem }      # optional: client_cert, client_key
 *     auth:
 *       method: approle                            # token | token_file | approle | kubernetes
 *       role_id_env: VAULT_ROLE_ID                 # or role_id_file
 *       secret_id_file: /run/secrets/vault-secret-id   # or secret_id_env
 *       mount: approle                             # optional
 * hosts:
 *   - match: https://mlflow.company.com
 *     provider: corp-vault
 *     secret: { path: mlflow/auth, mount: secret, kv: auto, field: token }   # version: 3 optional
 *     auth: bearer
 * ```
 *
 * Auth methods: `token` (from `token_env`, default `VAULT_TOKEN`), `token_file` (default
 * `~/.vault-token` or a Vault Agent sink; re-read when the file changes), `approle` (role id and
 * secret id each from an environment variable or a file, read at each login) and `kubernetes`
 * (`role`, the service-account token in `jwt_file`, `mount`).
 *
 * A secret is `path` on `mount`. With `kv: auto` (the default) or without `mount`, the mount
 * and its KV version are asked from `sys/internal/ui/mounts/<path>`, as the `vault` CLI does,
 * and remembered. KV v2 reads `<mount>/data/<path>` (`version` pins one); KV v1 reads
 * `<mount>/<path>`. Either returns the secret's data object; `field` is applied by the runtime.
 *
 * Tokens obtained by a login are renewed when about two thirds of their TTL have passed and
 * they are renewable, and replaced by a new login once they expire. This happens lazily on the
 * next `resolve` (no timers). A 403 makes the provider log in again (or re-read the token) once
 * before it reports the failure. A KV v1 `lease_duration` and the token's remaining TTL bound
 * the cache TTL (`maxTtlMs`).
 *
 * Vault is called through `npm:node-vault` (loaded on first use) with this module's own
 * transport plugged in through node-vault's `request-promise` option: the context's `fetch`
 * with `redirect: "manual"`. node-vault's built-in axios transport follows redirects (a standby
 * node's 307 would carry `X-Vault-Token` to whatever `Location` names), cannot take an
 * `AbortSignal`, and its errors carry the request headers. With our transport a redirect is an
 * error, every call is abortable, and errors are built from status and Vault's `errors` only.
 * TLS settings become a `Deno.createHttpClient`, so a private CA works without
 * `NODE_EXTRA_CA_CERTS`. node-vault's `debug` dependency enumerates the environment when it
 * loads, so this provider needs `--allow-env` without a list.
 *
 * @module
 */

import { isLoopbackHost } from "../core/loopback.ts";
import { SecretResolutionError } from "../core/errors.ts";
import { isTransientStatus, raceAbort } from "../core/retry.ts";
import type {
  ProviderConfigIssue,
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
} from "./types.ts";

/** How the provider obtains a Vault token. */
export type VaultAuthMethod = "token" | "token_file" | "approle" | "kubernetes";

/** The `auth:` block of a vault provider. */
export interface VaultAuthOptions {
  /** `token`, `token_file`, `approle` or `kubernetes`. */
  readonly method: VaultAuthMethod;
  /** method `token`: environment variable holding the token. Default `VAULT_TOKEN`. */
  readonly token_env?: string;
  /** method `token_file`: file holding the token. Default `~/.vault-token`. */
  readonly token_file?: string;
  /** method `approle`: environment variable holding the role id. */
  readonly role_id_env?: string;
  /** method `approle`: file holding the role id. */
  readonly role_id_file?: string;
  /** method `approle`: environment variable holding the secret id. */
  readonly secret_id_env?: string;
  /** method `approle`: file holding the secret id. */
  readonly secret_id_file?: string;
  /** method `kubernetes`: the Vault role. */
  readonly role?: string;
  /** method `kubernetes`: service-account token file. Default the standard path. */
  readonly jwt_file?: string;
  /** Auth mount. Default `approle` or `kubernetes`. */
  readonly mount?: string;
}

/** The `tls:` block of a vault provider. */
export interface VaultTlsOptions {
  /** PEM file of the CA that signed Vault's certificate. */
  readonly ca_cert?: string;
  /** PEM client certificate for mutual TLS. */
  readonly client_cert?: string;
  /** PEM client key for mutual TLS. */
  readonly client_key?: string;
}

/** Options of the vault provider: its block in the profile. */
export interface VaultProviderOptions {
  /** Always `vault`. */
  readonly kind?: "vault";
  /** Vault address, e.g. `https://vault.company.com:8200`. */
  readonly address: string;
  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. */
  readonly namespace?: string;
  /** Allow `http://` to a host that is not loopback. */
  readonly allow_insecure_http?: boolean;
  /** TLS settings. */
  readonly tls?: VaultTlsOptions;
  /** How to obtain a token. */
  readonly auth: VaultAuthOptions;
}

/** A parsed secret reference. */
interface VaultRef {
  readonly raw: SecretRef;
  readonly path: string;
  readonly mount: string | undefined;
  readonly kv: 1 | 2 | "auto";
  readonly version: number | undefined;
  readonly field: string | undefined;
}

/** Where a secret lives once the mount is known. */
interface Location {
  /** Mount without slashes; `""` when unknown (a KV v1 read of the full path). */
  readonly mount: string;
  /** Path below the mount. */
  readonly rel: string;
  readonly kv: 1 | 2;
}

/** A token in use. */
interface Session {
  readonly token: string;
  readonly obtainedAt: number;
  /** TTL when obtained or renewed, in ms; 0 never expires; undefined when unknown. */
  readonly ttlMs: number | undefined;
  readonly renewable: boolean;
}

/** The part of node-vault this module uses. */
interface NodeVaultClient {
  read(path: string, requestOptions?: Record<string, unknown>): Promise<unknown>;
  approleLogin(args: Record<string, unknown>): Promise<unknown>;
  kubernetesLogin(args: Record<string, unknown>): Promise<unknown>;
  tokenLookupSelf(args: Record<string, unknown>): Promise<unknown>;
  tokenRenewSelf(args: Record<string, unknown>): Promise<unknown>;
}

type NodeVaultFactory = (options: Record<string, unknown>) => NodeVaultClient;

/** What node-vault's `request-promise` hook hands to a transport. */
interface TransportRequest {
  readonly method: string;
  readonly uri: string;
  readonly headers?: Record<string, unknown>;
  readonly json?: unknown;
  readonly signal?: AbortSignal;
}

/** A Vault answer other than 200/204, reduced to data that holds no credential. */
class VaultHttpError extends Error {
  readonly status: number;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  readonly body: unknown;
  /** The API path called, below `/v1/`, query included. */
  readonly where: string;
  /**
   * Whether Vault wrapped its errors in a multierror (`1 error occurred: ...`). Vault and
   * OpenBao answer a token they do not know with a bare `permission denied`, and a known token
   * that its policies do not allow with the wrapped form.
   */
  readonly wrapped: boolean;
  /** For a 403: what `auth/token/lookup-self` said about the token, when it was asked. */
  readonly token: "valid" | "refused" | undefined;
  constructor(
    status: number,
    errors: readonly string[],
    warnings: readonly string[],
    body: unknown,
    where: string,
    more: { readonly wrapped?: boolean; readonly token?: "valid" | "refused" } = {},
  ) {
    super(`Vault answered ${status} to ${where}${errors.length ? `: ${errors.join(", ")}` : ""}`);
    this.name = "VaultHttpError";
    this.status = status;
    this.errors = errors;
    this.warnings = warnings;
    this.body = body;
    this.where = where;
    this.wrapped = more.wrapped ?? false;
    this.token = more.token;
  }
}

/** Vault answered with a redirect, which is never followed. */
class VaultRedirectError extends Error {
  readonly status: number;
  /** Origin of the `Location`, or `""`. Never its path or query. */
  readonly target: string;
  constructor(status: number, target: string) {
    super(`Vault answered ${status} with a redirect${target ? ` to ${target}` : ""}`);
    this.name = "VaultRedirectError";
    this.status = status;
    this.target = target;
  }
}

/** A credential source failed (env var unset, file unreadable). */
class CredentialSourceError extends Error {
  readonly transient: boolean;
  constructor(message: string, transient: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = "CredentialSourceError";
    this.transient = transient;
  }
}

const DEFAULT_JWT_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const AUTH_MOUNT_PATTERN = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const AUTH_METHODS: readonly VaultAuthMethod[] = ["token", "token_file", "approle", "kubernetes"];
/** A renewal that adds less than this is treated as capped at the token's max TTL. */
const MIN_RENEWAL_GAIN_MS = 1_000;

/**
 * Creates a vault provider. Validates the options at once (no I/O); the first `resolve` loads
 * node-vault, reads TLS files and obtains a token.
 *
 * @param name Instance name from the profile.
 * @param options The provider's block from the profile.
 * @param context I/O, clock, logger and redactor.
 * @returns The provider.
 * @throws {Error} When the options are inconsistent: an `http://` address to a host that is not
 * loopback without `allow_insecure_http`, an auth method without its required settings, a
 * client certificate without its key.
 *
 * @example
 * ```ts
 * import { createVaultProvider } from "./vault.ts";
 * import { Redactor } from "../core/redact.ts";
 * import { silentLogger } from "../core/log.ts";
 * // A stand-in for Vault that knows one KV v2 secret.
 * const vault: typeof fetch = (input) => {
 *   const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
 *   if (path === "/v1/auth/token/lookup-self") {
 *     return Promise.resolve(Response.json({ data: { ttl: 0, renewable: false } }));
 *   }
 *   if (path === "/v1/secret/data/mlflow/auth") {
 *     return Promise.resolve(Response.json({
 *       data: { data: { token: "t0k3n" }, metadata: { version: 7 } },
 *     }));
 *   }
 *   return Promise.resolve(Response.json({ errors: [] }, { status: 404 }));
 * };
 * const provider = createVaultProvider("corp-vault", {
 *   address: "http://127.0.0.1:8200",
 *   auth: { method: "token" },
 * }, {
 *   env: (n) => n === "VAULT_TOKEN" ? "hvs.example-token" : undefined,
 *   fetch: vault, now: Date.now, logger: silentLogger, redactor: new Redactor(),
 * });
 * const ref = { path: "mlflow/auth", mount: "secret", kv: 2, field: "token" };
 * const secret = await provider.resolve(ref, { signal: new AbortController().signal });
 * if (JSON.stringify(secret.value) !== '{"token":"t0k3n"}') throw new Error("wrong value");
 * if (secret.version !== "7") throw new Error("wrong version");
 * if (provider.describe(ref) !== "secret/mlflow/auth#token") throw new Error("wrong name");
 * ```
 */
export function createVaultProvider(
  name: string,
  options: VaultProviderOptions,
  context: ProviderContext,
): SecretProvider {
  const address = validateOptions(name, options);
  const auth = options.auth;
  const method = auth.method;
  const authMount = trimSlashes(auth.mount ?? (method === "kubernetes" ? "kubernetes" : "approle"));
  const namespace = options.namespace === undefined || trimSlashes(options.namespace) === ""
    ? undefined
    : trimSlashes(options.namespace);
  const { redactor, logger } = context;

  let clientPromise: Promise<NodeVaultClient> | undefined;
  let httpClient: Deno.HttpClient | undefined;
  let session: Session | undefined;
  let sessionWork: Promise<Session> | undefined;
  let tokenFileMemo: { readonly stamp: string; readonly token: string } | undefined;
  const locations = new Map<string, Location>();
  /** The location a reference resolved to, for error messages. */
  const lastLocation = new WeakMap<VaultRef, Location>();

  /** Loads node-vault and builds the client with our transport, once (again after a failure). */
  function client(): Promise<NodeVaultClient> {
    if (clientPromise === undefined) {
      clientPromise = createClient();
      clientPromise.catch(() => {
        clientPromise = undefined;
        httpClient?.close();
        httpClient = undefined;
      });
    }
    return clientPromise;
  }

  async function createClient(): Promise<NodeVaultClient> {
    const tls = options.tls ?? {};
    if (address.protocol === "https:" && (tls.ca_cert || tls.client_cert)) {
      const caCerts = tls.ca_cert ? [await readConfigFile(tls.ca_cert, "tls.ca_cert")] : [];
      const cert = tls.client_cert
        ? await readConfigFile(tls.client_cert, "tls.client_cert")
        : undefined;
      const key = tls.client_key
        ? await readConfigFile(tls.client_key, "tls.client_key")
        : undefined;
      httpClient = Deno.createHttpClient({
        ...(caCerts.length > 0 ? { caCerts } : {}),
        ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
      });
    }
    const mod = await import("../deps/node_vault.ts") as unknown as { default: NodeVaultFactory };
    const vault = mod.default({
      endpoint: address.href.replace(/\/$/, ""),
      apiVersion: "v1",
      namespace,
      // node-vault logs request bodies (login credentials) through `debug` when DEBUG names it.
      debug: () => {},
      "request-promise": { defaults: () => transport(context.fetch, httpClient) },
    });
    // node-vault falls back to VAULT_TOKEN, VAULT_NAMESPACE and VAULT_PREFIX from the process
    // environment for unset options, and keeps login tokens on itself. The profile is the only
    // source here, and every call passes its token explicitly.
    Object.defineProperty(vault, "token", { get: () => undefined, set: () => {} });
    Object.defineProperty(vault, "namespace", { get: () => namespace, set: () => {} });
    Object.defineProperty(vault, "pathPrefix", { get: () => "", set: () => {} });
    return vault;
  }

  // ---- credentials ------------------------------------------------------------------------

  function readEnv(variable: string, what: string): string {
    let value: string | undefined;
    try {
      value = context.env(variable);
    } catch (cause) {
      throw new CredentialSourceError(
        `reading environment variable "${variable}" (${what}) is not permitted; run with --allow-env`,
        false,
        { cause: redactor.redactError(cause) },
      );
    }
    if (value === undefined || value.trim() === "") {
      throw new CredentialSourceError(
        `environment variable "${variable}" (${what}) is not set; export it before starting`,
        false,
      );
    }
    return value.trim();
  }

  function expandHome(path: string): string {
    if (path !== "~" && !path.startsWith("~/")) return path;
    const home = context.env("HOME");
    if (home === undefined || home === "") {
      throw new CredentialSourceError(
        `cannot expand "${path}": HOME is not set; give an absolute path`,
        false,
      );
    }
    return home + path.slice(1);
  }

  async function readCredentialFile(path: string, what: string): Promise<string> {
    const text = await readConfigFile(path, what);
    const value = text.trim();
    if (value === "") {
      throw new CredentialSourceError(`file "${path}" (${what}) is empty`, false);
    }
    return value;
  }

  async function readConfigFile(path: string, what: string): Promise<string> {
    const full = expandHome(path);
    try {
      return await Deno.readTextFile(full);
    } catch (cause) {
      throw fileError(full, what, cause);
    }
  }

  function fileError(path: string, what: string, cause: unknown): CredentialSourceError {
    const safe = { cause: redactor.redactError(cause) };
    if (cause instanceof Deno.errors.NotFound) {
      return new CredentialSourceError(
        `file "${path}" (${what}) does not exist; check the path`,
        false,
        safe,
      );
    }
    if (cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable) {
      return new CredentialSourceError(
        `file "${path}" (${what}) cannot be read: permission denied; check the file mode and --allow-read`,
        false,
        safe,
      );
    }
    return new CredentialSourceError(`file "${path}" (${what}) cannot be read`, true, safe);
  }

  /** The token of the `token` and `token_file` methods, re-read when its source changed. */
  async function staticToken(force: boolean): Promise<string> {
    if (method === "token") {
      const token = readEnv(auth.token_env ?? "VAULT_TOKEN", "Vault token");
      redactor.add(token);
      return token;
    }
    const path = expandHome(auth.token_file ?? "~/.vault-token");
    let stamp: string;
    try {
      const info = await Deno.stat(path);
      stamp = `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    } catch (cause) {
      throw fileError(path, "Vault token", cause);
    }
    if (!force && tokenFileMemo !== undefined && tokenFileMemo.stamp === stamp) {
      return tokenFileMemo.token;
    }
    const token = await readCredentialFile(path, "Vault token");
    redactor.add(token);
    tokenFileMemo = { stamp, token };
    return token;
  }

  // ---- sessions ---------------------------------------------------------------------------

  /** Runs session work once at a time; a caller's abort only ends its own wait. */
  async function exclusive(
    signal: AbortSignal,
    work: (signal: AbortSignal) => Promise<Session>,
  ): Promise<Session> {
    for (;;) {
      if (sessionWork === undefined) {
        const mine = work(signal).finally(() => {
          if (sessionWork === mine) sessionWork = undefined;
        });
        sessionWork = mine;
        return await raceAbort(mine, signal);
      }
      try {
        await raceAbort(sessionWork, signal);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (!isAbortError(e)) throw e;
        // Another caller's abort ended the shared work: try again with our own signal.
      }
    }
  }

  async function login(api: NodeVaultClient, signal: AbortSignal): Promise<Session> {
    const apiPath = `auth/${authMount}/login`;
    let body: unknown;
    if (method === "approle") {
      const roleId = auth.role_id_env !== undefined
        ? readEnv(auth.role_id_env, "AppRole role id")
        : await readCredentialFile(auth.role_id_file!, "AppRole role id");
      redactor.add(roleId);
      const secretId = auth.secret_id_env !== undefined
        ? readEnv(auth.secret_id_env, "AppRole secret id")
        : auth.secret_id_file !== undefined
        ? await readCredentialFile(auth.secret_id_file, "AppRole secret id")
        : undefined;
      if (secretId !== undefined) redactor.add(secretId);
      body = await call(apiPath, signal, () =>
        api.approleLogin({
          mount_point: authMount,
          role_id: roleId,
          ...(secretId !== undefined ? { secret_id: secretId } : {}),
          requestOptions: { signal },
        }));
    } else {
      const jwt = await readCredentialFile(
        auth.jwt_file ?? DEFAULT_JWT_FILE,
        "Kubernetes service-account token",
      );
      redactor.add(jwt);
      body = await call(apiPath, signal, () =>
        api.kubernetesLogin({
          mount_point: authMount,
          role: auth.role,
          jwt,
          requestOptions: { signal },
        }));
    }
    const a = record(record(body).auth);
    const token = typeof a.client_token === "string" ? a.client_token : "";
    if (token === "") {
      throw new VaultHttpError(200, ["the login answer holds no client_token"], [], null, apiPath);
    }
    redactor.add(token);
    const ttl = typeof a.lease_duration === "number" ? a.lease_duration * 1000 : undefined;
    const s: Session = {
      token,
      obtainedAt: context.now(),
      ttlMs: ttl,
      renewable: a.renewable === true,
    };
    logger.debug("vault: logged in", {
      provider: name,
      method,
      mount: authMount,
      ttl_s: ttl === undefined ? "unknown" : ttl / 1000,
    });
    return s;
  }

  /** Learns the TTL of a token that came from the environment or a file. */
  async function adopt(api: NodeVaultClient, token: string, signal: AbortSignal): Promise<Session> {
    const base = { token, obtainedAt: context.now() };
    try {
      const body = await call(
        "auth/token/lookup-self",
        signal,
        () => api.tokenLookupSelf({ requestOptions: tokenOptions(token, signal) }),
      );
      const d = record(record(body).data);
      const ttl = typeof d.ttl === "number" ? d.ttl * 1000 : undefined;
      return { ...base, ttlMs: ttl, renewable: d.renewable === true && (ttl ?? 0) > 0 };
    } catch (e) {
      if (
        e instanceof VaultHttpError && !isTransientStatus(e.status) && !mentionsInvalidToken(e)
      ) {
        // The policy does not allow lookup-self (or it is unusual): the TTL stays unknown and
        // the token may still read secrets.
        return { ...base, ttlMs: undefined, renewable: false };
      }
      throw e;
    }
  }

  async function renew(api: NodeVaultClient, s: Session, signal: AbortSignal): Promise<Session> {
    try {
      const body = await call(
        "auth/token/renew-self",
        signal,
        () => api.tokenRenewSelf({ requestOptions: tokenOptions(s.token, signal) }),
      );
      const a = record(record(body).auth);
      const ttl = typeof a.lease_duration === "number" ? a.lease_duration * 1000 : 0;
      const now = context.now();
      const gained = now + ttl - (s.obtainedAt + (s.ttlMs ?? 0));
      logger.debug("vault: token renewed", { provider: name, method, ttl_s: ttl / 1000 });
      return {
        token: s.token,
        obtainedAt: now,
        ttlMs: ttl,
        // At the max TTL a renewal no longer extends the token: stop renewing, log in at expiry.
        renewable: a.renewable === true && ttl > 0 && gained >= MIN_RENEWAL_GAIN_MS,
      };
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (e instanceof VaultHttpError && e.status === 403 && canLogin()) {
        return await login(api, signal);
      }
      const transient = e instanceof VaultHttpError
        ? isTransientStatus(e.status)
        : !(e instanceof VaultRedirectError);
      logger.warn("vault: token renewal failed; using the token until it expires", {
        provider: name,
        method,
        reason: redactor.redact(e instanceof Error ? e.message : String(e)),
      });
      // A renewal that will not work again is not tried again; a transient failure is.
      return transient ? s : { ...s, renewable: false };
    }
  }

  function canLogin(): boolean {
    return method === "approle" || method === "kubernetes";
  }

  function expired(s: Session, now: number): boolean {
    if (s.ttlMs === undefined || s.ttlMs === 0) return false;
    const skew = Math.min(10_000, s.ttlMs / 10);
    return now >= s.obtainedAt + s.ttlMs - skew;
  }

  function dueForRenewal(s: Session, now: number): boolean {
    return s.renewable && s.ttlMs !== undefined && s.ttlMs > 0 &&
      now >= s.obtainedAt + (s.ttlMs * 2) / 3;
  }

  /** The session to use now: logs in, adopts a new token, or renews, as needed. */
  async function currentSession(api: NodeVaultClient, signal: AbortSignal): Promise<Session> {
    if (!canLogin()) {
      const token = await staticToken(false);
      const s = session;
      if (s !== undefined && s.token === token && !dueForRenewal(s, context.now())) return s;
    } else {
      const s = session;
      const now = context.now();
      if (s !== undefined && !expired(s, now) && !dueForRenewal(s, now)) return s;
    }
    return await exclusive(signal, async (sig) => {
      const now = context.now();
      let s = session;
      if (canLogin()) {
        if (s === undefined || expired(s, now)) s = await login(api, sig);
        else if (dueForRenewal(s, now)) s = await renew(api, s, sig);
      } else {
        const token = await staticToken(false);
        if (s === undefined || s.token !== token) s = await adopt(api, token, sig);
        else if (dueForRenewal(s, now)) s = await renew(api, s, sig);
      }
      session = s;
      return s;
    });
  }

  /** After a 403: a fresh session to try once more, or undefined when there is nothing new. */
  async function sessionAfterDenial(
    api: NodeVaultClient,
    denied: Session,
    signal: AbortSignal,
  ): Promise<Session | undefined> {
    return await exclusive(signal, async (sig) => {
      if (session !== undefined && session !== denied) return session;
      if (canLogin()) {
        session = await login(api, sig);
        return session;
      }
      const token = await staticToken(true);
      if (token === denied.token) return denied;
      session = await adopt(api, token, sig);
      return session;
    }).then((s) => (s === denied ? undefined : s));
  }

  // ---- reads ------------------------------------------------------------------------------

  async function locate(
    api: NodeVaultClient,
    ref: VaultRef,
    token: string,
    signal: AbortSignal,
  ): Promise<Location> {
    if (ref.kv !== "auto" && ref.mount !== undefined) {
      return { mount: ref.mount, rel: ref.path, kv: ref.kv };
    }
    if (ref.kv === 1 && ref.mount === undefined) return { mount: "", rel: ref.path, kv: 1 };
    const full = ref.mount === undefined ? ref.path : `${ref.mount}/${ref.path}`;
    const known = locations.get(full);
    if (known !== undefined) return known;
    const apiPath = `sys/internal/ui/mounts/${encodePath(full)}`;
    let loc: Location;
    try {
      const body = await call(
        apiPath,
        signal,
        () => api.read(apiPath, tokenOptions(token, signal)),
      );
      const d = record(record(body).data);
      const mountPath = typeof d.path === "string" ? trimSlashes(d.path) : "";
      const opts = record(d.options);
      const version = opts.version === "2" ? 2 : 1;
      if (mountPath === "" || !(`${full}/`).startsWith(`${mountPath}/`)) {
        throw new VaultHttpError(
          200,
          [`the mount lookup named "${mountPath}/", which does not hold "${full}"`],
          [],
          null,
          apiPath,
        );
      }
      loc = {
        mount: mountPath,
        rel: full.slice(mountPath.length + 1),
        kv: ref.kv === "auto" ? version : ref.kv,
      };
    } catch (e) {
      // Like the vault CLI: a Vault too old to have the endpoint is KV v1.
      if (!(e instanceof VaultHttpError && e.status === 404) || isNamespaceNotFound(e)) throw e;
      if (ref.kv === 2) throw e;
      loc = ref.mount === undefined
        ? { mount: "", rel: ref.path, kv: 1 }
        : { mount: ref.mount, rel: ref.path, kv: 1 };
    }
    locations.set(full, loc);
    return loc;
  }

  async function readKv(
    api: NodeVaultClient,
    loc: Location,
    ref: VaultRef,
    token: string,
    signal: AbortSignal,
  ): Promise<{ data: Record<string, unknown>; leaseMs?: number; version?: number }> {
    const mountPrefix = loc.mount === "" ? "" : `${encodePath(loc.mount)}/`;
    if (loc.kv === 1) {
      if (ref.version !== undefined) {
        throw new SecretResolutionError(
          `version ${ref.version} was asked for, but "${
            loc.mount || ref.path
          }" is a KV v1 mount, which keeps no versions; remove version`,
          { provider: name, reference: describeRef(ref.raw) },
        );
      }
      const apiPath = `${mountPrefix}${encodePath(loc.rel)}`;
      const body = record(
        await call(apiPath, signal, () => api.read(apiPath, tokenOptions(token, signal))),
      );
      const data = body.data;
      if (!isRecord(data)) {
        throw new VaultHttpError(200, ["the answer holds no data object"], [], null, apiPath);
      }
      const lease = typeof body.lease_duration === "number" && body.lease_duration > 0
        ? body.lease_duration * 1000
        : undefined;
      return lease === undefined ? { data } : { data, leaseMs: lease };
    }
    const query = ref.version === undefined ? "" : `?version=${ref.version}`;
    const apiPath = `${mountPrefix}data/${encodePath(loc.rel)}${query}`;
    const body = record(
      await call(apiPath, signal, () => api.read(apiPath, tokenOptions(token, signal))),
    );
    const outer = record(body.data);
    if (!isRecord(outer.data)) {
      throw new VaultHttpError(200, ["the answer holds no data object"], [], null, apiPath);
    }
    const version = record(outer.metadata).version;
    return typeof version === "number" ? { data: outer.data, version } : { data: outer.data };
  }

  // ---- errors -----------------------------------------------------------------------------

  /** Calls node-vault and turns its failures into errors that hold no SDK object. */
  async function call<T>(apiPath: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    try {
      return await raceAbort(fn(), signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw reduceError(e, apiPath);
    }
  }

  function reduceError(e: unknown, apiPath: string): unknown {
    if (e instanceof VaultRedirectError || e instanceof VaultHttpError) return e;
    if (isApiResponseError(e)) {
      const body = e.response.body;
      const b = record(body);
      const raw = Array.isArray(b.errors)
        ? b.errors.filter((x): x is string => typeof x === "string")
        : [];
      const errors = raw.map((x) => redactor.redact(flattenMultierror(x)));
      const warnings = Array.isArray(b.warnings)
        ? b.warnings.filter((x): x is string => typeof x === "string").map((x) =>
          redactor.redact(x)
        )
        : [];
      return new VaultHttpError(
        e.response.statusCode,
        errors,
        warnings,
        isRecord(b.data) ? { data: b.data } : null,
        apiPath,
        { wrapped: raw.some((x) => MULTIERROR.test(x)) },
      );
    }
    return e;
  }

  /**
   * After a 403 to a read: asks `auth/token/lookup-self` whether Vault knows the token at all,
   * since Vault and OpenBao answer 403 "permission denied" both to a token they do not know and
   * to a policy that does not allow the read. Returns the error with the verdict attached.
   */
  async function judgeToken(
    api: NodeVaultClient,
    e: VaultHttpError,
    token: string,
    signal: AbortSignal,
  ): Promise<VaultHttpError> {
    let verdict: "valid" | "refused" | undefined;
    try {
      await call(
        "auth/token/lookup-self",
        signal,
        () => api.tokenLookupSelf({ requestOptions: tokenOptions(token, signal) }),
      );
      verdict = "valid";
    } catch (probe) {
      if (signal.aborted) throw signal.reason;
      if (probe instanceof VaultHttpError && probe.status === 403) {
        // A known token without the default policy may not look itself up: Vault then wraps
        // the error, as for any policy denial.
        verdict = mentionsInvalidToken(probe) || !probe.wrapped ? "refused" : undefined;
      }
    }
    return new VaultHttpError(e.status, e.errors, e.warnings, e.body, e.where, {
      wrapped: e.wrapped,
      ...(verdict !== undefined ? { token: verdict } : {}),
    });
  }

  function toResolutionError(e: unknown, ref: VaultRef, reference: string): SecretResolutionError {
    const base = { provider: name, reference };
    const by = authDescription();
    if (e instanceof SecretResolutionError) return e;
    if (e instanceof CredentialSourceError) {
      return new SecretResolutionError(e.message, {
        ...base,
        transient: e.transient,
        ...(e.cause !== undefined ? { cause: e.cause } : {}),
      });
    }
    if (e instanceof VaultRedirectError) {
      return new SecretResolutionError(
        `Vault at "${address.origin}" answered ${e.status} with a redirect${
          e.target ? ` to "${e.target}"` : ""
        }; redirects are never followed so the token cannot leak; set address to the active node`,
        { ...base, status: e.status, cause: new Error(e.message) },
      );
    }
    if (e instanceof VaultHttpError) {
      const cause = new Error(e.message);
      const detail = e.errors.length > 0 ? ` ${e.errors.join(", ")}` : "";
      const where = e.where;
      if (e.status === 403) {
        if (where.endsWith("/login")) {
          // Login paths need no token: a 403 there means no auth method answers at that mount
          // (or, for Kubernetes, that the service-account token was not accepted).
          return new SecretResolutionError(
            `${methodLabel()} login at "${where}" failed: Vault answered 403${detail}; ${
              method === "approle"
                ? `no AppRole auth method is enabled at "auth/${authMount}" (check auth.mount), or it refused this client`
                : loginHint()
            }`,
            { ...base, status: 403, cause },
          );
        }
        if (e.token === "refused" || mentionsInvalidToken(e)) {
          return new SecretResolutionError(
            `Vault refused the token (${by}): it answered 403${detail} to "${
              stripQuery(where)
            }" and to "auth/token/lookup-self"; ${tokenHint()}`,
            { ...base, status: 403, cause },
          );
        }
        if (where.startsWith("sys/internal/ui/mounts/")) {
          const full = `${ref.mount ? `${ref.mount}/` : ""}${ref.path}`;
          return new SecretResolutionError(
            `Vault answered 403 to the mount lookup "${where}" (${by}): no mount holds "${full}" or the token's policies grant nothing under it; check the path and the policies, or set mount and kv to skip the lookup`,
            { ...base, status: 403, cause },
          );
        }
        const known = e.token === "valid" ? "the token is valid, but " : "";
        return new SecretResolutionError(
          `Vault answered 403${detail} for "${
            stripQuery(where)
          }" (${by}); ${known}check that the token's policies grant "read" on "${
            stripQuery(where)
          }"`,
          { ...base, status: 403, cause },
        );
      }
      if (e.status === 404 && isNamespaceNotFound(e)) {
        return new SecretResolutionError(
          `Vault answered 404${detail} for "${
            stripQuery(where)
          }": namespace "${namespace}" does not exist on Vault at "${address.origin}"; check namespace (a child namespace is written "parent/child")`,
          { ...base, status: 404, cause },
        );
      }
      if (e.status === 404) {
        return new SecretResolutionError(notFoundReason(e, ref, where), {
          ...base,
          status: 404,
          cause,
        });
      }
      const transient = isTransientStatus(e.status);
      if (where.endsWith("/login")) {
        return new SecretResolutionError(
          `${methodLabel()} login at "${where}" failed: Vault answered ${e.status}${detail}; ${
            transient ? "retrying may help" : loginHint()
          }`,
          { ...base, status: e.status, transient, cause },
        );
      }
      if (e.status === 200) {
        return new SecretResolutionError(
          `Vault's answer to "${stripQuery(where)}" is not usable:${detail}`,
          { ...base, cause },
        );
      }
      const what = e.status === 503
        ? "; Vault is sealed or has no active node: the read is retried and succeeds once Vault is unsealed or an active node answers"
        : transient
        ? "; the read is retried"
        : "";
      return new SecretResolutionError(
        `Vault answered ${e.status}${detail} for "${stripQuery(where) || reference}"${what}`,
        { ...base, status: e.status, transient, cause },
      );
    }
    if (e instanceof TypeError) {
      const why = redactor.redact(chainMessage(e));
      if (/certificate|UnknownIssuer|handshake/i.test(why)) {
        return new SecretResolutionError(
          `cannot reach Vault at "${address.origin}": its TLS certificate is not trusted (${why}); set tls.ca_cert to the CA that signed it`,
          { ...base, cause: redactor.redactError(e) },
        );
      }
      return new SecretResolutionError(`cannot reach Vault at "${address.origin}": ${why}`, {
        ...base,
        transient: true,
        cause: redactor.redactError(e),
      });
    }
    return new SecretResolutionError(
      `reading from Vault failed: ${redactor.redact(e instanceof Error ? e.message : String(e))}`,
      { ...base, cause: redactor.redactError(e) },
    );
  }

  function notFoundReason(e: VaultHttpError, ref: VaultRef, where: string): string {
    const loc = lastLocation.get(ref);
    const kv = loc?.kv ?? (ref.kv === "auto" ? "auto" : ref.kv);
    const mount = loc?.mount ?? ref.mount ?? "";
    const rel = loc?.rel ?? ref.path;
    const mountText = mount === "" ? "" : ` on KV v${kv} mount "${mount}"`;
    const tried = ` (read "${stripQuery(where)}", KV version ${kv}${
      ref.version !== undefined ? `, version ${ref.version}` : ""
    })`;
    if (e.warnings.some((w) => w.startsWith("Invalid path for a versioned K/V"))) {
      return `"${mount}" is a KV v2 mount but "${rel}" was read as KV v1${tried}; set kv: 2 or kv: auto`;
    }
    const meta = record(record(record(e.body).data).metadata);
    const version = typeof meta.version === "number" ? meta.version : ref.version;
    if (meta.destroyed === true) {
      return `version ${version} of "${rel}"${mountText} was destroyed${tried}; pin another version`;
    }
    if (typeof meta.deletion_time === "string" && meta.deletion_time !== "") {
      return `version ${version} of "${rel}"${mountText} was deleted at ${meta.deletion_time}${tried}; undelete it or pin another version`;
    }
    return `Vault answered 404: no secret at "${rel}"${mountText}${tried}; check path, mount and kv`;
  }

  function authDescription(): string {
    switch (method) {
      case "token":
        return `auth method token from "${auth.token_env ?? "VAULT_TOKEN"}"`;
      case "token_file":
        return `auth method token_file "${auth.token_file ?? "~/.vault-token"}"`;
      case "approle":
        return `auth method approle on "auth/${authMount}"`;
      case "kubernetes":
        return `auth method kubernetes, role "${auth.role}" on "auth/${authMount}"`;
    }
  }

  function methodLabel(): string {
    return method === "approle" ? "AppRole" : "Kubernetes";
  }

  function loginHint(): string {
    if (method === "approle") {
      const roleSrc = auth.role_id_env !== undefined
        ? `environment variable "${auth.role_id_env}"`
        : `file "${auth.role_id_file}"`;
      const secretSrc = auth.secret_id_env !== undefined
        ? `environment variable "${auth.secret_id_env}"`
        : auth.secret_id_file !== undefined
        ? `file "${auth.secret_id_file}"`
        : "no secret id";
      return `check the role id (${roleSrc}), the secret id (${secretSrc}) and the mount "${authMount}"`;
    }
    return `check the role "${auth.role}", the mount "${authMount}" and that Vault trusts the service-account token in "${
      auth.jwt_file ?? DEFAULT_JWT_FILE
    }"`;
  }

  function tokenHint(): string {
    if (method === "token") {
      return `the token in "${
        auth.token_env ?? "VAULT_TOKEN"
      }" is invalid, expired or revoked; provide a fresh token`;
    }
    if (method === "token_file") {
      return `the token in "${
        auth.token_file ?? "~/.vault-token"
      }" is invalid, expired or revoked; refresh the file (vault login, or Vault Agent)`;
    }
    return "the token of a fresh login was refused too; check the auth role's token TTLs";
  }

  return {
    name,
    kind: "vault",
    describe: (ref: SecretRef) => describeRef(ref),
    async resolve(raw, { signal }): Promise<ResolvedSecret> {
      signal.throwIfAborted();
      const reference = describeRef(raw);
      const ref = parseRef(raw, name, reference);
      let api: NodeVaultClient | undefined;
      let s: Session | undefined;
      try {
        api = await raceAbort(client(), signal);
        s = await currentSession(api, signal);
        const attempt = async (token: string) => {
          const loc = await locate(api!, ref, token, signal);
          lastLocation.set(ref, loc);
          try {
            return await readKv(api!, loc, ref, token, signal);
          } catch (e) {
            if (e instanceof VaultHttpError && e.status === 404) {
              locations.delete(ref.mount === undefined ? ref.path : `${ref.mount}/${ref.path}`);
            }
            throw e;
          }
        };
        let result;
        try {
          result = await attempt(s.token);
        } catch (e) {
          if (!(e instanceof VaultHttpError && e.status === 403)) throw e;
          const fresh = await sessionAfterDenial(api, s, signal);
          if (fresh === undefined) throw e;
          s = fresh;
          result = await attempt(s.token);
        }
        const bounds: number[] = [];
        if (result.leaseMs !== undefined) bounds.push(result.leaseMs);
        if (s.ttlMs !== undefined && s.ttlMs > 0) {
          bounds.push(Math.max(0, s.obtainedAt + s.ttlMs - context.now()));
        }
        return {
          value: result.data,
          ...(bounds.length > 0 ? { maxTtlMs: Math.min(...bounds) } : {}),
          ...(result.version !== undefined ? { version: String(result.version) } : {}),
        };
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        let error = e;
        if (
          e instanceof VaultHttpError && e.status === 403 && !e.where.endsWith("/login") &&
          !canLogin() && api !== undefined && s !== undefined
        ) {
          // A login method has just logged in afresh and been denied again: its token is new.
          error = await judgeToken(api, e, s.token, signal);
        }
        throw toResolutionError(error, ref, reference);
      }
    },
    close(): void {
      httpClient?.close();
      httpClient = undefined;
      clientPromise = undefined;
      session = undefined;
      tokenFileMemo = undefined;
      locations.clear();
    },
  };
}

/** Registry entry. */
export const vaultProvider: ProviderFactory = {
  kind: "vault",
  create: (name, config, context) =>
    createVaultProvider(name, config as unknown as VaultProviderOptions, context),
  check: (config) => checkVaultOptions(config as unknown as VaultProviderOptions),
};

// ---- helpers --------------------------------------------------------------------------------

/**
 * Checks a vault provider block for what the schema cannot express: the address, TLS pairs, the
 * settings each auth method needs. Returns every issue, each with a JSON pointer relative to the
 * provider block; the profile validator reports them with line and column.
 *
 * @param options The provider block.
 * @returns Issues; empty when the block is usable.
 */
export function checkVaultOptions(options: VaultProviderOptions): ProviderConfigIssue[] {
  const issues: ProviderConfigIssue[] = [];
  const fail = (pointer: string, message: string): void => {
    issues.push({ pointer, message });
  };
  let address: URL | undefined;
  if (typeof options.address !== "string" || options.address === "") {
    fail(
      "/address",
      '"address" is required; set it to the Vault address, e.g. https://vault.company.com:8200',
    );
  } else {
    try {
      address = new URL(options.address);
    } catch {
      fail("/address", `address "${options.address}" is not a URL; use https://host:8200`);
    }
  }
  if (address !== undefined) {
    if (address.protocol !== "https:" && address.protocol !== "http:") {
      fail(
        "/address",
        `address "${options.address}" must use https:// (or http:// to a loopback host)`,
      );
    } else if (address.username || address.password || address.search || address.hash) {
      fail(
        "/address",
        `address "${address.origin}" must not hold credentials, a query or a fragment`,
      );
    } else if (
      address.protocol === "http:" && !isLoopbackHost(address.hostname) &&
      options.allow_insecure_http !== true
    ) {
      fail(
        "/address",
        `address "${address.origin}" uses http:// to a host that is not loopback, so the token would travel in clear text; use https:// or set allow_insecure_http: true`,
      );
    }
  }
  const tls = options.tls ?? {};
  if ((tls.client_cert === undefined) !== (tls.client_key === undefined)) {
    fail("/tls", "tls.client_cert and tls.client_key go together; set both or neither");
  }
  if (address?.protocol === "http:" && (tls.ca_cert || tls.client_cert)) {
    fail("/tls", `tls settings need an https:// address, not "${address.origin}"`);
  }
  const auth = options.auth;
  if (auth === undefined || typeof auth !== "object") {
    fail(
      "/auth",
      '"auth" is required; set auth.method to token, token_file, approle or kubernetes',
    );
    return issues;
  }
  if (!AUTH_METHODS.includes(auth.method)) {
    fail(
      "/auth/method",
      `auth.method "${
        String(auth.method)
      }" is unknown; use token, token_file, approle or kubernetes`,
    );
  }
  for (const key of ["token_env", "role_id_env", "secret_id_env"] as const) {
    const v = auth[key];
    if (v !== undefined && !ENV_NAME_PATTERN.test(v)) {
      fail(`/auth/${key}`, `auth.${key} "${v}" is not an environment variable name`);
    }
  }
  if (auth.mount !== undefined && !AUTH_MOUNT_PATTERN.test(trimSlashes(auth.mount))) {
    fail(
      "/auth/mount",
      `auth.mount "${auth.mount}" may hold only letters, digits, ".", "_", "-" and "/"`,
    );
  }
  if (auth.method === "approle") {
    if ((auth.role_id_env === undefined) === (auth.role_id_file === undefined)) {
      fail("/auth", "auth method approle needs exactly one of role_id_env and role_id_file");
    }
    if (auth.secret_id_env !== undefined && auth.secret_id_file !== undefined) {
      fail("/auth", "auth method approle takes at most one of secret_id_env and secret_id_file");
    }
  }
  if (auth.method === "kubernetes" && (typeof auth.role !== "string" || auth.role === "")) {
    fail("/auth", "auth method kubernetes needs auth.role, the Vault role to log in as");
  }
  if (options.namespace !== undefined && /[\r\n]/.test(options.namespace)) {
    fail("/namespace", "namespace must be a single line");
  }
  return issues;
}

/** Checks the options (see {@linkcode checkVaultOptions}); returns the parsed address. */
function validateOptions(name: string, options: VaultProviderOptions): URL {
  const issues = checkVaultOptions(options);
  if (issues.length > 0) {
    throw new Error(
      `Cannot configure provider "${name}": ${issues.map((i) => i.message).join("; ")}`,
    );
  }
  return new URL(options.address);
}

/** `mount/path?version=N#field`, never a value. */
function describeRef(ref: SecretRef): string {
  const path = typeof ref.path === "string" ? trimSlashes(ref.path) : String(ref.path);
  const mount = typeof ref.mount === "string" && trimSlashes(ref.mount) !== ""
    ? `${trimSlashes(ref.mount)}/`
    : "";
  const version = typeof ref.version === "number" ? `?version=${ref.version}` : "";
  const field = typeof ref.field === "string" && ref.field !== "" ? `#${ref.field}` : "";
  return `${mount}${path}${version}${field}`;
}

function parseRef(raw: SecretRef, provider: string, reference: string): VaultRef {
  const bad = (why: string): never => {
    throw new SecretResolutionError(why, { provider, reference });
  };
  const path = typeof raw.path === "string" ? trimSlashes(raw.path) : "";
  if (path === "") bad('the secret reference needs "path", the secret\'s path in Vault');
  let mount: string | undefined;
  if (raw.mount !== undefined) {
    if (typeof raw.mount !== "string") return bad('"mount" must be a string');
    mount = trimSlashes(raw.mount) === "" ? undefined : trimSlashes(raw.mount);
  }
  const kvRaw = raw.kv ?? "auto";
  const kv = kvRaw === 1 || kvRaw === "1" ? 1 : kvRaw === 2 || kvRaw === "2" ? 2 : kvRaw;
  if (kv !== 1 && kv !== 2 && kv !== "auto") {
    bad(`kv ${JSON.stringify(kvRaw)} is not 1, 2 or auto`);
  }
  let version: number | undefined;
  if (raw.version !== undefined) {
    if (typeof raw.version !== "number" || !Number.isInteger(raw.version) || raw.version < 1) {
      return bad("version must be a positive integer (a KV v2 version number)");
    }
    if (kv === 1) bad("version applies to KV v2 only; remove it or set kv: 2");
    version = raw.version;
  }
  return {
    raw,
    path,
    mount,
    kv: kv as 1 | 2 | "auto",
    version,
    field: typeof raw.field === "string" ? raw.field : undefined,
  };
}

/** node-vault's `request-promise` hook: fetch, never following redirects. */
function transport(
  fetchFn: typeof fetch,
  httpClient: Deno.HttpClient | undefined,
): (request: TransportRequest) => Promise<unknown> {
  return async (request) => {
    const headers = new Headers({ "X-Vault-Request": "true" });
    for (const [k, v] of Object.entries(request.headers ?? {})) {
      if (typeof v === "string") headers.set(k, v);
    }
    let body: string | undefined;
    if (request.json !== undefined && request.json !== null && typeof request.json === "object") {
      body = JSON.stringify(request.json);
      headers.set("Content-Type", "application/json");
    }
    const init: RequestInit & { client?: Deno.HttpClient } = {
      method: request.method,
      headers,
      redirect: "manual",
      ...(body !== undefined ? { body } : {}),
      ...(request.signal !== undefined ? { signal: request.signal } : {}),
      ...(httpClient !== undefined ? { client: httpClient } : {}),
    };
    const res = await fetchFn(request.uri, init);
    if (
      res.type === "opaqueredirect" || res.redirected || (res.status >= 300 && res.status < 400)
    ) {
      await res.body?.cancel();
      let target = "";
      try {
        const location = res.headers.get("location");
        if (location) target = new URL(location, request.uri).origin;
      } catch {
        // An unparsable Location: reported without a target.
      }
      throw new VaultRedirectError(res.status, target);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text.trim() !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page): node-vault reports "Status <code>".
      }
    }
    return {
      statusCode: res.status,
      body: parsed,
      request: { path: new URL(request.uri).pathname },
    };
  };
}

function tokenOptions(token: string, signal: AbortSignal): Record<string, unknown> {
  return { headers: { "X-Vault-Token": token }, signal };
}

function isApiResponseError(
  e: unknown,
): e is { response: { statusCode: number; body: unknown } } {
  if (typeof e !== "object" || e === null || !("response" in e)) return false;
  const r = (e as { response: unknown }).response;
  return typeof r === "object" && r !== null &&
    typeof (r as { statusCode?: unknown }).statusCode === "number";
}

function isNamespaceNotFound(e: VaultHttpError): boolean {
  return e.errors.some((x) => /^namespace not found/i.test(x));
}

function mentionsInvalidToken(e: VaultHttpError): boolean {
  return e.errors.some((x) => /invalid token/i.test(x));
}

const MULTIERROR = /^\d+ errors? occurred:\n/;

function isAbortError(e: unknown): boolean {
  return e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError");
}

/** The messages of an error and its causes, joined with ": ". */
function chainMessage(e: unknown): string {
  const parts: string[] = [];
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur.message !== "" && !parts.includes(cur.message)) parts.push(cur.message);
  }
  return parts.join(": ");
}

/** `2 errors occurred:\n\t* a\n\t* b\n\n` → `a, b`. */
function flattenMultierror(text: string): string {
  const m = /^\d+ errors? occurred:\n([\s\S]*)$/.exec(text);
  if (m === null) return text.trim();
  return m[1]!.split("\n").map((l) => l.replace(/^\t\* /, "").trim()).filter((l) => l !== "")
    .join(", ");
}

function record(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, "");
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

function stripQuery(path: string): string {
  return path.replace(/\?.*$/, "");
}
