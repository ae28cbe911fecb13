/**
 * An AWS secret's rotation schedule as a cache bound, against moto (a real emulator started per
 * test on a free loopback port): `DescribeSecret`'s `NextRotationDate` makes the cache read a
 * stage-following secret again by then, even when the rule's ttl is longer; a pinned version or
 * a custom stage is not bounded; a late rotation is re-checked at a short interval; a failing,
 * hanging or denied `DescribeSecret` never fails the read. Time is a fake clock handed to the
 * resolver; moto keeps the real one (its dates are computed from it).
 */

import { createPlan, parseProfile, SecretResolver } from "../../mod.ts";
import type { SecretsManagerClient } from "../../deps/aws_secrets_manager.ts";
import { createAwsSecretsManagerProvider } from "../../providers/aws_secrets_manager/mod.ts";
import {
  followsRotation,
  nextRotation,
  rotationScheduleApplies,
} from "../../providers/aws_secrets_manager/rotation.ts";
import { createLogger } from "../../core/log.ts";
import { Redactor } from "../../core/redact.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import {
  MOTO_CREDENTIALS,
  motoQuery,
  type MotoServer,
  setMotoIamEnforcement,
  startMoto,
  xmlText,
} from "../_peers/moto.ts";
import { recordingContext } from "./_context.ts";

const REGION = "us-east-1";
const SEED_ENV: Readonly<Record<string, string>> = {
  AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
};

/** An SDK client for seeding moto (IAM enforcement off), and the SDK's commands. */
async function seeder(endpoint: string): Promise<{
  client: SecretsManagerClient;
  sm: typeof import("../../deps/aws_secrets_manager.ts");
  [Symbol.dispose](): void;
}> {
  const sm = await import("../../deps/aws_secrets_manager.ts");
  const client = new sm.SecretsManagerClient({
    region: REGION,
    endpoint,
    credentials: MOTO_CREDENTIALS,
    maxAttempts: 1,
  });
  return { client, sm, [Symbol.dispose]: () => client.destroy() };
}

/**
 * Creates a secret and turns rotation on (every day) the way moto allows without a rotation
 * Lambda: `RotateSecret` with `RotationRules` and `RotateImmediately: false` moves AWSCURRENT to
 * a new version holding the same value and sets `NextRotationDate` a day ahead.
 *
 * @returns The version AWSCURRENT is on and the next rotation date (ms), as DescribeSecret says.
 */
async function rotatingSecret(
  endpoint: string,
  name: string,
  value: string,
): Promise<{ current: string; nextRotation: number }> {
  using seed = await seeder(endpoint);
  await seed.client.send(new seed.sm.CreateSecretCommand({ Name: name, SecretString: value }));
  const rotated = await seed.client.send(
    new seed.sm.RotateSecretCommand({
      SecretId: name,
      RotationRules: { AutomaticallyAfterDays: 1 },
      RotateImmediately: false,
    }),
  );
  const described = await seed.client.send(new seed.sm.DescribeSecretCommand({ SecretId: name }));
  assertEquals(described.RotationEnabled, true);
  assert(described.NextRotationDate instanceof Date, "moto set no NextRotationDate");
  return { current: rotated.VersionId!, nextRotation: described.NextRotationDate.getTime() };
}

/** What a rotation function leaves behind: a new version, now AWSCURRENT. */
async function rotationFunctionRuns(endpoint: string, name: string, value: string) {
  using seed = await seeder(endpoint);
  return (await seed.client.send(
    new seed.sm.PutSecretValueCommand({ SecretId: name, SecretString: value }),
  )).VersionId!;
}

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

/** A resolver over `profile` with a fake clock that starts now (moto's dates are real). */
function resolverAt(profile: string) {
  const start = Date.now();
  let now = start;
  const lines: string[] = [];
  const redactor = new Redactor();
  const plan = createPlan(parseProfile(profile, { env: {} }));
  const resolver = new SecretResolver(plan, {
    env: (name) => SEED_ENV[name],
    now: () => now,
    random: () => 0.5,
    redactor,
    logger: createLogger({ redactor, level: "debug", write: (l) => lines.push(l) }),
  });
  return {
    resolver,
    plan,
    lines,
    start,
    /** Sets the fake clock. */
    at: (ms: number) => now = ms,
    bearer: async (index: number) => {
      const h = await resolver.headersFor(plan.rules.find((r) => r.index === index)!);
      return { token: h.headers[0]![1], version: h.version };
    },
  };
}

