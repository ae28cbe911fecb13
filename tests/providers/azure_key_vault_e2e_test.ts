/**
 * End to end: a profile with an Azure Key Vault rule (the local Key Vault and Entra authority of
 * tests/_peers/key_vault_double.ts, client-secret credentials), `createAuthFetch` against a local
 * server that checks the header, and a rotation picked up after one 401.
 */

import { assertEquals, assertNoCanary } from "../_assert.ts";
import { startKeyVaultDouble } from "../_peers/key_vault_double.ts";
import { startServer } from "../_servers.ts";
import { runRotationScenario, TOKEN_AFTER, TOKEN_BEFORE } from "./_rotation.ts";

Deno.test("createAuthFetch() sends an Azure Key Vault secret and picks up a rotation after one 401", async () => {
  await using vault = await startKeyVaultDouble();
  const clientSecret = `client-secret-${crypto.randomUUID()}`;
  vault.grant(vault.addApp(vault.tenantId, "mlflow-client", clientSecret), ["get"]);
  const { SecretClient } = await import("../../deps/azure_keyvault_secrets.ts");
  const { rootCertificates } = await import("node:tls");
  const seed = new SecretClient(vault.vaultUrl, {
    getToken: () =>
      Promise.resolve({ token: vault.adminToken(), expiresOnTimestamp: Date.now() + 3_600_000 }),
  }, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: [...rootCertificates, vault.caCertPem] },
  });
  await seed.setSecret("mlflow-token", JSON.stringify({ token: TOKEN_BEFORE }));

  // Another server, not in the profile.
  await using elsewhere = await startServer(() => Response.json({}));

  await using run = await runRotationScenario({
    profile: (trackingOrigin) => `
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
  - match: ${trackingOrigin}
    provider: azure-ml
    secret: { name: mlflow-token, field: token }
    auth: bearer
`,
    source: "azure-e2e.yaml",
    env: {
      AZURE_VAULT_URL: vault.vaultUrl,
      AZURE_TENANT: vault.tenantId,
      AZURE_AUTHORITY: vault.authorityHost,
      AZURE_CA: vault.caCertPath,
      AZURE_CLIENT_SECRET_MLFLOW: clientSecret,
    },
    rotate: () => seed.setSecret("mlflow-token", JSON.stringify({ token: TOKEN_AFTER })),
  });

  const other = await run.authFetch(`${elsewhere.origin}/api/2.0/mlflow/experiments/search`);
  await other.body?.cancel();

  assertEquals(elsewhere.received.map((r) => r.headers.get("authorization")), [null]);
  assertEquals(run.authFetch.stats.refreshes, 1);
  for (const canary of [clientSecret, TOKEN_BEFORE, TOKEN_AFTER]) {
    assertNoCanary(run.logs, canary);
  }
});
