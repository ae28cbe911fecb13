/**
 * `deno task demo`: the Python plugin's own demo, on real components, on one machine, nothing but
 * 127.0.0.1: Vault storing the MLflow credential, nginx enforcing authentication in front of an
 * MLflow server, and clients that know nothing about either.
 *
 * 1. OpenBao (the open-source Vault fork, a real Vault API) in dev mode with a file audit device;
 *    the MLflow token goes into KV v2, and a token whose policy reads only that secret.
 * 2. An MLflow tracking server, and nginx in front of it demanding `Authorization: Bearer <token>`.
 * 3. A profile that maps the nginx address to that Vault secret.
 * 4. An unmodified Python training script: refused without the tool (401), then run under
 *    `mlflow-secrets-auth exec` (a private loopback proxy injects the credential).
 * 5. The MLflow Java client (`org.mlflow:mlflow-client`: experiment, run, params, metrics, an
 *    artifact) under `exec`, unmodified: `new MlflowClient()` reads `MLFLOW_TRACKING_URI` but
 *    never `MLFLOW_TRACKING_TOKEN`, and `exec`'s proxy serves a request without `Authorization`
 *    from a socket of its own user (Linux).
 * 6. A Deno client over MLflow's REST API through `createAuthFetch`.
 * 7. A report: runs per client, secret reads counted by OpenBao's audit log, requests proxied,
 *    and a scan of every captured log for the token.
 *
 * Everything is cleaned up on exit and on Ctrl-C. Run by `deno task demo` after
 * `scripts/setup.sh` (which installs OpenBao, MLflow and the Java client). The previous demo
 * (AWS Secrets Manager and MLflow's basic-auth app) is `deno task demo:aws`.
 *
 * @module
 */

import { Demo, seconds } from "./_demo_kit.ts";
import { MLFLOW_QUIET_ENV, PYTHON, startMlflow } from "../tests/_peers/mlflow.ts";
import { startNginx } from "../tests/_peers/nginx.ts";
import { type OpenBao, startOpenBao } from "../tests/_peers/openbao.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const TRAIN = `${ROOT}examples/train.py`;
const REST_CLIENT = `${ROOT}examples/rest_client.ts`;
const JAVA_JOB = `${ROOT}tests/testdata/java_job/src/main/java/MlflowJob.java`;
const JAVA_CLASSPATH = `${ROOT}.peers/java-job.classpath`;
const JAVA = "/usr/bin/java";
const SECRET_PATH = "mlflow/tracking";
const EXPERIMENTS = { python: "demo-python", java: "demo-java", deno: "demo-deno" } as const;

const demo = new Demo(7);
const { bold, dim, green, red, cyan } = demo;

