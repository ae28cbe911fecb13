/**
 * The official MLflow Java client (`org.mlflow:mlflow-client` 2.17.2, resolved by
 * `scripts/setup.d/50-java.sh` into `.peers/m2`) against a real MLflow server behind nginx, which
 * demands `Authorization: Bearer <token>`. The job (tests/testdata/java_job) creates an
 * experiment and a run, logs params, metrics and an artifact; the client uploads artifacts
 * through a Python subprocess (`MLFLOW_PYTHON_EXECUTABLE`, here the project's `.venv`).
 *
 * `new MlflowClient()` reads `MLFLOW_TRACKING_URI` but never `MLFLOW_TRACKING_TOKEN`: by itself
 * only a job that hands the token over explicitly gets through nginx. Under `exec` the unmodified
 * job works too, because `exec`'s proxy serves a token-less request from a socket of its own user.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { MLFLOW_QUIET_ENV, PYTHON, startMlflow } from "../_peers/mlflow.ts";
import { peerEnv } from "../_peers/_process.ts";
import { startNginx } from "../_peers/nginx.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const JOB = `${ROOT}tests/testdata/java_job/src/main/java/MlflowJob.java`;
const CLASSPATH_FILE = `${ROOT}.peers/java-job.classpath`;
const ARTIFACT_BYTES = 1024 * 1024;

interface JobSummary {
  readonly experiment_id: string;
  readonly run_id: string;
  readonly status: string;
  readonly params: number;
  readonly metrics: number;
}

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function javaBinary(): string {
  for (const p of ["/usr/bin/java", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"]) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // Next.
    }
  }
  throw new Error('Cannot run the Java client: java is not installed; run "bash scripts/setup.sh"');
}

async function classPath(): Promise<string> {
  try {
    return (await Deno.readTextFile(CLASSPATH_FILE)).trim();
  } catch (e) {
    throw new Error(
      `Cannot run the Java client: "${CLASSPATH_FILE}" is missing; run "bash scripts/setup.sh"`,
      { cause: e },
    );
  }
}

/**
 * Runs a process with nothing of this machine's environment (`peerEnv`: PATH, the caches, a HOME of
 * its own), the quiet MLflow variables and `env`.
 */
