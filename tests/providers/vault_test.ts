/**
 * The vault provider against the Vault double (tests/_peers/vault_double.ts), which is itself
 * held to the hvac client by vault_double_hvac_test.ts.
 */

import { createVaultProvider, type VaultProviderOptions } from "../../providers/vault/mod.ts";
import type { ProviderContext, SecretProvider, SecretRef } from "../../providers/types.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { createLogger } from "../../core/log.ts";
import { Redactor } from "../../core/redact.ts";
import { DEFAULT_RETRY, retry } from "../../core/retry.ts";
import { type RecordedRequest, VaultDouble } from "../_peers/vault_double.ts";
import { issueTestCertificates } from "../_tls.ts";
import {
  assert,
  assertEquals,
  assertNoCanary,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../_assert.ts";
import { runProviderContract } from "./_contract.ts";

const CANARY = "canary-7d1f0c2b";
const TOKEN = `hvs.token-${CANARY}`;
const ROLE_ID = `role-id-${CANARY}`;
const SECRET_ID = `secret-id-${CANARY}`;
const JWT = `eyJhbGciOiJSUzI1NiJ9.jwt-${CANARY}.sig`;

/** A clock the test moves by hand; the double and the provider share it. */
class Clock {
  t = Date.UTC(2025, 0, 1);
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

interface Harness extends AsyncDisposable {
  readonly vault: VaultDouble;
  readonly clock: Clock;
  readonly env: Record<string, string>;
  readonly logs: string[];
  readonly redactor: Redactor;
  /** Creates a provider (closed with the harness). */
  provider(
    options: Partial<VaultProviderOptions>,
    extra?: Partial<ProviderContext>,
  ): SecretProvider;
  /** Writes a temporary file (removed with the harness). */
  file(content: string): Promise<string>;
}

async function harness(): Promise<Harness> {
  const clock = new Clock();
  const vault = await VaultDouble.start({ now: clock.now });
  const env: Record<string, string> = {};
  const logs: string[] = [];
  const redactor = new Redactor();
  const logger = createLogger({
    redactor,
    level: "debug",
    write: (l) => logs.push(l),
    now: clock.now,
  });
  const providers: SecretProvider[] = [];
  const dir = await Deno.makeTempDir({ prefix: "vault_test_" });
  let files = 0;
  seed(vault);
  return {
    vault,
    clock,
    env,
    logs,
    redactor,
    provider(options, extra = {}) {
      const p = createVaultProvider("corp-vault", {
        address: vault.address,
        auth: { method: "token" },
        ...options,
      } as VaultProviderOptions, {
        env: (n) => env[n],
        fetch,
        now: clock.now,
        logger,
        redactor,
        ...extra,
      });
      providers.push(p);
      return p;
    },
    async file(content) {
      const path = `${dir}/f${files++}`;
      await Deno.writeTextFile(path, content);
      return path;
    },
    async [Symbol.asyncDispose]() {
      for (const p of providers) await p.close?.();
      await vault.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The data most tests read. */
function seed(vault: VaultDouble): void {
  vault.mountKv("ml-kv", 2);
  vault.writeKv("ml-kv", "mlflow/auth", { token: `v1-${CANARY}` });
  vault.writeKv("ml-kv", "mlflow/auth", { token: `v2-${CANARY}`, username: "mlflow" });
  vault.writeKv("ml-kv", "private/x", { token: `private-${CANARY}` });
  vault.mountKv("team-kv1", 1, { defaultLeaseTtlSeconds: 1800 });
  vault.writeKv("team-kv1", "app/db", { password: `db-${CANARY}` });
  vault.writeKv("team-kv1", "app/short", { password: `short-${CANARY}`, ttl: "90s" });
  vault.writePolicy("mlflow-reader", {
    "ml-kv/data/mlflow/*": ["read"],
    "ml-kv/data/hang/*": ["read"],
    "team-kv1/app/*": ["read"],
  });
}

const LATEST = { token: `v2-${CANARY}`, username: "mlflow" };
const signal = (): AbortSignal => new AbortController().signal;

function calls(vault: VaultDouble, path: string): RecordedRequest[] {
  return vault.requests.filter((r) => r.path === path);
}

function logins(vault: VaultDouble): RecordedRequest[] {
  return vault.requests.filter((r) => r.path.endsWith("/login"));
}

async function rejection(p: Promise<unknown>): Promise<SecretResolutionError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof SecretResolutionError, `expected SecretResolutionError, got ${e}`);
    return e;
  }
  throw new Error("expected a rejection");
}

// ---- auth methods -------------------------------------------------------------------------

Deno.test("createVaultProvider() reads KV v2 on a non-secret mount with a token from VAULT_TOKEN", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ id: TOKEN, policies: ["mlflow-reader"] });
  const p = h.provider({});
  const r = await p.resolve({ path: "mlflow/auth", mount: "ml-kv" }, { signal: signal() });
  assertEquals(r.value, LATEST);
  assertEquals(r.version, "2");
  assertEquals(r.maxTtlMs, undefined, "a token without TTL and KV v2 bound nothing");
  assertEquals(h.vault.requests.map((q) => q.path), [
    "auth/token/lookup-self",
    "sys/internal/ui/mounts/ml-kv/mlflow/auth",
    "ml-kv/data/mlflow/auth",
  ]);
  for (const q of h.vault.requests) {
    assertEquals(q.token, "valid");
    assert(q.headerNames.includes("x-vault-token"), "X-Vault-Token sent");
    assert(q.headerNames.includes("x-vault-request"), "X-Vault-Request sent");
    assert(!q.headerNames.includes("x-vault-namespace"), "no namespace header without namespace");
  }
  assertEquals(h.redactor.redact(`t=${TOKEN}`), "t=***");
});

