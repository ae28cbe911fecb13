/**
 * End to end: a profile with an AWS Secrets Manager rule (moto as the endpoint), `createAuthFetch`
 * against a local server that checks the header, and a rotation picked up after one 401.
 */

import { createAuthFetch, parseProfile } from "../../mod.ts";
import { assertEquals } from "../_assert.ts";
import { MOTO_CREDENTIALS, startMoto } from "../_peers/moto.ts";
import { startServer } from "../_servers.ts";

Deno.test("createAuthFetch() sends an AWS Secrets Manager secret and picks up a rotation after one 401", async () => {
  await using moto = await startMoto({ record: true });
  const sm = await import("@aws-sdk/client-secrets-manager");
  const seed = new sm.SecretsManagerClient({
    region: "eu-west-1",
    endpoint: moto.endpoint,
    credentials: MOTO_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    await seed.send(
      new sm.CreateSecretCommand({
        Name: "mlflow/e2e/auth",
        SecretString: JSON.stringify({ token: "tok-before-rotation" }),
      }),
    );

    // The tracking server accepts exactly the current token.
    let accepted = "tok-before-rotation";
    await using tracking = await startServer((req) =>
      req.headers.get("authorization") === `Bearer ${accepted}`
        ? Response.json({ experiments: [] })
        : new Response("unauthorized", { status: 401 })
    );

    const env: Record<string, string> = {
      AWS_SM_ENDPOINT: moto.endpoint,
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    };
    const profile = parseProfile(
      `
version: 1
providers:
  aws-test:
    kind: aws-secrets-manager
    region: eu-west-1
    endpoint: \${AWS_SM_ENDPOINT}
hosts:
  - match: ${tracking.origin}
    provider: aws-test
    secret: { id: mlflow/e2e/auth, version_stage: AWSCURRENT, field: token }
    auth: bearer
`,
      { source: "aws-e2e.yaml", env },
    );
    await using authFetch = createAuthFetch(profile, { env: (n) => env[n], logWrite: () => {} });
    const url = `${tracking.origin}/api/2.0/mlflow/experiments/search`;

    const first = await authFetch(url);
    assertEquals(first.status, 200);
    await first.body?.cancel();

    await seed.send(
      new sm.PutSecretValueCommand({
        SecretId: "mlflow/e2e/auth",
        SecretString: JSON.stringify({ token: "tok-after-rotation" }),
      }),
    );
    accepted = "tok-after-rotation";

    const second = await authFetch(url);
    assertEquals(second.status, 200);
    await second.body?.cancel();

    assertEquals(
      tracking.received.map((r) => r.headers.get("authorization")),
      [
        "Bearer tok-before-rotation",
        "Bearer tok-before-rotation",
        "Bearer tok-after-rotation",
      ],
    );
    const reads = (await moto.recording()).filter((r) =>
      Object.entries(r.headers).some(([k, v]) =>
        k.toLowerCase() === "x-amz-target" && v === "secretsmanager.GetSecretValue"
      )
    );
    assertEquals(reads.length, 2, "one read at start, one refresh after the 401");
  } finally {
    seed.destroy();
  }
});
