/**
 * The AWS Secrets Manager provider against moto (a real emulator, started per test on a free
 * loopback port), and against local endpoints answering AWS JSON errors for the failures moto
 * cannot produce (throttling, 5xx, DecryptionFailure).
 */

import type { SecretsManagerClient } from "../../deps/aws_secrets_manager.ts";
import {
  type AwsSecretsManagerProviderOptions,
  createAwsSecretsManagerProvider,
} from "../../providers/aws_secrets_manager/mod.ts";
import type { ProviderContext, SecretProvider, SecretRef } from "../../providers/types.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { DEFAULT_RETRY, retry } from "../../core/retry.ts";
import {
  assert,
  assertEquals,
  assertNoCanary,
  assertRejects,
  assertStringIncludes,
} from "../_assert.ts";
import {
  MOTO_ACCOUNT,
  MOTO_CREDENTIALS,
  motoQuery,
  type MotoServer,
  setMotoIamEnforcement,
  startMoto,
  xmlText,
} from "../_peers/moto.ts";
import { startServer } from "../_servers.ts";
import { issueTestCertificates } from "../_tls.ts";
import { recordingContext } from "./_context.ts";
import { runProviderContract } from "./_contract.ts";
import { peerEnv } from "../_peers/_process.ts";

const REGION = "us-east-1";
const signal = (): AbortSignal => new AbortController().signal;
const once = { signal: signal() };

/** Environment with the moto seed credentials (never real ones). */
const SEED_ENV = {
  AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
};

/** Runs `fn` with a fresh moto server and always stops it. */
async function withMoto(
  fn: (moto: MotoServer) => Promise<void>,
  options: { record?: boolean } = {},
): Promise<void> {
  const moto = await startMoto(options);
  try {
    await fn(moto);
  } finally {
    await moto.close();
  }
}

/** Runs `fn` with providers it creates, and always closes them. */
async function withProviders(
  fn: (
    make: (o: AwsSecretsManagerProviderOptions, c?: ProviderContext) => SecretProvider,
  ) => Promise<void>,
): Promise<void> {
  const made: SecretProvider[] = [];
  try {
    await fn((o, c = recordingContext(SEED_ENV)) => {
      const p = createAwsSecretsManagerProvider("aws-test", o, c);
      made.push(p);
      return p;
    });
  } finally {
    for (const p of made) await p.close?.();
  }
}

/** An SDK client for seeding moto (IAM enforcement off). */
async function seeder(endpoint: string, region = REGION): Promise<{
  client: SecretsManagerClient;
  sm: typeof import("../../deps/aws_secrets_manager.ts");
  [Symbol.dispose](): void;
}> {
  const sm = await import("../../deps/aws_secrets_manager.ts");
  const client = new sm.SecretsManagerClient({
    region,
    endpoint,
    credentials: MOTO_CREDENTIALS,
    maxAttempts: 1,
  });
  return { client, sm, [Symbol.dispose]: () => client.destroy() };
}

const policy = (action: string): string =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: action, Resource: "*" }],
  });
const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "sts:AssumeRole" }],
});

/** Creates an IAM user with one inline policy and returns its environment (keys). */
async function iamUser(
  endpoint: string,
  name: string,
  action: string,
): Promise<Record<string, string>> {
  await motoQuery(endpoint, "iam", { Action: "CreateUser", UserName: name });
  await motoQuery(endpoint, "iam", {
    Action: "PutUserPolicy",
    UserName: name,
    PolicyName: "inline",
    PolicyDocument: policy(action),
  });
  const xml = await motoQuery(endpoint, "iam", { Action: "CreateAccessKey", UserName: name });
  return {
    AWS_ACCESS_KEY_ID: xmlText(xml, "AccessKeyId"),
    AWS_SECRET_ACCESS_KEY: xmlText(xml, "SecretAccessKey"),
  };
}

/** Creates an IAM role (trusting anyone in moto) with an optional inline policy; returns its ARN. */
async function iamRole(endpoint: string, name: string, action?: string): Promise<string> {
  await motoQuery(endpoint, "iam", {
    Action: "CreateRole",
    RoleName: name,
    AssumeRolePolicyDocument: TRUST,
  });
  if (action !== undefined) {
    await motoQuery(endpoint, "iam", {
      Action: "PutRolePolicy",
      RoleName: name,
      PolicyName: "inline",
      PolicyDocument: policy(action),
    });
  }
  return `arn:aws:iam::${MOTO_ACCOUNT}:role/${name}`;
}