Deno.test("createVaultProvider() takes the token from the variable named by token_env", async () => {
  await using h = await harness();
  h.env.CI_VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  h.env.VAULT_TOKEN = "hvs.wrong-token";
  const p = h.provider({ auth: { method: "token", token_env: "CI_VAULT_TOKEN" } });
  const r = await p.resolve({ path: "mlflow/auth", mount: "ml-kv", kv: 2 }, { signal: signal() });
  assertEquals(r.value, LATEST);
});

Deno.test("createVaultProvider() re-reads token_file when the file changes", async () => {
  await using h = await harness();
  const first = h.vault.createToken({ policies: ["mlflow-reader"] });
  const path = await h.file(`${first}\n`);
  const p = h.provider({ auth: { method: "token_file", token_file: path } });
  const ref = { path: "mlflow/auth", mount: "ml-kv", kv: 2 };
  assertEquals((await p.resolve(ref, { signal: signal() })).value, LATEST);
  await p.resolve(ref, { signal: signal() });
  assertEquals(calls(h.vault, "auth/token/lookup-self").length, 1, "same file, same token");

  // Vault Agent renders a new token (write, then rename over the sink) and the old one is revoked.
  const second = h.vault.createToken({ policies: ["mlflow-reader"] });
  await Deno.writeTextFile(`${path}.tmp`, `${second}\n`);
  await Deno.rename(`${path}.tmp`, path);
  h.vault.revokeToken(first);
  h.vault.clearRequests();
  assertEquals((await p.resolve(ref, { signal: signal() })).value, LATEST);
  assertEquals(h.vault.requests.map((q) => `${q.path} ${q.token}`), [
    "auth/token/lookup-self valid",
    "ml-kv/data/mlflow/auth valid",
  ]);
});

Deno.test("createVaultProvider() re-reads a token file rewritten in place once Vault rejects the old token", async () => {
  await using h = await harness();
  const first = h.vault.createToken({ policies: ["mlflow-reader"] });
  const path = await h.file(first);
  const p = h.provider({ auth: { method: "token_file", token_file: path } });
  const ref = { path: "mlflow/auth", mount: "ml-kv", kv: 2 };
  await p.resolve(ref, { signal: signal() });
  // Same inode, same length, possibly the same mtime tick: the stat may not show the change.
  const second = h.vault.createToken({ policies: ["mlflow-reader"] });
  assertEquals(second.length, first.length);
  await Deno.writeTextFile(path, second);
  h.vault.revokeToken(first);
  assertEquals((await p.resolve(ref, { signal: signal() })).value, LATEST);
  const reads = calls(h.vault, "ml-kv/data/mlflow/auth").map((q) => q.token);
  assertEquals(reads.at(-1), "valid");
  assert(reads.length <= 3, "at most one read with the old token");
});

Deno.test("createVaultProvider() logs in with AppRole, role id from env and secret id from a file", async () => {
  await using h = await harness();
  h.vault.addAppRole({
    mount: "ci-approle",
    roleName: "mlflow-ci",
    roleId: ROLE_ID,
    secretId: SECRET_ID,
    policies: ["mlflow-reader"],
    tokenTtlSeconds: 3600,
  });
  h.env.VAULT_ROLE_ID = ROLE_ID;
  const p = h.provider({
    auth: {
      method: "approle",
      mount: "ci-approle",
      role_id_env: "VAULT_ROLE_ID",
      secret_id_file: await h.file(`${SECRET_ID}\n`),
    },
  });
  const r = await p.resolve({ path: "mlflow/auth", mount: "ml-kv" }, { signal: signal() });
  assertEquals(r.value, LATEST);
  assertEquals(r.maxTtlMs, 3_600_000, "bounded by the login token's TTL");
  const [login] = logins(h.vault);
  assertEquals(login?.path, "auth/ci-approle/login");
  assertEquals(login?.token, "absent", "a login carries no token");
  assert(h.vault.requests.slice(1).every((q) => q.token === "valid"));
  assertEquals(h.redactor.redact(`${ROLE_ID} ${SECRET_ID}`), "*** ***");
});

Deno.test("createVaultProvider() logs in with AppRole whose role id comes from a file and has no secret id", async () => {
  await using h = await harness();
  h.vault.addAppRole({ roleName: "bound-by-cidr", roleId: ROLE_ID, policies: ["mlflow-reader"] });
  const p = h.provider({
    auth: { method: "approle", role_id_file: await h.file(ROLE_ID) },
  });
  const r = await p.resolve({ path: "mlflow/auth", mount: "ml-kv" }, { signal: signal() });
  assertEquals(r.value, LATEST);
  assertEquals(logins(h.vault).map((q) => q.path), ["auth/approle/login"]);
});

