/**
 * A protocol-faithful HashiCorp Vault HTTP double, for tests only (no Vault server can be
 * installed on these machines). It is held to a real client, Python's `hvac`, by
 * `tests/providers/vault_double_hvac_test.ts`.
 *
 * What it models, following Vault's HTTP API documentation and server behaviour:
 * - KV v1 and KV v2 mounts under any name and in any namespace: KV v1 reads with
 *   `lease_duration` (the `ttl` key of the data, else the mount's default lease TTL); KV v2
 *   `data/<path>` (latest or `?version=N`), `metadata/<path>`, soft-deleted and destroyed
 *   versions (404 with the version's metadata in the body), and the 404 + warning Vault gives
 *   to a KV v1-style read on a KV v2 mount.
 * - `sys/internal/ui/mounts/<path>` (the `vault` CLI's preflight), `sys/health`,
 *   `sys/seal-status`.
 * - Tokens with TTLs on an injected clock: `auth/token/lookup-self`, `auth/token/renew-self`
 *   (capped at the max TTL with Vault's warning); expired tokens are gone, as Vault revokes them.
 * - AppRole and Kubernetes logins on any mount, policies with path globs (`*`, `+`),
 *   the `default` policy, namespaces via `X-Vault-Namespace`.
 * - Sealed (503), standby (307 to the active node, or 503), injected failures (429, 5xx),
 *   requests that hang until the double shuts down.
 * - Vault's exact error bodies: `{"errors":[...]}` with `application/json`, including the
 *   multierror texts (`1 error occurred:\n\t* permission denied\n\n`).
 *
 * It records every request (method, path, namespace, header names, whether the token was
 * valid), never a token or any other header value.
 *
 * @module
 */

/** A capability in a policy rule. */
export type Capability =
  | "create"
  | "read"
  | "update"
  | "patch"
  | "delete"
  | "list"
  | "sudo"
  | "deny";

/** Policy rules: path pattern (exact, trailing `*`, `+` for one segment) → capabilities. */
export type PolicyRules = Readonly<Record<string, readonly Capability[]>>;