/** The access key id a recorded request was signed with. */
function signedBy(headers: Readonly<Record<string, string>>): string {
  const auth = Object.entries(headers).find(([k]) => k.toLowerCase() === "authorization")?.[1];
  return /Credential=([^/]+)\//.exec(auth ?? "")?.[1] ?? "(unsigned)";
}

function header(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  return Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

async function rejection(p: Promise<unknown>): Promise<SecretResolutionError> {
  const err = await assertRejects(() => p, SecretResolutionError);
  return err;
}

Deno.test("createAwsSecretsManagerProvider() describes a reference with its version and field", () => {
  const p = createAwsSecretsManagerProvider(
    "aws-prod",
    { region: "eu-west-1" },
    recordingContext(),
  );
  assertEquals(p.kind, "aws-secrets-manager");
  assertEquals(
    p.describe({ id: "mlflow/prod/auth", version_stage: "AWSCURRENT", field: "token" }),
    "aws-sm:mlflow/prod/auth@AWSCURRENT#token",
  );
  assertEquals(
    p.describe({ id: "mlflow/prod/auth", version_id: "v-1" }),
    "aws-sm:mlflow/prod/auth@v-1",
  );
  assertEquals(p.describe({ id: "mlflow/prod/auth" }), "aws-sm:mlflow/prod/auth");
});

Deno.test("createAwsSecretsManagerProvider() loads the AWS SDK only inside resolve", async () => {
  const folder = new URL("../../providers/aws_secrets_manager/", import.meta.url);
  let source = "";
  for await (const entry of Deno.readDir(folder)) {
    if (entry.name.endsWith(".ts")) source += await Deno.readTextFile(new URL(entry.name, folder));
  }
  const staticImports = [...source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)];
  const sdk = staticImports.filter((m) => m[2]!.includes("deps/aws_"));
  assert(sdk.length > 0, "expected type imports of the SDK");
  for (const m of sdk) assert(m[1] !== undefined, `value import of ${m[2]} at top level`);
  assertStringIncludes(source, 'import("../../deps/aws_secrets_manager.ts")');
});

Deno.test("createAwsSecretsManagerProvider() passes the provider contract against moto with IAM enforced", async (t) => {
  await withMoto(async (moto) => {
    const canary = "canary-7f3a9c1e-aws";
    {
      using seed = await seeder(moto.endpoint);
      await seed.client.send(
        new seed.sm.CreateSecretCommand({
          Name: "mlflow/prod/auth",
          SecretString: JSON.stringify({ token: canary, user: "ci" }),
        }),
      );
    }
    const admin = await iamUser(moto.endpoint, "admin", "*");
    const assumeOnly = await iamUser(moto.endpoint, "assume-only", "sts:AssumeRole");
    await setMotoIamEnforcement(moto.endpoint, true);

    // Never answers while the test runs: proves an abort in flight.
    const release = Promise.withResolvers<void>();
    await using hang = await startServer(async () => {
      await release.promise;
      return new Response(null, { status: 499 });
    });
    using _release = { [Symbol.dispose]: () => release.resolve() };

    await withProviders(async (make) => {
      const options = { region: REGION, endpoint: moto.endpoint };
      const hanging = make({ region: REGION, endpoint: hang.origin }, recordingContext(SEED_ENV));
      // Warm up (load the SDK, build the client) so the abort hits the HTTP request itself.
      await assertRejects(() =>
        hanging.resolve({ id: "warm-up" }, { signal: AbortSignal.timeout(200) })
      );
      await runProviderContract(t, {
        provider: make(options, recordingContext(admin)),
        existing: { ref: { id: "mlflow/prod/auth" }, value: { token: canary, user: "ci" } },
        missing: { id: "mlflow/prod/does-not-exist" },
        denied: {
          ref: { id: "mlflow/prod/auth" },
          provider: make(options, recordingContext(assumeOnly)),
        },
        canary,
        hanging: { ref: { id: "mlflow/prod/auth" }, provider: hanging },
      });
    });
  });
});

