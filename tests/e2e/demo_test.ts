/**
 * `deno task demo` and `deno task demo:aws` run `scripts/setup.sh`, then their script with these
 * permissions: each must finish with its runs logged, the secret reads counted, no secret in any
 * captured log, and nothing left behind.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { peerEnv } from "../_peers/_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Runs a demo task's own command (after the set-up, with its permissions, not -A). */
async function runTask(name: string): Promise<string> {
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks[name] as string;
  const command = task.split("&&").at(-1)!.trim().split(/\s+/);
  assertEquals(command.slice(0, 2), ["deno", "run"]);
  // Its own TMPDIR: everything the demo and its servers create there must be gone at the end,
  // and other demos running on the machine meanwhile do not count.
  const tmp = await Deno.makeTempDir({ prefix: "msa-demo-tmpdir-" });
  try {
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
    assertStringIncludes(stdout, "cleaned up: servers stopped, temporary files removed");
    const left = await Array.fromAsync(Deno.readDir(tmp), (e) => e.name);
    assertEquals(left, [], "temporary files left behind");
    console.log(`${name}: ${Math.round(performance.now() - started)} ms`);
    return stdout;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("scripts/demo.ts (Vault + nginx + MLflow) logs runs from Python and Java under exec and from Deno, counts Vault reads, and finds no secret in the logs", async () => {
  const stdout = await runTask("demo");
  assertStringIncludes(stdout, "refused: 401 Unauthorized from nginx");
  assert(
    /runs logged\s+3 \(Python under exec: 1, Java under exec: 1, Deno via createAuthFetch: 1\)/
      .test(stdout),
    stdout,
  );
  assert(
    /secret reads\s+3 in Vault's audit log \(Python's proxy: 1, Java's proxy: 1, Deno client: 1\)/
      .test(stdout),
    stdout,
  );
  assert(/requests proxied\s+[1-9]\d* \(Python: [1-9]\d*, Java: [1-9]\d*\)/.test(stdout), stdout);
  assert(/secrets in logs\s+0 found in \d+ captured lines/.test(stdout), stdout);
});

Deno.test("scripts/demo_aws.ts logs runs from Python under exec and from Deno, and finds no secret in the logs", async () => {
  const stdout = await runTask("demo:aws");
  assertStringIncludes(stdout, "refused: 401 Unauthorized");
  assert(/runs logged\s+2 /.test(stdout), stdout);
  assert(
    /secret fetches\s+2 GetSecretValue calls \(exec's proxy: 1, Deno client: 1\)/.test(stdout),
    stdout,
  );
  assert(/secrets in logs\s+0 found in \d+ captured lines/.test(stdout), stdout);
});
