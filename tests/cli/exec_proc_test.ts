/**
 * `exec` and `proxy` as real processes of an ordinary user: what their children (and other
 * processes of that user) can read of them through /proc. Root may read any /proc file, so
 * under root the commands run as `nobody` (setpriv); otherwise as the current user.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { tempDir } from "./_io.ts";

const DENO = Deno.execPath();
const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const PROBE = new URL("../testdata/cli/proc_probe.ts", import.meta.url).pathname;
const LINUX = Deno.build.os === "linux";

/** The permission flags of the `cli` task in deno.json: what users run the CLI with. */
async function taskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const task: string = config.tasks.cli;
  return task.split(/\s+/).filter((a) => a.startsWith("--allow-"));
}

interface Finding {
  readable: boolean;
  canary: boolean;
}
interface Probe {
  uid: number;
  target: number;
  environ: Finding;
  mem: Finding;
  ownEnvironment: boolean;
  grandchild?: Omit<Probe, "grandchild">;
}

/** A directory an unprivileged user can use, with a profile reading the env provider. */
async function setUp() {
  const dir = await tempDir();
  await Deno.chmod(dir, 0o777);
  const profile = `${dir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    profile,
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "http://127.0.0.1:9", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }
`,
  );
  await Deno.chmod(profile, 0o644);
  const canary = `canary-${crypto.randomUUID()}-${crypto.randomUUID()}`.slice(0, 64);
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: dir,
    DENO_DIR: `${dir}/deno`,
    NO_COLOR: "1",
    MLFLOW_TOKEN: canary,
  };
  return { dir, profile, canary, env };
}

/** The command run as an ordinary user: `nobody` under root, else as is. */
function unprivileged(args: string[]): [string, string[]] {
  if (Deno.uid() !== 0) return [args[0]!, args.slice(1)];
  return ["setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", ...args]];
}

/** The probe as `exec`'s child; the canary is passed reversed, so no argument holds it. */
function probeCommand(canary: string, target = "parent"): string[] {
  return [DENO, "run", "-A", PROBE, target, [...canary].reverse().join("")];
}