Deno.test("createAwsSecretsManagerProvider() reads string, JSON object and binary secrets from moto", async () => {
  await withMoto(async (moto) => {
    {
      using seed = await seeder(moto.endpoint);
      const put = (Name: string, value: string | Uint8Array) =>
        seed.client.send(
          new seed.sm.CreateSecretCommand(
            typeof value === "string"
              ? { Name, SecretString: value }
              : { Name, SecretBinary: value },
          ),
        );
      await put("plain", "s3cr3t-plain-token");
      await put("json", JSON.stringify({ token: "tok-json", user: "ci" }));
      await put("json-array", "[1,2]");
      // The bytes of a text that is itself valid base64: a second decode would yield "hello".
      await put("binary-base64-text", new TextEncoder().encode("aGVsbG8="));
      await put("binary-json", new TextEncoder().encode('{"username":"u","password":"p\u00e9"}'));
      await put("binary-not-utf8", new Uint8Array([0xff, 0xfe, 0x00, 0x81]));
    }
    await withProviders(async (make) => {
      const p = make({ region: REGION, endpoint: moto.endpoint });
      const plain = await p.resolve({ id: "plain" }, once);
      assertEquals(plain.value, "s3cr3t-plain-token");
      assert(typeof plain.version === "string" && plain.version.length > 0, "no version id");
      assertEquals((await p.resolve({ id: "json" }, once)).value, {
        token: "tok-json",
        user: "ci",
      });
      assertEquals((await p.resolve({ id: "json-array" }, once)).value, "[1,2]");
      assertEquals((await p.resolve({ id: "binary-base64-text" }, once)).value, "aGVsbG8=");
      assertEquals((await p.resolve({ id: "binary-json" }, once)).value, {
        username: "u",
        password: "p\u00e9",
      });
      const err = await rejection(p.resolve({ id: "binary-not-utf8" }, once));
      assertEquals(err.transient, false);
      assertStringIncludes(err.message, "not UTF-8");
    });
  });
});

Deno.test("createAwsSecretsManagerProvider() reads a version by stage and by id", async () => {
  await withMoto(async (moto) => {
    let v1: string, v2: string, v3: string;
    {
      using seed = await seeder(moto.endpoint);
      const c = seed.client;
      v1 =
        (await c.send(new seed.sm.CreateSecretCommand({ Name: "rotating", SecretString: "one" })))
          .VersionId!;
      v2 = (await c.send(
        new seed.sm.PutSecretValueCommand({ SecretId: "rotating", SecretString: "two" }),
      ))
        .VersionId!;
      v3 = (await c.send(
        new seed.sm.PutSecretValueCommand({
          SecretId: "rotating",
          SecretString: "three",
          VersionStages: ["CANARY"],
        }),
      )).VersionId!;
    }
    await withProviders(async (make) => {
      const p = make({ region: REGION, endpoint: moto.endpoint });
      const read = async (ref: SecretRef) => (await p.resolve(ref, once)).value;
      assertEquals(await read({ id: "rotating" }), "two");
      assertEquals(await read({ id: "rotating", version_stage: "AWSCURRENT" }), "two");
      assertEquals(await read({ id: "rotating", version_stage: "AWSPREVIOUS" }), "one");
      assertEquals(await read({ id: "rotating", version_stage: "CANARY" }), "three");
      assertEquals(await read({ id: "rotating", version_id: v1 }), "one");
      assertEquals(await read({ id: "rotating", version_id: v3 }), "three");
      assertEquals(
        (await p.resolve({ id: "rotating", version_id: v2 }, once)).version,
        `${v2}(AWSCURRENT)`,
      );
      assertEquals(
        (await p.resolve({ id: "rotating", version_id: v1 }, once)).version,
        `${v1}(AWSPREVIOUS)`,
      );
      assertEquals(
        (await p.resolve({ id: "rotating", version_stage: "CANARY" }, once)).version,
        `${v3}(CANARY)`,
      );
      const err = await rejection(
        p.resolve({ id: "rotating", version_stage: "NO-SUCH-STAGE" }, once),
      );
      assertEquals(err.status, 404);
      assertStringIncludes(err.message, 'version stage "NO-SUCH-STAGE"');
    });
  });
});

Deno.test("createAwsSecretsManagerProvider() returns the new value after a rotation", async () => {
  await withMoto(async (moto) => {
    using seed = await seeder(moto.endpoint);
    await seed.client.send(
      new seed.sm.CreateSecretCommand({ Name: "rot", SecretString: "old-token" }),
    );
    await withProviders(async (make) => {
      const p = make({ region: REGION, endpoint: moto.endpoint });
      const before = await p.resolve({ id: "rot" }, once);
      assertEquals(before.value, "old-token");
      const put = await seed.client.send(
        new seed.sm.PutSecretValueCommand({ SecretId: "rot", SecretString: "new-token" }),
      );
      const after = await p.resolve({ id: "rot" }, once);
      assertEquals(after.value, "new-token");
      // The rotation shows up as a version change: the new VersionId, now AWSCURRENT.
      assertEquals(after.version, `${put.VersionId}(AWSCURRENT)`);
      assert(after.version !== before.version, "the version did not change");
    });
  });
});

