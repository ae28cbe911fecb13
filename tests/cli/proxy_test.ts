import { main } from "../../cli.ts";
import { runProxy } from "../../cli/proxy.ts";
import { UsageError } from "../../cli/errors.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { fakeIo, tempFile } from "./_io.ts";
import { startProxyProcess } from "../e2e/_proxy_process.ts";
import { deadlineTest } from "../_deadline.ts";

/** Every test here talks over sockets: it fails after its deadline instead of hanging. */
const test = deadlineTest(60);

function profileText(match: string, proxy = "") {
  return `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "${match}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }
${proxy}`;
}

async function waitForListening(err: () => string): Promise<string> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const m = /listening on (http:\/\/\S+)/.exec(err());
    if (m !== null) return m[1]!;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the proxy did not start:\n${err()}`);
}

test("runProxy() serves with the profile's proxy section, logs access lines, and drains when stopped", async () => {
  await using up = await startServer(() => new Response("ok"));
  const path = await tempFile(
    "mlflow-auth.yaml",
    profileText(up.origin, `proxy: { upstream: "${up.origin}", listen: "127.0.0.1:0" }\n`),
  );
  const io = fakeIo({ env: { MLFLOW_TOKEN: "proxy-cli-token-123" } });
  const stop = new AbortController();
  const running = runProxy({ profile: path, signal: stop.signal }, io);
  try {
    const url = await waitForListening(io.err);
    const res = await fetch(`${url}/api/2.0/mlflow/experiments/search?max_results=1`);
    assertEquals(await res.text(), "ok");
    assertEquals(up.received[0]!.headers.get("authorization"), "Bearer proxy-cli-token-123");
  } finally {
    stop.abort();
  }
  assertEquals(await running, 0);
  const err = io.err();
  assertStringIncludes(err, "INFO proxy request");
  assertStringIncludes(err, "path=/api/2.0/mlflow/experiments/search");
  assertStringIncludes(err, "draining in-flight requests");
  assert(!err.includes("proxy-cli-token-123"), "the secret was logged");
});

test("runProxy() writes JSON access lines with --log-format json and none with --no-access-log", async () => {
  await using up = await startServer(() => new Response("ok"));
  const path = await tempFile("mlflow-auth.yaml", profileText(up.origin));
  for (const accessLog of [true, false]) {
    const io = fakeIo({ env: { MLFLOW_TOKEN: "tok-abcdefgh" } });
    const stop = new AbortController();
    const running = runProxy({
      profile: path,
      upstream: up.origin,
      listen: "127.0.0.1:0",
      logFormat: "json",
      accessLog,
      signal: stop.signal,
    }, io);
    try {
      const url = await waitForListening(io.err);
      await (await fetch(`${url}/api/2.0/mlflow/runs/get`)).body?.cancel();
    } finally {
      stop.abort();
    }
    assertEquals(await running, 0);
    const lines = io.err().split("\n").filter((l) => l.startsWith("{"));
    const access = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "proxy request");
    assertEquals(access.length, accessLog ? 1 : 0, io.err());
    if (accessLog) {
      assertEquals(access[0].status, 200);
      assertEquals(access[0].method, "GET");
    }
  }
});

test("runProxy() refuses a missing upstream, a missing client token and a remote address", async () => {
  const path = await tempFile("mlflow-auth.yaml", profileText("http://127.0.0.1:5000"));
  const io = fakeIo({ env: {} });
  await assertRejects(() => runProxy({ profile: path }, io), UsageError, "no upstream");
  await assertRejects(
    () =>
      runProxy({ profile: path, upstream: "http://127.0.0.1:5000", clientTokenEnv: "NOPE" }, io),
    UsageError,
    'environment variable "NOPE" is not set',
  );
  await assertRejects(
    () => runProxy({ profile: path, upstream: "http://127.0.0.1:5000", listen: "0.0.0.0:0" }, io),
    UsageError,
    "not a loopback address",
  );
  const viaMain = fakeIo({ env: {} });
  assertEquals(
    await main(["proxy", "--profile", path, "--upstream", "http://127.0.0.1:6000"], viaMain),
    2,
  );
  assertStringIncludes(viaMain.err(), "matches no host rule");
});

test("runProxy() reports the library's refusals as usage errors: a bad --listen, an address in use (exit 2)", async () => {
  const path = await tempFile("mlflow-auth.yaml", profileText("http://127.0.0.1:5000"));
  const io = fakeIo({ env: {} });
  await assertRejects(
    () => runProxy({ profile: path, upstream: "http://127.0.0.1:5000", listen: "a:b" }, io),
    UsageError,
    'Cannot use listen address "a:b"',
  );
  await using busy = await startServer(() => new Response("ok"));
  const listen = `127.0.0.1:${new URL(busy.origin).port}`;
  const inUse = await assertRejects(
    () => runProxy({ profile: path, upstream: "http://127.0.0.1:5000", listen }, io),
    UsageError,
    `Cannot start the proxy on "${listen}": the address is in use; pick another port`,
  );
  assert(inUse.cause instanceof Deno.errors.AddrInUse, `cause: ${inUse.cause}`);
  const viaMain = fakeIo({ env: {} });
  assertEquals(
    await main(
      ["proxy", "--profile", path, "--upstream", "http://127.0.0.1:5000", "--listen", listen],
      viaMain,
    ),
    2,
  );
  assertEquals(
    viaMain.err(),
    `Cannot start the proxy on "${listen}": the address is in use; pick another port\n`,
  );
});

test("runProxy() with --client-token-env demands the token from clients", async () => {
  await using up = await startServer(() => new Response("ok"));
  const path = await tempFile("mlflow-auth.yaml", profileText(up.origin));
  const clientToken = "client-token-for-the-cli-test";
  const io = fakeIo({ env: { MLFLOW_TOKEN: "real-abcdefgh", PROXY_TOKEN: clientToken } });
  const stop = new AbortController();
  const running = runProxy({
    profile: path,
    upstream: up.origin,
    listen: "127.0.0.1:0",
    clientTokenEnv: "PROXY_TOKEN",
    signal: stop.signal,
  }, io);
  try {
    const url = await waitForListening(io.err);
    assertStringIncludes(io.err(), "client token required");
    const denied = await fetch(`${url}/api/2.0/mlflow/runs/get`);
    await denied.body?.cancel();
    assertEquals(denied.status, 401);
    const ok = await fetch(`${url}/api/2.0/mlflow/runs/get`, {
      headers: { authorization: `Bearer ${clientToken}` },
    });
    await ok.body?.cancel();
    assertEquals(ok.status, 200);
    assertEquals(up.received.map((r) => r.headers.get("authorization")), ["Bearer real-abcdefgh"]);
  } finally {
    stop.abort();
  }
  assertEquals(await running, 0);
  assert(!io.err().includes(clientToken), "the client token was logged");
});

test("main() proxy --allowed-host adds Host values, each flag once, and serves no other name", async () => {
  await using up = await startServer(() => new Response("ok"));
  const path = await tempFile("mlflow-auth.yaml", profileText(up.origin));
  await using proxy = await startProxyProcess(
    [
      "--profile",
      path,
      "--upstream",
      up.origin,
      "--allowed-host",
      "mlflow-proxy.corp",
      "--allowed-host",
      "alias.corp:8443",
      "--no-access-log",
    ],
    { MLFLOW_TOKEN: "allowed-host-token-1" },
  );
  const port = new URL(proxy.url).port;
  const status = async (host: string) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await conn.write(
      new TextEncoder().encode(`GET /api/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    const text = await new Response(conn.readable).text();
    return Number(text.split(" ")[1]);
  };
  assertEquals(await status("mlflow-proxy.corp"), 200);
  assertEquals(await status("alias.corp:8443"), 200);
  assertEquals(await status(`localhost:${port}`), 200);
  assertEquals(await status(`rebind.attacker.example:${port}`), 403);
  assertEquals(up.received.length, 3);
});