/** The level of a text log line (`<time> <LEVEL> <message> …`). */
function level(line: string): string {
  return line.split(" ")[1] ?? "";
}

/** The Secrets Manager actions in moto's request log, in order. */
async function actions(moto: MotoServer): Promise<string[]> {
  return (await moto.recording()).map((r) =>
    Object.entries(r.headers).find(([k]) => k.toLowerCase() === "x-amz-target")?.[1] ?? "?"
  ).filter((t) => t.startsWith("secretsmanager.")).map((t) => t.slice("secretsmanager.".length));
}

Deno.test("followsRotation() is true for no stage and the stages a rotation moves, false for a version id or a custom stage", () => {
  assertEquals(followsRotation({ SecretId: "s" }), true);
  assertEquals(followsRotation({ SecretId: "s", VersionStage: "AWSCURRENT" }), true);
  assertEquals(followsRotation({ SecretId: "s", VersionStage: "AWSPREVIOUS" }), true);
  assertEquals(followsRotation({ SecretId: "s", VersionStage: "CANARY" }), false);
  assertEquals(followsRotation({ SecretId: "s", VersionId: "v1" }), false);
  assertEquals(
    followsRotation({ SecretId: "s", VersionStage: "AWSCURRENT", VersionId: "v1" }),
    false,
  );
  assertEquals(rotationScheduleApplies({}, { id: "s" }), true);
  assertEquals(rotationScheduleApplies({}, { id: "s", version_stage: "AWSCURRENT" }), true);
  assertEquals(rotationScheduleApplies({ rotation_schedule: false }, { id: "s" }), false);
  assertEquals(rotationScheduleApplies({}, { id: "s", version_id: "v1" }), false);
  assertEquals(rotationScheduleApplies({}, { id: "s", version_stage: "CANARY" }), false);
  const d = new Date("2026-06-02T00:00:00Z");
  assertEquals(nextRotation({ RotationEnabled: true, NextRotationDate: d }), d.getTime());
  assertEquals(nextRotation({ RotationEnabled: false, NextRotationDate: d }), undefined);
  assertEquals(nextRotation({ RotationEnabled: true }), undefined);
  assertEquals(nextRotation({ NextRotationDate: new Date(NaN) }), undefined);
});