Deno.test("createAwsSecretsManagerProvider() reads with the assumed role's credentials", async () => {
  await withMoto(async (moto) => {
    {
      using seed = await seeder(moto.endpoint);
      await seed.client.send(
        new seed.sm.CreateSecretCommand({ Name: "team/db", SecretString: "role-only" }),
      );
    }
    const user = await iamUser(moto.endpoint, "ci", "sts:AssumeRole");
    const roleArn = await iamRole(moto.endpoint, "mlflow-reader", "secretsmanager:GetSecretValue");
    await setMotoIamEnforcement(moto.endpoint, true);
    const start = (await moto.recording()).length;

    await withProviders(async (make) => {
      const env = { ...user, MLFLOW_EXTERNAL_ID: "ext-id-4242" };
      // The user alone may not read the secret...
      const direct = make({ region: REGION, endpoint: moto.endpoint }, recordingContext(env));
      const denied = await rejection(direct.resolve({ id: "team/db" }, once));
      assertEquals(denied.status, 403);
      assertEquals(denied.transient, false);

      // ...but the role it assumes may.
      const ctx = recordingContext(env);
      const p = make({
        region: REGION,
        endpoint: moto.endpoint,
        assume_role: {
          role_arn: roleArn,
          external_id_env: "MLFLOW_EXTERNAL_ID",
          session_name: "mlflow-test",
          duration: "1h",
          endpoint: moto.endpoint,
        },
      }, ctx);
      assertEquals((await p.resolve({ id: "team/db" }, once)).value, "role-only");
      assertEquals((await p.resolve({ id: "team/db" }, once)).value, "role-only");

      const log = (await moto.recording()).slice(start);
      const assume = log.filter((r) => r.body.includes("Action=AssumeRole"));
      const reads = log.filter((r) =>
        header(r.headers, "x-amz-target") === "secretsmanager.GetSecretValue"
      );
      assertEquals(assume.length, 1, "one AssumeRole for two reads (credentials are cached)");
      const form = new URLSearchParams(assume[0]!.body);
      assertEquals(form.get("RoleArn"), roleArn);
      assertEquals(form.get("RoleSessionName"), "mlflow-test");
      assertEquals(form.get("DurationSeconds"), "3600");
      assertEquals(form.get("ExternalId"), "ext-id-4242");
      assertEquals(signedBy(assume[0]!.headers), user.AWS_ACCESS_KEY_ID);
      // The first read is the denied direct one; the two after it use the role's session.
      assertEquals(reads.length, 3);
      assertEquals(signedBy(reads[0]!.headers), user.AWS_ACCESS_KEY_ID);
      for (const r of reads.slice(1)) {
        const key = signedBy(r.headers);
        assert(key.startsWith("ASIA") && key !== user.AWS_ACCESS_KEY_ID, `read signed by ${key}`);
        const token = header(r.headers, "x-amz-security-token");
        assert(token !== undefined, "no session token on the read");
        // The session token and the external id are registered with the redactor.
        assertEquals(ctx.redactor.redact(`t=${token} x=ext-id-4242`), "t=*** x=***");
      }
      for (const line of ctx.lines) {
        assertNoCanary(line, user.AWS_SECRET_ACCESS_KEY!);
        assertNoCanary(line, "ext-id-4242");
      }
    });
  }, { record: true });
});

Deno.test("createAwsSecretsManagerProvider() assumes the role again when its session nears expiry", async () => {
  await withMoto(async (moto) => {
    {
      using seed = await seeder(moto.endpoint);
      await seed.client.send(new seed.sm.CreateSecretCommand({ Name: "s", SecretString: "v" }));
    }
    const roleArn = await iamRole(moto.endpoint, "reader", "secretsmanager:GetSecretValue");
    await withProviders(async (make) => {
      const count = async (duration: string): Promise<number> => {
        const before = (await moto.recording()).length;
        const p = make({
          region: REGION,
          endpoint: moto.endpoint,
          assume_role: { role_arn: roleArn, duration, endpoint: moto.endpoint },
        });
        for (let i = 0; i < 3; i++) assertEquals((await p.resolve({ id: "s" }, once)).value, "v");
        await p.close?.();
        const log = (await moto.recording()).slice(before);
        return log.filter((r) => r.body.includes("Action=AssumeRole")).length;
      };
      // A one-hour session serves every read; a four-minute one is inside the SDK's five-minute
      // refresh window from the start, so every read assumes the role again (at least once).
      assertEquals(await count("1h"), 1);
      const refreshed = await count("4m");
      assert(refreshed >= 3, `expected an AssumeRole per read, got ${refreshed}`);
    });
  }, { record: true });
});

