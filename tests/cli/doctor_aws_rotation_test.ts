/**
 * `doctor` names an AWS secret's next scheduled rotation as the cache bound when it comes before
 * the rule's ttl, against moto with rotation turned on.
 */

import { main } from "../../cli.ts";
import type { DoctorReport } from "../../cli/doctor.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { MOTO_CREDENTIALS, startMoto } from "../_peers/moto.ts";
import { fakeIo, mlflowOk, serve, tempFile } from "./_io.ts";

const TOKEN = "doctor-aws-rotation-canary-5b1e";

Deno.test("main() doctor says when an AWS secret's next scheduled rotation, not the rule's ttl, bounds the cache", async () => {
  const moto = await startMoto();
  const server = serve((req) =>
    req.headers.get("authorization") === `Bearer ${TOKEN}`
      ? mlflowOk()
      : new Response("no", { status: 401 })
  );
  try {
    const sm = await import("../../deps/aws_secrets_manager.ts");
    const client = new sm.SecretsManagerClient({
      region: "us-east-1",
      endpoint: moto.endpoint,
      credentials: MOTO_CREDENTIALS,
      maxAttempts: 1,
    });
    let nextRotation: Date | undefined;
    try {
      await client.send(new sm.CreateSecretCommand({ Name: "mlflow/rot", SecretString: TOKEN }));
      // Rotation every day, without a Lambda (what moto accepts): NextRotationDate is a day ahead.
      await client.send(
        new sm.RotateSecretCommand({
          SecretId: "mlflow/rot",
          RotationRules: { AutomaticallyAfterDays: 1 },
          RotateImmediately: false,
        }),
      );
      await client.send(
        new sm.PutSecretValueCommand({
          SecretId: "mlflow/rot",
          SecretString: TOKEN,
          VersionStages: ["CANARY"],
        }),
      );
      nextRotation = (await client.send(new sm.DescribeSecretCommand({ SecretId: "mlflow/rot" })))
        .NextRotationDate;
    } finally {
      client.destroy();
    }
    assert(nextRotation instanceof Date, "moto set no NextRotationDate");
    const rule = (secret: string) =>
      `  - { match: "${server.url}", provider: aws, secret: ${secret}, auth: bearer, cache: { ttl: 48h } }`;
    const run = async (secret: string) => {
      const path = await tempFile(
        "mlflow-auth.yaml",
        [
          "version: 1",
          `providers: { aws: { kind: aws-secrets-manager, region: us-east-1, endpoint: "${moto.endpoint}" } }`,
          "hosts:",
          rule(secret),
        ].join("\n"),
      );
      const io = fakeIo({
        env: {
          AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
        },
      });
      const code = await main(["doctor", "-p", path, "--json"], io);
      assertNoCanary(io.out() + io.err(), TOKEN);
      const report = JSON.parse(io.out()) as DoctorReport;
      const step = report.targets[0]?.steps.find((s) => s.step === "secret");
      return { code, detail: step?.detail ?? "" };
    };
    const follows = await run("{ id: mlflow/rot }");
    assertEquals(follows.code, 0);
    assertStringIncludes(
      follows.detail,
      `read again by the secret's next scheduled rotation at ${nextRotation.toISOString()}, not the ttl 48h (rule)`,
    );
    // A custom stage is not moved by a rotation: the ttl applies.
    const canary = await run("{ id: mlflow/rot, version_stage: CANARY }");
    assertEquals(canary.code, 0);
    assertStringIncludes(canary.detail, "cached by ttl 48h (rule)");
    assert(!canary.detail.includes("rotation"), canary.detail);
  } finally {
    await server.close();
    await moto.close();
  }
});