Deno.test("createVaultProvider() logs in with Kubernetes using the service-account token file", async () => {
  await using h = await harness();
  h.vault.addKubernetesRole({
    mount: "k8s-prod",
    role: "mlflow",
    jwts: [JWT],
    policies: ["mlflow-reader"],
    tokenTtlSeconds: 900,
  });
  const p = h.provider({
    auth: { method: "kubernetes", role: "mlflow", mount: "k8s-prod", jwt_file: await h.file(JWT) },
  });
  const r = await p.resolve({ path: "team-kv1/app/db" }, { signal: signal() });
  assertEquals(r.value, { password: `db-${CANARY}` });
  assertEquals(r.maxTtlMs, 900_000, "token TTL (900 s) is shorter than the KV v1 lease");
  assertEquals(logins(h.vault).map((q) => q.path), ["auth/k8s-prod/login"]);
  assertEquals(h.redactor.redact(JWT), "***");
});

Deno.test("createVaultProvider() reports a refused Kubernetes login with the role and mount, not the JWT", async () => {
  await using h = await harness();
  h.vault.addKubernetesRole({ role: "mlflow", jwts: ["another.jwt.value"] });
  const p = h.provider({
    auth: { method: "kubernetes", role: "mlflow", jwt_file: await h.file(JWT) },
  });
  const err = await rejection(
    p.resolve({ path: "mlflow/auth", mount: "ml-kv" }, { signal: signal() }),
  );
  assertEquals(err.status, 403);
  assertEquals(err.transient, false);
  assertStringIncludes(err.message, 'Kubernetes login at "auth/kubernetes/login" failed');
  assertStringIncludes(err.message, 'role "mlflow"');
  assertNoCanary(err, CANARY);
});

// ---- KV v1, v2, auto, versions, namespaces ------------------------------------------------

Deno.test("createVaultProvider() reads KV v1 and bounds the cache by its lease_duration", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  const db = await p.resolve({ path: "app/db", mount: "team-kv1" }, { signal: signal() });
  assertEquals(db.value, { password: `db-${CANARY}` });
  assertEquals(db.maxTtlMs, 1_800_000, "the mount's default lease TTL");
  assertEquals(db.version, undefined);
  const short = await p.resolve({ path: "app/short", mount: "team-kv1", kv: 1 }, {
    signal: signal(),
  });
  assertEquals(short.maxTtlMs, 90_000, "the ttl key of a KV v1 secret sets its lease");
  assertEquals(calls(h.vault, "team-kv1/app/short").length, 1);
  assertEquals(calls(h.vault, "sys/internal/ui/mounts/team-kv1/app/short").length, 0);
});

Deno.test("createVaultProvider() finds the mount and KV version from the full path when mount is omitted", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  const v2 = await p.resolve({ path: "ml-kv/mlflow/auth" }, { signal: signal() });
  assertEquals(v2.value, LATEST);
  const v1 = await p.resolve({ path: "team-kv1/app/db", kv: "auto" }, { signal: signal() });
  assertEquals(v1.value, { password: `db-${CANARY}` });
  assert(calls(h.vault, "ml-kv/data/mlflow/auth").length === 1, "KV v2 read through data/");
  assert(calls(h.vault, "team-kv1/app/db").length === 1, "KV v1 read of the path");
});

Deno.test("createVaultProvider() asks for a mount once and skips the lookup when mount and kv are given", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  for (let i = 0; i < 3; i++) {
    await p.resolve({ path: "mlflow/auth", mount: "ml-kv" }, { signal: signal() });
  }
  assertEquals(calls(h.vault, "sys/internal/ui/mounts/ml-kv/mlflow/auth").length, 1);
  h.vault.clearRequests();
  await p.resolve({ path: "mlflow/auth", mount: "ml-kv", kv: 2 }, { signal: signal() });
  assertEquals(h.vault.requests.map((q) => q.path), ["ml-kv/data/mlflow/auth"]);
});

Deno.test("createVaultProvider() pins a KV v2 version", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  const ref = { path: "mlflow/auth", mount: "ml-kv", version: 1 };
  const r = await p.resolve(ref, { signal: signal() });
  assertEquals(r.value, { token: `v1-${CANARY}` });
  assertEquals(r.version, "1");
  assertEquals(calls(h.vault, "ml-kv/data/mlflow/auth").map((q) => q.query), ["version=1"]);
  assertEquals(p.describe(ref), "ml-kv/mlflow/auth?version=1");
});

Deno.test("createVaultProvider() sends X-Vault-Namespace on every call", async () => {
  await using h = await harness();
  h.vault.mountKv("secret", 2, { namespace: "ml-platform" });
  h.vault.writeKv("secret", "mlflow/auth", { token: `ns-${CANARY}` }, { namespace: "ml-platform" });
  h.vault.writePolicy("ns-reader", { "secret/data/*": ["read"] }, { namespace: "ml-platform" });
  h.vault.addAppRole({
    namespace: "ml-platform",
    roleName: "mlflow",
    roleId: ROLE_ID,
    secretId: SECRET_ID,
    policies: ["ns-reader"],
  });
  h.env.ROLE = ROLE_ID;
  h.env.SECRET = SECRET_ID;
  const p = h.provider({
    namespace: "ml-platform",
    auth: { method: "approle", role_id_env: "ROLE", secret_id_env: "SECRET" },
  });
  const r = await p.resolve({ path: "mlflow/auth", mount: "secret" }, { signal: signal() });
  assertEquals(r.value, { token: `ns-${CANARY}` });
  assertEquals(h.vault.requests.length, 3);
  for (const q of h.vault.requests) {
    assertEquals(q.namespace, "ml-platform");
    assert(q.headerNames.includes("x-vault-namespace"));
  }
});

