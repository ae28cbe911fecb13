/**
 * The leak guard in the middleware and the proxy: a write whose body holds the managed secret is
 * answered 400 and never reaches the server; warn mode sends it with a warning; reads, artifact
 * uploads and clean writes arrive byte for byte.
 */

import { createAuthFetch } from "../../http/auth_fetch.ts";
import { parseProfile } from "../../mod.ts";
import { createPlan } from "../../profile/plan.ts";
import { startProxy } from "../../http/proxy.ts";
import { checkForLeak } from "../../http/_leak_check.ts";
import { LEAK_GUARD_MAX_BYTES } from "../../http/leak_guard.ts";
import { Redactor } from "../../core/redact.ts";
import { assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { deadlineTest } from "../_deadline.ts";

const test = deadlineTest(60);
const CANARY = `canary-${crypto.randomUUID()}`;

function profileFor(match: string, top = "", rule = "") {
  return parseProfile(
    `version: 1
${top}
providers: { e: { kind: env } }
hosts:
  - { match: "${match}", provider: e, secret: { var: T }, auth: bearer${rule} }
`,
    { env: {} },
  );
}

const env = (name: string) => name === "T" ? CANARY : undefined;
const LOG_BATCH = "/api/2.0/mlflow/runs/log-batch";

function logBatch(value: string): string {
  return JSON.stringify({
    run_id: "r1",
    params: [{ key: "a", value: "1" }, { key: "b", value: "2" }, { key: "c", value: "3" }, {
      key: "token",
      value,
    }],
  });
}

test("createAuthFetch() refuses a write holding the secret: 400 naming the field, nothing sent, a warning", async () => {
  await using up = await startServer(() => new Response("{}"));
  const lines: string[] = [];
  await using authFetch = createAuthFetch(profileFor(up.origin), {
    env,
    logWrite: (l) => lines.push(l),
  });
  for (const value of [CANARY, btoa(CANARY), `x ${encodeURIComponent(CANARY)} y`]) {
    const res = await authFetch(`${up.origin}${LOG_BATCH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: logBatch(value),
    });
    assertEquals(res.status, 400);
    const body = await res.json();
    assertEquals(body.error_code, "INVALID_PARAMETER_VALUE");
    assertStringIncludes(body.message, '"/params/3/value"');
    assertStringIncludes(body.message, "POST /api/2.0/mlflow/runs/log-batch");
    assertNoCanary(body, CANARY);
  }
  // A stream body (a Request's), too.
  const res = await authFetch(
    new Request(`${up.origin}/api/2.0/mlflow/runs/set-tag`, {
      method: "POST",
      body: new Blob([JSON.stringify({ run_id: "r", key: "k", value: CANARY })]).stream(),
      duplex: "half",
    } as RequestInit),
  );
  assertEquals(res.status, 400);
  await res.body?.cancel();
  assertEquals(up.received.length, 0);
  const warnings = lines.filter((l) => l.includes("leak guard"));
  assertEquals(warnings.length, 4);
  assertStringIncludes(warnings[0]!, "/params/3/value");
  assertNoCanary(lines.join("\n"), CANARY);
});

test("createAuthFetch() passes clean writes, reads and artifact uploads byte for byte", async () => {
  await using up = await startServer(() => new Response("{}"));
  await using authFetch = createAuthFetch(profileFor(up.origin), { env, logWrite: () => {} });
  const clean = logBatch("0.01");
  await (await authFetch(`${up.origin}${LOG_BATCH}`, { method: "POST", body: clean })).text();
  const artifact = `raw bytes with ${CANARY} in a model file`;
  await (await authFetch(`${up.origin}/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/f.txt`, {
    method: "PUT",
    body: artifact,
  })).text();
  await (await authFetch(`${up.origin}/api/2.0/mlflow/runs/get?run_id=r1`)).text();
  assertEquals(up.received.map((r) => r.body), [clean, artifact, ""]);
});

test("createAuthFetch() with leak_guard: warn sends the write and logs a warning; off does not look", async () => {
  for (
    const [top, rule, warned] of [["leak_guard: warn", "", 1], [
      "",
      ", leak_guard: off",
      0,
    ]] as const
  ) {
    await using up = await startServer(() => new Response("{}"));
    const lines: string[] = [];
    await using authFetch = createAuthFetch(profileFor(up.origin, top, rule), {
      env,
      logWrite: (l) => lines.push(l),
    });
    const res = await authFetch(`${up.origin}${LOG_BATCH}`, {
      method: "POST",
      body: logBatch(CANARY),
    });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    assertEquals(up.received.length, 1);
    assertEquals(up.received[0]!.body, logBatch(CANARY));
    const warnings = lines.filter((l) => l.includes("leak guard") || l.includes("Leak guard"));
    assertEquals(warnings.length, warned, `${top}${rule}`);
    assertNoCanary(lines.join("\n"), CANARY);
  }
});

test("createPlan(): a host rule's leak_guard overrides the top-level one, which defaults to block", () => {
  const overridden = createPlan(
    profileFor("https://m.example.com", "leak_guard: warn", ", leak_guard: block"),
  );
  assertEquals([overridden.leakGuard, overridden.rules[0]!.leakGuard], ["warn", "block"]);
  const inherited = createPlan(profileFor("https://m.example.com", "leak_guard: off"));
  assertEquals([inherited.leakGuard, inherited.rules[0]!.leakGuard], ["off", "off"]);
  const fallback = createPlan(profileFor("https://m.example.com"));
  assertEquals([fallback.leakGuard, fallback.rules[0]!.leakGuard], ["block", "block"]);
});

test("startProxy() refuses a write holding the secret: 400, nothing upstream, a warning and a metric", async () => {
  await using up = await startServer(() => new Response("{}"));
  const lines: string[] = [];
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env,
    logWrite: (l) => lines.push(l),
  });
  const res = await fetch(`${proxy.url}${LOG_BATCH}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: logBatch(`Bearer ${CANARY}`),
  });
  assertEquals(res.status, 400);
  const body = await res.json();
  assertEquals(body.error_code, "INVALID_PARAMETER_VALUE");
  assertStringIncludes(body.message, '"/params/3/value" of POST /api/2.0/mlflow/runs/log-batch');
  // A body past the replay limit arrives as a stream: read by the guard all the same.
  const big = JSON.stringify({
    run_id: "r",
    key: "k",
    value: "x".repeat(3 * 1024 * 1024) + CANARY,
  });
  const res2 = await fetch(`${proxy.url}/api/2.0/mlflow/runs/set-tag`, {
    method: "POST",
    body: big,
  });
  assertEquals(res2.status, 400);
  assertStringIncludes((await res2.json()).message, '"/value"');
  assertEquals(up.received.length, 0);
  const metrics = await (await fetch(`${proxy.url}/__mlflow-secrets-auth/metrics`)).text();
  assertStringIncludes(
    metrics,
    'mlflow_secrets_auth_leak_guard_blocked_total{rule="hosts[0]",endpoint="POST /api/2.0/mlflow/runs/log-batch"} 1',
  );
  assertStringIncludes(
    metrics,
    'mlflow_secrets_auth_leak_guard_blocked_total{rule="hosts[0]",endpoint="POST /api/2.0/mlflow/runs/set-tag"} 1',
  );
  const warnings = lines.filter((l) => l.includes("leak guard"));
  assertEquals(warnings.length, 2);
  assertNoCanary(lines.join("\n"), CANARY);
});

test("startProxy() forwards clean writes, reads and artifact uploads byte for byte", async () => {
  await using up = await startServer(() => new Response("{}"));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env,
    logWrite: () => {},
  });
  const clean = logBatch("0.01 \u00e9 caf\u00e9");
  const big = JSON.stringify({ run_id: "r", key: "k", value: "y".repeat(2 * 1024 * 1024) });
  const artifact = `raw bytes with ${CANARY} in a model file`;
  const sends: [string, RequestInit][] = [
    [LOG_BATCH, { method: "POST", body: clean, headers: { "content-type": "application/json" } }],
    ["/api/2.0/mlflow/runs/set-tag", { method: "POST", body: big }],
    ["/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/f.txt", { method: "PUT", body: artifact }],
    ["/api/2.0/mlflow/runs/get?run_id=r1", {}],
  ];
  for (const [path, init] of sends) {
    const res = await fetch(`${proxy.url}${path}`, init);
    assertEquals(res.status, 200, path);
    await res.body?.cancel();
  }
  assertEquals(up.received.map((r) => r.body), [clean, big, artifact, ""]);
  assertEquals(
    up.received[0]!.headers.get("content-length"),
    String(new TextEncoder().encode(clean).byteLength),
  );
});

