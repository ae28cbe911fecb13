/**
 * `deno task demo:aws`: the whole story with AWS Secrets Manager and MLflow's basic-auth app, on
 * one machine, nothing but 127.0.0.1. (`deno task demo` is the Vault one: scripts/demo.ts.)
 *
 * 1. A local secret store: moto, the AWS Secrets Manager emulator.
 * 2. A local MLflow tracking server with basic auth; a user created over its REST API, whose
 *    credentials go straight into the secret store.
 * 3. A profile that maps the server to that secret.
 * 4. An unmodified Python training script: refused without the tool, then run under
 *    `mlflow-secrets-auth exec` (a private loopback proxy injects the credential).
 * 5. A Deno client logging a run over REST through `createAuthFetch`.
 * 6. A report: runs logged, auth mode, secret fetches, and a scan of every captured log for the
 *    credential.
 *
 * Everything is cleaned up on exit and on Ctrl-C. Run by `deno task demo:aws` after
 * `scripts/setup.sh` (which installs the Python peers into `.venv`).
 *
 * @module
 */

import { Demo, seconds } from "./_demo_kit.ts";
import { startMoto } from "../tests/_peers/moto.ts";
import {
  MLFLOW_QUIET_ENV,
  type MlflowServer,
  PYTHON,
  startMlflow,
} from "../tests/_peers/mlflow.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const TRAIN = `${ROOT}examples/train.py`;
const REST_CLIENT = `${ROOT}examples/rest_client.ts`;
const SECRET_ID = "mlflow/demo/tracking";
const REGION = "eu-west-1";
const FAKE_AWS = { id: "AKIADEMOONLY00000001", secret: "demo-only-not-a-real-aws-key" };

const demo = new Demo(6);
const { bold, dim, green, red, cyan } = demo;
const say = (s = ""): void => demo.say(s);
const write = (s: string): void => demo.write(s);
const step = (n: number, text: string): void => demo.step(n, text);
const withTicker = <T>(what: string, fn: () => Promise<T>): Promise<T> => demo.withTicker(what, fn);