Deno.test("SecretResolver reads an AWS secret again at its next scheduled rotation when the rule's ttl is longer; a pinned version and a custom stage keep the ttl", async () => {
  await withMoto(async (moto) => {
    const { current, nextRotation } = await rotatingSecret(moto.endpoint, "mlflow/rot", "tok-1");
    {
      using seed = await seeder(moto.endpoint);
      await seed.client.send(
        new seed.sm.PutSecretValueCommand({
          SecretId: "mlflow/rot",
          SecretString: "tok-canary",
          VersionStages: ["CANARY"],
        }),
      );
    }
    const rule = (host: string, secret: string) =>
      `  - { match: "https://${host}", provider: aws, secret: ${secret}, auth: bearer, cache: { ttl: 48h, refresh_ahead: 1m } }`;
    const s = resolverAt([
      "version: 1",
      `providers: { aws: { kind: aws-secrets-manager, region: ${REGION}, endpoint: "${moto.endpoint}" } }`,
      "hosts:",
      rule("follows.example.com", "{ id: mlflow/rot }"),
      rule("current.example.com", "{ id: mlflow/rot, version_stage: AWSCURRENT }"),
      rule("pinned.example.com", `{ id: mlflow/rot, version_id: "${current}" }`),
      rule("canary.example.com", "{ id: mlflow/rot, version_stage: CANARY }"),
    ].join("\n"));
    try {
      const [follows, stage, pinned, canary] = [0, 1, 2, 3];
      const describedBefore = (await actions(moto)).filter((a) => a === "DescribeSecret").length;
      const first = await s.bearer(follows);
      assertEquals(first, { token: "Bearer tok-1", version: `${current}(AWSCURRENT)` });
      assertEquals((await s.bearer(stage)).token, "Bearer tok-1");
      assertEquals((await s.bearer(pinned)).token, "Bearer tok-1");
      assertEquals((await s.bearer(canary)).token, "Bearer tok-canary");
      // The bound is the date DescribeSecret gives; only the two references a rotation moves ask.
      const secret = (i: number) => s.resolver.secretFor(s.plan.rules.find((r) => r.index === i)!);
      assertEquals((await secret(follows)).rotatesAt, nextRotation);
      assertEquals((await secret(stage)).rotatesAt, nextRotation);
      assertEquals((await secret(pinned)).rotatesAt, undefined);
      assertEquals((await secret(canary)).rotatesAt, undefined);
      const asked = await actions(moto);
      assertEquals(
        asked.filter((a) => a === "DescribeSecret").length,
        describedBefore + 2,
        asked.join(" "),
      );
      assertStringIncludes(
        s.lines.join(""),
        `rotates=${new Date(nextRotation).toISOString()}`,
      );

      // Half-way to the date: every value is still served from the cache.
      const calls = s.resolver.stats.providerCalls;
      s.at(s.start + (nextRotation - s.start) / 2);
      for (const i of [follows, stage, pinned, canary]) await s.bearer(i);
      assertEquals(s.resolver.stats.providerCalls, calls);

      // The rotation ran by its date: the two stage-following rules read the new version at once,
      // long before their 48 h ttl; the pinned version and the custom stage keep theirs.
      const next = await rotationFunctionRuns(moto.endpoint, "mlflow/rot", "tok-2");
      s.at(nextRotation + 1_000);
      const after = await s.bearer(follows);
      assertEquals(after, { token: "Bearer tok-2", version: `${next}(AWSCURRENT)` });
      assert(after.version !== first.version, "the rotation did not show up as a version change");
      assertEquals((await s.bearer(stage)).token, "Bearer tok-2");
      assertEquals((await s.bearer(pinned)).token, "Bearer tok-1");
      assertEquals((await s.bearer(canary)).token, "Bearer tok-canary");
      assertEquals(s.resolver.stats.providerCalls, calls + 2);
    } finally {
      await s.resolver.close();
    }
  }, { record: true });
});

Deno.test("SecretResolver re-reads an AWS secret every minute while its scheduled rotation is late, at an interval that grows with the delay", async () => {
  await withMoto(async (moto) => {
    const { current, nextRotation } = await rotatingSecret(moto.endpoint, "mlflow/late", "tok-1");
    const s = resolverAt([
      "version: 1",
      `providers: { aws: { kind: aws-secrets-manager, region: ${REGION}, endpoint: "${moto.endpoint}" } }`,
      "hosts:",
      `  - { match: "https://mlflow.example.com", provider: aws, secret: { id: mlflow/late }, auth: bearer, cache: { ttl: 48h, refresh_ahead: 1s } }`,
    ].join("\n"));
    try {
      await s.bearer(0);
      const calls = () => s.resolver.stats.providerCalls;
      const base = calls();
      // The date has passed and the rotation has not shown up (moto's date stays in the past):
      // read again, the same version is served, and it is checked again after a minute, not at
      // once and not after the 48 h ttl.
      s.at(nextRotation + 1_000);
      assertEquals((await s.bearer(0)).version, `${current}(AWSCURRENT)`);
      assertEquals(calls(), base + 1);
      s.at(nextRotation + 31_000);
      await s.bearer(0);
      assertEquals(calls(), base + 1);
      s.at(nextRotation + 62_000);
      await s.bearer(0);
      assertEquals(calls(), base + 2);
      // Ten hours late: the interval has grown to an hour (10 % of the delay), not a minute.
      const late = nextRotation + 10 * 3_600_000;
      s.at(late);
      await s.bearer(0);
      assertEquals(calls(), base + 3);
      s.at(late + 30 * 60_000);
      await s.bearer(0);
      assertEquals(calls(), base + 3);
      s.at(late + 61 * 60_000);
      await s.bearer(0);
      assertEquals(calls(), base + 4);
    } finally {
      await s.resolver.close();
    }
  });
});