Deno.test("createVaultProvider() does not pick up VAULT_NAMESPACE or VAULT_TOKEN from the process", async () => {
  await using h = await harness();
  const token = h.vault.createToken({ policies: ["mlflow-reader"] });
  h.env.MY_TOKEN = token;
  const saved = { ns: Deno.env.get("VAULT_NAMESPACE"), tok: Deno.env.get("VAULT_TOKEN") };
  Deno.env.set("VAULT_NAMESPACE", "from-the-process");
  Deno.env.set("VAULT_TOKEN", "hvs.from-the-process");
  try {
    const p = h.provider({ auth: { method: "token", token_env: "MY_TOKEN" } });
    await p.resolve({ path: "mlflow/auth", mount: "ml-kv", kv: 2 }, { signal: signal() });
    assert(h.vault.requests.every((q) => q.namespace === "" && q.token === "valid"));
  } finally {
    for (const [k, v] of [["VAULT_NAMESPACE", saved.ns], ["VAULT_TOKEN", saved.tok]] as const) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
});

// ---- token lifecycle ----------------------------------------------------------------------

function approle(h: Harness, spec: { ttl: number; maxTtl?: number; renewable?: boolean }) {
  h.vault.addAppRole({
    roleName: "mlflow",
    roleId: ROLE_ID,
    secretId: SECRET_ID,
    policies: ["mlflow-reader"],
    tokenTtlSeconds: spec.ttl,
    ...(spec.maxTtl !== undefined ? { tokenMaxTtlSeconds: spec.maxTtl } : {}),
    ...(spec.renewable !== undefined ? { renewable: spec.renewable } : {}),
  });
  h.env.ROLE = ROLE_ID;
  h.env.SECRET = SECRET_ID;
  return h.provider({ auth: { method: "approle", role_id_env: "ROLE", secret_id_env: "SECRET" } });
}

const REF: SecretRef = { path: "mlflow/auth", mount: "ml-kv", kv: 2 };

Deno.test("createVaultProvider() renews a renewable login token after two thirds of its TTL, with no timer", async () => {
  await using h = await harness();
  const p = approle(h, { ttl: 300, maxTtl: 3600 });
  await p.resolve(REF, { signal: signal() });
  h.clock.advance(150_000); // half the TTL: nothing to do
  await p.resolve(REF, { signal: signal() });
  assertEquals(calls(h.vault, "auth/token/renew-self").length, 0);
  h.clock.advance(60_000); // 210 s > 200 s
  const r = await p.resolve(REF, { signal: signal() });
  assertEquals(calls(h.vault, "auth/token/renew-self").length, 1);
  assertEquals(logins(h.vault).length, 1, "renewed, not logged in again");
  assertEquals(r.maxTtlMs, 300_000, "the renewed TTL");
  h.clock.advance(150_000); // 360 s after the login: the renewal kept the token alive
  assertEquals((await p.resolve(REF, { signal: signal() })).value, LATEST);
  assertEquals(logins(h.vault).length, 1);
});

Deno.test("createVaultProvider() logs in again when the login token has expired", async () => {
  await using h = await harness();
  const p = approle(h, { ttl: 60, renewable: false });
  await p.resolve(REF, { signal: signal() });
  h.clock.advance(61_000);
  const r = await p.resolve(REF, { signal: signal() });
  assertEquals(r.value, LATEST);
  assertEquals(logins(h.vault).length, 2);
  assertEquals(calls(h.vault, "auth/token/renew-self").length, 0, "not renewable");
  assert(calls(h.vault, "ml-kv/data/mlflow/auth").every((q) => q.token === "valid"));
});

Deno.test("createVaultProvider() stops renewing at the token's max TTL and logs in again before it ends", async () => {
  await using h = await harness();
  const p = approle(h, { ttl: 300, maxTtl: 300 });
  await p.resolve(REF, { signal: signal() });
  h.clock.advance(210_000);
  await p.resolve(REF, { signal: signal() }); // renewal capped: 90 s left, no gain
  assertEquals(calls(h.vault, "auth/token/renew-self").length, 1);
  h.clock.advance(60_000); // 270 s: still valid, and not renewed again
  await p.resolve(REF, { signal: signal() });
  assertEquals(calls(h.vault, "auth/token/renew-self").length, 1);
  assertEquals(logins(h.vault).length, 1);
  h.clock.advance(25_000); // 295 s: within the expiry margin
  const r = await p.resolve(REF, { signal: signal() });
  assertEquals(r.value, LATEST);
  assertEquals(logins(h.vault).length, 2);
  assert(calls(h.vault, "ml-kv/data/mlflow/auth").every((q) => q.token === "valid"));
});

Deno.test("createVaultProvider() logs in again once after Vault revoked its token", async () => {
  await using h = await harness();
  const p = approle(h, { ttl: 3600 });
  await p.resolve(REF, { signal: signal() });
  h.vault.revokeAllTokens();
  const r = await p.resolve(REF, { signal: signal() });
  assertEquals(r.value, LATEST);
  assertEquals(logins(h.vault).length, 2);
  assertEquals(
    calls(h.vault, "ml-kv/data/mlflow/auth").map((q) => q.token),
    ["valid", "invalid", "valid"],
  );
});

Deno.test("createVaultProvider() uses a rotated VAULT_TOKEN once Vault rejects the old one", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  await p.resolve(REF, { signal: signal() });
  h.vault.revokeAllTokens();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  assertEquals((await p.resolve(REF, { signal: signal() })).value, LATEST);
});