async function runExec(flags: string[], extra: string[], s: Awaited<ReturnType<typeof setUp>>) {
  const [cmd, args] = unprivileged([
    DENO,
    "run",
    ...flags,
    CLI,
    "exec",
    "--profile",
    s.profile,
    "--upstream",
    "http://127.0.0.1:9",
    ...extra,
    "--",
    ...probeCommand(s.canary),
  ]);
  const out = await new Deno.Command(cmd, {
    args,
    env: s.env,
    clearEnv: true,
    cwd: s.dir,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function assertSealed(probe: Omit<Probe, "grandchild">, who: string): void {
  if (Deno.uid() === 0) assert(probe.uid !== 0, `${who} ran as root`);
  assertEquals(probe.environ, { readable: false, canary: false, error: "PermissionDenied" }, who);
  assertEquals(probe.mem, { readable: false, canary: false, error: "PermissionDenied" }, who);
  assertEquals(probe.ownEnvironment, false, `${who}: the credential is in its own environment`);
}

Deno.test({
  name:
    "exec makes itself unreadable to its child and grandchild: /proc/<pid>/environ and /proc/<pid>/mem are refused, the credential is nowhere",
  ignore: !LINUX,
  async fn() {
    const s = await setUp();
    const run = await runExec(await taskFlags(), [], s);
    assertEquals(run.code, 0, run.stderr);
    const probe: Probe = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    assertSealed(probe, "the child");
    assert(probe.grandchild !== undefined, "no grandchild report");
    assertEquals(probe.grandchild.target, probe.target);
    assertSealed(probe.grandchild, "the grandchild");
    assert(!run.stdout.includes(s.canary) && !run.stderr.includes(s.canary), "canary printed");
  },
});

Deno.test({
  name:
    "exec refuses to start without --allow-ffi; with --allow-dumpable it warns, and then the child can read the credential from /proc",
  ignore: !LINUX,
  async fn() {
    const s = await setUp();
    const flags = (await taskFlags()).filter((f) => !f.startsWith("--allow-ffi"));
    const refused = await runExec(flags, [], s);
    assertEquals(refused.code, 2, refused.stderr);
    assertStringIncludes(refused.stderr, "--allow-ffi is not granted");
    assertStringIncludes(refused.stderr, "pass --allow-dumpable to accept");
    assertEquals(refused.stdout, "", "the child ran");

    // The opt-out: this is the exposure the protection closes (and proof the probe sees it).
    const exposed = await runExec(flags, ["--allow-dumpable"], s);
    assertEquals(exposed.code, 0, exposed.stderr);
    assertStringIncludes(exposed.stderr, "--allow-dumpable: this process stays readable");
    const probe: Probe = JSON.parse(exposed.stdout.trim().split("\n").at(-1)!);
    assertEquals(probe.environ, { readable: true, canary: true });
    assertEquals(probe.mem, { readable: true, canary: true });
    assertEquals(probe.grandchild?.environ, { readable: true, canary: true });
    assertEquals(probe.ownEnvironment, false);
    assert(!exposed.stderr.includes(s.canary), "canary printed");
  },
});

Deno.test({
  name:
    "proxy makes itself unreadable to other processes of the same user: /proc/<pid>/environ and /proc/<pid>/mem are refused",
  ignore: !LINUX,
  async fn() {
    const s = await setUp();
    const [cmd, args] = unprivileged([
      DENO,
      "run",
      ...await taskFlags(),
      CLI,
      "proxy",
      "--profile",
      s.profile,
      "--upstream",
      "http://127.0.0.1:9",
      "--listen",
      "127.0.0.1:0",
    ]);
    const proxy = new Deno.Command(cmd, {
      args,
      env: s.env,
      clearEnv: true,
      cwd: s.dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines = proxy.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let stderr = "";
    try {
      while (!stderr.includes("listening on")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the proxy did not start: ${stderr}`);
        stderr += value;
      }
      const [pcmd, pargs] = unprivileged(probeCommand(s.canary, String(proxy.pid)));
      const out = await new Deno.Command(pcmd, {
        args: pargs,
        env: { ...s.env, MLFLOW_TOKEN: "" },
        clearEnv: true,
        stdin: "null",
      }).output();
      const probe: Probe = JSON.parse(new TextDecoder().decode(out.stdout).trim());
      assertEquals(probe.target, proxy.pid);
      assertSealed(probe, "a process of the same user");
      assertSealed(probe.grandchild!, "its child");
    } finally {
      proxy.kill("SIGTERM");
      for (;;) {
        const { value, done } = await lines.read();
        if (done) break;
        stderr += value;
      }
      await proxy.status;
    }
    assert(!stderr.includes(s.canary), "canary printed");
  },
});

Deno.test({
  name: "proxy refuses to start without --allow-ffi unless --allow-dumpable, and then warns",
  ignore: !LINUX,
  async fn() {
    const s = await setUp();
    const flags = (await taskFlags()).filter((f) => !f.startsWith("--allow-ffi"));
    const args = (extra: string[]) => [
      "run",
      ...flags,
      CLI,
      "proxy",
      "--profile",
      s.profile,
      "--upstream",
      "http://127.0.0.1:9",
      "--listen",
      "127.0.0.1:0",
      ...extra,
    ];
    const refused = await new Deno.Command(DENO, {
      args: args([]),
      env: s.env,
      clearEnv: true,
      stdin: "null",
    }).output();
    const err = new TextDecoder().decode(refused.stderr);
    assertEquals(refused.code, 2, err);
    assertStringIncludes(err, "Cannot make the proxy process unreadable");
    assertStringIncludes(err, "--allow-ffi is not granted");

    const proxy = new Deno.Command(DENO, {
      args: args(["--allow-dumpable"]),
      env: s.env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines = proxy.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let stderr = "";
    try {
      while (!stderr.includes("listening on")) {
        const { value, done } = await lines.read();
        if (done) break;
        stderr += value;
      }
      assertStringIncludes(stderr, "--allow-dumpable: this process stays readable");
      assertStringIncludes(stderr, "listening on");
    } finally {
      proxy.kill("SIGTERM");
      for (;;) {
        const { done } = await lines.read();
        if (done) break;
      }
      await proxy.status;
    }
  },
});
