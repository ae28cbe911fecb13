/**
 * `deno task demo` runs `scripts/setup.sh`, then this script with these permissions: it must
 * finish with two runs logged, the secret fetches counted, no secret in any captured log, and
 * nothing left behind.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { peerEnv } from "../_peers/_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("scripts/demo.ts logs runs from Python under exec and from Deno, and finds no secret in the logs", async () => {
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks.demo as string;
  // The task's own command after the set-up: the same permissions, not -A.
  const command = task.split("&&").at(-1)!.trim().split(/\s+/);
  assertEquals(command.slice(0, 2), ["deno", "run"]);
  // A TMPDIR of its own: another demo running on this machine cannot count as a leftover.
  const tmp = await Deno.makeTempDir({ prefix: "msa-demo-tmpdir-" });
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: command.slice(1),
    cwd: ROOT,
    env: peerEnv({ NO_COLOR: "1", TMPDIR: tmp }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `${stdout}\n${stderr}`);
  assertStringIncludes(stdout, "refused: 401 Unauthorized");
  assert(/runs logged\s+2 /.test(stdout), stdout);
  assert(
    /secret fetches\s+2 GetSecretValue calls \(exec's proxy: 1, Deno client: 1\)/.test(stdout),
    stdout,
  );
  assert(/secrets in logs\s+0 found in \d+ captured lines/.test(stdout), stdout);
  assertStringIncludes(stdout, "cleaned up: servers stopped, temporary files removed");
  const left = await demoDirs(tmp);
  await Deno.remove(tmp, { recursive: true });
  assertEquals(left, [], "temporary directories left behind");
  console.log(`demo: ${Math.round(performance.now() - started)} ms`);
});

async function demoDirs(tmp: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(tmp)) {
    if (e.name.startsWith("mlflow-secrets-auth-demo-")) out.push(e.name);
  }
  return out;
}