Deno.test("createVaultProvider() shares one login between concurrent reads", async () => {
  await using h = await harness();
  const p = approle(h, { ttl: 3600 });
  const refs = [REF, { path: "app/db", mount: "team-kv1", kv: 1 }, REF];
  const results = await Promise.all(refs.map((ref) => p.resolve(ref, { signal: signal() })));
  assertEquals(results.length, 3);
  assertEquals(logins(h.vault).length, 1);
});

Deno.test("createVaultProvider() reads a new AppRole secret id from its file at the next login", async () => {
  await using h = await harness();
  h.vault.addAppRole({
    roleName: "mlflow",
    roleId: ROLE_ID,
    secretId: SECRET_ID,
    policies: ["mlflow-reader"],
    tokenTtlSeconds: 60,
    renewable: false,
  });
  const secretFile = await h.file(SECRET_ID);
  const p = h.provider({
    auth: { method: "approle", role_id_file: await h.file(ROLE_ID), secret_id_file: secretFile },
  });
  await p.resolve(REF, { signal: signal() });
  h.vault.rotateAppRoleSecretId("mlflow", `${SECRET_ID}-2`);
  await Deno.writeTextFile(secretFile, `${SECRET_ID}-2`);
  h.clock.advance(61_000);
  assertEquals((await p.resolve(REF, { signal: signal() })).value, LATEST);
  assertEquals(logins(h.vault).map((q) => q.status), [200, 200]);
});

// ---- failures -----------------------------------------------------------------------------

Deno.test("createVaultProvider() reports a 403 without retrying it: one call for the secret", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ id: TOKEN, policies: ["mlflow-reader"] });
  const p = h.provider({});
  const err = await rejection(
    p.resolve({ path: "private/x", mount: "ml-kv", kv: 2 }, { signal: signal() }),
  );
  assertEquals(err.status, 403);
  assertEquals(err.transient, false);
  assertEquals(err.provider, "corp-vault");
  assertEquals(err.reference, "ml-kv/private/x");
  assertStringIncludes(err.message, '"ml-kv/data/private/x"');
  assertStringIncludes(err.message, 'auth method token from "VAULT_TOKEN"');
  assertStringIncludes(err.message, "the token is valid, but check that the token's policies");
  assertEquals(calls(h.vault, "ml-kv/data/private/x").length, 1);
  assertEquals(
    h.vault.requests.map((q) => q.path),
    ["auth/token/lookup-self", "ml-kv/data/private/x", "auth/token/lookup-self"],
    "lookup-self, the one read, and lookup-self again to tell a policy from a bad token",
  );
  assertNoCanary(err, CANARY);
});

Deno.test("createVaultProvider() reports an unknown token as a bad token, not a policy (as on OpenBao)", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = `hvs.unknown-${CANARY}`;
  const p = h.provider({});
  for (const ref of [REF, { path: "ml-kv/mlflow/auth", field: "token" }]) {
    const err = await rejection(p.resolve(ref, { signal: signal() }));
    assertEquals(err.status, 403);
    assertStringIncludes(
      err.message,
      'Vault refused the token (auth method token from "VAULT_TOKEN")',
    );
    assertStringIncludes(err.message, 'the token in "VAULT_TOKEN" is invalid, expired or revoked');
    assert(!err.message.includes("policies"), err.message);
    assertNoCanary(err, CANARY);
  }
});

Deno.test("createVaultProvider() logs in again once on a 403 with AppRole, then reports it", async () => {
  await using h = await harness();
  const p = approle(h, { ttl: 3600 });
  const err = await rejection(
    p.resolve({ path: "private/x", mount: "ml-kv", kv: 2 }, { signal: signal() }),
  );
  assertEquals(err.status, 403);
  assertEquals(err.transient, false);
  assertStringIncludes(err.message, 'auth method approle on "auth/approle"');
  assertEquals(h.vault.requests.map((q) => q.path), [
    "auth/approle/login",
    "ml-kv/data/private/x",
    "auth/approle/login",
    "ml-kv/data/private/x",
  ]);
  assertNoCanary(err, CANARY);
});

Deno.test("createVaultProvider() explains a 404 with the mount, the path and the KV version tried", async () => {
  await using h = await harness();
  h.vault.writePolicy("wide", { "ml-kv/*": ["read"], "team-kv1/*": ["read"] });
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["wide"] });
  h.vault.writeKv("ml-kv", "mlflow/auth", { token: "v3" });
  h.vault.writeKv("ml-kv", "mlflow/auth", { token: "v4" });
  h.vault.deleteKvVersions("ml-kv", "mlflow/auth", [3]);
  h.vault.destroyKvVersions("ml-kv", "mlflow/auth", [4]);
  const p = h.provider({});
  const cases: [SecretRef, string][] = [
    [
      { path: "nope/x", mount: "ml-kv" },
      'no secret at "nope/x" on KV v2 mount "ml-kv" (read "ml-kv/data/nope/x", KV version 2)',
    ],
    [{ path: "nope/x", mount: "team-kv1", kv: 1 }, '(read "team-kv1/nope/x", KV version 1)'],
    [
      { path: "mlflow/auth", mount: "ml-kv", version: 3 },
      'version 3 of "mlflow/auth" on KV v2 mount "ml-kv" was deleted',
    ],
    [{ path: "mlflow/auth", mount: "ml-kv", version: 4 }, "was destroyed"],
    [
      { path: "mlflow/auth", mount: "ml-kv", kv: 1 },
      '"ml-kv" is a KV v2 mount but "mlflow/auth" was read as KV v1',
    ],
  ];
  for (const [ref, text] of cases) {
    const err = await rejection(p.resolve(ref, { signal: signal() }));
    assertEquals(err.status, 404, JSON.stringify(ref));
    assertEquals(err.transient, false);
    assertStringIncludes(err.message, text);
    assertNoCanary(err, CANARY);
  }
  // The newest version is deleted and destroyed now: an unpinned read says so too.
  const err = await rejection(
    p.resolve({ path: "mlflow/auth", mount: "ml-kv" }, { signal: signal() }),
  );
  assertStringIncludes(err.message, "version 4");
});

