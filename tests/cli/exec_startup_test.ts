/**
 * When `exec` starts its child relative to resolving the secret: a local source is read first,
 * a secret store is resolved first by default (the preflight), and with `--no-preflight` the
 * child starts at once while the secret resolves. The secret store is the Vault double behind a
 * relay that holds its answers until the test opens it.
 */

import { runExec } from "../../cli/exec.ts";
import type { ProxyHandle } from "../../http/proxy.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { VaultDouble } from "../_peers/vault_double.ts";
import { startServer } from "../_servers.ts";
import { fakeIo, tempDir } from "./_io.ts";

const DENO = Deno.execPath();
const CANARY = "canary-vault-secret-7f3e9a1c5b";

/** A relay in front of the Vault double that holds every request until `open()`. */
function gatedRelay(target: string) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  let received = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received++;
    await gate;
    const url = new URL(req.url);
    const res = await fetch(`${target}${url.pathname}${url.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.body,
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  return {
    address: `http://127.0.0.1:${server.addr.port}`,
    get received() {
      return received;
    },
    open,
    async [Symbol.asyncDispose]() {
      open();
      await server.shutdown();
    },
  };
}

/** A Vault double holding the MLflow token; `reader` may read it, `stranger` may not. */
async function vaultWithSecret() {
  const vault = await VaultDouble.start();
  vault.mountKv("secret", 2);
  vault.writeKv("secret", "mlflow/auth", { token: CANARY });
  vault.writePolicy("reader", { "secret/data/mlflow/*": ["read"] });
  return {
    vault,
    reader: vault.createToken({ policies: ["reader"] }),
    stranger: vault.createToken({ policies: [] }),
  };
}

async function profileFor(upstream: string, vaultAddress: string): Promise<string> {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    path,
    `version: 1
providers:
  corp-vault: { kind: vault, address: "${vaultAddress}", auth: { method: token } }
  ci: { kind: env }
hosts:
  - match: "${upstream}"
    provider: corp-vault
    secret: { path: mlflow/auth, mount: secret, kv: 2, field: token }
    auth: bearer
  - { match: "https://other.example.com", provider: ci, secret: { var: OTHER_TOKEN }, auth: bearer }
`,
  );
  return path;
}

/** A child that marks its start, then sends one request through the tracking URI. */
const CHILD = `
await Deno.writeTextFile(Deno.args[0], "started");
const env = Deno.env.toObject();
const res = await fetch(env.MLFLOW_TRACKING_URI + "/api/2.0/mlflow/experiments/search", {
  headers: { authorization: "Bearer " + env.MLFLOW_TRACKING_TOKEN },
});
await Deno.writeTextFile(Deno.args[1], JSON.stringify({ env, status: res.status, body: await res.text() }));
`;

