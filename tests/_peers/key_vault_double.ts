/**
 * A local stand-in for Azure Key Vault and the two identity endpoints in front of it, for tests.
 *
 * lowkey-vault (the real emulator) cannot be installed here: Maven Central answers 404 for every
 * version of `com.github.nagyesta.lowkey-vault:lowkey-vault-app` (its client and Testcontainers
 * modules are served, the app is not), and no other Key Vault emulator is in a registry this
 * machine reaches. So this double speaks the wire protocol the real Azure SDK clients use, and is
 * held to them: every test drives it through `@azure/keyvault-secrets` and `@azure/identity`,
 * secrets are seeded and disabled through the real `SecretClient`, and tokens come from the real
 * `ManagedIdentityCredential`, `DefaultAzureCredential` and `ClientSecretCredential` (MSAL).
 * A second, independent client holds it too: the official Azure SDK for Python reads every kind
 * of answer through it and must agree with the wire and the JavaScript SDK
 * (tests/providers/key_vault_double_python_sdk_test.ts).
 *
 * Three listeners on 127.0.0.1, free ports:
 * - the vault (HTTPS): challenge-based bearer auth (401 with `WWW-Authenticate`), access policy
 *   per principal (403 `Forbidden`/`AccessDenied`), `GET`/`PUT`/`PATCH /secrets/{name}[/{version}]`
 *   with versions, disabled secrets (403 `SecretDisabled`), missing ones (404 `SecretNotFound`),
 *   and injected faults (429, 5xx, a request that never answers);
 * - an Entra ID authority (HTTPS): OpenID metadata and the client-credentials token endpoint;
 * - a managed identity endpoint (HTTP, as on Azure): IMDS (`/metadata/identity/oauth2/token`,
 *   used with `AZURE_POD_IDENTITY_AUTHORITY_HOST`) and App Service (`IDENTITY_ENDPOINT` with
 *   `IDENTITY_HEADER`).
 *
 * The TLS certificate is issued at start by a fresh private CA (openssl), whose PEM is returned:
 * clients trust it through `NODE_EXTRA_CA_CERTS` or the provider's `tls.ca_cert`.
 *
 * Response bodies follow those of the real service (error `code`, `message`, `innererror.code`).
 */

import { issueTestCertificates, type TestCertificates } from "../_tls.ts";

/** What the vault answers instead of the real thing, for the next matching requests. */
export type VaultFault =
  | { readonly status: number; readonly retryAfterSeconds?: number }
  | "hang";

/** Secret permissions of an access policy. */
export type SecretPermission = "get" | "set" | "list" | "delete";

/** One request the double saw. */
export interface SeenRequest {
  readonly listener: "vault" | "authority" | "identity";
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Principal of a vault request, when its token was valid. */
  readonly principal?: string;
}

/** Options of {@linkcode startKeyVaultDouble}. */
export interface KeyVaultDoubleOptions {
  /** Tenant named in the vault's challenge. Default: a fresh GUID. */
  readonly tenantId?: string;
}

/** A running double. */
export interface KeyVaultDouble extends AsyncDisposable {
  /** `https://127.0.0.1:<port>`. */
  readonly vaultUrl: string;
  /** `https://127.0.0.1:<port>`, for `authority_host`. */
  readonly authorityHost: string;
  /** `http://127.0.0.1:<port>`, for `AZURE_POD_IDENTITY_AUTHORITY_HOST`. */
  readonly imdsHost: string;
  /** For `IDENTITY_ENDPOINT` (App Service managed identity). */
  readonly identityEndpoint: string;
  /** For `IDENTITY_HEADER`. */
  readonly identityHeader: string;
  /** PEM of the CA that issued the listeners' certificate. */
  readonly caCertPem: string;
  /** Path of that PEM (for `NODE_EXTRA_CA_CERTS`, `tls.ca_cert`). */
  readonly caCertPath: string;
  /** Tenant the vault's challenge names; may be changed between clients. */
  tenantId: string;
  /** Every request seen, oldest first. */
  readonly requests: readonly SeenRequest[];
  /** Every access token issued (admin token excluded), to check they are masked. */
  readonly issuedTokens: readonly string[];
  /** Registers a managed identity (`undefined`: system-assigned); returns its principal name. */
  addManagedIdentity(clientId?: string): string;
  /** Registers an app with a client secret in a tenant; returns its principal name. */
  addApp(tenantId: string, clientId: string, secret: string): string;
  /**
   * Registers an app with a federated credential: it signs in with this exact client assertion
   * (the workload identity token file's content). Returns its principal name.
   */
  addFederatedApp(tenantId: string, clientId: string, assertion: string): string;
  /** Sets a principal's secret permissions in the vault's access policy. */
  grant(principal: string, permissions: readonly SecretPermission[]): void;
  /** A valid token of a principal allowed everything (for seeding with the real SDK). */
  adminToken(): string;
  /** The next `count` authenticated secret requests get `fault` instead of an answer. */
  failNext(count: number, fault: VaultFault): void;
  /** The next `count` requests to the authority's token endpoint get this status. */
  failNextTokens(count: number, status: number): void;
  /** Makes every read of this secret name hang until the double closes. */
  hang(name: string): void;
  /** Shuts every listener down and removes the certificate files. */
  close(): Promise<void>;
}