async function main(): Promise<void> {
  const started = performance.now();
  demo.say(
    bold("mlflow-secrets-auth demo") +
      dim(" — Vault + nginx + MLflow, three clients, zero code changes"),
  );
  demo.say(dim("Everything below runs on 127.0.0.1 and is removed at the end (or on Ctrl-C)."));
  demo.say();
  const work = await Deno.makeTempDir({ prefix: "mlflow-secrets-auth-demo-" });
  demo.defer(() => Deno.remove(work, { recursive: true }));
  const token = `mlflow-${crypto.randomUUID()}`;

  // 1 and 2 start together: OpenBao takes a second, MLflow many.
  demo.step(1, "Starting OpenBao (a real Vault API) with a file audit device, in dev mode");
  const baoStart = startOpenBao({ audit: true });
  demo.defer(() => baoStart.then((b) => b.close(), () => {}));
  const mlflowStart = startMlflow({ parentDir: work, signal: demo.stopping.signal });
  demo.defer(() => mlflowStart.then((m) => m.close(), () => {}));
  const bao = await baoStart;
  demo.say(`      ${green("ready")} at ${bao.address} ${dim(`(${seconds(bao.startMs)})`)}`);
  await bao.kvPut("secret", SECRET_PATH, { token });
  await bao.writePolicy(
    "mlflow-reader",
    `path "secret/data/${SECRET_PATH}" { capabilities = ["read"] }`,
  );
  const vaultToken = await bao.createToken(["mlflow-reader"], { ttl: "1h" });
  demo.say(`      the MLflow token went into KV v2 at "secret/${SECRET_PATH}"; a Vault token`);
  demo.say(
    `      whose policy reads only that secret is the one credential the clients' side holds`,
  );

  demo.step(2, "Starting MLflow (SQLite, local artifacts) and nginx demanding a bearer token");
  const mlflow = await demo.withTicker(
    "MLflow (the first start compiles Python bytecode; allow 20-60 s)",
    () => mlflowStart,
  );
  const nginx = await startNginx({ upstream: mlflow.url, bearerToken: token, apiKey: "unused" });
  demo.defer(() => nginx.close());
  const tracking = nginx.bearerUrl;
  demo.say(`      ${green("ready")}: MLflow ${mlflow.url} ${dim(`(${seconds(mlflow.startMs)})`)}`);
  demo.say(`      behind nginx at ${tracking} (401 without "Authorization: Bearer <token>")`);

  demo.step(3, "Writing a profile: requests to nginx get that Vault secret, as a bearer token");
  const profilePath = `${work}/mlflow-auth.yaml`;
  const profile = `# yaml-language-server: $schema=${ROOT}schema/profile.schema.json
version: 1
providers:
  vault:
    kind: vault
    address: \${VAULT_ADDR}
    auth: { method: token }            # VAULT_TOKEN; approle and kubernetes work the same way
hosts:
  - match: ${tracking}
    provider: vault
    secret: { path: ${SECRET_PATH}, mount: secret, field: token }
    auth: bearer
proxy:
  upstream: ${tracking}
`;
  await Deno.writeTextFile(profilePath, profile);
  demo.say(dim(profile.trimEnd().split("\n").map((l) => `      │ ${l}`).join("\n")));
  const env: Record<string, string> = {
    ...MLFLOW_QUIET_ENV,
    VAULT_ADDR: bao.address,
    VAULT_TOKEN: vaultToken,
    MLFLOW_SECRETS_AUTH_PROFILE: profilePath,
    MLFLOW_TRACKING_URI: tracking,
  };
  const execWith = (program: string, args: readonly string[]): string[] => [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
    "--allow-sys",
    `--allow-run=${program}`,
    "--allow-ffi",
    CLI,
    "exec",
    "--access-log",
    "--",
    program,
    ...args,
  ];

  demo.step(4, "An unmodified Python training script (examples/train.py: only the mlflow API)");
  demo.write("      without the tool … ");
  const denied = await run("python without credentials", PYTHON, [TRAIN, EXPERIMENTS.python, "3"], {
    ...env,
  });
  demo.say(
    denied.code !== 0 && /UNAUTHENTICATED|401/.test(denied.stderr)
      ? `${green("refused")}: 401 Unauthorized from nginx, as it should be`
      : red(`unexpected: exit ${denied.code}`),
  );
  demo.say(
    `      under exec: ${
      cyan("mlflow-secrets-auth exec --access-log -- python examples/train.py")
    }`,
  );
  let readsBefore = await secretReads(bao);
  const py = await run(
    "exec + python",
    Deno.execPath(),
    execWith(PYTHON, [TRAIN, EXPERIMENTS.python, "5"]),
    env,
    (line) => {
      const m = / method=(\w+) path=(\S+) status=(\d+) ms=([\d.]+)/.exec(line);
      if (m !== null) {
        demo.say(dim(`      │ ${m[1]!.padEnd(5)} ${m[3]} ${m[2]!.slice(0, 96)} ${m[4]} ms`));
      }
    },
  );
  if (py.code !== 0) {
    throw new Error(`the training script failed under exec:\n${py.stderr.slice(-3000)}`);
  }
  const pySummary = JSON.parse(py.stdout.trim().split("\n").at(-1)!);
  const pyProxied = proxiedRequests(py.stderr);
  const pyReads = (await secretReads(bao)) - readsBefore;
  demo.say(
    `      ${
      green("done")
    }: run ${pySummary.run_id}, ${pySummary.metrics_logged} metrics, a 5 MB artifact up and back down (${
      seconds(py.ms)
    }), ${pyProxied} requests proxied`,
  );

  demo.step(5, "The MLflow Java client (org.mlflow:mlflow-client 2.17.2) under exec");
  const classPath = (await Deno.readTextFile(JAVA_CLASSPATH)).trim();
  readsBefore = await secretReads(bao);
  const java = await run(
    "exec + java",
    Deno.execPath(),
    execWith(JAVA, ["-cp", classPath, JAVA_JOB, EXPERIMENTS.java, String(1024 * 1024)]),
    // The Java client uploads artifacts through Python (`mlflow.store.artifact.cli`).
    { ...env, MLFLOW_PYTHON_EXECUTABLE: PYTHON },
  );
  if (java.code !== 0) {
    throw new Error(`the Java job failed under exec:\n${java.stderr.slice(-3000)}`);
  }
  const javaSummary = JSON.parse(java.stdout.trim().split("\n").at(-1)!);
  const javaProxied = proxiedRequests(java.stderr);
  const javaReads = (await secretReads(bao)) - readsBefore;
  demo.say(
    `      ${
      green("done")
    }: run ${javaSummary.run_id} ${javaSummary.status}, ${javaSummary.params} params, a 1 MB artifact (${
      seconds(java.ms)
    }), ${javaProxied} requests proxied`,
  );
  demo.say(
    dim(
      "      (unmodified new MlflowClient(): it sends no token, and exec's proxy serves its own user's sockets)",
    ),
  );

  demo.step(
    6,
    "A Deno client over MLflow's REST API through createAuthFetch (examples/rest_client.ts)",
  );
  readsBefore = await secretReads(bao);
  const rest = await run("deno rest client", Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
    "--allow-sys",
    REST_CLIENT,
    profilePath,
    tracking,
    EXPERIMENTS.deno,
  ], env);
  if (rest.code !== 0) throw new Error(`the Deno client failed:\n${rest.stderr.slice(-3000)}`);
  const restSummary = JSON.parse(rest.stdout.trim().split("\n").at(-1)!);
  const restReads = (await secretReads(bao)) - readsBefore;
  demo.say(
    `      ${
      green("done")
    }: run ${restSummary.runId} ${restSummary.status}, ${restSummary.metricsLogged} metrics (${
      seconds(rest.ms)
    })`,
  );

  demo.step(7, "Checking: runs on the server, secret reads in Vault's audit log, every log");
  const runs = {
    python: await countRuns(mlflow.url, EXPERIMENTS.python),
    java: await countRuns(mlflow.url, EXPERIMENTS.java),
    deno: await countRuns(mlflow.url, EXPERIMENTS.deno),
  };
  demo.captured.push({ name: "mlflow server", text: mlflow.tail() });
  demo.captured.push({ name: "openbao", text: bao.tail() });
  const { found, lines, bytes, names } = demo.scan([token, vaultToken, `Bearer ${token}`]);
  const total = runs.python + runs.java + runs.deno;
  demo.say();
  demo.say(bold("Report"));
  demo.row(
    "runs logged",
    `${total} (Python under exec: ${runs.python}, Java under exec: ${runs.java}, Deno via createAuthFetch: ${runs.deno})`,
  );
  demo.row("auth mode", "Bearer token enforced by nginx, stored in Vault (OpenBao KV v2)");
  demo.row(
    "secret reads",
    `${
      pyReads + javaReads + restReads
    } in Vault's audit log (Python's proxy: ${pyReads}, Java's proxy: ${javaReads}, Deno client: ${restReads})`,
  );
  demo.row(
    "requests proxied",
    `${
      pyProxied + javaProxied
    } (Python: ${pyProxied}, Java: ${javaProxied}), each with the token added by the proxy`,
  );
  demo.row(
    "secrets in logs",
    `${found === 0 ? green("0 found") : red(`${found} FOUND`)} in ${lines} captured lines (${
      (bytes / 1024).toFixed(0)
    } KiB: ${names})`,
  );
  demo.row("wall time", seconds(performance.now() - started));
  demo.say();
  demo.say(dim(`Try it yourself: the recipes in ${ROOT}docs/proxy_and_exec.md. Cleaning up…`));
  if (found !== 0 || runs.python < 1 || runs.java < 1 || runs.deno < 1) {
    throw new Error("the demo's checks failed");
  }
}

