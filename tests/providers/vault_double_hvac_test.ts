/**
 * Holds the Vault double (tests/_peers/vault_double.ts) to a real Vault client written by
 * others: Python's hvac, from the project's virtual environment (scripts/setup.sh). Every read
 * and login the vault provider relies on is performed by hvac against the double; the test
 * fails when hvac disagrees with what the double is expected to answer.
 */

import { VaultDouble } from "../_peers/vault_double.ts";
import { peerEnv } from "../_peers/_process.ts";
import { assert, assertEquals } from "../_assert.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const PYTHON = `${ROOT}.venv/bin/python`;
const SCRIPT = decodeURIComponent(new URL("../_peers/hvac_check.py", import.meta.url).pathname);

Deno.test("VaultDouble answers every provider call the way the hvac client expects", async () => {
  let clock = Date.UTC(2025, 0, 1);
  const now = () => clock;
  await using vault = await VaultDouble.start({ now });
  await using sealed = await VaultDouble.start({ now });
  sealed.setSealed(true);

  vault.mountKv("team-kv1", 1, { defaultLeaseTtlSeconds: 1800 });
  vault.writeKv("team-kv1", "app/db", { username: "svc", password: "kv1-canary" });
  vault.mountKv("ml-kv", 2);
  vault.writeKv("ml-kv", "mlflow/auth", { token: "v1-value" });
  vault.writeKv("ml-kv", "mlflow/auth", { token: "v2-value" });
  vault.writeKv("ml-kv", "mlflow/auth", { token: "v3-value" });
  vault.writeKv("ml-kv", "mlflow/auth", { token: "v4-value", user: "mlflow" });
  vault.deleteKvVersions("ml-kv", "mlflow/auth", [2]);
  vault.destroyKvVersions("ml-kv", "mlflow/auth", [3]);
  vault.writeKv("ml-kv", "limited/secret", { token: "x" });
  vault.writeKv("ml-kv", "private/secret", { token: "y" });
  vault.injectFailure({ pathPrefix: "ml-kv/data/limited/", status: 429 });
  vault.writePolicy("reader", {
    "team-kv1/app/*": ["read"],
    "ml-kv/data/mlflow/*": ["read"],
    "ml-kv/metadata/mlflow/*": ["read"],
    "ml-kv/data/limited/*": ["read"],
    "ml-kv/data/does/*": ["read"],
    "ml-kv/mlflow/*": ["read"],
  });

  const readerToken = vault.createToken({ policies: ["reader"], ttlSeconds: 3600 });
  const renewableToken = vault.createToken({ ttlSeconds: 600, maxTtlSeconds: 3600 });
  const expiredToken = vault.createToken({ policies: ["reader"], ttlSeconds: 10 });
  clock += 20_000; // the 10 s token is now expired; the others have 20 s less
  vault.addAppRole({
    mount: "ci-approle",
    roleName: "mlflow-ci",
    roleId: "role-id-canary-1",
    secretId: "secret-id-canary-1",
    policies: ["reader"],
    tokenTtlSeconds: 1200,
  });
  vault.addKubernetesRole({
    mount: "k8s-prod",
    role: "mlflow",
    jwts: ["eyJhbGciOiJSUzI1NiJ9.sa-canary.sig"],
    policies: ["reader"],
    tokenTtlSeconds: 900,
  });
  vault.mountKv("secret", 2, { namespace: "ml-platform" });
  vault.writeKv("secret", "mlflow/auth", { token: "ns-value" }, { namespace: "ml-platform" });
  vault.writePolicy("ns-reader", { "secret/data/*": ["read"] }, { namespace: "ml-platform" });
  const nsToken = vault.createToken({ policies: ["ns-reader"], namespace: "ml-platform" });

  const fixture = {
    address: vault.address,
    sealed_address: sealed.address,
    reader_token: readerToken,
    reader_ttl: 3600 - 20,
    renewable_token: renewableToken,
    renewable_ttl: 600,
    renewable_max_left: 3600 - 20,
    expired_token: expiredToken,
    denied_path: "private/secret",
    limited_path: "limited/secret",
    kv1: {
      mount: "team-kv1",
      path: "app/db",
      data: { username: "svc", password: "kv1-canary" },
      lease_duration: 1800,
    },
    kv2: {
      mount: "ml-kv",
      path: "mlflow/auth",
      latest: { token: "v4-value", user: "mlflow" },
      latest_version: 4,
      pinned: { token: "v1-value" },
      pinned_version: 1,
      deleted_version: 2,
      destroyed_version: 3,
    },
    approle: {
      mount: "ci-approle",
      role_id: "role-id-canary-1",
      secret_id: "secret-id-canary-1",
      role_name: "mlflow-ci",
      ttl: 1200,
    },
    kubernetes: {
      mount: "k8s-prod",
      role: "mlflow",
      jwt: "eyJhbGciOiJSUzI1NiJ9.sa-canary.sig",
      ttl: 900,
    },
    namespace: {
      name: "ml-platform",
      token: nsToken,
      mount: "secret",
      path: "mlflow/auth",
      data: { token: "ns-value" },
    },
  };

  const child = new Deno.Command(PYTHON, {
    args: [SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    // hvac reads VAULT_* and ~/.vault-token: none of the machine's may reach it.
    env: peerEnv({ PYTHONDONTWRITEBYTECODE: "1", NO_PROXY: "127.0.0.1", no_proxy: "127.0.0.1" }),
    clearEnv: true,
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(fixture)));
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  let report: { hvac: string; results: Record<string, string> };
  try {
    report = JSON.parse(stdout);
  } catch {
    throw new Error(
      `hvac_check.py printed no report (exit ${out.code}); run scripts/setup.sh first\n${stderr}`,
    );
  }
  const failed = Object.entries(report.results).filter(([, v]) => v !== "ok");
  assertEquals(
    failed.map(([k, v]) => `${k}: ${v}`),
    [],
    `hvac ${report.hvac} disagrees with the double`,
  );
  assertEquals(Object.keys(report.results).length, 20, "every check ran");
  assertEquals(out.code, 0);

  // What hvac sent, as the double recorded it.
  const reqs = vault.requests;
  const logins = reqs.filter((r) => r.path.endsWith("/login"));
  assert(logins.length >= 4, "approle and kubernetes logins were made");
  assert(logins.every((r) => r.token === "absent"), "logins carry no token");
  const nsReads = reqs.filter((r) => r.namespace === "ml-platform");
  assert(nsReads.length >= 1, "hvac sent X-Vault-Namespace");
  assert(
    nsReads.every((r) => r.headerNames.includes("x-vault-namespace")),
    "namespace header recorded by name",
  );
  assert(
    reqs.some((r) => r.path === "ml-kv/data/mlflow/auth" && r.query === "version=1"),
    "pinned version travels as ?version=1",
  );
  assert(
    reqs.some((r) => r.path === "auth/token/lookup-self" && r.token === "invalid"),
    "expired token was rejected as invalid",
  );
  for (const r of reqs) {
    const text = JSON.stringify(r);
    for (const secret of [readerToken, renewableToken, nsToken, "secret-id-canary-1"]) {
      assert(!text.includes(secret), "a recorded request holds a credential");
    }
  }
});
