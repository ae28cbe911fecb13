/**
 * A signal that reaches `exec` while its child is being spawned is forwarded to the child once
 * it runs. Before, the listeners were installed only after the spawn: a SIGTERM in that instant
 * killed `exec` and left the child running without its proxy. The test sends SIGTERM to this very
 * process just before the spawn; without the listeners in place it would kill the test runner.
 */

import { runExec } from "../../cli/exec.ts";
import { assertEquals } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { fakeIo, tempDir } from "./_io.ts";

Deno.test("runExec() forwards a SIGTERM that arrives while the child is being spawned", async () => {
  await using up = await startServer(() => new Response("ok"));
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    path,
    `version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "${up.origin}", provider: ci, secret: { var: MLFLOW_GAP_TOKEN }, auth: bearer }]
`,
  );
  const environ = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", MLFLOW_GAP_TOKEN: "gap-token" };
  const io = fakeIo({ env: environ });
  let spawned = 0;
  const code = await runExec(["sleep", "30"], { profile: path, upstream: up.origin }, io, {
    environ,
    stdio: "null",
    beforeSpawn: () => Deno.kill(Deno.pid, "SIGTERM"),
    onSpawn: () => spawned++,
  });
  assertEquals(spawned, 1);
  assertEquals(code, 128 + 15, io.err());
  assertEquals(up.received.length, 0);
});