/** Options of {@linkcode VaultDouble.start}. */
export interface VaultDoubleOptions {
  /** Clock in ms since the epoch; token TTLs and timestamps use it. Default `Date.now`. */
  readonly now?: () => number;
  /** Serve HTTPS with this PEM certificate chain and key. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** A token to create. */
export interface TokenSpec {
  /** The token; default a random `hvs.` token. */
  readonly id?: string;
  /** Policies besides `default`. `root` grants everything. */
  readonly policies?: readonly string[];
  /** Leave out the `default` policy. */
  readonly noDefaultPolicy?: boolean;
  /** TTL in seconds; 0 (default) never expires. */
  readonly ttlSeconds?: number;
  /** Largest lifetime in seconds from creation; 0 (default) means 32 days when ttl is set. */
  readonly maxTtlSeconds?: number;
  /** Whether renew-self works. Default true. */
  readonly renewable?: boolean;
  /** Namespace the token lives in. Default root (""). */
  readonly namespace?: string;
}

/** An AppRole role. */
export interface AppRoleSpec {
  /** Auth mount. Default `approle`. */
  readonly mount?: string;
  /** Namespace. Default root. */
  readonly namespace?: string;
  /** Role name (token metadata `role_name`). */
  readonly roleName: string;
  /** The role id. */
  readonly roleId: string;
  /** The current secret id; omit for a role with `bind_secret_id=false`. */
  readonly secretId?: string;
  /** Token policies besides `default`. */
  readonly policies?: readonly string[];
  /** Token TTL in seconds. Default 2764800 (768h). */
  readonly tokenTtlSeconds?: number;
  /** Token max TTL in seconds. Default 2764800. */
  readonly tokenMaxTtlSeconds?: number;
  /** Whether issued tokens are renewable. Default true. */
  readonly renewable?: boolean;
}

/** A Kubernetes auth role. */
export interface KubernetesRoleSpec {
  /** Auth mount. Default `kubernetes`. */
  readonly mount?: string;
  /** Namespace. Default root. */
  readonly namespace?: string;
  /** Role name. */
  readonly role: string;
  /** Service-account JWTs that the (simulated) TokenReview accepts. */
  readonly jwts: readonly string[];
  /** Service account name reported in the token metadata. */
  readonly serviceAccountName?: string;
  /** Kubernetes namespace reported in the token metadata. */
  readonly serviceAccountNamespace?: string;
  /** Token policies besides `default`. */
  readonly policies?: readonly string[];
  /** Token TTL in seconds. Default 2764800. */
  readonly tokenTtlSeconds?: number;
  /** Token max TTL in seconds. Default 2764800. */
  readonly tokenMaxTtlSeconds?: number;
  /** Whether issued tokens are renewable. Default true. */
  readonly renewable?: boolean;
}

/** An injected failure for requests whose path starts with a prefix. */
export interface InjectedFailure {
  /** Path prefix below `/v1/`, e.g. `secret/`. Empty matches everything. */
  readonly pathPrefix: string;
  /** Status to answer. */
  readonly status: number;
  /** The `errors` array. Default: Vault's text for the status. */
  readonly errors?: readonly string[];
  /** How many requests fail; default unlimited. */
  readonly times?: number;
}

/** One recorded request. Never holds a token or any header value. */
export interface RecordedRequest {
  /** HTTP method. */
  readonly method: string;
  /** Path below `/v1/`, percent-decoded, e.g. `secret/data/app`. */
  readonly path: string;
  /** Raw query string without `?`. */
  readonly query: string;
  /** Namespace from `X-Vault-Namespace` (`""` for root). */
  readonly namespace: string;
  /** Header names, lower case, sorted. */
  readonly headerNames: readonly string[];
  /** Whether a token was sent and whether it was valid. */
  readonly token: "absent" | "valid" | "invalid";
  /** The status answered. */
  readonly status: number;
}

/** Vault's system default lease TTL: 768h. */
const DEFAULT_TTL_SECONDS = 2_764_800;
const VAULT_VERSION = "1.17.6";
const KV2_INVALID_PATH_WARNING =
  "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.";

/** Vault's go-multierror text. */
function multierror(...errs: string[]): string {
  if (errs.length === 1) return `1 error occurred:\n\t* ${errs[0]}\n\n`;
  return `${errs.length} errors occurred:\n${errs.map((e) => `\t* ${e}`).join("\n")}\n\n`;
}

/** The `errors` entry Vault sends for a policy denial. */
export const PERMISSION_DENIED: string = multierror("permission denied");
/** The `errors` entry Vault sends for an unknown, revoked or expired token. */
export const INVALID_TOKEN: string = multierror("permission denied", "invalid token");

interface KvVersion {
  readonly data: Record<string, unknown>;
  readonly createdTime: number;
  deletionTime: number | null;
  destroyed: boolean;
}

interface KvEntry {
  /** KV v1: the single value. */
  v1?: Record<string, unknown>;
  /** KV v2: versions by number. */
  readonly versions: Map<number, KvVersion>;
  currentVersion: number;
  createdTime: number;
  updatedTime: number;
}

interface Mount {
  readonly path: string; // with trailing slash
  readonly type: string;
  readonly version: 1 | 2;
  readonly accessor: string;
  readonly uuid: string;
  readonly defaultLeaseTtlSeconds: number;
  readonly entries: Map<string, KvEntry>;
}

interface Token {
  readonly id: string;
  readonly accessor: string;
  readonly namespace: string;
  readonly policies: readonly string[];
  readonly path: string;
  readonly displayName: string;
  readonly meta: Readonly<Record<string, string>> | null;
  readonly creationTime: number;
  readonly creationTtlSeconds: number;
  /** ms; null = never expires. */
  expireAt: number | null;
  /** ms; null = no cap. */
  readonly maxExpireAt: number | null;
  readonly renewable: boolean;
  lastRenewal: number | null;
  readonly orphan: boolean;
}

interface AppRole {
  readonly spec: AppRoleSpec;
  secretId: string | undefined;
}

interface Namespace {
  readonly mounts: Map<string, Mount>;
  readonly policies: Map<string, PolicyRules>;
  readonly approles: Map<string, Map<string, AppRole>>; // mount → role name → role
  readonly kubernetes: Map<string, Map<string, KubernetesRoleSpec>>; // mount → role → spec
}

/** Read from the `default` policy that every token gets. */
const DEFAULT_POLICY: PolicyRules = {
  "auth/token/lookup-self": ["read"],
  "auth/token/renew-self": ["update"],
  "auth/token/revoke-self": ["update"],
  "sys/capabilities-self": ["update"],
  "sys/internal/ui/resultant-acl": ["read"],
  "cubbyhole/*": ["create", "read", "update", "delete", "list"],
};

/**
 * The double. Start it with {@linkcode VaultDouble.start}; always shut it down
 * (`await using`, or {@linkcode VaultDouble.shutdown}).
 */
export class VaultDouble implements AsyncDisposable {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #now: () => number;
  readonly #namespaces = new Map<string, Namespace>();
  readonly #tokens = new Map<string, Token>();
  readonly #requests: RecordedRequest[] = [];
  readonly #failures: { spec: InjectedFailure; left: number }[] = [];
  readonly #hangs = new Set<string>();
  readonly #waiters = new Set<() => void>();
  #sealed = false;
  #standby: { leader: string | null } | null = null;
  #closed = false;

  /** Base address, e.g. `http://127.0.0.1:41234`. */
  readonly address: string;

  private constructor(options: VaultDoubleOptions) {
    this.#now = options.now ?? Date.now;
    const handler = (req: Request): Promise<Response> => this.#handle(req);
    const common = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
    this.#server = options.tls
      ? Deno.serve({ ...common, cert: options.tls.cert, key: options.tls.key }, handler)
      : Deno.serve(common, handler);
    const scheme = options.tls ? "https" : "http";
    this.address = `${scheme}://127.0.0.1:${this.#server.addr.port}`;
    this.#namespace("");
  }