test("startProxy() with leak_guard: warn sends the write, logs a warning and counts it", async () => {
  await using up = await startServer(() => new Response("{}"));
  const lines: string[] = [];
  await using proxy = await startProxy(profileFor(up.origin, "", ", leak_guard: warn"), {
    upstream: up.origin,
    env,
    logWrite: (l) => lines.push(l),
  });
  const res = await fetch(`${proxy.url}${LOG_BATCH}`, { method: "POST", body: logBatch(CANARY) });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  assertEquals(up.received.map((r) => r.body), [logBatch(CANARY)]);
  const metrics = await (await fetch(`${proxy.url}/__mlflow-secrets-auth/metrics`)).text();
  assertStringIncludes(
    metrics,
    'mlflow_secrets_auth_leak_guard_warned_total{rule="hosts[0]",endpoint="POST /api/2.0/mlflow/runs/log-batch"} 1',
  );
  assertEquals(lines.filter((l) => l.includes("Leak guard warning")).length, 1);
  assertNoCanary(lines.join("\n"), CANARY);
});

test("checkForLeak() does not read a body whose declared length is past its bound: unreadable, the stream untouched", async () => {
  let pulled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull() {
      pulled = true;
    },
  }, { highWaterMark: 0 });
  const checked = await checkForLeak(
    {
      method: "POST",
      path: LOG_BATCH,
      headers: new Headers(),
      body: { kind: "stream", stream },
      replayLimit: 1024,
      declaredLength: LEAK_GUARD_MAX_BYTES + 1,
    },
    new Redactor(),
    "block",
  );
  assertEquals(checked.finding?.reason, "unreadable");
  assertEquals(checked.body.kind === "stream" && checked.body.stream === stream, true);
  assertEquals(pulled, false);
});