Deno.test("createAwsSecretsManagerProvider() names the role when the assumed role or AssumeRole is denied", async () => {
  await withMoto(async (moto) => {
    {
      using seed = await seeder(moto.endpoint);
      await seed.client.send(new seed.sm.CreateSecretCommand({ Name: "s", SecretString: "v" }));
    }
    const user = await iamUser(moto.endpoint, "ci", "sts:AssumeRole");
    const nobody = await iamUser(moto.endpoint, "nobody", "s3:ListBucket");
    const powerless = await iamRole(moto.endpoint, "powerless");
    await setMotoIamEnforcement(moto.endpoint, true);
    await withProviders(async (make) => {
      const assume = (env: Record<string, string>) =>
        make({
          region: REGION,
          endpoint: moto.endpoint,
          assume_role: { role_arn: powerless, endpoint: moto.endpoint },
        }, recordingContext(env));

      const read = await rejection(assume(user).resolve({ id: "s" }, once));
      assertEquals(read.status, 403);
      assertEquals(read.transient, false);
      assertStringIncludes(read.message, `role "${powerless}"`);
      assertStringIncludes(read.message, `region "${REGION}"`);
      assertStringIncludes(read.message, "secretsmanager:GetSecretValue");
      assertNoCanary(read, user.AWS_SECRET_ACCESS_KEY!);

      const sts = await rejection(assume(nobody).resolve({ id: "s" }, once));
      assertEquals(sts.status, 403);
      assertEquals(sts.transient, false);
      assertStringIncludes(sts.message, "STS AssumeRole");
      assertStringIncludes(sts.message, powerless);
      assertStringIncludes(sts.message, "trust policy");
      assertNoCanary(sts, nobody.AWS_SECRET_ACCESS_KEY!);
    });
  });
});

Deno.test("createAwsSecretsManagerProvider() reports a missing secret and a secret of another region as 404", async () => {
  await withMoto(async (moto) => {
    {
      using seed = await seeder(moto.endpoint, "eu-west-1");
      await seed.client.send(
        new seed.sm.CreateSecretCommand({ Name: "eu/only", SecretString: "v" }),
      );
    }
    await withProviders(async (make) => {
      const missing = await rejection(
        make({ region: "eu-west-1", endpoint: moto.endpoint }).resolve({ id: "nope" }, once),
      );
      assertEquals(missing.status, 404);
      assertEquals(missing.transient, false);
      assertEquals(missing.reference, "aws-sm:nope");
      assertStringIncludes(missing.message, 'secret "nope"');
      assertStringIncludes(missing.message, 'region "eu-west-1"');

      const elsewhere = await rejection(
        make({ region: "us-west-2", endpoint: moto.endpoint }).resolve({ id: "eu/only" }, once),
      );
      assertEquals(elsewhere.status, 404);
      assertStringIncludes(elsewhere.message, 'region "us-west-2"');
      assertStringIncludes(elsewhere.message, "the credentials in AWS_ACCESS_KEY_ID");
    });
  });
});

Deno.test("createAwsSecretsManagerProvider() takes the region from AWS_REGION, else AWS_DEFAULT_REGION", async () => {
  await withMoto(async (moto) => {
    {
      using seed = await seeder(moto.endpoint, "eu-central-1");
      await seed.client.send(
        new seed.sm.CreateSecretCommand({ Name: "r", SecretString: "central" }),
      );
    }
    await withProviders(async (make) => {
      const viaDefault = make(
        { endpoint: moto.endpoint },
        recordingContext({ ...SEED_ENV, AWS_DEFAULT_REGION: "eu-central-1" }),
      );
      assertEquals((await viaDefault.resolve({ id: "r" }, once)).value, "central");
      const both = make(
        { endpoint: moto.endpoint },
        recordingContext({
          ...SEED_ENV,
          AWS_REGION: "ap-south-1",
          AWS_DEFAULT_REGION: "eu-central-1",
        }),
      );
      const err = await rejection(both.resolve({ id: "r" }, once));
      assertStringIncludes(err.message, 'region "ap-south-1"');
      const option = make(
        { endpoint: moto.endpoint, region: "eu-central-1" },
        recordingContext({ ...SEED_ENV, AWS_REGION: "ap-south-1" }),
      );
      assertEquals((await option.resolve({ id: "r" }, once)).value, "central");
    });
  });
});

