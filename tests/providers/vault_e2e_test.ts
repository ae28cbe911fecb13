/**
 * End to end: a profile with a Vault rule (the Vault double as the server, AppRole login),
 * `createAuthFetch` against a local tracking server that checks the header, and a rotation
 * picked up after one 401.
 */

import { createAuthFetch, parseProfile, SecretResolutionError } from "../../mod.ts";
import { assert, assertEquals, assertNoCanary, assertRejects } from "../_assert.ts";
import { VaultDouble } from "../_peers/vault_double.ts";
import { startServer } from "../_servers.ts";

const ROLE_ID = "e2e-role-id-5b0c";
const SECRET_ID = "e2e-secret-id-93aa";

async function vaultWithSecret(): Promise<VaultDouble> {
  const vault = await VaultDouble.start();
  vault.mountKv("ml-kv", 2);
  vault.writeKv("ml-kv", "mlflow/auth", { token: "tok-before-rotation", username: "mlflow" });
  vault.writePolicy("mlflow-reader", { "ml-kv/data/mlflow/*": ["read"] });
  vault.addAppRole({
    mount: "ci-approle",
    roleName: "mlflow-ci",
    roleId: ROLE_ID,
    secretId: SECRET_ID,
    policies: ["mlflow-reader"],
    tokenTtlSeconds: 3600,
  });
  return vault;
}

function profileText(trackingOrigin: string, field: string): string {
  return `
version: 1
providers:
  corp-vault:
    kind: vault
    address: \${VAULT_ADDR}
    auth:
      method: approle
      mount: ci-approle
      role_id_env: VAULT_ROLE_ID
      secret_id_env: VAULT_SECRET_ID
hosts:
  - match: ${trackingOrigin}
    provider: corp-vault
    secret: { path: mlflow/auth, mount: ml-kv, kv: auto, field: ${field} }
    auth: bearer
`;
}

Deno.test("createAuthFetch() sends a Vault secret and picks up a rotation after one 401", async () => {
  await using vault = await vaultWithSecret();
  let accepted = "tok-before-rotation";
  await using tracking = await startServer((req) =>
    req.headers.get("authorization") === `Bearer ${accepted}`
      ? Response.json({ experiments: [] })
      : new Response("unauthorized", { status: 401 })
  );
  const env: Record<string, string> = {
    VAULT_ADDR: vault.address,
    VAULT_ROLE_ID: ROLE_ID,
    VAULT_SECRET_ID: SECRET_ID,
  };
  const profile = parseProfile(profileText(tracking.origin, "token"), {
    source: "vault-e2e.yaml",
    env,
  });
  const logs: string[] = [];
  await using authFetch = createAuthFetch(profile, {
    env: (n) => env[n],
    logWrite: (l) => logs.push(l),
  });
  const url = `${tracking.origin}/api/2.0/mlflow/experiments/search`;

  const first = await authFetch(url);
  assertEquals(first.status, 200);
  await first.body?.cancel();

  vault.writeKv("ml-kv", "mlflow/auth", { token: "tok-after-rotation", username: "mlflow" });
  accepted = "tok-after-rotation";

  const second = await authFetch(url);
  assertEquals(second.status, 200);
  await second.body?.cancel();

  assertEquals(
    tracking.received.map((r) => r.headers.get("authorization")),
    ["Bearer tok-before-rotation", "Bearer tok-before-rotation", "Bearer tok-after-rotation"],
  );
  const reads = vault.requests.filter((r) => r.path === "ml-kv/data/mlflow/auth");
  assertEquals(reads.length, 2, "one read at start, one refresh after the 401");
  assert(reads.every((r) => r.token === "valid"));
  assertEquals(vault.requests.filter((r) => r.path.endsWith("/login")).length, 1, "one login");
  assertEquals(
    vault.requests.filter((r) => r.path.startsWith("sys/internal/ui/mounts/")).length,
    1,
    "the mount lookup is remembered",
  );
  for (const secret of [ROLE_ID, SECRET_ID, "tok-before-rotation", "tok-after-rotation"]) {
    assertNoCanary(logs.join("\n"), secret);
  }
});

Deno.test("createAuthFetch() fails closed when a Vault secret lacks the rule's field", async () => {
  await using vault = await vaultWithSecret();
  await using tracking = await startServer(() => Response.json({}));
  const env: Record<string, string> = {
    VAULT_ADDR: vault.address,
    VAULT_ROLE_ID: ROLE_ID,
    VAULT_SECRET_ID: SECRET_ID,
  };
  const profile = parseProfile(profileText(tracking.origin, "api_key"), { env });
  await using authFetch = createAuthFetch(profile, { env: (n) => env[n], logWrite: () => {} });
  const err = await assertRejects(
    () => authFetch(`${tracking.origin}/api/2.0/mlflow/experiments/search`),
    SecretResolutionError,
    'no field "api_key"',
  );
  assertEquals(err.field, "api_key");
  assertNoCanary(err, "tok-before-rotation");
  assertEquals(tracking.received.length, 0, "nothing is sent without the credential");
});
