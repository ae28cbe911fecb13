import { main } from "../../cli.ts";
import { runExec } from "../../cli/exec.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { UsageError } from "../../cli/errors.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { fakeIo, tempDir } from "./_io.ts";
import { peerEnv } from "../_peers/_process.ts";

const DENO = Deno.execPath();
const CLI = new URL("../../cli.ts", import.meta.url).pathname;

async function profileFile(match: string, rule = "secret: { var: MLFLOW_TOKEN }, auth: bearer") {
  const dir = await tempDir();
  const path = `${dir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    path,
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "${match}", provider: ci, ${rule} }
`,
  );
  return { dir, path };
}

/** A child that records its environment and one request through the tracking URI. */
const RECORDER = `
const env = Deno.env.toObject();
const res = await fetch(env.MLFLOW_TRACKING_URI + "/api/2.0/mlflow/experiments/search", {
  headers: { authorization: "Bearer " + env.MLFLOW_TRACKING_TOKEN },
});
await Deno.writeTextFile(Deno.args[0], JSON.stringify({ env, status: res.status, body: await res.text() }));
`;

Deno.test("runExec() gives the child the proxy and a client token, never the credential", async () => {
  await using up = await startServer(() => new Response("ok"));
  const { dir, path } = await profileFile(up.origin);
  const out = `${dir}/child.json`;
  const io = fakeIo({ env: { MLFLOW_TOKEN: "real-token-0123456789" } });
  const code = await runExec(
    [DENO, "eval", RECORDER, out],
    { profile: path, upstream: up.origin },
    io,
    {
      environ: {
        PATH: Deno.env.get("PATH") ?? "",
        MLFLOW_TOKEN: "real-token-0123456789",
        MLFLOW_TRACKING_USERNAME: "someone",
        MLFLOW_TRACKING_PASSWORD: "their-password",
        MLFLOW_TRACKING_TOKEN: "stale-token",
        COPY_OF_TOKEN: "prefix real-token-0123456789 suffix",
        KEEP_ME: "1",
      },
      stdio: "null",
    },
  );
  assertEquals(code, 0, io.err());
  const child = JSON.parse(await Deno.readTextFile(out));
  assertEquals(child.status, 200);
  assert(child.env.MLFLOW_TRACKING_URI.startsWith("http://127.0.0.1:"));
  assert(child.env.MLFLOW_TRACKING_TOKEN.length >= 43, "client token too short");
  assert(child.env.MLFLOW_TRACKING_TOKEN !== "stale-token");
  for (
    const gone of [
      "MLFLOW_TOKEN",
      "MLFLOW_TRACKING_USERNAME",
      "MLFLOW_TRACKING_PASSWORD",
      "COPY_OF_TOKEN",
    ]
  ) {
    assertEquals(child.env[gone], undefined, `${gone} reached the child`);
  }
  assertEquals(child.env.KEEP_ME, "1");
  assert(!JSON.stringify(child.env).includes("real-token-0123456789"), "credential in the child");
  assertEquals(up.received[0]!.headers.get("authorization"), "Bearer real-token-0123456789");
  assertStringIncludes(io.err(), "variable=COPY_OF_TOKEN");
  assert(!io.err().includes("real-token-0123456789"), "credential logged");
});

Deno.test("runExec() exits with the child's code, 128 + the signal number when a signal killed it, 127 when not found", async () => {
  await using up = await startServer(() => new Response("ok"));
  const { path } = await profileFile(up.origin);
  const io = fakeIo({ env: { MLFLOW_TOKEN: "tok-abcdefgh" } });
  const deps = { environ: { MLFLOW_TOKEN: "tok-abcdefgh" }, stdio: "null" as const };
  const opts = { profile: path, upstream: up.origin };
  assertEquals(await runExec(["sh", "-c", "exit 7"], opts, io, deps), 7);
  assertEquals(await runExec(["/bin/sh", "-c", "kill -TERM $$"], opts, io, deps), 143);
  assertEquals(await runExec(["/bin/sh", "-c", "kill -KILL $$"], opts, io, deps), 137);
  assertEquals(await runExec(["no-such-command-msa"], opts, io, deps), 127);
  assertStringIncludes(io.err(), 'cannot run "no-such-command-msa": command not found');
});

Deno.test("runExec() does not start the child when the credential cannot be resolved", async () => {
  await using up = await startServer(() => new Response("ok"));
  const { dir, path } = await profileFile(up.origin);
  const marker = `${dir}/started`;
  const io = fakeIo({ env: {} });
  await assertRejects(
    () =>
      runExec(["sh", "-c", `touch ${marker}`], { profile: path, upstream: up.origin }, io, {
        environ: {},
        stdio: "null",
      }),
    SecretResolutionError,
    'environment variable "MLFLOW_TOKEN" is not set',
  );
  await assertRejects(() => Deno.stat(marker), Deno.errors.NotFound);
  assertEquals(up.received.length, 0);
});