  /**
   * Starts a double on 127.0.0.1, port 0.
   *
   * @param options Clock and TLS.
   * @returns The running double.
   */
  static start(options: VaultDoubleOptions = {}): Promise<VaultDouble> {
    return Promise.resolve(new VaultDouble(options));
  }

  /** Stops serving; pending hung requests are released first. */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters) w();
    this.#waiters.clear();
    await this.#server.shutdown();
  }

  /** Same as {@linkcode VaultDouble.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  // ---- setup ------------------------------------------------------------------------------

  /**
   * Enables a KV engine.
   *
   * @param path Mount path, e.g. `ml-kv` (a trailing slash is added).
   * @param version KV version.
   * @param options Namespace and default lease TTL (seconds).
   */
  mountKv(
    path: string,
    version: 1 | 2,
    options: { namespace?: string; defaultLeaseTtlSeconds?: number; type?: string } = {},
  ): void {
    const ns = this.#namespace(options.namespace ?? "");
    const p = `${trimSlashes(path)}/`;
    ns.mounts.set(p, {
      path: p,
      type: options.type ?? "kv",
      version,
      accessor: `kv_${randomHex(8)}`,
      uuid: crypto.randomUUID(),
      defaultLeaseTtlSeconds: options.defaultLeaseTtlSeconds ?? DEFAULT_TTL_SECONDS,
      entries: new Map(),
    });
  }

  /**
   * Writes a secret: KV v1 replaces the value, KV v2 adds a version.
   *
   * @param mount Mount path.
   * @param path Secret path below the mount.
   * @param data The key/value data.
   * @param options Namespace.
   * @returns The new KV v2 version (1 for KV v1).
   */
  writeKv(
    mount: string,
    path: string,
    data: Record<string, unknown>,
    options: { namespace?: string } = {},
  ): number {
    const m = this.#mount(mount, options.namespace);
    const key = trimSlashes(path);
    const now = this.#now();
    let entry = m.entries.get(key);
    if (entry === undefined) {
      entry = { versions: new Map(), currentVersion: 0, createdTime: now, updatedTime: now };
      m.entries.set(key, entry);
    }
    if (m.version === 1) {
      entry.v1 = structuredClone(data);
      return 1;
    }
    entry.currentVersion += 1;
    entry.updatedTime = now;
    entry.versions.set(entry.currentVersion, {
      data: structuredClone(data),
      createdTime: now,
      deletionTime: null,
      destroyed: false,
    });
    return entry.currentVersion;
  }

  /** Soft-deletes KV v2 versions (as `DELETE data/` or `POST delete/` would). */
  deleteKvVersions(
    mount: string,
    path: string,
    versions: readonly number[],
    options: { namespace?: string } = {},
  ): void {
    const entry = this.#mount(mount, options.namespace).entries.get(trimSlashes(path));
    for (const v of versions) {
      const ver = entry?.versions.get(v);
      if (ver && !ver.destroyed) ver.deletionTime = this.#now();
    }
  }

  /** Destroys KV v2 versions (as `POST destroy/` would). */
  destroyKvVersions(
    mount: string,
    path: string,
    versions: readonly number[],
    options: { namespace?: string } = {},
  ): void {
    const entry = this.#mount(mount, options.namespace).entries.get(trimSlashes(path));
    for (const v of versions) {
      const ver = entry?.versions.get(v);
      if (ver) ver.destroyed = true;
    }
  }

  /** Defines or replaces an ACL policy. */
  writePolicy(name: string, rules: PolicyRules, options: { namespace?: string } = {}): void {
    this.#namespace(options.namespace ?? "").policies.set(name, rules);
  }

  /**
   * Creates a token (as `auth/token/create` would).
   *
   * @param spec Policies, TTL, namespace.
   * @returns The token.
   */
  createToken(spec: TokenSpec = {}): string {
    const policies = [
      ...(spec.noDefaultPolicy || spec.policies?.includes("root") ? [] : ["default"]),
      ...(spec.policies ?? []),
    ];
    return this.#issue({
      id: spec.id,
      namespace: spec.namespace ?? "",
      policies,
      path: "auth/token/create",
      displayName: "token",
      meta: null,
      ttlSeconds: spec.ttlSeconds ?? 0,
      maxTtlSeconds: spec.maxTtlSeconds ?? 0,
      renewable: spec.renewable ?? true,
      orphan: false,
    });
  }

  /** Revokes a token at once. */
  revokeToken(token: string): void {
    this.#tokens.delete(token);
  }

  /** Revokes every token (an operator's `vault token revoke -mode=path auth/`). */
  revokeAllTokens(): void {
    this.#tokens.clear();
  }

  /** Adds (or replaces) an AppRole role on an `approle` auth mount. */
  addAppRole(spec: AppRoleSpec): void {
    const ns = this.#namespace(spec.namespace ?? "");
    const mount = trimSlashes(spec.mount ?? "approle");
    let roles = ns.approles.get(mount);
    if (roles === undefined) ns.approles.set(mount, roles = new Map());
    roles.set(spec.roleName, { spec, secretId: spec.secretId });
  }

  /** Replaces the secret id of an AppRole role (old one stops working). */
  rotateAppRoleSecretId(
    roleName: string,
    secretId: string,
    options: { mount?: string; namespace?: string } = {},
  ): void {
    const role = this.#namespace(options.namespace ?? "").approles
      .get(trimSlashes(options.mount ?? "approle"))?.get(roleName);
    if (role === undefined) throw new Error(`no AppRole role "${roleName}"`);
    role.secretId = secretId;
  }

  /** Adds (or replaces) a role on a `kubernetes` auth mount. */
  addKubernetesRole(spec: KubernetesRoleSpec): void {
    const ns = this.#namespace(spec.namespace ?? "");
    const mount = trimSlashes(spec.mount ?? "kubernetes");
    let roles = ns.kubernetes.get(mount);
    if (roles === undefined) ns.kubernetes.set(mount, roles = new Map());
    roles.set(spec.role, spec);
  }

  /** Seals or unseals. */
  setSealed(sealed: boolean): void {
    this.#sealed = sealed;
  }

  /**
   * Makes this node a standby (or active again with `null`). A standby redirects with 307 to
   * the leader, or answers 503 when no leader is known.
   */
  setStandby(standby: { leader: string | null } | null): void {
    this.#standby = standby;
  }

  /** Fails matching requests with a status until `times` runs out (or forever). */
  injectFailure(failure: InjectedFailure): void {
    this.#failures.push({ spec: failure, left: failure.times ?? Infinity });
  }

  /** Removes every injected failure. */
  clearFailures(): void {
    this.#failures.length = 0;
  }

  /** Requests whose path starts with the prefix get no answer until the double shuts down. */
  hang(pathPrefix: string): void {
    this.#hangs.add(pathPrefix);
  }

  /** Recorded requests, oldest first. */
  get requests(): readonly RecordedRequest[] {
    return [...this.#requests];
  }

  /** Forgets recorded requests. */
  clearRequests(): void {
    this.#requests.length = 0;
  }

  /** Live (not expired, not revoked) tokens. For assertions about logins. */
  get liveTokenCount(): number {
    let n = 0;
    for (const t of this.#tokens.values()) if (this.#alive(t)) n++;
    return n;
  }

  // ---- internals --------------------------------------------------------------------------

  #namespace(name: string): Namespace {
    const key = trimSlashes(name);
    let ns = this.#namespaces.get(key);
    if (ns === undefined) {
      ns = { mounts: new Map(), policies: new Map(), approles: new Map(), kubernetes: new Map() };
      this.#namespaces.set(key, ns);
    }
    return ns;
  }

  #mount(path: string, namespace = ""): Mount {
    const m = this.#namespace(namespace).mounts.get(`${trimSlashes(path)}/`);
    if (m === undefined) throw new Error(`no mount "${path}" in namespace "${namespace}"`);
    return m;
  }

  #issue(t: {
    id: string | undefined;
    namespace: string;
    policies: readonly string[];
    path: string;
    displayName: string;
    meta: Record<string, string> | null;
    ttlSeconds: number;
    maxTtlSeconds: number;
    renewable: boolean;
    orphan: boolean;
  }): string {
    const now = this.#now();
    const id = t.id ?? `hvs.${randomToken(24)}`;
    const maxTtl = t.ttlSeconds > 0 ? (t.maxTtlSeconds || DEFAULT_TTL_SECONDS) : 0;
    const ttl = maxTtl > 0 ? Math.min(t.ttlSeconds, maxTtl) : t.ttlSeconds;
    this.#tokens.set(id, {
      id,
      accessor: randomToken(24),
      namespace: trimSlashes(t.namespace),
      policies: t.policies,
      path: t.path,
      displayName: t.displayName,
      meta: t.meta,
      creationTime: now,
      creationTtlSeconds: ttl,
      expireAt: ttl > 0 ? now + ttl * 1000 : null,
      maxExpireAt: maxTtl > 0 ? now + maxTtl * 1000 : null,
      renewable: ttl > 0 && t.renewable,
      lastRenewal: null,
      orphan: t.orphan,
    });
    return id;
  }

  #alive(t: Token): boolean {
    return t.expireAt === null || t.expireAt > this.#now();
  }

  #lookupToken(id: string | null): Token | undefined {
    if (id === null || id === "") return undefined;
    const t = this.#tokens.get(id);
    if (t === undefined) return undefined;
    if (!this.#alive(t)) {
      this.#tokens.delete(id); // Vault revokes a token when its TTL runs out.
      return undefined;
    }
    return t;
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const namespace = trimSlashes(req.headers.get("x-vault-namespace") ?? "");
    const headerNames = [...req.headers.keys()].map((k) => k.toLowerCase()).sort();
    const tokenId = tokenFrom(req.headers);
    let path: string;
    try {
      path = decodeURIComponent(url.pathname.replace(/^\/v1\//, ""));
    } catch {
      path = url.pathname;
    }
    const tokenState: RecordedRequest["token"] = tokenId === null
      ? "absent"
      : this.#lookupToken(tokenId) !== undefined
      ? "valid"
      : "invalid";
    let res: Response;
    if (!url.pathname.startsWith("/v1/")) {
      res = errorResponse(404, []);
    } else {
      for (const prefix of this.#hangs) {
        if (path.startsWith(prefix)) {
          // Answered only at shutdown: the client has to give up (abort) on its own.
          await new Promise<void>((resolve) => {
            if (this.#closed) return resolve();
            this.#waiters.add(resolve);
          });
          break;
        }
      }
      let body: unknown = undefined;
      if (req.method === "POST" || req.method === "PUT") {
        const text = await req.text();
        if (text.trim() !== "") {
          try {
            body = JSON.parse(text);
          } catch {
            body = Symbol.for("invalid-json");
          }
        }
      }
      res = this.#route(req.method, path, url.searchParams, namespace, tokenId, body);
    }
    this.#requests.push({
      method: req.method,
      path,
      query: url.search.replace(/^\?/, ""),
      namespace,
      headerNames,
      token: tokenState,
      status: res.status,
    });
    return res;
  }

  #route(
    method: string,
    path: string,
    query: URLSearchParams,
    namespace: string,
    tokenId: string | null,
    body: unknown,
  ): Response {
    if (path === "sys/health") return this.#health();
    if (path === "sys/seal-status") return ok(this.#sealStatus());
    if (this.#sealed) return errorResponse(503, ["Vault is sealed"]);
    if (this.#standby !== null) {
      if (this.#standby.leader === null) {
        return errorResponse(503, ["no active Vault instance found"]);
      }
      const target = new URL(this.#standby.leader);
      const location = `${target.origin}/v1/${path}${query.size > 0 ? `?${query}` : ""}`;
      return new Response(null, { status: 307, headers: { location } });
    }
    for (const f of this.#failures) {
      if (f.left > 0 && path.startsWith(f.spec.pathPrefix)) {
        f.left--;
        const headers: Record<string, string> = {};
        if (f.spec.status === 429) headers["retry-after"] = "1";
        return errorResponse(
          f.spec.status,
          f.spec.errors ?? [defaultErrorText(f.spec.status, path)],
          headers,
        );
      }
    }
    if (body === Symbol.for("invalid-json")) {
      return errorResponse(400, ["error parsing JSON"]);
    }
    const ns = this.#namespace(namespace);
    const data = (body ?? {}) as Record<string, unknown>;

    // Unauthenticated login endpoints.
    const login = /^auth\/(.+)\/login$/.exec(path);
    if (login !== null && (method === "POST" || method === "PUT")) {
      const mount = login[1]!;
      if (ns.approles.has(mount)) return this.#approleLogin(ns, namespace, mount, data);
      if (ns.kubernetes.has(mount)) return this.#kubernetesLogin(ns, namespace, mount, data);
    }

    if (path.startsWith("sys/internal/ui/mounts/")) {
      return this.#preflight(ns, namespace, path.slice("sys/internal/ui/mounts/".length), tokenId);
    }

    // Everything else needs a valid token and a policy that allows the operation.
    if (tokenId === null) return errorResponse(403, ["permission denied"]);
    const token = this.#lookupToken(tokenId);
    if (token === undefined) return errorResponse(403, [INVALID_TOKEN]);
    const capability = capabilityFor(method, query);
    if (!this.#allowed(token, namespace, path, capability)) {
      return errorResponse(403, [PERMISSION_DENIED]);
    }

    if (path === "auth/token/lookup-self") {
      if (method !== "GET" && method !== "POST") return unsupportedOperation();
      return ok(envelope({ data: this.#tokenData(token) }));
    }
    if (path === "auth/token/renew-self") {
      if (method !== "POST" && method !== "PUT") return unsupportedOperation();
      return this.#renewSelf(token, data);
    }

    const mount = longestMount(ns, path);
    if (mount === undefined) {
      return errorResponse(404, [`no handler for route "${path}". route entry not found.`]);
    }
    const rel = path.slice(mount.path.length);
    if (mount.version === 1) return this.#kv1(method, mount, rel);
    return this.#kv2(method, mount, rel, query);
  }

  #allowed(token: Token, namespace: string, path: string, capability: Capability): boolean {
    if (token.policies.includes("root")) return isSameOrChild(token.namespace, namespace);
    if (!isSameOrChild(token.namespace, namespace)) return false;
    const relNs = relativeNamespace(token.namespace, namespace);
    const full = relNs === "" ? path : `${relNs}/${path}`;
    const tokenNs = this.#namespace(token.namespace);
    let granted = false;
    for (const name of token.policies) {
      const rules = name === "default" && !tokenNs.policies.has("default")
        ? DEFAULT_POLICY
        : tokenNs.policies.get(name);
      if (rules === undefined) continue;
      for (const [pattern, caps] of Object.entries(rules)) {
        if (!matchPattern(pattern, full)) continue;
        if (caps.includes("deny")) return false;
        if (caps.includes(capability)) granted = true;
      }
    }
    return granted;
  }

  /**
   * Vault's hasMountAccess: the token may do something on the mount path itself, or some rule
   * below the mount grants a capability (exact or glob rules, `+` segments included).
   */
  #hasMountAccess(token: Token, namespace: string, mountPath: string): boolean {
    if (token.policies.includes("root")) return isSameOrChild(token.namespace, namespace);
    if (!isSameOrChild(token.namespace, namespace)) return false;
    const relNs = relativeNamespace(token.namespace, namespace);
    const full = relNs === "" ? mountPath : `${relNs}/${mountPath}`;
    const mountSegments = full.split("/").filter((s) => s !== "");
    const tokenNs = this.#namespace(token.namespace);
    for (const name of token.policies) {
      const rules = name === "default" && !tokenNs.policies.has("default")
        ? DEFAULT_POLICY
        : tokenNs.policies.get(name);
      if (rules === undefined) continue;
      for (const [pattern, caps] of Object.entries(rules)) {
        if (caps.length === 0 || caps.includes("deny")) continue;
        if (matchPattern(pattern, full) || pattern.replace(/\*$/, "").startsWith(full)) {
          return true;
        }
        const head = pattern.split("/").slice(0, mountSegments.length);
        if (
          head.length === mountSegments.length &&
          head.every((seg, i) => seg === "+" || seg === mountSegments[i])
        ) return true;
      }
    }
    return false;
  }

  #preflight(ns: Namespace, namespace: string, rawPath: string, tokenId: string | null): Response {
    if (rawPath === "") return errorResponse(400, ["path not set"]);
    let path = rawPath.endsWith("/") ? rawPath : `${rawPath}/`;
    if (path.startsWith("/")) path = path.slice(1);
    const denied = errorResponse(403, [
      `preflight capability check returned 403, please ensure client's policies grant access to path "${path}"`,
    ]);
    const mount = longestMount(ns, path);
    if (mount === undefined) return denied;
    if (tokenId === null) return errorResponse(403, ["permission denied"]);
    const token = this.#lookupToken(tokenId);
    if (token === undefined) return errorResponse(403, [INVALID_TOKEN]);
    if (!this.#hasMountAccess(token, namespace, mount.path)) return denied;
    return ok(envelope({
      data: {
        accessor: mount.accessor,
        config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
        description: "",
        external_entropy_access: false,
        local: false,
        options: mount.version === 2 ? { version: "2" } : { version: "1" },
        path: mount.path,
        plugin_version: "",
        running_plugin_version: `v0.20.0+builtin`,
        running_sha256: "",
        seal_wrap: false,
        type: mount.type,
        uuid: mount.uuid,
      },
    }));
  }

  #kv1(method: string, mount: Mount, rel: string): Response {
    if (method !== "GET") return unsupportedOperation();
    const entry = mount.entries.get(trimSlashes(rel));
    if (rel === "" || entry?.v1 === undefined) return errorResponse(404, []);
    const ttl = parseTtl(entry.v1.ttl) ?? mount.defaultLeaseTtlSeconds;
    return ok(envelope({ data: entry.v1, lease_duration: ttl, mount_type: mount.type }));
  }

  #kv2(method: string, mount: Mount, rel: string, query: URLSearchParams): Response {
    if (method !== "GET") return unsupportedOperation();
    const slash = rel.indexOf("/");
    const head = slash < 0 ? rel : rel.slice(0, slash);
    const key = slash < 0 ? "" : trimSlashes(rel.slice(slash + 1));
    if (head === "config" && key === "") {
      return ok(envelope({
        data: { cas_required: false, delete_version_after: "0s", max_versions: 0 },
        mount_type: mount.type,
      }));
    }
    if (head === "data" && key !== "") {
      const entry = mount.entries.get(key);
      if (entry === undefined || entry.currentVersion === 0) return errorResponse(404, []);
      const raw = query.get("version");
      let wanted = entry.currentVersion;
      if (raw !== null && raw !== "") {
        const n = Number(raw);
        if (!Number.isInteger(n)) {
          return errorResponse(400, [
            multierror(`error converting input ${raw} for field "version": cannot parse '' as int`),
          ]);
        }
        if (n > 0) wanted = n;
      }
      const ver = entry.versions.get(wanted);
      if (ver === undefined) return errorResponse(404, []);
      const metadata = {
        created_time: rfc3339(ver.createdTime),
        custom_metadata: null,
        deletion_time: ver.deletionTime === null ? "" : rfc3339(ver.deletionTime),
        destroyed: ver.destroyed,
        version: wanted,
      };
      if (ver.destroyed || (ver.deletionTime !== null && ver.deletionTime <= this.#now())) {
        // logical.RespondWithStatusCode: the whole response, status 404.
        return json(404, envelope({ data: { data: null, metadata }, mount_type: mount.type }));
      }
      return ok(envelope({ data: { data: ver.data, metadata }, mount_type: mount.type }));
    }
    if (head === "metadata" && key !== "") {
      const entry = mount.entries.get(key);
      if (entry === undefined || entry.currentVersion === 0) return errorResponse(404, []);
      const versions: Record<string, unknown> = {};
      for (const [n, v] of entry.versions) {
        versions[String(n)] = {
          created_time: rfc3339(v.createdTime),
          deletion_time: v.deletionTime === null ? "" : rfc3339(v.deletionTime),
          destroyed: v.destroyed,
        };
      }
      return ok(envelope({
        data: {
          cas_required: false,
          created_time: rfc3339(entry.createdTime),
          current_version: entry.currentVersion,
          custom_metadata: null,
          delete_version_after: "0s",
          max_versions: 0,
          oldest_version: 0,
          updated_time: rfc3339(entry.updatedTime),
          versions,
        },
        mount_type: mount.type,
      }));
    }
    // A KV v1-style read on a KV v2 mount.
    return json(404, envelope({ warnings: [KV2_INVALID_PATH_WARNING] }));
  }

  #tokenData(t: Token): Record<string, unknown> {
    const now = this.#now();
    return {
      accessor: t.accessor,
      creation_time: Math.floor(t.creationTime / 1000),
      creation_ttl: t.creationTtlSeconds,
      display_name: t.displayName,
      entity_id: "",
      expire_time: t.expireAt === null ? null : rfc3339(t.expireAt),
      explicit_max_ttl: 0,
      id: t.id,
      issue_time: rfc3339(t.creationTime),
      ...(t.lastRenewal !== null
        ? {
          last_renewal: rfc3339(t.lastRenewal),
          last_renewal_time: Math.floor(t.lastRenewal / 1000),
        }
        : {}),
      meta: t.meta,
      num_uses: 0,
      orphan: t.orphan,
      path: t.path,
      policies: t.policies,
      renewable: t.renewable,
      ttl: t.expireAt === null ? 0 : Math.max(0, Math.round((t.expireAt - now) / 1000)),
      type: "service",
    };
  }

  #renewSelf(t: Token, data: Record<string, unknown>): Response {
    if (t.expireAt === null) return errorResponse(400, ["lease not found"]);
    if (!t.renewable) return errorResponse(400, ["lease is not renewable"]);
    const now = this.#now();
    const requested = parseTtl(data.increment) ?? t.creationTtlSeconds;
    let ttl = requested;
    const warnings: string[] = [];
    if (t.maxExpireAt !== null && now + ttl * 1000 > t.maxExpireAt) {
      const capped = Math.max(0, Math.floor((t.maxExpireAt - now) / 1000));
      warnings.push(
        `TTL of "${duration(ttl)}" exceeded the effective max_ttl of "${
          duration(capped)
        }"; TTL value is capped accordingly`,
      );
      ttl = capped;
    }
    t.expireAt = now + ttl * 1000;
    t.lastRenewal = now;
    return ok(envelope({
      auth: this.#auth(t, ttl),
      ...(warnings.length > 0 ? { warnings } : {}),
    }));
  }

  #auth(t: Token, leaseSeconds: number): Record<string, unknown> {
    return {
      client_token: t.id,
      accessor: t.accessor,
      policies: t.policies,
      token_policies: t.policies,
      metadata: t.meta,
      lease_duration: leaseSeconds,
      renewable: t.renewable,
      entity_id: crypto.randomUUID(),
      token_type: "service",
      orphan: t.orphan,
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  #approleLogin(
    ns: Namespace,
    namespace: string,
    mount: string,
    data: Record<string, unknown>,
  ): Response {
    const roleId = data.role_id;
    if (typeof roleId !== "string" || roleId === "") return errorResponse(400, ["missing role_id"]);
    const role = [...ns.approles.get(mount)!.values()].find((r) => r.spec.roleId === roleId);
    const secretId = data.secret_id;
    if (role === undefined) return errorResponse(400, ["invalid role or secret ID"]);
    if (role.secretId !== undefined) {
      if (typeof secretId !== "string" || secretId === "") {
        return errorResponse(400, ["missing secret_id"]);
      }
      if (secretId !== role.secretId) return errorResponse(400, ["invalid role or secret ID"]);
    }
    const spec = role.spec;
    const id = this.#issue({
      id: undefined,
      namespace,
      policies: ["default", ...(spec.policies ?? [])],
      path: `auth/${mount}/login`,
      displayName: mount,
      meta: { role_name: spec.roleName },
      ttlSeconds: spec.tokenTtlSeconds ?? DEFAULT_TTL_SECONDS,
      maxTtlSeconds: spec.tokenMaxTtlSeconds ?? DEFAULT_TTL_SECONDS,
      renewable: spec.renewable ?? true,
      orphan: true,
    });
    const t = this.#tokens.get(id)!;
    return ok(envelope({ auth: this.#auth(t, t.creationTtlSeconds) }));
  }

  #kubernetesLogin(
    ns: Namespace,
    namespace: string,
    mount: string,
    data: Record<string, unknown>,
  ): Response {
    const role = data.role;
    if (typeof role !== "string" || role === "") return errorResponse(400, ["missing role"]);
    const jwt = data.jwt;
    if (typeof jwt !== "string" || jwt === "") return errorResponse(400, ["missing jwt"]);
    const spec = ns.kubernetes.get(mount)!.get(role);
    if (spec === undefined) return errorResponse(400, [`invalid role name "${role}"`]);
    if (!spec.jwts.includes(jwt)) return errorResponse(403, ["permission denied"]);
    const saName = spec.serviceAccountName ?? "default";
    const saNamespace = spec.serviceAccountNamespace ?? "default";
    const id = this.#issue({
      id: undefined,
      namespace,
      policies: ["default", ...(spec.policies ?? [])],
      path: `auth/${mount}/login`,
      displayName: `${mount}-${saNamespace}-${saName}`,
      meta: {
        role,
        service_account_name: saName,
        service_account_namespace: saNamespace,
        service_account_secret_name: "",
        service_account_uid: crypto.randomUUID(),
      },
      ttlSeconds: spec.tokenTtlSeconds ?? DEFAULT_TTL_SECONDS,
      maxTtlSeconds: spec.tokenMaxTtlSeconds ?? DEFAULT_TTL_SECONDS,
      renewable: spec.renewable ?? true,
      orphan: true,
    });
    const t = this.#tokens.get(id)!;
    return ok(envelope({ auth: this.#auth(t, t.creationTtlSeconds) }));
  }

  #sealStatus(): Record<string, unknown> {
    return {
      type: "shamir",
      initialized: true,
      sealed: this.#sealed,
      t: 1,
      n: 1,
      progress: 0,
      nonce: "",
      version: VAULT_VERSION,
      build_date: "2024-09-26T19:48:50Z",
      migration: false,
      ...(this.#sealed ? {} : { cluster_name: "vault-double", cluster_id: "double" }),
      recovery_seal: false,
      storage_type: "inmem",
    };
  }

  #health(): Response {
    const status = this.#sealed ? 503 : this.#standby !== null ? 429 : 200;
    return json(status, {
      initialized: true,
      sealed: this.#sealed,
      standby: this.#standby !== null,
      performance_standby: false,
      replication_performance_mode: "disabled",
      replication_dr_mode: "disabled",
      server_time_utc: Math.floor(this.#now() / 1000),
      version: VAULT_VERSION,
      enterprise: false,
      cluster_name: "vault-double",
      cluster_id: "double",
      echo_duration_ms: 0,
      clock_skew_ms: 0,
    });
  }
}

// ---- helpers ------------------------------------------------------------------------------

function tokenFrom(headers: Headers): string | null {
  const direct = headers.get("x-vault-token");
  if (direct !== null) return direct;
  const auth = headers.get("authorization");
  if (auth !== null && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, "");
  return null;
}

function capabilityFor(method: string, query: URLSearchParams): Capability {
  switch (method) {
    case "GET":
      return query.get("list") === "true" ? "list" : "read";
    case "LIST":
      return "list";
    case "DELETE":
      return "delete";
    case "PATCH":
      return "patch";
    default:
      return "update";
  }
}

function longestMount(ns: Namespace, path: string): Mount | undefined {
  let best: Mount | undefined;
  const withSlash = path.endsWith("/") ? path : `${path}/`;
  for (const m of ns.mounts.values()) {
    if (withSlash.startsWith(m.path) && (best === undefined || m.path.length > best.path.length)) {
      best = m;
    }
  }
  return best;
}

/** Vault policy path matching: exact, trailing `*` prefix glob, `+` one segment. */
function matchPattern(pattern: string, path: string): boolean {
  const glob = pattern.endsWith("*");
  const body = glob ? pattern.slice(0, -1) : pattern;
  const source = body.split("+").map(escapeRegExp).join("[^/]+");
  return new RegExp(`^${source}${glob ? ".*" : ""}$`).test(path);
}

function isSameOrChild(parent: string, child: string): boolean {
  return parent === "" || child === parent || child.startsWith(`${parent}/`);
}

function relativeNamespace(parent: string, child: string): string {
  if (parent === child) return "";
  return parent === "" ? child : child.slice(parent.length + 1);
}

function envelope(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    request_id: crypto.randomUUID(),
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    mount_type: "",
    ...fields,
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

function ok(body: unknown): Response {
  return json(200, body);
}

function errorResponse(
  status: number,
  errors: readonly string[],
  headers: Record<string, string> = {},
): Response {
  return json(status, { errors }, headers);
}

function unsupportedOperation(): Response {
  return errorResponse(405, [multierror("unsupported operation")]);
}

function defaultErrorText(status: number, path: string): string {
  if (status === 429) return `request path "${path}": rate limit quota exceeded`;
  if (status === 503) return "Vault is sealed";
  if (status === 502) return "upstream rate limited";
  return "internal error";
}

function parseTtl(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return Math.floor(value);
  if (typeof value !== "string" || value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (m === null) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h > 0 ? `${h}h` : ""}${h > 0 || m > 0 ? `${m}m` : ""}${s}s`;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, "");
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

function randomToken(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...crypto.getRandomValues(new Uint8Array(length))]
    .map((b) => alphabet[b % alphabet.length]).join("");
}
