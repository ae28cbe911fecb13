import { runExec } from "../../cli/exec.ts";
import { assertEquals } from "../_assert.ts";
import { deadlineTest } from "../_deadline.ts";
import { startServer } from "../_servers.ts";
import { fakeIo, tempDir } from "./_io.ts";

const test = deadlineTest(60);
const REAL = "real-token-0123456789";

/** A child like the MLflow Java client: it reads MLFLOW_TRACKING_URI, never the token. */
const TOKENLESS_CHILD =
  'curl -s -o /dev/null -w "%{http_code}" --max-time 10 "$MLFLOW_TRACKING_URI/api/2.0/mlflow/experiments/search" > "$1"';

async function run(
  extra: { requireClientToken?: boolean },
): Promise<{ status: string; sent: number }> {
  await using up = await startServer(() => new Response("ok"));
  const dir = await tempDir();
  const path = `${dir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    path,
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "${up.origin}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }
`,
  );
  const out = `${dir}/status`;
  const io = fakeIo({ env: { MLFLOW_TOKEN: REAL } });
  const code = await runExec(
    ["sh", "-c", TOKENLESS_CHILD, "child", out],
    { profile: path, upstream: up.origin, ...extra },
    io,
    { environ: { PATH: Deno.env.get("PATH") ?? "", MLFLOW_TOKEN: REAL }, stdio: "null" },
  );
  assertEquals(code, 0, io.err());
  for (const r of up.received) assertEquals(r.headers.get("authorization"), `Bearer ${REAL}`);
  return { status: await Deno.readTextFile(out), sent: up.received.length };
}

test({
  name: "runExec() serves a child of the same user that never sends MLFLOW_TRACKING_TOKEN",
  ignore: Deno.build.os !== "linux",
  async fn() {
    assertEquals(await run({}), { status: "200", sent: 1 });
  },
});

test("runExec() --require-client-token refuses a child that sends no token", async () => {
  assertEquals(await run({ requireClientToken: true }), { status: "401", sent: 0 });
});
