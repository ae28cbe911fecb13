/**
 * End to end, the leak guard against a real MLflow server and the real Python client: an
 * unmodified job under `exec` reads the file provider's mounted secret file (jobs can read it)
 * and logs its content as a param, a tag and in a log-batch. Each call fails in the job with the
 * guard's 400 (MlflowException, INVALID_PARAMETER_VALUE, the field named), the value never
 * reaches the server (absent from the run, and from every file of the server's database and
 * artifact store, and from its log), and `leak_guard: warn` lets it through with a warning.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { PYTHON, run, startMlflow } from "../_peers/mlflow.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const JOB = `${ROOT}tests/testdata/leak_job.py`;

interface Outcome {
  readonly run_id: string;
  readonly param: "logged" | { readonly error_code: string; readonly message: string };
  readonly tag: Outcome["param"];
  readonly batch: Outcome["param"];
}

/** Every file under a directory whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const bytes = new TextEncoder().encode(needle);
  const walk = async (path: string): Promise<void> => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else if (entry.isFile && includesBytes(await Deno.readFile(full), bytes)) found.push(full);
    }
  };
  await walk(dir);
  return found;
}

function includesBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("leak guard: an unmodified Python job under exec cannot log the mounted secret; warn mode lets it through with a warning", async (t) => {
  const canary = `tok-leak-${crypto.randomUUID()}`;
  const mlflow = await startMlflow();
  const work = await Deno.makeTempDir({ prefix: "msa-e2e-leak-" });
  try {
    const secretFile = `${work}/mlflow-token`;
    await Deno.writeTextFile(secretFile, `${canary}\n`);
    const profile = (mode: string) =>
      `version: 1
leak_guard: ${mode}
providers:
  mounted: { kind: file }
hosts:
  - match: ${mlflow.url}
    provider: mounted
    secret: { path: ${secretFile} }
    auth: bearer
`;
    const exec = async (mode: string, experiment: string) => {
      const path = `${work}/${mode}.yaml`;
      await Deno.writeTextFile(path, profile(mode));
      const r = await run(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "exec",
        "--profile",
        path,
        "--",
        PYTHON,
        JOB,
        secretFile,
        experiment,
      ], { MLFLOW_TRACKING_URI: mlflow.url });
      assertEquals(r.code, 0, r.stderr.slice(-3000));
      const line = r.stdout.trim().split("\n").at(-1)!;
      return { outcome: JSON.parse(line) as Outcome, stdout: r.stdout, stderr: r.stderr };
    };
    const getRun = async (runId: string) => {
      const res = await fetch(`${mlflow.url}/api/2.0/mlflow/runs/get?run_id=${runId}`);
      assertEquals(res.status, 200);
      const body = await res.json();
      return body.run.data as {
        params?: { key: string; value: string }[];
        tags?: { key: string; value: string }[];
      };
    };

    await t.step(
      "block (the default): every call fails in the job with the guard's 400",
      async () => {
        const { outcome, stdout, stderr } = await exec("block", "leak-guard-block");
        const expected: [keyof Outcome, string, string][] = [
          ["param", "/value", "POST /api/2.0/mlflow/runs/log-parameter"],
          ["tag", "/value", "POST /api/2.0/mlflow/runs/set-tag"],
          ["batch", "/params/1/value", "POST /api/2.0/mlflow/runs/log-batch"],
        ];
        for (const [call, field, endpoint] of expected) {
          const result = outcome[call];
          assert(typeof result === "object", `${call} was logged`);
          assertEquals(result.error_code, "INVALID_PARAMETER_VALUE");
          assertStringIncludes(result.message, `field "${field}" of ${endpoint}`);
          assertStringIncludes(result.message, "leak guard");
        }
        // The warning line, once per refused call, naming field and endpoint.
        const warnings = stderr.split("\n").filter((l) =>
          l.includes("Request refused by the leak guard")
        );
        assertEquals(warnings.length, 3, stderr.slice(-3000));
        assertStringIncludes(warnings[2]!, "/params/1/value");
        assert(
          !stdout.includes(canary) && !stderr.includes(canary),
          "the canary is in exec's output",
        );

        // The server never saw it: not in the run, not in any file it wrote, not in its log.
        const data = await getRun(outcome.run_id);
        assertEquals(data.params?.map((p) => p.key).sort(), ["learning_rate"]);
        assert(!(data.tags ?? []).some((t) => t.key === "api_token"), "the tag reached the server");
        assertEquals(await filesContaining(mlflow.dir, canary), []);
        assert(!mlflow.tail().includes(canary), "the canary is in the server's log");
      },
    );

    await t.step("warn: the same calls go through, each with a warning line", async () => {
      const { outcome, stderr } = await exec("warn", "leak-guard-warn");
      assertEquals([outcome.param, outcome.tag, outcome.batch], ["logged", "logged", "logged"]);
      const warnings = stderr.split("\n").filter((l) => l.includes("Leak guard warning"));
      assertEquals(warnings.length, 3, stderr.slice(-3000));
      assert(!stderr.includes(canary), "the canary is in exec's log");
      const data = await getRun(outcome.run_id);
      assertEquals(
        data.params?.find((p) => p.key === "api_token")?.value,
        `${canary}\n`,
        "warn mode must let the value through",
      );
      // Proof that the store check above can see a leak: now the canary is in the database.
      assert((await filesContaining(mlflow.dir, canary)).length > 0, "the store check is blind");
    });
  } finally {
    await mlflow.close();
    await Deno.remove(work, { recursive: true });
  }
});