/** Runs a process in the project's directory, capturing its output. */
function run(
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

/** Requests exec's proxy logged (`--access-log`). */
function proxiedRequests(stderr: string): number {
  return stderr.split("\n").filter((l) => l.includes(" proxy request ")).length;
}

/** Reads of the MLflow secret that OpenBao answered, from its audit log. */
async function secretReads(bao: OpenBao): Promise<number> {
  return (await bao.audit()).filter((e) =>
    e.type === "response" && e.operation === "read" && e.path === `secret/data/${SECRET_PATH}` &&
    e.error === ""
  ).length;
}

/** Runs in an experiment, asked from MLflow directly (behind nginx, on loopback). */
async function countRuns(mlflowUrl: string, experiment: string): Promise<number> {
  const res = await fetch(
    `${mlflowUrl}/api/2.0/mlflow/experiments/get-by-name?experiment_name=${
      encodeURIComponent(experiment)
    }`,
  );
  if (!res.ok) {
    await res.body?.cancel();
    return 0;
  }
  const { experiment: found } = await res.json();
  const search = await fetch(`${mlflowUrl}/api/2.0/mlflow/runs/search`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ experiment_ids: [found.experiment_id] }),
  });
  const { runs = [] } = await search.json();
  return runs.length;
}

await demo.main(main);