async function main(): Promise<void> {
  const started = performance.now();
  say(
    bold("mlflow-secrets-auth demo") +
      dim(" — MLflow authentication from a secret store, zero code changes"),
  );
  say(dim("Everything below runs on 127.0.0.1 and is removed at the end (or on Ctrl-C)."));
  say();
  const work = await Deno.makeTempDir({ prefix: "mlflow-secrets-auth-demo-" });
  demo.defer(() => Deno.remove(work, { recursive: true }));

  // 1. Secret store.
  step(1, "Starting a local secret store: moto, the AWS Secrets Manager emulator");
  const moto = await withTicker("moto", () => startMoto({ record: true }));
  demo.defer(() => moto.close());
  say(`      ${green("ready")} at ${moto.endpoint} ${dim(`(${seconds(moto.startMs)})`)}`);

  // 2. MLflow with basic auth, a user, its credentials into the store.
  step(2, "Starting a local MLflow tracking server with basic auth (SQLite, local artifacts)");
  const starting = startMlflow({ basicAuth: true, parentDir: work, signal: demo.stopping.signal });
  demo.defer(() => starting.then((m) => m.close(), () => {}));
  const mlflow: MlflowServer = await withTicker(
    "MLflow (the first start compiles Python bytecode; allow 20-60 s)",
    () => starting,
  );
  demo.captured.push({ name: "mlflow server", text: "" });
  const mlflowLog = demo.captured.at(-1)!;
  say(`      ${green("ready")} at ${mlflow.url} ${dim(`(${seconds(mlflow.startMs)})`)}`);
  const user = "demo-trainer";
  const password = `${crypto.randomUUID()}-${crypto.randomUUID()}`;
  await mlflow.createUser(user, password);
  await putSecret(moto.endpoint, "CreateSecret", {
    Name: SECRET_ID,
    SecretString: JSON.stringify({ username: user, password }),
  });
  say(`      user "${user}" created over MLflow's REST API; its password went straight into`);
  say(`      AWS Secrets Manager as "${SECRET_ID}" ${dim("(this demo never prints it)")}`);

  // 3. Profile.
  step(3, "Writing a profile: this server's requests get that secret, as HTTP Basic");
  const profilePath = `${work}/mlflow-auth.yaml`;
  const profile = `# yaml-language-server: $schema=${ROOT}schema/profile.schema.json
version: 1
providers:
  demo-aws:
    kind: aws-secrets-manager
    region: ${REGION}
    endpoint: \${AWS_SM_ENDPOINT}        # moto; omit for the real AWS
hosts:
  - match: ${mlflow.url}
    provider: demo-aws
    secret: { id: ${SECRET_ID} }
    auth: basic                          # fields "username" and "password" of the JSON secret
proxy:
  upstream: ${mlflow.url}
`;
  await Deno.writeTextFile(profilePath, profile);
  say(dim(profile.trimEnd().split("\n").map((l) => `      │ ${l}`).join("\n")));
  const env: Record<string, string> = {
    ...MLFLOW_QUIET_ENV,
    AWS_SM_ENDPOINT: moto.endpoint,
    AWS_ACCESS_KEY_ID: FAKE_AWS.id,
    AWS_SECRET_ACCESS_KEY: FAKE_AWS.secret,
    AWS_CONFIG_FILE: `${work}/no-aws-config`,
    AWS_SHARED_CREDENTIALS_FILE: `${work}/no-aws-credentials`,
    AWS_EC2_METADATA_DISABLED: "true",
    MLFLOW_SECRETS_AUTH_PROFILE: profilePath,
  };

  // 4. Python, unmodified.
  step(4, "An unmodified Python training script (examples/train.py: only the mlflow API)");
  write(`      without the tool … `);
  const denied = await runCaptured("python without credentials", PYTHON, [
    TRAIN,
    "demo-python",
    "3",
  ], {
    ...env,
    MLFLOW_TRACKING_URI: mlflow.url,
  });
  say(
    denied.code !== 0 && /401|UNAUTHENTICATED|not authenticated/i.test(denied.stderr)
      ? `${green("refused")}: 401 Unauthorized, as it should be`
      : red(`unexpected: exit ${denied.code}`),
  );
  const execArgs = [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
    "--allow-sys",
    `--allow-run=${PYTHON}`,
    "--allow-ffi",
    CLI,
    "exec",
    "--access-log",
    "--",
    PYTHON,
    TRAIN,
    "demo-python",
    "5",
  ];
  say(
    `      under exec: ${
      cyan("mlflow-secrets-auth exec --access-log -- python examples/train.py")
    }`,
  );
  const motoBefore = await secretReads(moto);
  const py = await runCaptured("exec + python", Deno.execPath(), execArgs, env, (line) => {
    const m = / method=(\w+) path=(\S+) status=(\d+) ms=([\d.]+)/.exec(line);
    if (m !== null) say(dim(`      │ ${m[1]!.padEnd(5)} ${m[3]} ${m[2]!.slice(0, 96)} ${m[4]} ms`));
  });
  if (py.code !== 0) {
    throw new Error(`the training script failed under exec:\n${py.stderr.slice(-3000)}`);
  }
  const pySummary = JSON.parse(py.stdout.trim().split("\n").at(-1)!);
  const proxied = py.stderr.split("\n").filter((l) => l.includes(" proxy request ")).length;
  const execReads = (await secretReads(moto)) - motoBefore;
  say(
    `      ${
      green("done")
    }: run ${pySummary.run_id} — ${pySummary.metrics_logged} metrics, a 5 MB artifact up and back down (${
      seconds(py.ms)
    }), ${proxied} requests proxied`,
  );

  // 5. Deno, through the middleware.
  step(5, "A Deno client over MLflow's REST API through createAuthFetch (examples/rest_client.ts)");
  const restBefore = await secretReads(moto);
  const rest = await runCaptured("deno rest client", Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
    "--allow-sys",
    REST_CLIENT,
    profilePath,
    mlflow.url,
    "demo-deno",
  ], env);
  if (rest.code !== 0) throw new Error(`the Deno client failed:\n${rest.stderr.slice(-3000)}`);
  const restSummary = JSON.parse(rest.stdout.trim().split("\n").at(-1)!);
  const restReads = (await secretReads(moto)) - restBefore;
  say(
    `      ${
      green("done")
    }: run ${restSummary.runId} ${restSummary.status}, ${restSummary.metricsLogged} metrics (${
      seconds(rest.ms)
    })`,
  );

  // 6. Report.
  step(6, "Checking: runs on the server, secret fetches, and every captured log for the secret");
  const runs = await countRuns(mlflow, ["demo-python", "demo-deno"]);
  mlflowLog.text = mlflow.tail();
  const forms = [
    password,
    btoa(`${user}:${password}`),
    encodeURIComponent(password),
    JSON.stringify({ username: user, password }),
  ];
  const { found, lines, bytes, names } = demo.scan(forms);
  say();
  say(bold("Report"));
  const row = (k: string, v: string): void => demo.row(k, v);
  row("runs logged", `${runs} (Python under exec: 1, Deno via createAuthFetch: 1)`);
  row(
    "auth mode",
    "HTTP Basic (MLflow basic-auth app), credential from AWS Secrets Manager (moto)",
  );
  row(
    "secret fetches",
    `${
      execReads + restReads
    } GetSecretValue calls (exec's proxy: ${execReads}, Deno client: ${restReads})`,
  );
  row("requests proxied", `${proxied}, each with the credential added by the proxy`);
  row(
    "secrets in logs",
    `${found === 0 ? green("0 found") : red(`${found} FOUND`)} in ${lines} captured lines (${
      (bytes / 1024).toFixed(0)
    } KiB: ${names})`,
  );
  row("wall time", seconds(performance.now() - started));
  say();
  say(dim(`Try it yourself: the recipes in ${ROOT}README.md. Cleaning up…`));
  if (found !== 0 || runs < 2) throw new Error("the demo's checks failed");
}

