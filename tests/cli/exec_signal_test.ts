/**
 * `exec` under SIGTERM with an upload in flight: the child gets the signal, `exec` exits with the
 * child's code once the upload is through the proxy, and a second signal during that drain ends
 * `exec` at once. The upload comes from a descendant of the child (a background uploader), which
 * `exec` does not signal; the tracking server holds its answer until the test releases it.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { tempDir } from "./_io.ts";

const DENO = Deno.execPath();
const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const UPLOAD_BYTES = 1 << 20;

/** Uploads 1 MiB through the tracking URI, then records the answer. */
const UPLOADER = `
const env = Deno.env.toObject();
let outcome;
try {
  const res = await fetch(env.MLFLOW_TRACKING_URI + "/api/2.0/mlflow-artifacts/artifacts/model.bin", {
    method: "PUT",
    headers: { authorization: "Bearer " + env.MLFLOW_TRACKING_TOKEN },
    body: "x".repeat(${UPLOAD_BYTES}),
  });
  outcome = { status: res.status, body: await res.text() };
} catch (error) {
  outcome = { error: String(error) };
}
await Deno.writeTextFile(Deno.args[0], JSON.stringify(outcome));
`;

async function until(what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `promise`, or an error naming `what` after 20 s (no test waits forever on a planted bug). */
async function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting until: ${what}`)), 20_000);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/**
 * The uploader's outcome. It is a separate process that writes the file once it has its answer,
 * which may be after exec has exited: wait for a complete file.
 */
async function outcome(path: string): Promise<unknown> {
  let value: unknown;
  await until("the uploader wrote its outcome", async () => {
    try {
      value = JSON.parse(await Deno.readTextFile(path));
      return true;
    } catch {
      return false;
    }
  });
  return value;
}

/** Starts `exec` with a child whose descendant has an upload held by the tracking server. */
async function execWithUploadInFlight() {
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const up = await startServer(async () => {
    await held;
    return new Response("stored");
  });
  const dir = await tempDir();
  const profile = `${dir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    profile,
    `version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "${up.origin}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }]
`,
  );
  const [got, result] = [`${dir}/got-term`, `${dir}/upload.json`];
  const exec = new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      CLI,
      "exec",
      "--profile",
      profile,
      "--upstream",
      up.origin,
      "--log-level",
      "info",
      "--",
      "sh",
      "-c",
      `trap 'echo term > ${got}; exit 3' TERM; "$0" eval "$1" "$2" & while :; do sleep 0.05; done`,
      DENO,
      UPLOADER,
      result,
    ],
    env: { MLFLOW_TOKEN: "tok-abcdefgh-0123" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = exec.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr += chunk) }),
  );
  return {
    exec,
    up,
    release,
    got,
    result,
    stderr: () => stderr,
    async [Symbol.asyncDispose]() {
      release();
      try {
        exec.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await exec.status;
      await reading.catch(() => {});
      // The uploader ends once its request is answered or its connection is gone.
      await until("the uploader ended", () => exists(result));
      await up[Symbol.asyncDispose]();
    },
  };
}

Deno.test("exec on SIGTERM with an upload in flight: the child gets it, the upload completes through the proxy, exec exits with the child's code", async () => {
  await using run = await execWithUploadInFlight();
  await until("the upload reached the tracking server", () => run.up.received.length >= 1);
  run.exec.kill("SIGTERM");
  await until("the child got SIGTERM", () => exists(run.got));
  await until("exec waits for the upload", () => run.stderr().includes("still in flight"));
  assertStringIncludes(run.stderr(), "requests=1");
  run.release();
  const status = await within("exec exited after the upload", run.exec.status);
  assertEquals(status.code, 3, run.stderr());
  const upload = await outcome(run.result);
  assertEquals(upload, { status: 200, body: "stored" });
  assertEquals(run.up.received.length, 1);
  assertEquals(run.up.received[0]!.body.length, UPLOAD_BYTES);
  assertEquals(run.up.received[0]!.headers.get("authorization"), "Bearer tok-abcdefgh-0123");
});

Deno.test("exec on a second signal while it waits for an upload in flight exits at once", async () => {
  await using run = await execWithUploadInFlight();
  await until("the upload reached the tracking server", () => run.up.received.length >= 1);
  run.exec.kill("SIGTERM");
  await until("exec waits for the upload", () => run.stderr().includes("still in flight"));
  run.exec.kill("SIGTERM");
  // The tracking server still holds the upload's answer.
  const status = await within("exec exited on the second signal", run.exec.status);
  assertEquals(status.signal, "SIGTERM", run.stderr());
  assertEquals(run.up.received.length, 1);
  // The uploader's connection went with exec, before the tracking server answered.
  run.release();
  const upload = await outcome(run.result) as { error?: string };
  assert(upload.error !== undefined, `the upload was answered: ${JSON.stringify(upload)}`);
});