async function runClean(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<Outcome> {
  const out = await new Deno.Command(command, {
    args: [...args],
    clearEnv: true,
    env: peerEnv({ ...MLFLOW_QUIET_ENV, ...env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The Java job's command line: the single source file run against the resolved class path. */
async function javaJob(experiment: string): Promise<[string, string[]]> {
  return [javaBinary(), [
    "-cp",
    await classPath(),
    JOB,
    experiment,
    String(ARTIFACT_BYTES),
  ]];
}

function summary(out: Outcome): JobSummary {
  return JSON.parse(out.stdout.trim().split("\n").at(-1)!) as JobSummary;
}

/** What MLflow itself (behind nginx, asked directly) holds for the run. */
async function runOnServer(
  mlflowUrl: string,
  runId: string,
): Promise<{ status: string; artifactSize: number }> {
  const run = await (await fetch(`${mlflowUrl}/api/2.0/mlflow/runs/get?run_id=${runId}`)).json();
  const files = await (await fetch(
    `${mlflowUrl}/api/2.0/mlflow/artifacts/list?run_id=${runId}`,
  )).json() as { files?: { path: string; file_size?: number }[] };
  const model = files.files?.find((f) => f.path === "model.bin");
  return { status: run.run.info.status, artifactSize: Number(model?.file_size ?? -1) };
}

/** MLflow behind nginx (bearer), for the duration of `body`. */
async function stack(
  body: (s: {
    readonly work: string;
    readonly mlflowUrl: string;
    readonly bearerUrl: string;
    readonly token: string;
  }) => Promise<void>,
): Promise<void> {
  const token = `tok-${crypto.randomUUID()}`;
  const work = await Deno.makeTempDir({ prefix: "msa-e2e-java-" });
  const mlflow = await startMlflow({ parentDir: work });
  try {
    await using nginx = await startNginx({
      upstream: mlflow.url,
      bearerToken: token,
      apiKey: "unused-key",
    });
    await body({ work, mlflowUrl: mlflow.url, bearerUrl: nginx.bearerUrl, token });
  } finally {
    await mlflow.close();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

Deno.test("MLflow Java client against MLflow behind nginx: a job handed the token logs a run with params, metrics and an artifact", async (t) => {
  await stack(async ({ work, mlflowUrl, bearerUrl, token }) => {
    const env = {
      MLFLOW_TRACKING_URI: bearerUrl,
      MLFLOW_TRACKING_TOKEN: token,
      MLFLOW_PYTHON_EXECUTABLE: PYTHON,
    };

    await t.step("explicit credentials: the whole job succeeds", async () => {
      const [java, args] = await javaJob("java-explicit");
      const started = performance.now();
      const r = await runClean(java, args, { ...env, JOB_EXPLICIT_CREDENTIALS: "1" });
      assertEquals(r.code, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
      console.log(
        `Java job with explicit credentials: ${Math.round(performance.now() - started)} ms`,
      );
      const s = summary(r);
      assertEquals(
        { status: s.status, params: s.params, metrics: s.metrics },
        { status: "FINISHED", params: 2, metrics: 1 },
      );
      assertEquals(await runOnServer(mlflowUrl, s.run_id), {
        status: "FINISHED",
        artifactSize: ARTIFACT_BYTES,
      });
      assert(!(r.stdout + r.stderr).includes(token), "the token was printed");
    });

    await t.step(
      "an unmodified `new MlflowClient()` ignores MLFLOW_TRACKING_TOKEN: 401",
      async () => {
        const [java, args] = await javaJob("java-unmodified");
        const r = await runClean(java, args, env);
        assert(r.code !== 0, "the unmodified client got through nginx");
        assertStringIncludes(r.stderr, "401");
      },
    );

    const profile = `${work}/mlflow-auth.yaml`;
    await Deno.writeTextFile(
      profile,
      [
        "version: 1",
        "providers:",
        "  ci: { kind: env }",
        "hosts:",
        `  - match: ${bearerUrl}`,
        "    provider: ci",
        "    secret: { var: MLFLOW_JAVA_E2E_TOKEN }",
        "    auth: bearer",
        "",
      ].join("\n"),
    );
    /** The Java job under `exec`, which gives it the proxy and a client token. */
    const underExec = async (experiment: string, extra: Record<string, string>) => {
      const [java, args] = await javaJob(experiment);
      return await runClean(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "exec",
        "--profile",
        profile,
        "--",
        java,
        ...args,
      ], {
        MLFLOW_TRACKING_URI: bearerUrl,
        MLFLOW_JAVA_E2E_TOKEN: token,
        MLFLOW_PYTHON_EXECUTABLE: PYTHON,
        ...extra,
      });
    };

    await t.step(
      "under exec, a job that hands the client token over explicitly succeeds (artifact included)",
      async () => {
        const r = await underExec("java-exec-explicit", { JOB_EXPLICIT_CREDENTIALS: "1" });
        assertEquals(r.code, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
        assertEquals(await runOnServer(mlflowUrl, summary(r).run_id), {
          status: "FINISHED",
          artifactSize: ARTIFACT_BYTES,
        });
        assert(!(r.stdout + r.stderr).includes(token), "the token was printed");
      },
    );

    // `new MlflowClient()` sends no token: `exec`'s proxy serves it because the socket belongs to
    // the same user (with --require-client-token it would answer 401).
    await t.step({
      name: "under exec, the unmodified job succeeds (bearer via nginx, artifact included)",
      ignore: Deno.build.os !== "linux",
      fn: async () => {
        const r = await underExec("java-exec", {});
        assertEquals(r.code, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
        assertEquals(await runOnServer(mlflowUrl, summary(r).run_id), {
          status: "FINISHED",
          artifactSize: ARTIFACT_BYTES,
        });
        assert(!(r.stdout + r.stderr).includes(token), "the token was printed");
      },
    });
  });
});