test("createAuthFetch() checks a body again where a 307 or 308 redirect carries it: refused before it reaches the write endpoint", async () => {
  await using up = await startServer((req) =>
    new URL(req.url).pathname === "/moved"
      ? new Response(null, {
        status: 308,
        headers: { location: "/api/2.0/mlflow/runs/log-parameter" },
      })
      : new Response("{}")
  );
  const lines: string[] = [];
  await using authFetch = createAuthFetch(profileFor(up.origin), {
    env,
    logWrite: (l) => lines.push(l),
  });
  const res = await authFetch(`${up.origin}/moved`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ run_id: "r", key: "k", value: CANARY }),
  });
  assertEquals(res.status, 400);
  assertStringIncludes(
    (await res.json()).message,
    '"/value" of POST /api/2.0/mlflow/runs/log-parameter',
  );
  assertEquals(up.received.map((r) => new URL(r.url).pathname), ["/moved"]);
  assertNoCanary(lines.join("\n"), CANARY);
});

test("startProxy() reads each of two pipelined writes, and a chunked body whose secret straddles two chunks", async () => {
  await using up = await startServer(() => new Response("{}"));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env,
    logWrite: () => {},
  });
  const { host } = new URL(proxy.url);
  const te = new TextEncoder();
  const exchange = async (text: string): Promise<string[]> => {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(new URL(proxy.url).port),
    });
    await conn.write(te.encode(text));
    let answer = "";
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      answer += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    return answer.match(/HTTP\/1\.1 \d+/g) ?? [];
  };
  const post = (body: string, last = false) =>
    `POST /api/2.0/mlflow/runs/set-tag HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${te.encode(body).byteLength}\r\n${
      last ? "Connection: close\r\n" : ""
    }\r\n${body}`;
  const clean = JSON.stringify({ run_id: "r", key: "k", value: "v" });
  const leaking = JSON.stringify({ run_id: "r", key: "k", value: CANARY });
  assertEquals(await exchange(post(clean) + post(leaking, true)), [
    "HTTP/1.1 200",
    "HTTP/1.1 400",
  ]);
  const half = leaking.indexOf(CANARY) + 8;
  const chunk = (s: string) => `${te.encode(s).byteLength.toString(16)};x=1\r\n${s}\r\n`;
  assertEquals(
    await exchange(
      `POST /api/2.0/mlflow/runs/set-tag HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n` +
        `Connection: close\r\n\r\n${chunk(leaking.slice(0, half))}${
          chunk(leaking.slice(half))
        }0\r\n\r\n`,
    ),
    ["HTTP/1.1 400"],
  );
  assertEquals(up.received.map((r) => r.body), [clean]);
});

test("startProxy(): a write too large for the leak guard (declared or chunked) gets the guard's 400, readable by the client, and nothing is sent", async () => {
  let reached = 0;
  await using up = await startServer(async (req) => {
    reached++;
    await req.body?.cancel();
    return new Response("{}");
  });
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env,
    logWrite: () => {},
  });
  const size = LEAK_GUARD_MAX_BYTES + 2 * 1024 * 1024;
  const bytes = new Uint8Array(size).fill(0x20);
  for (const framing of ["content-length", "chunked", "content-length", "chunked"]) {
    let sent = 0;
    const body = framing === "chunked"
      ? new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent >= size) return c.close();
          c.enqueue(bytes.subarray(sent, sent + 1024 * 1024));
          sent += 1024 * 1024;
        },
      })
      : bytes;
    const res = await fetch(`${proxy.url}${LOG_BATCH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    assertEquals(res.status, 400, framing);
    const answer = await res.json();
    assertEquals(answer.error_code, "INVALID_PARAMETER_VALUE", framing);
    assertStringIncludes(answer.message, `larger than the ${LEAK_GUARD_MAX_BYTES} bytes`);
  }
  assertEquals(reached, 0);
});