/** Forwards to moto, except what `describe` says for DescribeSecret; counts both calls. */
async function relay(
  target: string,
  describe: "forward" | "fail" | "expired" | "hang",
  options: { holdReadForDescribe?: boolean } = {},
) {
  const counts = { GetSecretValue: 0, DescribeSecret: 0 };
  const describeSeen = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  let describeArrived = false;
  /** Whether DescribeSecret had arrived when each GetSecretValue was answered. */
  const describedBeforeRead: boolean[] = [];
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, async (req) => {
    const action = (req.headers.get("x-amz-target") ?? "").replace("secretsmanager.", "");
    const body = await req.arrayBuffer();
    if (action === "DescribeSecret") {
      counts.DescribeSecret++;
      describeArrived = true;
      describeSeen.resolve();
      if (describe === "fail") {
        return new Response(
          JSON.stringify({ __type: "InternalServiceError", message: "describe broke" }),
          { status: 500, headers: { "content-type": "application/x-amz-json-1.1" } },
        );
      }
      if (describe === "expired") {
        // Credentials that expired between the two calls: not a denial of DescribeSecret.
        return new Response(
          JSON.stringify({ __type: "ExpiredTokenException", message: "token expired" }),
          { status: 400, headers: { "content-type": "application/x-amz-json-1.1" } },
        );
      }
      if (describe === "hang") {
        await release.promise;
        return new Response(null, { status: 503 });
      }
    }
    if (action === "GetSecretValue") {
      counts.GetSecretValue++;
      if (options.holdReadForDescribe) {
        // Held until DescribeSecret arrives: only a DescribeSecret sent beside the read (not
        // after its answer) arrives in time; else the read goes on after 10 s.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          describeSeen.promise,
          new Promise((r) => timer = setTimeout(r, 10_000)),
        ]);
        clearTimeout(timer);
        describedBeforeRead.push(describeArrived);
      }
    }
    const headers = new Headers(req.headers);
    for (const h of ["host", "content-length", "connection"]) headers.delete(h);
    const res = await fetch(`${target}${new URL(req.url).pathname}`, {
      method: req.method,
      headers,
      body,
    });
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
  });
  const addr = await listening;
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    counts,
    describedBeforeRead,
    async [Symbol.asyncDispose]() {
      release.resolve();
      await server.shutdown();
    },
  };
}

Deno.test("createAwsSecretsManagerProvider() asks DescribeSecret beside GetSecretValue, not after it", async () => {
  await withMoto(async (moto) => {
    const { nextRotation } = await rotatingSecret(moto.endpoint, "mlflow/rot", "tok-1");
    await using r = await relay(moto.endpoint, "forward", { holdReadForDescribe: true });
    const p = createAwsSecretsManagerProvider(
      "aws",
      { region: REGION, endpoint: r.origin },
      recordingContext(SEED_ENV),
    );
    try {
      const got = await p.resolve({ id: "mlflow/rot" }, { signal: new AbortController().signal });
      assertEquals(got.value, "tok-1");
      assertEquals(got.rotatesAt, nextRotation);
      assertEquals(r.describedBeforeRead, [true]);
    } finally {
      await p.close?.();
    }
  });
});

