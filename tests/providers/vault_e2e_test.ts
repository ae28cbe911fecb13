/**
 * End to end: a profile with a Vault rule (the Vault double as the server, AppRole login),
 * `createAuthFetch` against a local tracking server that checks the header, and a rotation
 * picked up after one 401.
 */

import { createAuthFetch, parseProfile, SecretResolutionError } from "../../mod.ts";
import { assert, assertEquals, assertNoCanary, assertRejects } from "../_assert.ts";
import { VaultDouble } from "../_peers/vault_double.ts";
import { startServer } from "../_servers.ts";
import { runRotationScenario, TOKEN_AFTER, TOKEN_BEFORE } from "./_rotation.ts";

const ROLE_ID = "e2e-role-id-5b0c";
const SECRET_ID = "e2e-secret-id-93aa";

async function vaultWithSecret(): Promise<VaultDouble> {
  const vault = await VaultDouble.start();
  vault.mountKv("ml-kv", 2);
  vault.writeKv("ml-kv", "mlflow/auth", { token: TOKEN_BEFORE, username: "mlflow" });
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
  await using run = await runRotationScenario({
    profile: (trackingOrigin) => profileText(trackingOrigin, "token"),
    source: "vault-e2e.yaml",
    env: { VAULT_ADDR: vault.address, VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID },
    rotate: () => {
      vault.writeKv("ml-kv", "mlflow/auth", { token: TOKEN_AFTER, username: "mlflow" });
    },
  });
  const reads = vault.requests.filter((r) => r.path === "ml-kv/data/mlflow/auth");
  assertEquals(reads.length, 2, "one read at start, one refresh after the 401");
  assert(reads.every((r) => r.token === "valid"));
  assertEquals(vault.requests.filter((r) => r.path.endsWith("/login")).length, 1, "one login");
  assertEquals(
    vault.requests.filter((r) => r.path.startsWith("sys/internal/ui/mounts/")).length,
    1,
    "the mount lookup is remembered",
  );
  for (const secret of [ROLE_ID, SECRET_ID, TOKEN_BEFORE, TOKEN_AFTER]) {
    assertNoCanary(run.logs.join("\n"), secret);
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
  assertNoCanary(err, TOKEN_BEFORE);
  assertEquals(tracking.received.length, 0, "nothing is sent without the credential");
});