Deno.test("createVaultProvider() rejects version on a KV v1 mount", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  const err = await rejection(
    p.resolve({ path: "app/db", mount: "team-kv1", version: 2 }, { signal: signal() }),
  );
  assertStringIncludes(err.message, "KV v1");
  assertEquals(err.transient, false);
  await assertRejects(
    () => p.resolve({ path: "app/db", mount: "team-kv1", kv: 1, version: 2 }, { signal: signal() }),
    SecretResolutionError,
    "KV v2 only",
  );
});

Deno.test("createVaultProvider() treats a sealed Vault as transient, so the runtime retries it", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  await p.resolve(REF, { signal: signal() });
  h.vault.setSealed(true);
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 1, maxDelayMs: 2 };
  const err = await rejection(
    retry((s) => p.resolve(REF, { signal: s }), { policy, random: () => 0 }),
  );
  assertEquals(err.status, 503);
  assertEquals(err.transient, true);
  assertStringIncludes(err.message, "Vault is sealed");
  assertEquals(calls(h.vault, "ml-kv/data/mlflow/auth").length, 1 + 3, "three attempts");

  h.vault.setSealed(false);
  h.vault.injectFailure({
    pathPrefix: "ml-kv/",
    status: 503,
    errors: ["Vault is sealed"],
    times: 2,
  });
  const r = await retry((s) => p.resolve(REF, { signal: s }), { policy, random: () => 0 });
  assertEquals(r.value, LATEST, "unsealed during the retries");
});

Deno.test("createVaultProvider() treats 429, 5xx and network errors as transient", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  await p.resolve(REF, { signal: signal() });
  for (const status of [429, 500, 502]) {
    h.vault.injectFailure({ pathPrefix: "ml-kv/", status, times: 1 });
    const err = await rejection(p.resolve(REF, { signal: signal() }));
    assertEquals(err.status, status);
    assertEquals(err.transient, true, `status ${status}`);
  }
  const gone = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
  const address = `http://127.0.0.1:${gone.addr.port}`;
  await gone.shutdown();
  const offline = h.provider({ address });
  const err = await rejection(offline.resolve(REF, { signal: signal() }));
  assertEquals(err.transient, true);
  assertStringIncludes(err.message, `cannot reach Vault at "${address}"`);
  assertNoCanary(err, CANARY);
});

Deno.test("createVaultProvider() treats a Node-style error with a transient network code as transient", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const reset = (): Promise<Response> =>
    Promise.reject(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
  const p = h.provider({}, { fetch: reset });
  const err = await rejection(p.resolve(REF, { signal: signal() }));
  assertEquals(err.transient, true);
  assertStringIncludes(err.message, `cannot reach Vault at "${h.vault.address}"`);
  assertNoCanary(err, CANARY);
});

Deno.test("createVaultProvider() never follows a redirect, so the token cannot reach another host", async () => {
  await using h = await harness();
  const seen: string[][] = [];
  await using elsewhere = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push([...req.headers.keys()]);
    return Response.json({ data: { data: { token: "from-elsewhere" }, metadata: { version: 1 } } });
  });
  const leader = `http://127.0.0.1:${elsewhere.addr.port}`;
  h.env.VAULT_TOKEN = h.vault.createToken({ id: TOKEN, policies: ["mlflow-reader"] });
  const p = h.provider({});
  await p.resolve(REF, { signal: signal() });
  h.vault.setStandby({ leader }); // a standby redirects with 307 to the active node

  const err = await rejection(p.resolve(REF, { signal: signal() }));
  assertEquals(err.status, 307);
  assertEquals(err.transient, false);
  assertStringIncludes(err.message, `redirect to "${leader}"`);
  assertStringIncludes(err.message, "never followed");
  assertEquals(seen.length, 0, "nothing reached the other host");
  assertNoCanary(err, CANARY);

  // Control: node-vault's own transport follows the redirect and hands the token over. This
  // proves the assertion above can fail.
  const { default: nodeVault } = await import("../../deps/node_vault.ts") as unknown as {
    default: (o: Record<string, unknown>) => { read(path: string): Promise<unknown> };
  };
  await nodeVault({ endpoint: h.vault.address, token: TOKEN }).read("ml-kv/data/mlflow/auth");
  assertEquals(seen.length, 1);
  assert(seen[0]!.includes("x-vault-token"), "stock node-vault leaks the token on a redirect");
});

