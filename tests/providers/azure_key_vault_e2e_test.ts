/**
 * End to end: a profile with an Azure Key Vault rule (the local Key Vault and Entra authority of
 * tests/_peers/key_vault_double.ts, client-secret credentials), `createAuthFetch` against a local
 * server that checks the header, and a rotation picked up after one 401.
 */

import { createAuthFetch, parseProfile } from "../../mod.ts";
import { assertEquals, assertNoCanary } from "../_assert.ts";
import { startKeyVaultDouble } from "../_peers/key_vault_double.ts";
import { startServer } from "../_servers.ts";

Deno.test("createAuthFetch() sends an Azure Key Vault secret and picks up a rotation after one 401", async () => {
  await using vault = await startKeyVaultDouble();
  const clientSecret = `client-secret-${crypto.randomUUID()}`;
  vault.grant(vault.addApp(vault.tenantId, "mlflow-client", clientSecret), ["get"]);
  const { SecretClient } = await import("@azure/keyvault-secrets");
  const { rootCertificates } = await import("node:tls");
  const seed = new SecretClient(vault.vaultUrl, {
    getToken: () =>
      Promise.resolve({ token: vault.adminToken(), expiresOnTimestamp: Date.now() + 3_600_000 }),
  }, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: [...rootCertificates, vault.caCertPem] },
  });
  await seed.setSecret("mlflow-token", JSON.stringify({ token: "tok-before-rotation" }));

  // The tracking server accepts exactly the current token; another server is not in the profile.
  let accepted = "tok-before-rotation";
  await using tracking = await startServer((req) =>
    req.headers.get("authorization") === `Bearer ${accepted}`
      ? Response.json({ experiments: [] })
      : new Response("unauthorized", { status: 401 })
  );
  await using elsewhere = await startServer(() => Response.json({}));

  const env: Record<string, string> = {
    AZURE_VAULT_URL: vault.vaultUrl,
    AZURE_TENANT: vault.tenantId,
    AZURE_AUTHORITY: vault.authorityHost,
    AZURE_CA: vault.caCertPath,
    AZURE_CLIENT_SECRET_MLFLOW: clientSecret,
  };
  const profile = parseProfile(
    `
version: 1
providers:
  azure-ml:
    kind: azure-key-vault
    vault_url: \${AZURE_VAULT_URL}
    credential:
      type: client_secret
      tenant_id: \${AZURE_TENANT}
      client_id: mlflow-client
      client_secret_env: AZURE_CLIENT_SECRET_MLFLOW
      authority_host: \${AZURE_AUTHORITY}
    disable_challenge_resource_verification: true
    tls:
      ca_cert: \${AZURE_CA}
hosts:
  - match: ${tracking.origin}
    provider: azure-ml
    secret: { name: mlflow-token, field: token }
    auth: bearer
`,
    { source: "azure-e2e.yaml", env },
  );
  const logs: string[] = [];
  await using authFetch = createAuthFetch(profile, {
    env: (n) => env[n],
    logWrite: (l) => logs.push(l),
  });
  const url = `${tracking.origin}/api/2.0/mlflow/experiments/search`;

  const first = await authFetch(url);
  assertEquals(first.status, 200);
  await first.body?.cancel();

  await seed.setSecret("mlflow-token", JSON.stringify({ token: "tok-after-rotation" }));
  accepted = "tok-after-rotation";

  const second = await authFetch(url);
  assertEquals(second.status, 200);
  await second.body?.cancel();

  const other = await authFetch(`${elsewhere.origin}/api/2.0/mlflow/experiments/search`);
  await other.body?.cancel();

  assertEquals(
    tracking.received.map((r) => r.headers.get("authorization")),
    [
      "Bearer tok-before-rotation",
      "Bearer tok-before-rotation",
      "Bearer tok-after-rotation",
    ],
  );
  assertEquals(elsewhere.received.map((r) => r.headers.get("authorization")), [null]);
  assertEquals(authFetch.stats.refreshes, 1);
  for (const canary of [clientSecret, "tok-before-rotation", "tok-after-rotation"]) {
    assertNoCanary(logs, canary);
  }
});