const VAULT_RESOURCE = "https://vault.azure.net";
const TOKEN_SECONDS = 3600;

interface Version {
  readonly id: string;
  value: string;
  contentType: string | undefined;
  enabled: boolean;
  /** The `exp` attribute (seconds since the epoch), when set. */
  readonly exp: number | undefined;
  tags: Record<string, string> | undefined;
  readonly created: number;
  updated: number;
}

interface Token {
  readonly principal: string;
  readonly audience: string;
  readonly expiresAt: number;
}

/**
 * Starts the double. Always `close()` it (or use `await using`).
 *
 * @param options Challenge tenant.
 * @returns The running double.
 */
export async function startKeyVaultDouble(
  options: KeyVaultDoubleOptions = {},
): Promise<KeyVaultDouble> {
  const dir = await Deno.makeTempDir({ prefix: "kv-double-" });
  try {
    const tls = await issueTestCertificates({ dir });
    return new Double(dir, tls, options.tenantId ?? crypto.randomUUID());
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

class Double implements KeyVaultDouble {
  readonly vaultUrl: string;
  readonly authorityHost: string;
  readonly imdsHost: string;
  readonly identityEndpoint: string;
  readonly identityHeader = crypto.randomUUID();
  readonly caCertPem: string;
  readonly caCertPath: string;
  tenantId: string;
  readonly requests: SeenRequest[] = [];
  readonly issuedTokens: string[] = [];

  readonly #dir: string;
  readonly #servers: Deno.HttpServer<Deno.NetAddr>[];
  readonly #closing = new AbortController();
  readonly #secrets = new Map<string, Version[]>();
  readonly #tokens = new Map<string, Token>();
  readonly #policy = new Map<string, Set<SecretPermission>>();
  readonly #identities = new Set<string>();
  readonly #apps = new Map<string, string>();
  readonly #federated = new Map<string, string>();
  readonly #hanging = new Set<string>();
  #faults: { count: number; fault: VaultFault } | undefined;
  #tokenFaults: { count: number; status: number } | undefined;
  #admin: string | undefined;

  constructor(
    dir: string,
    tls: TestCertificates & { readonly files: { readonly ca: string } },
    tenantId: string,
  ) {
    this.#dir = dir;
    this.caCertPem = tls.ca;
    this.caCertPath = tls.files.ca;
    this.tenantId = tenantId;
    const serve = (
      secure: boolean,
      handler: (req: Request) => Promise<Response> | Response,
    ): Deno.HttpServer<Deno.NetAddr> =>
      Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        ...(secure ? { cert: tls.cert, key: tls.key } : {}),
        onListen: () => {},
        onError: () => new Response("internal error", { status: 500 }),
      }, handler);
    const vault = serve(true, (req) => this.#vault(req));
    const authority = serve(true, (req) => this.#authority(req));
    const identity = serve(false, (req) => this.#identity(req));
    this.#servers = [vault, authority, identity];
    this.vaultUrl = `https://127.0.0.1:${vault.addr.port}`;
    this.authorityHost = `https://127.0.0.1:${authority.addr.port}`;
    this.imdsHost = `http://127.0.0.1:${identity.addr.port}`;
    this.identityEndpoint = `http://127.0.0.1:${identity.addr.port}/msi/token`;
  }

  addManagedIdentity(clientId?: string): string {
    const principal = `mi:${clientId ?? "system"}`;
    this.#identities.add(principal);
    return principal;
  }

  addApp(tenantId: string, clientId: string, secret: string): string {
    this.#apps.set(`${tenantId}/${clientId}`, secret);
    return `app:${clientId}`;
  }

  addFederatedApp(tenantId: string, clientId: string, assertion: string): string {
    this.#federated.set(`${tenantId}/${clientId}`, assertion);
    return `app:${clientId}`;
  }

  grant(principal: string, permissions: readonly SecretPermission[]): void {
    this.#policy.set(principal, new Set(permissions));
  }

  adminToken(): string {
    if (this.#admin === undefined) {
      this.grant("admin", ["get", "set", "list", "delete"]);
      this.#admin = this.#issue("admin", VAULT_RESOURCE);
    }
    return this.#admin;
  }

  failNext(count: number, fault: VaultFault): void {
    this.#faults = { count, fault };
  }

  failNextTokens(count: number, status: number): void {
    this.#tokenFaults = { count, status };
  }

  hang(name: string): void {
    this.#hanging.add(name.toLowerCase());
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled(this.#servers.map((s) => s.shutdown()));
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #issue(principal: string, audience: string): string {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const token = `kvd.${btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "")}`;
    this.#tokens.set(token, { principal, audience, expiresAt: Date.now() + TOKEN_SECONDS * 1000 });
    if (principal !== "admin") this.issuedTokens.push(token);
    return token;
  }

  #seen(
    listener: SeenRequest["listener"],
    req: Request,
    res: Response,
    principal?: string,
  ): Response {
    this.requests.push({
      listener,
      method: req.method,
      path: new URL(req.url).pathname,
      status: res.status,
      ...(principal !== undefined ? { principal } : {}),
    });
    return res;
  }

  // --- the vault -------------------------------------------------------------------------------

  async #vault(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const challenge =
      `Bearer authorization="https://login.microsoftonline.com/${this.tenantId}", resource="${VAULT_RESOURCE}"`;
    const unauthorized = (message: string): Response =>
      this.#seen(
        "vault",
        req,
        kvError(401, "Unauthorized", message, undefined, { "www-authenticate": challenge }),
      );
    const auth = req.headers.get("authorization");
    if (auth === null || !auth.startsWith("Bearer ")) {
      await req.body?.cancel();
      return unauthorized("AKV10000: Request is missing a Bearer or PoP token.");
    }
    const token = this.#tokens.get(auth.slice(7));
    if (token === undefined || token.expiresAt < Date.now()) {
      await req.body?.cancel();
      return unauthorized("AKV10022: Invalid token: the token was not issued for this vault.");
    }
    if (token.audience !== VAULT_RESOURCE) {
      await req.body?.cancel();
      return unauthorized(`AKV10022: Invalid audience. Expected ${VAULT_RESOURCE}.`);
    }
    if (!url.searchParams.has("api-version")) {
      await req.body?.cancel();
      return this.#seen("vault", req, kvError(400, "BadParameter", "api-version is missing."));
    }
    const match = /^\/secrets\/([0-9A-Za-z-]+)(?:\/([0-9A-Za-z]*))?\/?$/.exec(url.pathname);
    if (match === null) {
      await req.body?.cancel();
      return this.#seen("vault", req, kvError(404, "NotFound", "Unknown path."), token.principal);
    }
    const name = match[1]!.toLowerCase();
    const version = match[2] || undefined;
    const faulted = await this.#fault(req, name);
    if (faulted !== undefined) return this.#seen("vault", req, faulted, token.principal);
    const needed: SecretPermission = req.method === "GET"
      ? "get"
      : req.method === "DELETE"
      ? "delete"
      : "set";
    if (!this.#policy.get(token.principal)?.has(needed)) {
      await req.body?.cancel();
      const [kind, id] = token.principal.split(":");
      return this.#seen(
        "vault",
        req,
        kvError(
          403,
          "Forbidden",
          `The user, group or application 'appid=${id};oid=${kind}-${id};iss=https://sts.windows.net/${this.tenantId}/' does not have secrets ${needed} permission on key vault 'double;location=local'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
          "AccessDenied",
        ),
        token.principal,
      );
    }
    const res = req.method === "GET"
      ? this.#get(name, version)
      : req.method === "PUT" && version === undefined
      ? await this.#set(req, match[1]!)
      : req.method === "PATCH" && version !== undefined
      ? await this.#update(req, name, version)
      : kvError(405, "MethodNotAllowed", `${req.method} is not supported here.`);
    return this.#seen("vault", req, res, token.principal);
  }

  async #fault(req: Request, name: string): Promise<Response | undefined> {
    if (req.method === "GET" && this.#hanging.has(name)) return await this.#hangUntilGone(req);
    const pending = this.#faults;
    if (pending === undefined || pending.count <= 0) return undefined;
    pending.count--;
    if (pending.fault === "hang") return await this.#hangUntilGone(req);
    await req.body?.cancel();
    const { status, retryAfterSeconds } = pending.fault;
    const headers: Record<string, string> = retryAfterSeconds === undefined
      ? {}
      : { "retry-after": String(retryAfterSeconds) };
    return status === 429
      ? kvError(
        429,
        "Throttled",
        "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
        undefined,
        headers,
      )
      : kvError(status, "InternalServerError", "Internal server error.", undefined, headers);
  }

  /** Never answers; released by `close()` (the client's abort is what the tests watch). */
  async #hangUntilGone(req: Request): Promise<Response> {
    await req.body?.cancel();
    const gone = this.#closing.signal;
    return await new Promise((resolve) => {
      const done = (): void => resolve(new Response(null, { status: 499 }));
      if (gone.aborted) return done();
      gone.addEventListener("abort", done, { once: true });
    });
  }

  #get(name: string, version: string | undefined): Response {
    const versions = this.#secrets.get(name);
    const found = versions === undefined
      ? undefined
      : version === undefined
      ? versions.at(-1)
      : versions.find((v) => v.id === version);
    if (found === undefined) {
      const which = version === undefined ? name : `${name}/${version}`;
      return kvError(
        404,
        "SecretNotFound",
        `A secret with (name/id) ${which} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    }
    if (!found.enabled) {
      return kvError(
        403,
        "Forbidden",
        "Operation get is not allowed on a disabled secret.",
        "SecretDisabled",
      );
    }
    return Response.json(this.#bundle(name, found, true));
  }

  async #set(req: Request, displayName: string): Promise<Response> {
    const body = await req.json().catch(() => undefined) as
      | {
        value?: unknown;
        contentType?: unknown;
        attributes?: { enabled?: unknown; exp?: unknown };
        tags?: Record<string, string>;
      }
      | undefined;
    if (body === undefined || typeof body.value !== "string") {
      return kvError(400, "BadParameter", "Property value is required.");
    }
    const name = displayName.toLowerCase();
    const now = Math.floor(Date.now() / 1000);
    const version: Version = {
      id: crypto.randomUUID().replaceAll("-", ""),
      value: body.value,
      contentType: typeof body.contentType === "string" ? body.contentType : undefined,
      enabled: body.attributes?.enabled !== false,
      exp: typeof body.attributes?.exp === "number" ? body.attributes.exp : undefined,
      tags: body.tags,
      created: now,
      updated: now,
    };
    const versions = this.#secrets.get(name) ?? [];
    versions.push(version);
    this.#secrets.set(name, versions);
    return Response.json(this.#bundle(name, version, true));
  }

  async #update(req: Request, name: string, id: string): Promise<Response> {
    const body = await req.json().catch(() => ({})) as {
      attributes?: { enabled?: unknown };
      contentType?: unknown;
      tags?: Record<string, string>;
    };
    const found = this.#secrets.get(name)?.find((v) => v.id === id);
    if (found === undefined) {
      return kvError(
        404,
        "SecretNotFound",
        `A secret with (name/id) ${name}/${id} was not found in this key vault.`,
      );
    }
    if (typeof body.attributes?.enabled === "boolean") found.enabled = body.attributes.enabled;
    if (typeof body.contentType === "string") found.contentType = body.contentType;
    if (body.tags !== undefined) found.tags = body.tags;
    found.updated = Math.floor(Date.now() / 1000);
    return Response.json(this.#bundle(name, found, false));
  }

  #bundle(name: string, v: Version, withValue: boolean): Record<string, unknown> {
    return {
      ...(withValue ? { value: v.value } : {}),
      id: `${this.vaultUrl}/secrets/${name}/${v.id}`,
      ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
      attributes: {
        enabled: v.enabled,
        ...(v.exp !== undefined ? { exp: v.exp } : {}),
        created: v.created,
        updated: v.updated,
        recoveryLevel: "Recoverable+Purgeable",
        recoverableDays: 90,
      },
      ...(v.tags !== undefined ? { tags: v.tags } : {}),
    };
  }

  // --- the Entra ID authority ------------------------------------------------------------------

  async #authority(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const meta = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
    if (req.method === "GET" && meta !== null) {
      const base = `${this.authorityHost}/${meta[1]}`;
      return this.#seen(
        "authority",
        req,
        Response.json({
          token_endpoint: `${base}/oauth2/v2.0/token`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
          issuer: `${base}/v2.0`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
          response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
          token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"],
        }),
      );
    }
    const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
    if (req.method === "POST" && tokenPath !== null) {
      const form = new URLSearchParams(await req.text());
      const tenant = tokenPath[1]!;
      const clientId = form.get("client_id") ?? "";
      const known = this.#apps.get(`${tenant}/${clientId}`);
      const oauthError = (status: number, error: string, description: string): Response =>
        this.#seen(
          "authority",
          req,
          Response.json({
            error,
            error_description: description,
            error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)],
            timestamp: new Date().toISOString(),
            trace_id: crypto.randomUUID(),
            correlation_id: crypto.randomUUID(),
          }, { status }),
        );
      const fault = this.#tokenFaults;
      if (fault !== undefined && fault.count > 0) {
        fault.count--;
        return fault.status === 429
          ? oauthError(
            429,
            "temporarily_unavailable",
            "AADSTS50196: The server terminated an operation because it encountered a client request loop.",
          )
          : oauthError(
            fault.status,
            "temporarily_unavailable",
            "AADSTS90033: A transient error has occurred. Please try again.",
          );
      }
      if (form.get("grant_type") !== "client_credentials") {
        return oauthError(400, "unsupported_grant_type", "AADSTS70003: Unsupported grant type.");
      }
      const assertion = form.get("client_assertion");
      const federated = this.#federated.get(`${tenant}/${clientId}`);
      if (assertion !== null) {
        if (federated === undefined || assertion !== federated) {
          return oauthError(
            401,
            "invalid_client",
            `AADSTS700213: No matching federated identity record found for presented assertion subject for app '${clientId}'.`,
          );
        }
      } else if (known === undefined) {
        return oauthError(
          400,
          "unauthorized_client",
          `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${tenant}'.`,
        );
      } else if (form.get("client_secret") !== known) {
        return oauthError(
          401,
          "invalid_client",
          `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        );
      }
      const scope = form.get("scope") ?? "";
      const audience = scope.split(" ").find((s) => s.endsWith("/.default"))?.slice(0, -9) ?? "";
      return this.#seen(
        "authority",
        req,
        Response.json({
          token_type: "Bearer",
          expires_in: TOKEN_SECONDS,
          ext_expires_in: TOKEN_SECONDS,
          access_token: this.#issue(`app:${clientId}`, audience),
        }),
      );
    }
    await req.body?.cancel();
    return this.#seen("authority", req, Response.json({ error: "not_found" }, { status: 404 }));
  }

  // --- managed identity --------------------------------------------------------------------------

  #identity(req: Request): Response {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "");
    const resource = url.searchParams.get("resource") ?? "";
    const clientId = url.searchParams.get("client_id") ?? undefined;
    const principal = `mi:${clientId ?? "system"}`;
    const expiresOn = Math.floor(Date.now() / 1000) + TOKEN_SECONDS;
    const invalid = (description: string): Response =>
      this.#seen(
        "identity",
        req,
        Response.json({ error: "invalid_request", error_description: description }, {
          status: 400,
        }),
      );
    if (path === "/metadata/identity/oauth2/token") {
      if (req.headers.get("metadata") !== "true") {
        return invalid("Required metadata header not specified");
      }
      if (resource === "") return invalid("Required audience parameter not specified");
      if (!this.#identities.has(principal)) return invalid("Identity not found");
      return this.#seen(
        "identity",
        req,
        Response.json({
          access_token: this.#issue(principal, resource),
          client_id: clientId ?? "system-assigned",
          expires_in: String(TOKEN_SECONDS),
          expires_on: String(expiresOn),
          ext_expires_in: String(TOKEN_SECONDS),
          not_before: String(expiresOn - TOKEN_SECONDS),
          resource,
          token_type: "Bearer",
        }),
      );
    }
    if (path === "/msi/token") {
      if (req.headers.get("x-identity-header") !== this.identityHeader) {
        return this.#seen(
          "identity",
          req,
          Response.json({ statusCode: 401, message: "Unauthorized" }, { status: 401 }),
        );
      }
      if (resource === "" || !this.#identities.has(principal)) {
        return this.#seen(
          "identity",
          req,
          Response.json({
            statusCode: 400,
            message: "Unable to load the proper Managed Identity.",
            correlationId: crypto.randomUUID(),
          }, { status: 400 }),
        );
      }
      return this.#seen(
        "identity",
        req,
        Response.json({
          access_token: this.#issue(principal, resource),
          expires_on: String(expiresOn),
          resource,
          token_type: "Bearer",
          client_id: clientId ?? "system-assigned",
        }),
      );
    }
    return this.#seen("identity", req, Response.json({ error: "not_found" }, { status: 404 }));
  }
}

function kvError(
  status: number,
  code: string,
  message: string,
  inner?: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json(
    { error: { code, message, ...(inner !== undefined ? { innererror: { code: inner } } : {}) } },
    { status, headers },
  );
}
