/**
 * End to end, OAuth2 client credentials: a real OpenID provider (`oidc-provider`, npm) issues JWT
 * access tokens; a real resource server (nginx `auth_request` to a `jose` validator checking
 * signature, issuer, audience, type and expiry against the provider's JWKS) stands in front of a
 * real MLflow server. An unmodified Python MLflow job runs under `exec` with the client id and
 * secret in the env provider, then in the file provider; tokens are counted at the provider.
 */

import { createAuthFetch, parseProfile } from "../../mod.ts";
import { assert, assertEquals, assertStringIncludes, canaryForms } from "../_assert.ts";
import { PYTHON, run, startMlflow } from "../_peers/mlflow.ts";
import { startOidcProvider } from "../_peers/oidc.ts";
import { startJwtGate } from "../_peers/jwt_gate.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const TRAIN = `${ROOT}examples/train.py`;

/** A job that logs `steps` metrics `pause` seconds apart, then reads its run back. */
const SLOW_JOB = `
import json, sys, time
import mlflow
steps, pause = int(sys.argv[1]), float(sys.argv[2])
mlflow.set_experiment(sys.argv[3])
with mlflow.start_run() as run:
    mlflow.log_param("optimizer", "adam")
    for i in range(steps):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        time.sleep(pause)
history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
print(json.dumps({"metrics": len(history), "status": mlflow.get_run(run.info.run_id).info.status}))
`;