/** Waits until `ready()` holds, failing with `what` after 30 s or when `settled` is. */
async function until(
  what: string,
  ready: () => boolean | Promise<boolean>,
  settled: { done: boolean },
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ready())) {
    if (settled.done) throw new Error(`exec ended before: ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting until: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("runExec() --no-preflight starts the child before the Vault secret resolves; its first request waits for that same resolution", async () => {
  const { vault, reader } = await vaultWithSecret();
  await using _vault = vault;
  await using relay = gatedRelay(vault.address);
  await using up = await startServer(() => new Response("ok"));
  const profile = await profileFor(up.origin, relay.address);
  const dir = await tempDir();
  const [started, result] = [`${dir}/started`, `${dir}/result.json`];
  const environ = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    VAULT_TOKEN: reader,
    OTHER_TOKEN: "other-token-0123456789",
    COPY_OF_SECRET: CANARY,
  };
  const io = fakeIo({ env: environ });
  let proxy: ProxyHandle | undefined;
  const settled = { done: false };
  const run = runExec(
    [DENO, "eval", CHILD, started, result],
    { profile, upstream: up.origin, preflight: false },
    io,
    { environ, stdio: "null", onSpawn: (info) => proxy = info.proxy },
  ).finally(() => settled.done = true);
  try {
    // The Vault read is held, yet the child runs and its request reaches the proxy.
    await until("the child started", () => exists(started), settled);
    await until(
      "the child's request reached the proxy",
      () => proxy!.metrics.requests >= 1,
      settled,
    );
    await until("the secret store was asked", () => relay.received >= 1, settled);
    assertEquals(up.received.length, 0, "a request went out before the secret resolved");
  } catch (error) {
    relay.open();
    await run.catch(() => {});
    throw error;
  }
  relay.open();
  assertEquals(await run, 0, io.err());
  const child = JSON.parse(await Deno.readTextFile(result));
  assertEquals(child.status, 200, child.body);
  assertEquals(up.received.length, 1);
  assertEquals(up.received[0]!.headers.get("authorization"), `Bearer ${CANARY}`);
  // One read of the secret: the request joined the resolution exec started, not a second one.
  assertEquals(vault.requests.filter((r) => r.path === "secret/data/mlflow/auth").length, 1);
  // The named variables are removed without the value; a copy under another name cannot be
  // searched for before the child starts, and a warning names it once the value is known.
  assertEquals(child.env.VAULT_TOKEN, undefined);
  assertEquals(child.env.OTHER_TOKEN, undefined);
  assertStringIncludes(io.err(), "--no-preflight cannot remove them");
  assertStringIncludes(io.err(), "variables=COPY_OF_SECRET");
  assert(!io.err().includes(CANARY) && !io.err().includes(reader), "a secret was logged");
});

Deno.test("runExec() --no-preflight answers the child 503 naming the provider and reference when the secret cannot be resolved, and says why on stderr", async () => {
  const { vault, stranger } = await vaultWithSecret();
  await using _vault = vault;
  await using up = await startServer(() => new Response("ok"));
  const profile = await profileFor(up.origin, vault.address);
  const dir = await tempDir();
  const [started, result] = [`${dir}/started`, `${dir}/result.json`];
  const environ = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", VAULT_TOKEN: stranger };
  const io = fakeIo({ env: environ });
  const code = await runExec(
    [DENO, "eval", CHILD, started, result],
    { profile, upstream: up.origin, preflight: false },
    io,
    { environ, stdio: "null" },
  );
  assertEquals(code, 0, io.err());
  const child = JSON.parse(await Deno.readTextFile(result));
  assertEquals(child.status, 503);
  const body = JSON.parse(child.body);
  assertEquals(body.error_code, "TEMPORARILY_UNAVAILABLE");
  assertStringIncludes(body.message, 'from provider "corp-vault"');
  assertStringIncludes(body.message, "mlflow/auth");
  assertStringIncludes(body.message, "permission denied");
  assertEquals(up.received.length, 0, "a request went out without the credential");
  const err = io.err();
  assertStringIncludes(err, "cannot resolve the credential; the child's requests");
  assertStringIncludes(err, 'from provider \\"corp-vault\\"');
  for (const text of [child.body, err]) {
    assert(!text.includes(CANARY) && !text.includes(stranger), "a secret was shown");
  }
});

Deno.test("runExec() resolves a Vault secret before the child starts by default: a failure starts no child, a success removes copies of the value", async () => {
  const { vault, reader, stranger } = await vaultWithSecret();
  await using _vault = vault;
  await using up = await startServer(() => new Response("ok"));
  const profile = await profileFor(up.origin, vault.address);
  const dir = await tempDir();
  const [started, result] = [`${dir}/started`, `${dir}/result.json`];
  const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  for (const preflight of [undefined, true]) {
    const environ = { PATH, VAULT_TOKEN: stranger };
    await assertRejects(
      () =>
        runExec(
          [DENO, "eval", CHILD, started, result],
          {
            profile,
            upstream: up.origin,
            preflight,
          },
          fakeIo({ env: environ }),
          { environ, stdio: "null" },
        ),
      SecretResolutionError,
      "permission denied",
    );
    assert(!(await exists(started)), `the child started (preflight ${preflight})`);
  }
  const environ = { PATH, VAULT_TOKEN: reader, COPY_OF_SECRET: `x=${CANARY}` };
  const io = fakeIo({ env: environ });
  assertEquals(
    await runExec([DENO, "eval", CHILD, started, result], { profile, upstream: up.origin }, io, {
      environ,
      stdio: "null",
    }),
    0,
    io.err(),
  );
  const child = JSON.parse(await Deno.readTextFile(result));
  assertEquals(child.status, 200);
  assertEquals(child.env.COPY_OF_SECRET, undefined, "a copy of the secret reached the child");
  assertEquals(child.env.VAULT_TOKEN, undefined);
  assert(!JSON.stringify(child.env).includes(CANARY), "the secret reached the child");
});

Deno.test("runExec() --no-preflight still reads a local source first: a failure starts no child, copies are removed", async () => {
  await using up = await startServer(() => new Response("ok"));
  const profile = `${await tempDir()}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    profile,
    `version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "${up.origin}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }]
`,
  );
  const dir = await tempDir();
  const [started, result] = [`${dir}/started`, `${dir}/result.json`];
  const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  const options = { profile, upstream: up.origin, preflight: false };
  await assertRejects(
    () =>
      runExec([DENO, "eval", CHILD, started, result], options, fakeIo({ env: { PATH } }), {
        environ: { PATH },
        stdio: "null",
      }),
    SecretResolutionError,
    'environment variable "MLFLOW_TOKEN" is not set',
  );
  assert(!(await exists(started)), "the child started");
  const environ = { PATH, MLFLOW_TOKEN: CANARY, COPY_OF_SECRET: CANARY };
  const io = fakeIo({ env: environ });
  assertEquals(
    await runExec([DENO, "eval", CHILD, started, result], options, io, {
      environ,
      stdio: "null",
    }),
    0,
    io.err(),
  );
  const child = JSON.parse(await Deno.readTextFile(result));
  assertEquals(child.status, 200);
  assertEquals(child.env.COPY_OF_SECRET, undefined, "a copy of the secret reached the child");
  assertStringIncludes(io.err(), "variable=COPY_OF_SECRET");
});
