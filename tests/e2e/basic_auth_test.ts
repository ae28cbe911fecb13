/**
 * End to end against a real MLflow server with the basic-auth app. A user is created through
 * MLflow's REST API and its credentials live in AWS Secrets Manager (moto). An unmodified Python
 * MLflow script fails without the tool and succeeds under `exec`; a Deno client logs a run with
 * `createAuthFetch`; a rotation during a long `exec` loop costs exactly one 401 and one refresh.
 */

import { createAuthFetch, parseProfile } from "../../mod.ts";
import { logRunOverRest } from "../../examples/rest_client.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { MOTO_CREDENTIALS, startMoto } from "../_peers/moto.ts";
import { MLFLOW_QUIET_ENV, PYTHON, run, startMlflow } from "../_peers/mlflow.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const TRAIN = `${ROOT}examples/train.py`;
const LOOP = `${ROOT}tests/testdata/e2e_loop.py`;
const SECRET_ID = "mlflow/e2e/basic-auth";

Deno.test("exec and createAuthFetch against a real MLflow server with basic auth, the credentials in AWS Secrets Manager", async (t) => {
  const t0 = performance.now();
  const [mlflow, moto] = await Promise.all([startMlflow({ basicAuth: true }), startMoto()]);
  const work = await Deno.makeTempDir({ prefix: "msa-e2e-basic-" });
  const sm = await import("../../deps/aws_secrets_manager.ts");
  const seed = new sm.SecretsManagerClient({
    region: "eu-west-1",
    endpoint: moto.endpoint,
    credentials: MOTO_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    console.log(`MLflow (basic auth) up in ${mlflow.startMs} ms, moto in ${moto.startMs} ms`);
    const user = "e2e-user";
    let password = `pw-${crypto.randomUUID()}`;
    await mlflow.createUser(user, password);
    await seed.send(
      new sm.CreateSecretCommand({
        Name: SECRET_ID,
        SecretString: JSON.stringify({ username: user, password }),
      }),
    );
    const profileText = `version: 1
providers:
  aws:
    kind: aws-secrets-manager
    region: eu-west-1
    endpoint: \${AWS_SM_ENDPOINT}
hosts:
  - match: ${mlflow.url}
    provider: aws
    secret: { id: ${SECRET_ID} }
    auth: basic
`;
    const profilePath = `${work}/mlflow-auth.yaml`;
    await Deno.writeTextFile(profilePath, profileText);
    const awsEnv: Record<string, string> = {
      AWS_SM_ENDPOINT: moto.endpoint,
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_CONFIG_FILE: `${work}/no-aws-config`,
      AWS_SHARED_CREDENTIALS_FILE: `${work}/no-aws-credentials`,
      AWS_EC2_METADATA_DISABLED: "true",
    };
    // What a user's shell might hold: the tracking URI, and stale credentials exec must drop.
    const shellEnv = {
      ...awsEnv,
      MLFLOW_TRACKING_URI: mlflow.url,
      MLFLOW_TRACKING_USERNAME: "stale-user",
      MLFLOW_TRACKING_PASSWORD: "stale-password-value",
    };
    const execArgs = (...args: string[]) => [
      "run",
      "-A",
      CLI,
      "exec",
      "--profile",
      profilePath,
      ...args,
    ];
    const exec = (args: string[]) => run(Deno.execPath(), execArgs("--", ...args), shellEnv);
    const printEnv = "import json, os; print(json.dumps(dict(os.environ)))";

    await t.step("an unmodified MLflow script gets 401 without the tool", async () => {
      const r = await run(PYTHON, [TRAIN, "e2e-basic-denied", "2"], {
        MLFLOW_TRACKING_URI: mlflow.url,
      });
      assert(r.code !== 0, "the script succeeded without credentials");
      assertStringIncludes(r.stderr, "401");
    });

    await t.step(
      "the child of exec sees the proxy and a client token, not the credential",
      async () => {
        const r = await exec([PYTHON, "-c", printEnv]);
        assertEquals(r.code, 0, r.stderr);
        const env = JSON.parse(r.stdout) as Record<string, string>;
        assert(env.MLFLOW_TRACKING_URI?.startsWith("http://127.0.0.1:"), env.MLFLOW_TRACKING_URI);
        assert(env.MLFLOW_TRACKING_URI !== mlflow.url, "the child points at the server itself");
        assert((env.MLFLOW_TRACKING_TOKEN ?? "").length >= 40, "no client token");
        assertEquals(env.MLFLOW_TRACKING_USERNAME, undefined);
        assertEquals(env.MLFLOW_TRACKING_PASSWORD, undefined);
        assert(!r.stdout.includes(password), "the password is in the child's environment");
        assert(!r.stdout.includes(btoa(`${user}:${password}`)), "the header is in the child's env");
      },
    );

    await t.step("the same script succeeds under exec, unchanged", async () => {
      const started = performance.now();
      const r = await exec([PYTHON, TRAIN, "e2e-basic", "3"]);
      assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assertEquals(summary.artifact_bytes, 5 * 1024 * 1024);
      assert(summary.runs_in_experiment >= 1);
      assert(!r.stdout.includes(password) && !r.stderr.includes(password), "password printed");
      console.log(
        `train.py under exec (basic auth): ${Math.round(performance.now() - started)} ms`,
      );
    });

    await t.step("a Deno client logs a run over REST with createAuthFetch", async () => {
      const profile = parseProfile(profileText, { source: profilePath, env: awsEnv });
      await using authFetch = createAuthFetch(profile, {
        env: (n) => awsEnv[n],
        logWrite: () => {},
      });
      const summary = await logRunOverRest(authFetch, mlflow.url, { experiment: "e2e-basic-rest" });
      assertEquals(summary.status, "FINISHED");
      assertEquals(summary.metricsLogged, 5);
      assertEquals(authFetch.stats.secretFetches, 1);
      // And without the middleware the server refuses.
      const bare = await fetch(`${mlflow.url}/api/2.0/mlflow/runs/get?run_id=${summary.runId}`);
      await bare.body?.cancel();
      assertEquals(bare.status, 401);
    });

    await t.step("a rotation during a long exec loop costs one 401 and one refresh", async () => {
      const stopFile = `${work}/stop`;
      const progressFile = `${work}/progress`;
      const child = new Deno.Command(Deno.execPath(), {
        args: execArgs("--access-log", "--", PYTHON, LOOP, stopFile, progressFile),
        env: { ...MLFLOW_QUIET_ENV, ...shellEnv },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
      ]);
      let exited = false;
      child.status.then(() => exited = true);
      const progress = async (): Promise<[number, string]> => {
        const text = await Deno.readTextFile(progressFile).catch(() => "0 ");
        const [n, uri] = text.split(" ");
        return [Number(n), uri ?? ""];
      };
      const waitFor = async (n: number): Promise<string> => {
        const until = Date.now() + 120_000;
        while (Date.now() < until) {
          const [done, uri] = await progress();
          if (done >= n) return uri;
          if (exited) {
            const [out, err] = await output;
            throw new Error(`the loop ended early:\n${out}\n${err}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`the loop did not reach ${n} iterations`);
      };
      try {
        const proxyUri = await waitFor(3);
        const [before] = await progress();
        // Rotate: first the secret store, then the server. The proxy still holds the old
        // password in its cache, so the next request gets a 401, refreshes and is sent again.
        password = `pw-${crypto.randomUUID()}`;
        await seed.send(
          new sm.PutSecretValueCommand({
            SecretId: SECRET_ID,
            SecretString: JSON.stringify({ username: user, password }),
          }),
        );
        await mlflow.updatePassword(user, password);
        await waitFor(before + 4);
        const metrics = await (await fetch(`${proxyUri}/__mlflow-secrets-auth/metrics`)).text();
        await Deno.writeTextFile(stopFile, "");
        const status = await child.status;
        const [out, err] = await output;
        assertEquals(status.code, 0, `${out}\n${err}`);
        const value = (name: string) =>
          Number(new RegExp(`^${name} (\\d+)$`, "m").exec(metrics)?.[1]);
        assertEquals(value("mlflow_secrets_auth_secret_refreshes_total"), 1, metrics);
        assertEquals(value("mlflow_secrets_auth_proxy_retried_total"), 1, metrics);
        assertEquals(value("mlflow_secrets_auth_secret_fetches_total"), 2, metrics);
        // The access log: one request answered after a refresh, none passed back as a 401.
        assertEquals(err.split("\n").filter((l) => l.includes("refreshed=true")).length, 1, err);
        assert(!/ status=401 /.test(err), err);
        assert(!err.includes(password) && !out.includes(password), "the password was printed");
        console.log(
          `rotated after ${before} iterations; the loop ran ${
            out.trim().split("\n").at(-1)
          } iterations with ${value("mlflow_secrets_auth_proxy_requests_total")} requests, ${
            value("mlflow_secrets_auth_secret_refreshes_total")
          } refresh, ${value("mlflow_secrets_auth_secret_fetches_total")} secret fetches`,
        );
      } finally {
        await Deno.writeTextFile(stopFile, "").catch(() => {});
        if (!exited) {
          try {
            child.kill("SIGTERM");
          } catch {
            // Exited meanwhile.
          }
        }
        await child.status;
        await output;
      }
    });
  } finally {
    seed.destroy();
    await Promise.all([mlflow.close(), moto.close()]);
    await Deno.remove(work, { recursive: true }).catch(() => {});
    console.log(`basic-auth e2e: ${Math.round(performance.now() - t0)} ms`);
  }
});