Deno.test("runExec() --env-mode direct exports the real credential, and refuses a header rule", async () => {
  const { dir, path } = await profileFile(
    "https://mlflow.example.com",
    "secret: { var: MLFLOW_TOKEN }, auth: basic",
  );
  const out = `${dir}/env.json`;
  const secret = JSON.stringify({ username: "alice", password: "s3cret-pass-word" });
  const io = fakeIo({ env: { MLFLOW_TOKEN: secret } });
  const code = await runExec(
    [
      DENO,
      "eval",
      "await Deno.writeTextFile(Deno.args[0], JSON.stringify(Deno.env.toObject()))",
      out,
    ],
    { profile: path, upstream: "https://mlflow.example.com", envMode: "direct" },
    io,
    { environ: { MLFLOW_TOKEN: secret }, stdio: "null" },
  );
  assertEquals(code, 0, io.err());
  const env = JSON.parse(await Deno.readTextFile(out));
  assertEquals(env.MLFLOW_TRACKING_URI, "https://mlflow.example.com");
  assertEquals(env.MLFLOW_TRACKING_USERNAME, "alice");
  assertEquals(env.MLFLOW_TRACKING_PASSWORD, "s3cret-pass-word");
  assertEquals(env.MLFLOW_TOKEN, undefined);
  assertStringIncludes(io.err(), "--env-mode direct puts the real credential");

  const header = await profileFile(
    "https://mlflow.example.com",
    'secret: { var: MLFLOW_TOKEN }, auth: { type: header, name: X-Api-Key, value: "{{token}}" }',
  );
  await assertRejects(
    () =>
      runExec(
        ["true"],
        {
          profile: header.path,
          upstream: "https://mlflow.example.com",
          envMode: "direct",
        },
        fakeIo({ env: { MLFLOW_TOKEN: "k" } }),
        { environ: {}, stdio: "null" },
      ),
    UsageError,
    "cannot send a custom",
  );
});

Deno.test("runExec() reports what the proxy refuses as a usage error: an upstream with userinfo (exit 2)", async () => {
  const { path } = await profileFile("https://mlflow.example.com");
  const upstream = "https://alice:pw@mlflow.example.com";
  await assertRejects(
    () =>
      runExec(["true"], { profile: path, upstream }, fakeIo({ env: { MLFLOW_TOKEN: "k" } }), {
        environ: {},
        stdio: "null",
      }),
    UsageError,
    "Cannot start the proxy: the upstream URL carries userinfo (user:password@)",
  );
  const io = fakeIo({ env: { MLFLOW_TOKEN: "k" } });
  assertEquals(
    await main(["exec", "--profile", path, "--upstream", upstream, "--", "true"], io),
    2,
  );
  assertStringIncludes(io.err(), "the upstream URL carries userinfo");
  assert(!io.err().includes("alice:pw"), "the userinfo was printed");
});

Deno.test("main() exec passes everything after the command to it and needs an upstream", async () => {
  await using up = await startServer(() => new Response("ok"));
  const { path } = await profileFile(up.origin);
  const io = fakeIo({ env: { MLFLOW_TOKEN: "tok-abcdefgh" } });
  {
    // `--lr` and `-x` belong to the child: `exit $#` reports how many arguments it got.
    const code = await main(
      [
        "exec",
        "--profile",
        path,
        "--upstream",
        up.origin,
        "--",
        "sh",
        "-c",
        "exit $#",
        "sh",
        "--lr",
        "0.1",
        "-x",
      ],
      io,
    );
    assertEquals(code, 3, io.err());
    const noDash = await main(
      [
        "exec",
        "--profile",
        path,
        "--upstream",
        up.origin,
        "sh",
        "-c",
        "exit $#",
        "sh",
        "--lr",
        "0.1",
        "-x",
      ],
      io,
    );
    assertEquals(noDash, 3, io.err());
  }
  const noUpstream = fakeIo({ env: { MLFLOW_TOKEN: "tok-abcdefgh" } });
  assertEquals(await main(["exec", "--profile", path, "--", "true"], noUpstream), 2);
  assertStringIncludes(noUpstream.err(), "no tracking server");
  const notHttp = fakeIo({ env: { MLFLOW_TOKEN: "tok", MLFLOW_TRACKING_URI: "databricks" } });
  assertEquals(await main(["exec", "--profile", path, "--", "true"], notHttp), 2);
  assertStringIncludes(notHttp.err(), "is not an http(s) URL");
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`exec forwards ${signal} to the child and exits with the child's code`, async () => {
    await using up = await startServer(() => new Response("ok"));
    const { dir, path } = await profileFile(up.origin);
    const ready = `${dir}/ready`;
    const got = `${dir}/got-term`;
    const child = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        CLI,
        "exec",
        "--profile",
        path,
        "--upstream",
        up.origin,
        "--",
        "sh",
        "-c",
        `trap 'echo term > ${got}; exit 3' ${
          signal.slice(3)
        }; touch ${ready}; while :; do sleep 0.05; done`,
      ],
      env: peerEnv({ MLFLOW_TOKEN: "tok-abcdefgh" }),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      const until = Date.now() + 30_000;
      while (true) {
        const exists = await Deno.stat(ready).then(() => true, () => false);
        if (exists) break;
        if (Date.now() > until) throw new Error(`the child did not start: ${await stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      child.kill(signal);
      const status = await child.status;
      assertEquals(status.code, 3, await stderr);
      assertEquals((await Deno.readTextFile(got)).trim(), "term");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await child.status;
      await stderr;
    }
  });
}