Deno.test("createVaultProvider() keeps tokens, role ids, secret ids and JWTs out of errors and logs", async () => {
  await using h = await harness();
  h.vault.addAppRole({ roleName: "r", roleId: ROLE_ID, secretId: "another-secret-id" });
  h.env.ROLE = ROLE_ID;
  h.env.SECRET = SECRET_ID;
  h.env.VAULT_TOKEN = TOKEN; // unknown to Vault
  h.vault.addKubernetesRole({ role: "k", jwts: [] });
  const jwtFile = await h.file(JWT);
  h.vault.addAppRole({
    mount: "good",
    roleName: "good",
    roleId: `good-${ROLE_ID}`,
    secretId: `good-${SECRET_ID}`,
    policies: ["mlflow-reader"],
    tokenTtlSeconds: 60,
  });
  h.env.GOOD_ROLE = `good-${ROLE_ID}`;
  h.env.GOOD_SECRET = `good-${SECRET_ID}`;
  const good = h.provider({
    auth: {
      method: "approle",
      mount: "good",
      role_id_env: "GOOD_ROLE",
      secret_id_env: "GOOD_SECRET",
    },
  });
  await good.resolve(REF, { signal: signal() }); // logs the login
  h.clock.advance(45_000);
  h.vault.injectFailure({ pathPrefix: "auth/token/renew-self", status: 500, times: 1 });
  await good.resolve(REF, { signal: signal() }); // logs the failed renewal
  assert(h.logs.some((l) => l.includes("renewal failed")), "renewal failure logged");
  const failing: [Partial<VaultProviderOptions>, SecretRef][] = [
    [{}, REF],
    [{}, { path: "private/x", mount: "ml-kv" }],
    [{ auth: { method: "approle", role_id_env: "ROLE", secret_id_env: "SECRET" } }, REF],
    [{ auth: { method: "kubernetes", role: "k", jwt_file: jwtFile } }, REF],
    [{ auth: { method: "kubernetes", role: "nope", jwt_file: jwtFile } }, REF],
    [{ auth: { method: "token_file", token_file: await h.file(TOKEN) } }, REF],
  ];
  for (const [options, ref] of failing) {
    const err = await rejection(h.provider(options).resolve(ref, { signal: signal() }));
    assertNoCanary(err, CANARY);
    assert(err.cause !== undefined, "failures carry a cause");
  }
  h.vault.setSealed(true);
  const sealedErr = await rejection(h.provider({}).resolve(REF, { signal: signal() }));
  assertNoCanary(sealedErr, CANARY);
  assert(h.logs.length > 0, "the provider logs");
  assertNoCanary(h.logs.join("\n"), CANARY);
});

Deno.test("createVaultProvider() reports an unset token variable and a missing token file clearly", async () => {
  await using h = await harness();
  let err = await rejection(h.provider({}).resolve(REF, { signal: signal() }));
  assertStringIncludes(err.message, 'environment variable "VAULT_TOKEN" (Vault token) is not set');
  assertEquals(err.transient, false);
  err = await rejection(
    h.provider({ auth: { method: "token_file", token_file: "/nonexistent/.vault-token" } })
      .resolve(REF, { signal: signal() }),
  );
  assertStringIncludes(
    err.message,
    'file "/nonexistent/.vault-token" (Vault token) does not exist',
  );
  h.env.HOME = "/nonexistent-home";
  err = await rejection(
    h.provider({ auth: { method: "token_file" } }).resolve(REF, { signal: signal() }),
  );
  assertStringIncludes(err.message, '"/nonexistent-home/.vault-token"');
  assertEquals(h.vault.requests.length, 0, "nothing was sent without a token");
});

// ---- references ---------------------------------------------------------------------------

Deno.test("createVaultProvider() leaves field selection to the runtime and names the field in describe()", async () => {
  await using h = await harness();
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  const p = h.provider({});
  const ref = { path: "/mlflow/auth/", mount: "ml-kv/", field: "missing-field" };
  assertEquals(p.describe(ref), "ml-kv/mlflow/auth#missing-field");
  assertEquals(
    p.describe({ path: "secret/mlflow/auth", field: "token" }),
    "secret/mlflow/auth#token",
  );
  // The provider returns the whole data object; the runtime selects (and reports) the field.
  assertEquals((await p.resolve(ref, { signal: signal() })).value, LATEST);
});

Deno.test("createVaultProvider() rejects a reference without a path or with a bad kv", async () => {
  await using h = await harness();
  const p = h.provider({});
  await assertRejects(
    () => p.resolve({ mount: "ml-kv" }, { signal: signal() }),
    SecretResolutionError,
    '"path"',
  );
  await assertRejects(
    () => p.resolve({ path: "x", kv: 3 }, { signal: signal() }),
    SecretResolutionError,
    "is not 1, 2 or auto",
  );
  await assertRejects(
    () => p.resolve({ path: "x", version: 0 }, { signal: signal() }),
    SecretResolutionError,
    "positive integer",
  );
});

// ---- configuration ------------------------------------------------------------------------

Deno.test("createVaultProvider() rejects http:// to a host that is not loopback unless allowed", async () => {
  await using h = await harness();
  const err = assertThrows(
    () => h.provider({ address: "http://vault.company.com:8200" }),
    Error,
    "allow_insecure_http",
  );
  assertStringIncludes(err.message, 'Cannot configure provider "corp-vault"');
  h.provider({ address: "http://vault.company.com:8200", allow_insecure_http: true });
  h.provider({ address: "http://localhost:8200" });
  h.provider({ address: "http://[::1]:8200" });
  h.provider({ address: "http://127.10.0.1:8200" });
  assertThrows(
    () => h.provider({ address: "http://localhost.:8200" }),
    Error,
    "allow_insecure_http",
  );
  h.provider({ address: "https://vault.company.com:8200" });
  assertThrows(() => h.provider({ address: "ftp://vault" }), Error, "https://");
  assertThrows(() => h.provider({ address: "vault:8200/x" }), Error);
  assertThrows(() => h.provider({ address: "https://u:p@vault:8200" }), Error, "credentials");
});

