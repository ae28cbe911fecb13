/**
 * The test command runs sealed off from the developer's machine: a planted `~/.vault-token`,
 * `~/.aws/credentials`, `~/.azure` and ambient `VAULT_*`, `AWS_*`, `AZURE_*` variables in the
 * environment the suite is launched with are never read, by the tests or by the peers they start
 * (hvac reads `~/.vault-token` and `VAULT_TOKEN` on its own; the AWS SDK reads `~/.aws`).
 */

import { assert, assertEquals } from "./_assert.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CANARY = `planted-${crypto.randomUUID()}`;

/** A HOME and an environment as a developer's machine might have them. */
async function plantedMachine(): Promise<{ home: string; env: Record<string, string> }> {
  const home = await Deno.makeTempDir({ prefix: "msa-planted-home-" });
  await Deno.writeTextFile(`${home}/.vault-token`, `hvs.${CANARY}`);
  await Deno.mkdir(`${home}/.aws`);
  await Deno.writeTextFile(
    `${home}/.aws/credentials`,
    `[default]\naws_access_key_id = AKIA${CANARY}\naws_secret_access_key = ${CANARY}\n`,
  );
  await Deno.writeTextFile(`${home}/.aws/config`, "[default]\nregion = eu-west-3\n");
  await Deno.mkdir(`${home}/.azure`);
  await Deno.writeTextFile(`${home}/.azure/msal_token_cache.json`, `{"secret":"${CANARY}"}`);
  const denoDir = Deno.env.get("DENO_DIR") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/deno`;
  return {
    home,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      NO_COLOR: "1",
      DENO_DIR: denoDir,
      HOME: home,
      XDG_CONFIG_HOME: `${home}/.config`,
      VAULT_TOKEN: `hvs.${CANARY}`,
      VAULT_ADDR: "http://127.0.0.1:9",
      AWS_ACCESS_KEY_ID: `AKIA${CANARY}`,
      AWS_SECRET_ACCESS_KEY: CANARY,
      AWS_PROFILE: "default",
      AZURE_CLIENT_ID: CANARY,
      AZURE_CLIENT_SECRET: CANARY,
      AZURE_TENANT_ID: CANARY,
      MLFLOW_TRACKING_TOKEN: CANARY,
    },
  };
}

/** The words of the test task's command after its set-up step, with `deno` made explicit. */
async function testTaskCommand(): Promise<string[]> {
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks.test as string;
  const words = task.split("&&").at(-1)!.trim().split(/\s+/);
  return words.map((w) => w === "deno" ? Deno.execPath() : w);
}

async function run(command: readonly string[], env: Record<string, string>) {
  const out = await new Deno.Command(command[0]!, {
    args: command.slice(1),
    cwd: ROOT,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("the test task gives the suite its own HOME and no ambient credentials", async () => {
  const { home, env } = await plantedMachine();
  try {
    const command = await testTaskCommand();
    const deno = command.indexOf(Deno.execPath());
    assert(deno >= 0, `the test task does not run deno: ${command.join(" ")}`);
    // What a test sees: the environment and HOME, through the task's own wrapper.
    const probe = `
const home = Deno.env.get("HOME") ?? "";
let vaultToken = null;
try { vaultToken = Deno.readTextFileSync(home + "/.vault-token"); } catch { /* absent */ }
console.log(JSON.stringify({ env: Deno.env.toObject(), home, entries: [...Deno.readDirSync(home)].map((e) => e.name), vaultToken }));`;
    const seen = await run([...command.slice(0, deno + 1), "eval", probe], env);
    assertEquals(seen.code, 0, seen.stderr);
    const report = JSON.parse(seen.stdout);
    assert(!seen.stdout.includes(CANARY), "a planted credential reached the suite's environment");
    assert(report.home !== home, "the suite runs in the developer's HOME");
    assertEquals(report.vaultToken, null);
    for (const name of Object.keys(report.env)) {
      assert(!/^(VAULT_|AWS_|AZURE_|MLFLOW_)/.test(name), `${name} reached the suite`);
    }
    assertEquals(report.env.DENO_DIR, env.DENO_DIR, "the Deno cache must stay the real one");
    await Deno.stat(home + "/.vault-token"); // the planted machine is left as it was

    // The suites that used to read the machine pass with it planted (hvac reads ~/.vault-token
    // and VAULT_TOKEN; the AWS SDK reads ~/.aws and AWS_*).
    const suites = await run([
      ...command.slice(0, deno + 1),
      "test",
      "-A",
      "tests/providers/vault_double_hvac_test.ts",
      "tests/providers/aws_secrets_manager_test.ts",
    ], env);
    assertEquals(suites.code, 0, `${suites.stdout.slice(-3000)}\n${suites.stderr.slice(-2000)}`);
    assert(/^ok \| \d+ passed/m.test(suites.stdout), suites.stdout.slice(-500));
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("peers the tests start never inherit the caller's HOME or credentials, even without the task", async () => {
  const { home, env } = await plantedMachine();
  try {
    // Plain `deno test`, no wrapper: the hvac peer must still not see the planted machine.
    const out = await run([
      Deno.execPath(),
      "test",
      "-A",
      "tests/providers/vault_double_hvac_test.ts",
    ], env);
    assertEquals(out.code, 0, `${out.stdout.slice(-3000)}\n${out.stderr.slice(-2000)}`);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