Deno.test("exec runs an unmodified MLflow job behind a JWT-validating gate with OAuth2 client credentials", async (t) => {
  const clientSecret = `cs-${crypto.randomUUID()}`;
  const postSecret = `cs-post-${crypto.randomUUID()}`;
  const work = await Deno.makeTempDir({ prefix: "msa-e2e-oauth2-" });
  await using mlflow = await startMlflow();
  await using idp = await startOidcProvider({
    clients: [
      { id: "mlflow-job", secret: clientSecret },
      { id: "mlflow-job-post", secret: postSecret, authMethod: "client_secret_post" },
    ],
    accessTokenTtlSeconds: 300,
  });
  await using gate = await startJwtGate({
    upstream: mlflow.url,
    issuer: idp.issuer,
    jwksUrl: idp.jwksUrl,
    audience: idp.resource,
  });
  const outputs: string[] = [];
  try {
    const credentialsFile = `${work}/oauth-client.json`;
    await Deno.writeTextFile(
      credentialsFile,
      JSON.stringify({ id: "mlflow-job-post", secret: postSecret }),
    );
    const profileText = (provider: "env" | "file") =>
      `version: 1
providers:
  ci: { kind: env }
  mounted: { kind: file }
hosts:
  - match: ${gate.url}
    provider: ${provider === "env" ? "ci" : "mounted"}
    secret: ${provider === "env" ? "{ var: MLFLOW_OAUTH_CLIENT }" : `{ path: ${credentialsFile} }`}
    auth:
      type: oauth2_client_credentials
      token_url: ${idp.tokenUrl}
      ${
        provider === "env"
          ? "scope: mlflow"
          : "client_id_field: id\n      client_secret_field: secret\n      client_auth: body"
      }
`;
    const envProfile = `${work}/env.yaml`;
    const fileProfile = `${work}/file.yaml`;
    await Deno.writeTextFile(envProfile, profileText("env"));
    await Deno.writeTextFile(fileProfile, profileText("file"));
    const clientEnv = {
      MLFLOW_OAUTH_CLIENT: JSON.stringify({ client_id: "mlflow-job", client_secret: clientSecret }),
    };
    const exec = async (profile: string, env: Record<string, string>, command: string[]) => {
      const r = await run(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "exec",
        "--profile",
        profile,
        "--",
        ...command,
      ], { ...env, MLFLOW_TRACKING_URI: gate.url });
      outputs.push(r.stdout, r.stderr);
      return r;
    };

    await t.step("without the tool, the job is refused by the gate", async () => {
      const r = await run(PYTHON, [TRAIN, "oauth2-denied", "1"], {
        MLFLOW_TRACKING_URI: gate.url,
      });
      assert(r.code !== 0, "the job ran without a token");
      assertStringIncludes(r.stderr, "UNAUTHENTICATED");
      assertEquals(gate.accepted, 0);
    });

    await t.step(
      "env provider: the job runs, with one token request for all its requests",
      async () => {
        const calls = idp.tokenCalls.length;
        const accepted = gate.accepted;
        const r = await exec(envProfile, clientEnv, [PYTHON, TRAIN, "oauth2-env", "5"]);
        assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        assertEquals(summary.artifact_bytes, 5 * 1024 * 1024);
        const requests = gate.accepted - accepted;
        const tokens = idp.tokenCalls.length - calls;
        console.log(`train.py under exec: ${requests} MLflow requests, ${tokens} token request(s)`);
        assert(requests >= 15, `only ${requests} requests reached MLflow`);
        assertEquals(tokens, 1);
        assertEquals(idp.tokenCalls.at(-1), { status: 200, auth: "basic" });
      },
    );

    await t.step(
      "file provider, client_auth body: tokens that expire are replaced while the job runs",
      async () => {
        idp.setAccessTokenTtl(3);
        try {
          const calls = idp.tokenCalls.length;
          const seen = gate.tokensSeen.size;
          const rejected = gate.rejected.length;
          const started = performance.now();
          const r = await exec(fileProfile, {}, [
            PYTHON,
            "-c",
            SLOW_JOB,
            "16",
            "0.5",
            "oauth2-ttl",
          ]);
          const elapsedS = (performance.now() - started) / 1000;
          assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
          assertEquals(JSON.parse(r.stdout.trim().split("\n").at(-1)!), {
            metrics: 16,
            status: "FINISHED",
          });
          const tokens = idp.tokenCalls.slice(calls);
          console.log(
            `${elapsedS.toFixed(1)} s job with 3 s tokens: ${tokens.length} token requests, ${
              gate.tokensSeen.size - seen
            } tokens used, ${gate.rejected.length - rejected} requests refused`,
          );
          assert(tokens.length >= 2, `${tokens.length} token request(s)`);
          // 3 s tokens are kept 2.4 s and replaced in the last 1.2 s of that: 1.2 s each at least.
          assert(
            tokens.length <= Math.ceil(elapsedS / 1.2) + 1,
            `${tokens.length} token requests in ${elapsedS.toFixed(1)} s`,
          );
          assert(tokens.every((c) => c.status === 200 && c.auth === "none"));
          assert(gate.tokensSeen.size - seen >= 2);
          // Replaced before they expired: the gate never saw an expired token.
          assertEquals(gate.rejected.slice(rejected), []);
        } finally {
          idp.setAccessTokenTtl(300);
        }
      },
    );

    await t.step(
      "a token the server stops accepting is dropped and replaced once (401 replay)",
      async () => {
        const profile = parseProfile(profileText("env"), { source: envProfile, env: {} });
        const logs: string[] = [];
        await using authFetch = createAuthFetch(profile, {
          env: (n) => (clientEnv as Record<string, string>)[n],
          logWrite: (l) => void logs.push(l),
        });
        const url = `${gate.url}/api/2.0/mlflow/experiments/search?max_results=1`;
        const first = await authFetch(url);
        await first.body?.cancel();
        assertEquals(first.status, 200);
        const calls = idp.tokenCalls.length;
        gate.revokeSeen();
        const second = await authFetch(url);
        await second.body?.cancel();
        assertEquals(second.status, 200);
        assertEquals(idp.tokenCalls.length, calls + 1);
        assertEquals(gate.rejected.filter((r) => r === "revoked").length, 1);
        outputs.push(...logs);
      },
    );

    await t.step(
      "a wrong client secret: exec refuses, naming the token URL and invalid_client, and sends nothing to MLflow",
      async () => {
        const wrong = `wrong-${crypto.randomUUID()}`;
        const accepted = gate.accepted;
        const rejected = gate.rejected.length;
        const marker = `${work}/child-ran`;
        const r = await exec(envProfile, {
          MLFLOW_OAUTH_CLIENT: JSON.stringify({ client_id: "mlflow-job", client_secret: wrong }),
        }, [PYTHON, "-c", `open(${JSON.stringify(marker)}, "w")`]);
        assertEquals(r.code, 1, r.stderr);
        assertStringIncludes(r.stderr, `"${idp.tokenUrl}"`);
        assertStringIncludes(r.stderr, "invalid_client");
        console.log(r.stderr.trim().split("\n").filter((l) => l.includes("invalid_client")).at(-1));
        assertEquals(idp.tokenCalls.at(-1)?.status, 401);
        assertEquals(gate.accepted, accepted);
        assertEquals(gate.rejected.length, rejected);
        assert(!(await Deno.stat(marker).then(() => true, () => false)), "the child ran");
        for (const form of canaryForms(wrong)) {
          assert(!r.stderr.includes(form) && !r.stdout.includes(form));
        }
      },
    );

    await t.step("neither the client secret nor any access token appears in any output", () => {
      assert(gate.rawTokens.size >= 3);
      const all = outputs.join("\n");
      for (const canary of [clientSecret, postSecret, ...gate.rawTokens]) {
        for (const form of canaryForms(canary)) {
          assert(!all.includes(form), "a secret or token was printed");
        }
      }
    });
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