/** A local endpoint answering GetSecretValue per secret id, in AWS JSON 1.1 form. */
function awsJsonError(status: number, type: string, message: string): Response {
  return new Response(JSON.stringify({ __type: type, message }), {
    status,
    headers: { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": type },
  });
}

async function fakeSecretsManager(): Promise<
  Awaited<ReturnType<typeof startServer>> & { readonly calls: Map<string, number> }
> {
  const calls = new Map<string, number>();
  const server = await startServer((req, body) => {
    if (req.headers.get("x-amz-target") === "secretsmanager.DescribeSecret") {
      // Asked beside each read for the rotation schedule: a secret without one.
      return new Response("{}", { headers: { "content-type": "application/x-amz-json-1.1" } });
    }
    const id = String((JSON.parse(body) as { SecretId?: string }).SecretId);
    calls.set(id, (calls.get(id) ?? 0) + 1);
    switch (id) {
      case "throttled":
        return awsJsonError(400, "ThrottlingException", "Rate exceeded");
      case "too-many":
        return awsJsonError(429, "TooManyRequestsException", "Slow down");
      case "internal":
        return awsJsonError(500, "InternalServiceError", "We encountered an internal error");
      case "unavailable":
        return new Response("<html><body>503 Service Unavailable</body></html>", {
          status: 503,
          headers: { "content-type": "text/html" },
        });
      case "denied":
        return awsJsonError(
          400,
          "AccessDeniedException",
          "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: secretsmanager:GetSecretValue",
        );
      case "unrecognized":
        return awsJsonError(
          400,
          "UnrecognizedClientException",
          "The security token included in the request is invalid.",
        );
      case "expired":
        return awsJsonError(
          400,
          "ExpiredTokenException",
          "The security token included in the request is expired",
        );
      case "signature":
        return awsJsonError(
          400,
          "InvalidSignatureException",
          "The request signature we calculated does not match",
        );
      case "kms":
        return awsJsonError(
          400,
          "DecryptionFailure",
          "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
        );
      case "deleted":
        return awsJsonError(
          400,
          "InvalidRequestException",
          "You can't perform this operation on the secret because it was marked for deletion.",
        );
      case "garbled":
        // A 200 whose body is not JSON and contains a secret: nothing of it may surface.
        return new Response('{"SecretString": "garbled-canary-9d2e', { status: 200 });
      case "flaky":
        return calls.get(id)! < 2
          ? awsJsonError(500, "InternalServiceError", "try again")
          : new Response(
            JSON.stringify({ Name: "flaky", SecretString: "after-retry", VersionId: "v2" }),
            {
              headers: { "content-type": "application/x-amz-json-1.1" },
            },
          );
      default:
        return awsJsonError(
          400,
          "ResourceNotFoundException",
          "Secrets Manager can't find the specified secret.",
        );
    }
  });
  return Object.assign(server, { calls });
}

Deno.test("createAwsSecretsManagerProvider() classifies throttling, 5xx and network errors as transient", async () => {
  await using fake = await fakeSecretsManager();
  await withProviders(async (make) => {
    const p = make({ region: REGION, endpoint: fake.origin });
    for (
      const [id, status] of [
        ["throttled", 400],
        ["too-many", 429],
        ["internal", 500],
        ["unavailable", 503],
      ] as const
    ) {
      const err = await rejection(p.resolve({ id }, once));
      assertEquals(err.transient, true, id);
      assertEquals(err.status, status, id);
      assertEquals(fake.calls.get(id), 1, `${id}: the SDK must not retry by itself`);
    }
    const throttled = await rejection(p.resolve({ id: "throttled" }, once));
    assertStringIncludes(throttled.message, "ThrottlingException");
    assertStringIncludes(throttled.message, "throttled");

    // Nothing listens on a port just released.
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (l.addr as Deno.NetAddr).port;
    l.close();
    const refused = await rejection(
      make({ region: REGION, endpoint: `http://127.0.0.1:${closedPort}` }).resolve(
        { id: "x" },
        once,
      ),
    );
    assertEquals(refused.transient, true);
    assertStringIncludes(refused.message, "ECONNREFUSED");
  });
});

Deno.test("createAwsSecretsManagerProvider() maps AWS access errors to 403 and DecryptionFailure to a KMS hint, none transient", async () => {
  await using fake = await fakeSecretsManager();
  await withProviders(async (make) => {
    const p = make({ region: "eu-west-1", endpoint: fake.origin });
    for (const id of ["denied", "unrecognized", "expired", "signature"]) {
      const err = await rejection(p.resolve({ id }, once));
      assertEquals(err.status, 403, id);
      assertEquals(err.transient, false, id);
      assertStringIncludes(err.message, `"aws-sm:${id}"`);
      assertStringIncludes(err.message, 'region "eu-west-1"');
      assertStringIncludes(err.message, "the credentials in AWS_ACCESS_KEY_ID");
    }
    const denied = await rejection(p.resolve({ id: "denied" }, once));
    assertStringIncludes(denied.message, "AccessDeniedException");
    assertStringIncludes(denied.message, "user/ci is not authorized");

    const kms = await rejection(p.resolve({ id: "kms" }, once));
    assertEquals(kms.transient, false);
    assertStringIncludes(kms.message, "DecryptionFailure");
    assertStringIncludes(kms.message, "KMS");

    const deleted = await rejection(p.resolve({ id: "deleted" }, once));
    assertEquals(deleted.transient, false);
    assertStringIncludes(deleted.message, "marked for deletion");
  });
});

Deno.test("createAwsSecretsManagerProvider() is retried by the runtime for a 5xx and not for a 403", async () => {
  await using fake = await fakeSecretsManager();
  await withProviders(async (make) => {
    const p = make({ region: REGION, endpoint: fake.origin });
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 1 };
    const value = await retry((s) => p.resolve({ id: "flaky" }, { signal: s }), { policy });
    assertEquals(value.value, "after-retry");
    assertEquals(fake.calls.get("flaky"), 2);
    await assertRejects(
      () => retry((s) => p.resolve({ id: "denied" }, { signal: s }), { policy }),
      SecretResolutionError,
    );
    assertEquals(fake.calls.get("denied"), 1);
  });
});

