/**
 * `exec` and `proxy` as real processes without privileges: what their children (and other
 * processes of the same user) can read of them through /proc. Root may read any /proc file
 * (CAP_SYS_PTRACE), so under root every process here runs with all capabilities dropped, the
 * bounding set included (setpriv): for the kernel's ptrace access check that is an ordinary
 * user, and unlike switching to `nobody` it needs no world-readable checkout or deno binary.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { tempDir } from "./_io.ts";
import { DENO_DIR } from "../_deno_dir.ts";

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
  capEff: string;
  target: number;
  environ: Finding;
  mem: Finding;
  ownEnvironment: boolean;
  grandchild?: Omit<Probe, "grandchild">;
}

/** A directory with a profile reading the env provider. */
async function setUp() {
  const dir = await tempDir();
  const profile = `${dir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    profile,
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "http://127.0.0.1:9", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }
`,
  );
  const canary = `canary-${crypto.randomUUID()}-${crypto.randomUUID()}`.slice(0, 64);
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: dir,
    // This run's cache: the npm packages the CLI loads live there.
    DENO_DIR,
    NO_COLOR: "1",
    MLFLOW_TOKEN: canary,
  };
  return { dir, profile, canary, env };
}

/** The command without privileges: under root, with every capability dropped; else as is. */
function unprivileged(args: string[]): [string, string[]] {
  if (Deno.uid() !== 0) return [args[0]!, args.slice(1)];
  return ["setpriv", [
    "--inh-caps=-all",
    "--ambient-caps=-all",
    "--bounding-set=-all",
    "--",
    ...args,
  ]];
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

/**
 * Starts `cli.ts proxy` as a process; `listening` resolves true once it says so, false if it
 * exits first; `stop()` ends it (if still running) and returns everything it wrote on stderr.
 */
function spawnProxy(cmd: string, args: string[], env: Record<string, string>) {
  const child = new Deno.Command(cmd, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const { promise: listening, resolve } = Promise.withResolvers<boolean>();
  const drained = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        stderr += chunk;
        if (stderr.includes("listening on")) resolve(true);
      },
    }),
  ).finally(() => resolve(false));
  return {
    pid: child.pid,
    listening,
    async stop(): Promise<string> {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await child.status;
      await drained;
      return stderr;
    },
  };
}

function assertSealed(probe: Omit<Probe, "grandchild">, who: string): void {
  assertEquals(probe.capEff, "0000000000000000", `${who} has capabilities`);
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
    assertEquals(probe.capEff, "0000000000000000", "the child has capabilities");
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
    const proxy = spawnProxy(cmd, args, s.env);
    try {
      if (!await proxy.listening) throw new Error(`the proxy did not start: ${await proxy.stop()}`);
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
      const stderr = await proxy.stop();
      assert(!stderr.includes(s.canary), "canary printed");
    }
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
    const refused = spawnProxy(DENO, args([]), s.env);
    const started = await refused.listening;
    const err = await refused.stop();
    assert(!started, "the proxy started without --allow-ffi");
    assertStringIncludes(err, "Cannot make the proxy process unreadable");
    assertStringIncludes(err, "--allow-ffi is not granted");

    const allowed = spawnProxy(DENO, args(["--allow-dumpable"]), s.env);
    const up = await allowed.listening;
    const stderr = await allowed.stop();
    assert(up, `the proxy did not start with --allow-dumpable: ${stderr}`);
    assertStringIncludes(stderr, "--allow-dumpable: this process stays readable");
  },
});
