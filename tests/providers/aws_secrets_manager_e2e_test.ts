/**
 * End to end: a profile with an AWS Secrets Manager rule (moto as the endpoint), `createAuthFetch`
 * against a local server that checks the header, and a rotation picked up after one 401.
 */

import { assertEquals } from "../_assert.ts";
import { MOTO_CREDENTIALS, startMoto } from "../_peers/moto.ts";
import { runRotationScenario, TOKEN_AFTER, TOKEN_BEFORE } from "./_rotation.ts";

Deno.test("createAuthFetch() sends an AWS Secrets Manager secret and picks up a rotation after one 401", async () => {
  await using moto = await startMoto({ record: true });
  const sm = await import("../../deps/aws_secrets_manager.ts");
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
        SecretString: JSON.stringify({ token: TOKEN_BEFORE }),
      }),
    );

    await using _run = await runRotationScenario({
      profile: (trackingOrigin) => `
version: 1
providers:
  aws-test:
    kind: aws-secrets-manager
    region: eu-west-1
    endpoint: \${AWS_SM_ENDPOINT}
hosts:
  - match: ${trackingOrigin}
    provider: aws-test
    secret: { id: mlflow/e2e/auth, version_stage: AWSCURRENT, field: token }
    auth: bearer
`,
      source: "aws-e2e.yaml",
      env: {
        AWS_SM_ENDPOINT: moto.endpoint,
        AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      },
      rotate: () =>
        seed.send(
          new sm.PutSecretValueCommand({
            SecretId: "mlflow/e2e/auth",
            SecretString: JSON.stringify({ token: TOKEN_AFTER }),
          }),
        ),
    });

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