Deno.test("createAwsSecretsManagerProvider() keeps keys, session tokens and unreadable bodies out of errors and logs", async () => {
  await using fake = await fakeSecretsManager();
  const secretKey = "secret-key-canary-51c0e2";
  const sessionToken = "session-token-canary-a8e77f";
  const ctx = recordingContext({
    AWS_ACCESS_KEY_ID: "ASIAFAKEFAKEFAKE0001",
    AWS_SECRET_ACCESS_KEY: secretKey,
    AWS_SESSION_TOKEN: sessionToken,
  });
  await withProviders(async (make) => {
    const p = make({ region: REGION, endpoint: fake.origin }, ctx);
    for (const id of ["denied", "internal", "kms", "missing", "garbled", "unavailable"]) {
      const err = await rejection(p.resolve({ id }, once));
      // The SDK's error carries the signed request (with the session token) in $response.
      assertNoCanary(err, sessionToken);
      assertNoCanary(err, secretKey);
      assertNoCanary(err, "garbled-canary-9d2e");
    }
    const garbled = await rejection(p.resolve({ id: "garbled" }, once));
    assertEquals(garbled.transient, false);
    assertStringIncludes(garbled.message, "answered 200 with a body that is not AWS JSON");
    for (const line of ctx.lines) {
      assertNoCanary(line, sessionToken);
      assertNoCanary(line, secretKey);
    }
    assertEquals(ctx.redactor.redact(`${secretKey} ${sessionToken}`), "*** ***");
  });
});

Deno.test("createAwsSecretsManagerProvider() requires the external id variable it is told to read", async () => {
  await withProviders(async (make) => {
    const p = make({
      region: REGION,
      endpoint: "http://127.0.0.1:9",
      assume_role: {
        role_arn: "arn:aws:iam::123456789012:role/r",
        external_id_env: "MLFLOW_EXTERNAL_ID",
      },
    });
    const err = await rejection(p.resolve({ id: "s" }, once));
    assertEquals(err.transient, false);
    assertStringIncludes(err.message, '"MLFLOW_EXTERNAL_ID"');
  });
});

Deno.test("createAwsSecretsManagerProvider() rejects a reference without an id", async () => {
  await withProviders(async (make) => {
    const p = make({ region: REGION, endpoint: "http://127.0.0.1:9" });
    const err = await rejection(p.resolve({ name: "x" }, once));
    assertEquals(err.transient, false);
    assertStringIncludes(err.message, '"id"');
  });
});

