/**
 * A large secret through the real CLI (issue: a JSON file secret holding a 30 KB PEM, used with
 * `field: token`). Redaction once built one RegExp of every registered form; past ~25 KB V8
 * refused it with the whole pattern, secrets included, in the message, and the proxy died.
 */

import { assert, assertEquals, assertNoCanary } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { tempDir } from "./_io.ts";
import { runCli, startCliProxy } from "./_cli_process.ts";

/** A 64-byte canary token. */
const CANARY = `canary-${crypto.randomUUID()}-${crypto.randomUUID()}`.slice(0, 64);

/** A PEM-like CA bundle of about `bytes` bytes. */
function pemBundle(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(Math.ceil(bytes * 3 / 4)));
  let b64 = "";
  for (let at = 0; at < raw.length; at += 0x3000) {
    b64 += btoa(String.fromCharCode(...raw.subarray(at, at + 0x3000)));
  }
  const lines = b64.match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`;
}

const PEM = pemBundle(30 * 1024);
/** Pieces of the PEM that must not show up anywhere either. */
const PEM_PIECES = [PEM.slice(100, 160), PEM.slice(15_000, 15_060), PEM.slice(-120, -60)];

function assertClean(label: string, text: string): void {
  try {
    assertNoCanary(text, CANARY);
    for (const piece of PEM_PIECES) assert(!text.includes(piece), "a piece of the PEM leaked");
    for (const sign of ["Invalid regular expression", "too large", "Uncaught"]) {
      assert(!text.includes(sign), `"${sign}" in the output`);
    }
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message} (${text.length} characters written)`);
  }
}

async function setup(origin: string): Promise<string> {
  const dir = await tempDir();
  const secret = `${dir}/mlflow.json`;
  await Deno.writeTextFile(secret, JSON.stringify({ token: CANARY, ca_bundle: PEM }));
  const profile = `${dir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    profile,
    `version: 1
providers: { files: { kind: file } }
hosts:
  - match: "${origin}"
    provider: files
    secret: { path: "${secret}", field: token }
    auth: bearer
`,
  );
  return profile;
}

/** An upstream that echoes the credential it got, in the body and a header, and refuses it. */
function echoing(req: Request): Response {
  const auth = req.headers.get("authorization") ?? "none";
  const ok = new URL(req.url).pathname.endsWith("/experiments/search");
  return new Response(`you sent ${auth}`, {
    status: ok ? 200 : 401,
    headers: { "x-echo": auth, "www-authenticate": `Bearer error="${auth}"` },
  });
}

Deno.test("doctor with a JSON file secret holding a 30 KB PEM masks everything and does not crash", async () => {
  await using up = await startServer(echoing);
  const profile = await setup(up.origin);
  const out = await runCli(["doctor", "-p", profile], { MLFLOW_SECRETS_AUTH_LOG_LEVEL: "debug" });
  assertClean("doctor", out.stdout + out.stderr);
  assert(
    up.received.some((r) => r.headers.get("authorization") === `Bearer ${CANARY}`),
    "the credential never reached the server",
  );
  const json = await runCli(["doctor", "-p", profile, "--json"], {
    MLFLOW_SECRETS_AUTH_LOG_LEVEL: "debug",
  });
  assertClean("doctor --json", json.stdout + json.stderr);
  JSON.parse(json.stdout);
});

Deno.test("proxy with a JSON file secret holding a 30 KB PEM masks its log and keeps serving", async () => {
  await using up = await startServer(echoing);
  const profile = await setup(up.origin);
  await using proxy = await startCliProxy(
    ["-p", profile, "--upstream", up.origin, "--log-level", "debug"],
  );
  for (const path of ["/api/2.0/mlflow/experiments/search", "/api/2.0/mlflow/runs/get", "/x"]) {
    const res = await fetch(`${proxy.url}${path}`);
    await res.body?.cancel();
    assert(res.status === 200 || res.status === 401, `${path}: ${res.status}`);
  }
  const again = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
  assertEquals(again.status, 200);
  await again.body?.cancel();
  assert(proxy.alive(), "the proxy died");
  assert(
    up.received.some((r) => r.headers.get("authorization") === `Bearer ${CANARY}`),
    "the credential never reached the server",
  );
  const { stderr } = await proxy.stop();
  assert(stderr.includes("/api/2.0/mlflow/runs/get"), "no access line");
  assertClean("proxy", stderr);
});

Deno.test("exec --access-log with a JSON file secret holding a 30 KB PEM masks its log and runs the job", async () => {
  await using up = await startServer(echoing);
  const profile = await setup(up.origin);
  const job = `
for (const p of ["/api/2.0/mlflow/experiments/search", "/api/2.0/mlflow/runs/get"]) {
  const res = await fetch(Deno.env.get("MLFLOW_TRACKING_URI") + p, {
    headers: { authorization: "Bearer " + Deno.env.get("MLFLOW_TRACKING_TOKEN") },
  });
  console.log(p, res.status, await res.text());
}`;
  const out = await runCli([
    "exec",
    "-p",
    profile,
    "--upstream",
    up.origin,
    "--access-log",
    "--",
    Deno.execPath(),
    "eval",
    job,
  ]);
  assertEquals(out.code, 0, out.stderr.slice(0, 1500));
  assert(out.stdout.includes("/api/2.0/mlflow/experiments/search 200"), out.stdout);
  assert(out.stdout.includes("/api/2.0/mlflow/runs/get 401"), out.stdout);
  assert(out.stderr.includes("/api/2.0/mlflow/runs/get"), "no access line");
  assertClean("exec stderr", out.stderr);
  assertEquals(up.received.length >= 2, true);
});