Deno.test("createVaultProvider() rejects incomplete auth and TLS settings when created", async () => {
  await using h = await harness();
  const cases: [Partial<VaultProviderOptions>, string][] = [
    [{ auth: { method: "approle" } }, "exactly one of role_id_env and role_id_file"],
    [
      { auth: { method: "approle", role_id_env: "A", role_id_file: "/f" } },
      "exactly one of role_id_env and role_id_file",
    ],
    [
      { auth: { method: "approle", role_id_env: "A", secret_id_env: "B", secret_id_file: "/f" } },
      "at most one of secret_id_env and secret_id_file",
    ],
    [{ auth: { method: "kubernetes" } }, "needs auth.role"],
    [{ auth: { method: "ldap" as "token" } }, 'auth.method "ldap" is unknown'],
    [{ auth: { method: "token", token_env: "NOT-A-NAME" } }, "not an environment variable name"],
    [{ auth: { method: "approle", role_id_env: "A", mount: "app{{x}}" } }, "auth.mount"],
    [
      { address: "https://vault:8200", tls: { client_cert: "/c.pem" } },
      "tls.client_cert and tls.client_key go together",
    ],
    [{ tls: { ca_cert: "/ca.pem" } }, "tls settings need an https:// address"],
  ];
  for (const [options, text] of cases) {
    assertThrows(() => h.provider(options), Error, text);
  }
  assertEquals(h.vault.requests.length, 0, "creating a provider does no I/O");
});

Deno.test("createVaultProvider() loads node-vault only inside resolve", async () => {
  const dir = new URL("../../providers/vault/", import.meta.url);
  const sources: string[] = [];
  for (const sub of ["", "auth/"]) {
    for await (const entry of Deno.readDir(new URL(sub, dir))) {
      if (entry.isFile && entry.name.endsWith(".ts")) {
        sources.push(await Deno.readTextFile(new URL(sub + entry.name, dir)));
      }
    }
  }
  for (const source of sources) {
    assert(
      !/^import[^;]*["'][^"']*node_vault[^"']*["']/m.test(source),
      "no static import of node-vault",
    );
  }
  assertStringIncludes(sources.join("\n"), 'await import("../../deps/node_vault.ts")');
});

// ---- TLS ----------------------------------------------------------------------------------

Deno.test("createVaultProvider() trusts a private CA from tls.ca_cert and loads a client certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vault_pki_" });
  try {
    const pki = await issueTestCertificates({ client: true, dir });
    const clock = new Clock();
    await using vault = await VaultDouble.start({
      now: clock.now,
      tls: { cert: pki.cert, key: pki.key },
    });
    assert(vault.address.startsWith("https://127.0.0.1:"));
    seed(vault);
    const token = vault.createToken({ policies: ["mlflow-reader"] });
    const context = {
      env: (n: string) => n === "VAULT_TOKEN" ? token : undefined,
      fetch,
      now: clock.now,
      logger: createLogger({ redactor: new Redactor(), level: "silent" }),
      redactor: new Redactor(),
    };
    const make = (tls: VaultProviderOptions["tls"]) =>
      createVaultProvider("tls-vault", {
        address: vault.address,
        auth: { method: "token" },
        ...(tls ? { tls } : {}),
      }, context);

    const untrusted = make(undefined);
    const err = await rejection(untrusted.resolve(REF, { signal: signal() }));
    assertStringIncludes(err.message, "set tls.ca_cert");
    assertEquals(err.transient, false);
    await untrusted.close?.();

    const trusted = make({ ca_cert: pki.files.ca });
    assertEquals((await trusted.resolve(REF, { signal: signal() })).value, LATEST);
    await trusted.close?.();

    const mutual = make({
      ca_cert: pki.files.ca,
      client_cert: pki.files.client.cert,
      client_key: pki.files.client.key,
    });
    assertEquals((await mutual.resolve(REF, { signal: signal() })).value, LATEST);
    await mutual.close?.();

    const missing = make({ ca_cert: `${dir}/missing.pem` });
    const fileErr = await rejection(missing.resolve(REF, { signal: signal() }));
    assertStringIncludes(fileErr.message, "(tls.ca_cert) does not exist");
    await missing.close?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- contract -----------------------------------------------------------------------------

Deno.test("createVaultProvider() passes the provider contract", async (t) => {
  await using h = await harness();
  h.vault.hang("ml-kv/data/hang/");
  h.env.VAULT_TOKEN = h.vault.createToken({ policies: ["mlflow-reader"] });
  await runProviderContract(t, {
    provider: h.provider({}),
    existing: { ref: { path: "mlflow/auth", mount: "ml-kv", field: "token" }, value: LATEST },
    missing: { path: "mlflow/absent", mount: "ml-kv" },
    denied: { ref: { path: "private/x", mount: "ml-kv", kv: 2 } },
    canary: CANARY,
    hanging: { ref: { path: "hang/forever", mount: "ml-kv", kv: 2 } },
  });
});