/** Runs a process in the project's directory, capturing its output. */
function runCaptured(
  name: string,
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  onStderrLine?: (line: string) => void,
) {
  return demo.run(name, command, args, {
    env,
    cwd: ROOT,
    ...(onStderrLine ? { onStderrLine } : {}),
  });
}

/** Calls a Secrets Manager action on moto (JSON protocol; moto does not check signatures). */
async function putSecret(endpoint: string, action: string, body: unknown): Promise<void> {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": `secretsmanager.${action}`,
      authorization:
        `AWS4-HMAC-SHA256 Credential=${FAKE_AWS.id}/20240101/${REGION}/secretsmanager/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto ${action} answered ${res.status}: ${text}`);
}

/** GetSecretValue calls moto has served so far. */
async function secretReads(moto: Awaited<ReturnType<typeof startMoto>>): Promise<number> {
  return (await moto.recording()).filter((r) =>
    Object.entries(r.headers).some(([k, v]) =>
      k.toLowerCase() === "x-amz-target" && v === "secretsmanager.GetSecretValue"
    )
  ).length;
}

/** Runs in the given experiments, counted by the admin over REST. */
async function countRuns(mlflow: MlflowServer, experiments: readonly string[]): Promise<number> {
  const auth = `Basic ${btoa(`${mlflow.admin!.username}:${mlflow.admin!.password}`)}`;
  let total = 0;
  for (const name of experiments) {
    const res = await fetch(
      `${mlflow.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=${
        encodeURIComponent(name)
      }`,
      { headers: { authorization: auth } },
    );
    if (!res.ok) {
      await res.body?.cancel();
      continue;
    }
    const { experiment } = await res.json();
    const search = await fetch(`${mlflow.url}/api/2.0/mlflow/runs/search`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body: JSON.stringify({ experiment_ids: [experiment.experiment_id] }),
    });
    const { runs = [] } = await search.json();
    total += runs.length;
  }
  return total;
}

await demo.main(main);