Deno.test("createAwsSecretsManagerProvider() reads the secret when DescribeSecret fails, meets expired credentials or hangs, and when rotation_schedule is false never asks", async () => {
  await withMoto(async (moto) => {
    await rotatingSecret(moto.endpoint, "mlflow/rot", "tok-1");
    const signal = new AbortController().signal;
    for (const mode of ["fail", "expired", "hang"] as const) {
      await using r = await relay(moto.endpoint, mode);
      const ctx = recordingContext(SEED_ENV);
      const p = createAwsSecretsManagerProvider("aws", { region: REGION, endpoint: r.origin }, ctx);
      try {
        for (let i = 0; i < 2; i++) {
          const got = await p.resolve({ id: "mlflow/rot" }, { signal });
          assertEquals(got.value, "tok-1", mode);
          assertEquals(got.rotatesAt, undefined, mode);
        }
        // Asked each time (a failure is not a denial), and said at debug level only.
        assertEquals(r.counts, { GetSecretValue: 2, DescribeSecret: 2 }, mode);
        const text = ctx.lines.join("");
        assertStringIncludes(
          text,
          mode === "hang" ? "DescribeSecret answered too late" : "DescribeSecret failed",
        );
        assert(
          ctx.lines.filter((l) => l.includes("DescribeSecret")).every((l) => level(l) === "DEBUG"),
          text,
        );
      } finally {
        await p.close?.();
      }
    }
    await using r = await relay(moto.endpoint, "forward");
    const off = createAwsSecretsManagerProvider(
      "aws",
      { region: REGION, endpoint: r.origin, rotation_schedule: false },
      recordingContext(SEED_ENV),
    );
    const on = createAwsSecretsManagerProvider(
      "aws",
      { region: REGION, endpoint: r.origin },
      recordingContext(SEED_ENV),
    );
    try {
      assertEquals((await off.resolve({ id: "mlflow/rot" }, { signal })).rotatesAt, undefined);
      assertEquals(r.counts, { GetSecretValue: 1, DescribeSecret: 0 });
      assert((await on.resolve({ id: "mlflow/rot" }, { signal })).rotatesAt !== undefined);
      assertEquals(r.counts, { GetSecretValue: 2, DescribeSecret: 1 });
    } finally {
      await off.close?.();
      await on.close?.();
    }
  });
});

Deno.test("createAwsSecretsManagerProvider() reads the secret when IAM denies DescribeSecret, says so once and stops asking", async () => {
  await withMoto(async (moto) => {
    await rotatingSecret(moto.endpoint, "mlflow/rot", "tok-1");
    await motoQuery(moto.endpoint, "iam", { Action: "CreateUser", UserName: "reader" });
    await motoQuery(moto.endpoint, "iam", {
      Action: "PutUserPolicy",
      UserName: "reader",
      PolicyName: "read-only",
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: "*" }],
      }),
    });
    const key = await motoQuery(moto.endpoint, "iam", {
      Action: "CreateAccessKey",
      UserName: "reader",
    });
    await setMotoIamEnforcement(moto.endpoint, true);
    // Signed requests: no relay in between (the signature covers the host); moto's log counts.
    const asked = async () => {
      const all = await actions(moto);
      return {
        GetSecretValue: all.filter((a) => a === "GetSecretValue").length,
        DescribeSecret: all.filter((a) => a === "DescribeSecret").length,
      };
    };
    const before = await asked();
    const ctx = recordingContext({
      AWS_ACCESS_KEY_ID: xmlText(key, "AccessKeyId"),
      AWS_SECRET_ACCESS_KEY: xmlText(key, "SecretAccessKey"),
    });
    const p = createAwsSecretsManagerProvider(
      "aws",
      { region: REGION, endpoint: moto.endpoint },
      ctx,
    );
    try {
      const signal = new AbortController().signal;
      for (let i = 0; i < 3; i++) {
        const got = await p.resolve({ id: "mlflow/rot" }, { signal });
        assertEquals(got.value, "tok-1");
        assertEquals(got.rotatesAt, undefined);
      }
      assertEquals(await asked(), {
        GetSecretValue: before.GetSecretValue + 3,
        DescribeSecret: before.DescribeSecret + 1,
      });
      const denied = ctx.lines.filter((l) => l.includes("DescribeSecret is denied"));
      assertEquals(denied.length, 1, ctx.lines.join(""));
      assertEquals(level(denied[0]!), "INFO");
      assertStringIncludes(denied[0]!, "rotation_schedule: false");
      assertStringIncludes(denied[0]!, "grant secretsmanager:DescribeSecret on the secret");
      assert(!ctx.lines.some((l) => ["WARN", "ERROR"].includes(level(l))), ctx.lines.join(""));
    } finally {
      await p.close?.();
    }
  }, { record: true });
});