/** Runs tests/testdata/aws_resolve_once.ts in a clean environment with the given permissions. */
async function resolveInSubprocess(
  permissions: readonly string[],
  env: Readonly<Record<string, string>>,
  options: AwsSecretsManagerProviderOptions,
  ref: SecretRef,
): Promise<{ value?: unknown; error?: string; status?: number }> {
  const root = new URL("../../", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${root}deno.json`,
      ...permissions,
      `${root}tests/testdata/aws_resolve_once.ts`,
      JSON.stringify(options),
      JSON.stringify(ref),
    ],
    cwd: root,
    clearEnv: true,
    // The same Deno cache as this process (so nothing compiles anew), a fresh HOME.
    env: peerEnv({ NO_COLOR: "1", ...env }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  assert(out.success && stdout !== "", `subprocess failed: ${stderr}`);
  return JSON.parse(stdout.split("\n").pop()!);
}

Deno.test("createAwsSecretsManagerProvider() reads with a shared-config profile under narrow permissions", async () => {
  await withMoto(async (moto) => {
    {
      using seed = await seeder(moto.endpoint, "eu-west-1");
      await seed.client.send(
        new seed.sm.CreateSecretCommand({ Name: "via/profile", SecretString: "from-profile" }),
      );
    }
    const reader = await iamUser(moto.endpoint, "reader", "secretsmanager:GetSecretValue");
    await setMotoIamEnforcement(moto.endpoint, true);
    const home = await Deno.makeTempDir({ prefix: "aws-home-" });
    try {
      await Deno.mkdir(`${home}/.aws`);
      // The default profile has keys moto does not know and another region: only the "ml"
      // profile's keys and region can succeed.
      await Deno.writeTextFile(
        `${home}/.aws/config`,
        "[default]\nregion = us-east-1\n\n[profile ml]\nregion = eu-west-1\n",
      );
      await Deno.writeTextFile(
        `${home}/.aws/credentials`,
        `[default]\naws_access_key_id = AKIAUNKNOWNUNKNOWN00\naws_secret_access_key = unknown\n\n` +
          `[ml]\naws_access_key_id = ${reader.AWS_ACCESS_KEY_ID}\n` +
          `aws_secret_access_key = ${reader.AWS_SECRET_ACCESS_KEY}\n`,
      );
      const port = new URL(moto.endpoint).port;
      const narrow = [
        `--allow-net=127.0.0.1:${port}`,
        "--allow-env",
        "--allow-sys=osRelease",
        `--allow-read=${home}/.aws`,
      ];
      const env = { HOME: home };
      const options = { profile: "ml", endpoint: moto.endpoint };
      const ok = await resolveInSubprocess(narrow, env, options, { id: "via/profile" });
      assertEquals(ok, { value: "from-profile" });

      const noSys = await resolveInSubprocess(
        narrow.filter((p) => !p.startsWith("--allow-sys")),
        env,
        options,
        { id: "via/profile" },
      );
      assertStringIncludes(noSys.error ?? "", "a Deno permission is missing");
      assertStringIncludes(noSys.error ?? "", "osRelease");

      const defaultProfile = await resolveInSubprocess(narrow, env, { endpoint: moto.endpoint }, {
        id: "via/profile",
      });
      assertEquals(defaultProfile.status, 403);
      assertStringIncludes(defaultProfile.error ?? "", 'region "us-east-1"');
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
});

Deno.test("createAwsSecretsManagerProvider() reads over https with a private CA under --allow-sys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "aws-tls-" });
  try {
    const tls = await issueTestCertificates({ dir });
    await using server = await startServer(
      () =>
        Response.json({ Name: "s", SecretString: "over-tls", VersionId: "v1" }, {
          headers: { "content-type": "application/x-amz-json-1.1" },
        }),
      tls,
    );
    const env = {
      HOME: dir,
      AWS_ACCESS_KEY_ID: "AKIAFAKEFAKEFAKE0002",
      AWS_SECRET_ACCESS_KEY: "not-a-real-key",
      // node:https, which the SDK uses, trusts a private CA only through this variable.
      NODE_EXTRA_CA_CERTS: tls.files.ca,
    };
    const base = [`--allow-net=127.0.0.1:${server.port}`, "--allow-env", `--allow-read=${dir}`];
    const options = { region: REGION, endpoint: server.origin };
    // https through node:https asks for sys "ca" access, which cannot be granted by name.
    const narrow = await resolveInSubprocess([...base, "--allow-sys=osRelease"], env, options, {
      id: "s",
    });
    assertStringIncludes(narrow.error ?? "", "a Deno permission is missing");
    const ok = await resolveInSubprocess([...base, "--allow-sys"], env, options, { id: "s" });
    assertEquals(ok, { value: "over-tls" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startMoto() moves to another port when the chosen one is taken", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  await using moto = await startMoto({ firstPort: port });
  assert(moto.endpoint !== `http://127.0.0.1:${port}`, "moto claims the taken port");
  const res = await fetch(`${moto.endpoint}/moto-api/config`);
  await res.body?.cancel();
  assert(res.ok, `moto answered ${res.status}`);
});
