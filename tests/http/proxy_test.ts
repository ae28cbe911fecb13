import { parseProfile } from "../../mod.ts";
import { startProxy } from "../../http/proxy.ts";
import {
  assert,
  assertEquals,
  assertNoCanary,
  assertRejects,
  assertStringIncludes,
} from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { deadlineTest } from "../_deadline.ts";

/** Every test here talks over sockets: it fails after its deadline instead of hanging. */
const test = deadlineTest(60);

const TOKEN = "client-token-0123456789abcdef";

function profileFor(match: string, extra = "auth: bearer", more = "") {
  return parseProfile(
    `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "${match}", provider: e, secret: { var: T }, ${extra} }
${more}`,
    { env: {} },
  );
}

function envOf(values: Record<string, string>) {
  return (name: string) => values[name];
}

/** Sends raw HTTP/1.1 bytes and returns the raw answer (the server closes after one answer). */
async function rawRequest(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(text));
    let out = "";
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
      if (/\r\n\r\n/.test(out) && /content-length: 0\r\n/i.test(out)) break;
      const m = /content-length: (\d+)\r\n/i.exec(out);
      const head = out.indexOf("\r\n\r\n");
      if (m !== null && head >= 0 && out.length - head - 4 >= Number(m[1])) break;
    }
    return out;
  } finally {
    conn.close();
  }
}

test("startProxy() injects the rule's credential and keeps method, path, query and body", async () => {
  await using up = await startServer((req, body) =>
    Response.json({ method: req.method, url: req.url, body })
  );
  const profile = profileFor(up.origin, "auth: bearer, headers: { X-MLFLOW-WORKSPACE: team-a }");
  await using proxy = await startProxy(profile, {
    upstream: up.origin,
    env: envOf({ T: "tok-1" }),
    accessLog: false,
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/runs/search?max_results=5&x=a%20b`, {
    method: "POST",
    body: '{"experiment_ids":["0"]}',
    headers: { "content-type": "application/json", "x-client": "kept" },
  });
  assertEquals(res.status, 200);
  const echoed = await res.json();
  assertEquals(echoed, {
    method: "POST",
    url: `${up.origin}/api/2.0/mlflow/runs/search?max_results=5&x=a%20b`,
    body: '{"experiment_ids":["0"]}',
  });
  const h = up.received[0]!.headers;
  assertEquals(h.get("authorization"), "Bearer tok-1");
  assertEquals(h.get("x-mlflow-workspace"), "team-a");
  assertEquals(h.get("x-client"), "kept");
  assertEquals(h.get("content-type"), "application/json");
  assertEquals(h.get("host"), new URL(up.origin).host);
});

test("startProxy() maps its root onto an upstream path prefix", async () => {
  await using up = await startServer((req) => new Response(new URL(req.url).pathname));
  const profile = profileFor(`${up.origin}/mlflow`);
  await using proxy = await startProxy(profile, {
    upstream: `${up.origin}/mlflow/`,
    env: envOf({ T: "tok-1" }),
    accessLog: false,
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
  assertEquals(await res.text(), "/mlflow/api/2.0/mlflow/experiments/search");
  // A path that tries to leave the prefix is normalised by URL parsing before it is joined.
  const res2 = await fetch(`${proxy.url}/../../admin`);
  assertEquals(await res2.text(), "/mlflow/admin");
  assertEquals(up.received.map((r) => r.headers.get("authorization")), [
    "Bearer tok-1",
    "Bearer tok-1",
  ]);
});

test("startProxy() requires the client token, compares it, and replaces it by the real credential", async () => {
  await using up = await startServer(() => new Response("ok"));
  const profile = profileFor(up.origin);
  await using proxy = await startProxy(profile, {
    upstream: up.origin,
    clientToken: TOKEN,
    env: envOf({ T: "real-credential-1" }),
    accessLog: false,
  });
  const attempts: (string | undefined)[] = [
    undefined,
    "Bearer",
    `Bearer ${TOKEN.slice(0, -1)}`,
    `Bearer ${TOKEN}x`,
    `Bearer ${TOKEN.slice(0, -1)}X`,
    `Basic ${btoa(`user:${TOKEN}`)}`,
    TOKEN,
  ];
  for (const auth of attempts) {
    const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`, {
      headers: auth === undefined ? {} : { authorization: auth },
    });
    assertEquals(res.status, 401, `accepted ${auth}`);
    assertEquals(res.headers.get("www-authenticate"), 'Bearer realm="mlflow-secrets-auth"');
    const body = await res.json();
    assertEquals(body.error_code, "UNAUTHENTICATED");
  }
  assertEquals(up.received.length, 0);
  for (const auth of [`Bearer ${TOKEN}`, `bearer  ${TOKEN}`]) {
    const ok = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`, {
      headers: { authorization: auth },
    });
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
  }
  assertEquals(up.received.map((r) => r.headers.get("authorization")), [
    "Bearer real-credential-1",
    "Bearer real-credential-1",
  ]);
  assertEquals(proxy.metrics.rejected.clientToken, attempts.length);
});

test("startProxy() never forwards client-supplied credential headers", async () => {
  await using up = await startServer(() => new Response("ok"));
  const profile = profileFor(
    up.origin,
    'auth: { type: header, name: X-Api-Key, value: "{{token}}" }, headers: { X-MLFLOW-WORKSPACE: team-a }',
  );
  await using proxy = await startProxy(profile, {
    upstream: up.origin,
    env: envOf({ T: "real-key-1" }),
    accessLog: false,
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`, {
    headers: {
      authorization: "Bearer forged",
      cookie: "session=forged",
      "proxy-authorization": "Basic Zm9yZ2Vk",
      "x-api-key": "forged-key",
      "X-MLFLOW-WORKSPACE": "other-team",
      "x-unrelated": "kept",
    },
  });
  await res.body?.cancel();
  const h = up.received[0]!.headers;
  assertEquals(h.get("authorization"), null);
  assertEquals(h.get("cookie"), null);
  assertEquals(h.get("proxy-authorization"), null);
  assertEquals(h.get("x-api-key"), "real-key-1");
  assertEquals(h.get("x-mlflow-workspace"), "team-a");
  assertEquals(h.get("x-unrelated"), "kept");
});

test("startProxy() removes hop-by-hop headers in both directions", async () => {
  // A raw upstream, so that hop-by-hop response headers really reach the proxy.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const upPort = (listener.addr as Deno.NetAddr).port;
  const seen: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(65536);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      seen.push(head);
      await conn.write(new TextEncoder().encode(
        "HTTP/1.1 200 OK\r\nConnection: close, X-Hop-Response\r\nX-Hop-Response: 1\r\n" +
          "Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n" +
          "Content-Length: 2\r\n\r\nok",
      ));
      conn.close();
    }
  })();
  const origin = `http://127.0.0.1:${upPort}`;
  const proxy = await startProxy(profileFor(origin), {
    upstream: origin,
    env: envOf({ T: "tok-1" }),
    accessLog: false,
  });
  try {
    const answer = await rawRequest(
      proxy.addr.port,
      `GET /api/2.0/mlflow/experiments/search HTTP/1.1\r\nHost: 127.0.0.1:${proxy.addr.port}\r\n` +
        "Connection: close, X-Hop-Request\r\nX-Hop-Request: 1\r\nKeep-Alive: timeout=5\r\n" +
        "TE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: websocket\r\nX-End: kept\r\n\r\n",
    );
    const request = seen[0]!.toLowerCase();
    for (const h of ["x-hop-request", "keep-alive", "te:", "proxy-connection", "upgrade"]) {
      assert(!request.includes(`\r\n${h}`), `${h} forwarded upstream`);
    }
    assertStringIncludes(request, "\r\nx-end: kept");
    assertStringIncludes(request, "\r\nauthorization: bearer tok-1");
    const response = answer.toLowerCase();
    assert(response.startsWith("http/1.1 200"), answer);
    for (const h of ["x-hop-response", "keep-alive", "proxy-authenticate"]) {
      assert(!response.includes(`\r\n${h}`), `${h} passed back`);
    }
    assertStringIncludes(response, "\r\nx-kept: yes");
  } finally {
    await proxy.shutdown();
    listener.close();
    await serving.catch(() => {});
  }
});

test("startProxy() passes redirects back and rewrites a Location on the upstream origin", async () => {
  await using up = await startServer((req) => {
    const path = new URL(req.url).pathname;
    const to = path === "/mlflow/abs"
      ? `${new URL(req.url).origin}/mlflow/next?a=1`
      : path === "/mlflow/rel"
      ? "/mlflow/rel-next"
      : path === "/mlflow/outside"
      ? "/elsewhere"
      : "https://sso.example.com/login?back=1";
    return new Response(null, {
      status: path === "/mlflow/rel" ? 307 : 302,
      headers: { location: to },
    });
  });
  const profile = profileFor(`${up.origin}/mlflow`);
  await using proxy = await startProxy(profile, {
    upstream: `${up.origin}/mlflow`,
    env: envOf({ T: "tok-1" }),
    accessLog: false,
  });
  const get = async (path: string) => {
    const res = await fetch(`${proxy.url}${path}`, { redirect: "manual" });
    await res.body?.cancel();
    return [res.status, res.headers.get("location")];
  };
  assertEquals(await get("/abs"), [302, `${proxy.url}/next?a=1`]);
  assertEquals(await get("/rel"), [307, `${proxy.url}/rel-next`]);
  assertEquals(await get("/outside"), [302, `${up.origin}/elsewhere`]);
  assertEquals(await get("/other"), [302, "https://sso.example.com/login?back=1"]);
  // Not followed: one upstream request per client request.
  assertEquals(up.received.length, 4);
});

test("startProxy() rewrites a Location only within its path prefix, at a segment boundary", async () => {
  await using up = await startServer((req) => {
    const path = new URL(req.url).pathname;
    const to = path === "/mlflow/sibling"
      ? "/mlflowx/page?a=1"
      : path === "/mlflow/sibling-abs"
      ? `${new URL(req.url).origin}/mlflowx/page`
      : "/mlflow";
    return new Response(null, { status: 302, headers: { location: to } });
  });
  const profile = profileFor(`${up.origin}/mlflow`);
  await using proxy = await startProxy(profile, {
    upstream: `${up.origin}/mlflow`,
    env: envOf({ T: "tok-1" }),
    accessLog: false,
  });
  const get = async (path: string) => {
    const res = await fetch(`${proxy.url}${path}`, { redirect: "manual" });
    await res.body?.cancel();
    return [res.status, res.headers.get("location")];
  };
  // "/mlflowx" shares the prefix's characters, not its path: it is not under "/mlflow", so the
  // proxy cannot serve it and the Location stays an upstream URL.
  assertEquals(await get("/sibling"), [302, `${up.origin}/mlflowx/page?a=1`]);
  assertEquals(await get("/sibling-abs"), [302, `${up.origin}/mlflowx/page`]);
  // The prefix itself is the proxy's root.
  assertEquals(await get("/root"), [302, `${proxy.url}/`]);
});

test("startProxy() streams request and response bodies without buffering them", async () => {
  const chunk = new Uint8Array(2 * 1024 * 1024).fill(7);
  const upstreamGotFirst = Promise.withResolvers<void>();
  const clientGotFirst = Promise.withResolvers<void>();
  let uploaded = 0;
  const up = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (req.method === "PUT") {
      for await (const c of req.body!) {
        uploaded += c.byteLength;
        if (uploaded >= chunk.byteLength) upstreamGotFirst.resolve();
      }
      return new Response(String(uploaded));
    }
    // Download: the first chunk, then the rest only once the client has seen the first.
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(chunk);
        await clientGotFirst.promise;
        controller.enqueue(chunk);
        controller.close();
      },
    });
    return new Response(body);
  });
  const origin = `http://127.0.0.1:${up.addr.port}`;
  const proxy = await startProxy(profileFor(origin), {
    upstream: origin,
    env: envOf({ T: "tok-1" }),
    accessLog: false,
  });
  try {
    // Upload: the second half is produced only after the upstream received the first half.
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(chunk);
        await upstreamGotFirst.promise;
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${proxy.url}/api/2.0/mlflow-artifacts/artifacts/x`, {
      method: "PUT",
      body,
      duplex: "half",
    } as RequestInit);
    assertEquals(await res.text(), String(2 * chunk.byteLength));

    const down = await fetch(`${proxy.url}/api/2.0/mlflow-artifacts/artifacts/x`);
    const reader = down.body!.getReader();
    let received = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (received >= chunk.byteLength) clientGotFirst.resolve();
    }
    assertEquals(received, 2 * chunk.byteLength);
  } finally {
    await proxy.shutdown();
    await up.shutdown();
  }
});

test("startProxy() serves health and Prometheus metrics under its reserved prefix, with counts only", async () => {
  await using up = await startServer(() => new Response("ok"));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: envOf({ T: "metrics-canary-secret-42" }),
    clientToken: TOKEN,
    accessLog: false,
  });
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    await res.body?.cancel();
  }
  await (await fetch(`${proxy.url}/api/x`)).body?.cancel(); // no token: 401
  const health = await fetch(`${proxy.url}/__mlflow-secrets-auth/health`);
  assertEquals(health.status, 200);
  assertEquals((await health.json()).status, "ok");
  const metrics = await fetch(`${proxy.url}/__mlflow-secrets-auth/metrics`);
  assertStringIncludes(metrics.headers.get("content-type")!, "text/plain; version=0.0.4");
  const text = await metrics.text();
  for (
    const line of [
      "mlflow_secrets_auth_proxy_requests_total 4",
      'mlflow_secrets_auth_proxy_upstream_responses_total{class="2xx"} 3',
      'mlflow_secrets_auth_proxy_rejected_total{reason="client_token"} 1',
      'mlflow_secrets_auth_proxy_request_duration_seconds_bucket{le="+Inf"} 3',
      "mlflow_secrets_auth_proxy_request_duration_seconds_count 3",
      "mlflow_secrets_auth_secret_fetches_total 1",
      "mlflow_secrets_auth_provider_calls_total 1",
      "mlflow_secrets_auth_secret_cache_hits_total 2",
      "mlflow_secrets_auth_secret_refreshes_total 0",
    ]
  ) {
    assertStringIncludes(text, `\n${line}\n`);
  }
  assertNoCanary(text, "metrics-canary-secret-42");
  assertNoCanary(text, TOKEN);
  assertEquals((await fetch(`${proxy.url}/__mlflow-secrets-auth/nope`)).status, 404);
  assertEquals(up.received.length, 3);
  assertEquals(proxy.metrics.secretFetches, 1);
});

test("startProxy() refuses a non-loopback address without allowRemote and a client token", async () => {
  const profile = profileFor("http://127.0.0.1:1");
  const opts = { upstream: "http://127.0.0.1:1", env: envOf({}), accessLog: false };
  await assertRejects(
    () => startProxy(profile, { ...opts, listen: "0.0.0.0:0" }),
    TypeError,
    "not a loopback address",
  );
  await assertRejects(
    () => startProxy(profile, { ...opts, listen: "localhost.:0" }),
    TypeError,
    "not a loopback address",
  );
  await assertRejects(
    () => startProxy(profile, { ...opts, listen: "0.0.0.0:0", allowRemote: true }),
    TypeError,
    "needs a client token",
  );
  await assertRejects(
    () =>
      startProxy(profile, {
        ...opts,
        listen: "0.0.0.0:0",
        allowRemote: true,
        clientToken: "short",
      }),
    TypeError,
    "shorter than 16",
  );
  await using remote = await startProxy(profile, {
    ...opts,
    listen: "0.0.0.0:0",
    allowRemote: true,
    clientToken: TOKEN,
  });
  assertEquals(remote.addr.hostname, "0.0.0.0");
  await using local = await startProxy(profile, opts);
  assertEquals(local.addr.hostname, "127.0.0.1");
});

test("startProxy() fails at start when the upstream matches no host rule", async () => {
  const profile = profileFor("https://mlflow.example.com/mlflow");
  const opts = { env: envOf({}), accessLog: false };
  await assertRejects(
    () => startProxy(profile, { ...opts, upstream: "https://mlflow.example.com" }),
    TypeError,
    'upstream "https://mlflow.example.com/" matches no host rule',
  );
  await assertRejects(
    () => startProxy(profile, { ...opts, upstream: "https://other.example.com/mlflow" }),
    TypeError,
    "matches no host rule",
  );
  await assertRejects(
    () => startProxy(profile, { ...opts, upstream: "https://u:p@mlflow.example.com/mlflow" }),
    TypeError,
    "userinfo",
  );
  await assertRejects(
    () => startProxy(profile, { ...opts, upstream: "file:///tmp" }),
    TypeError,
    "not http or https",
  );
  await assertRejects(
    () => startProxy(profile, { ...opts, upstream: "not a url" }),
    TypeError,
    "not an absolute URL",
  );
});

test("startProxy() throws TypeError for bad arguments, and an Error caused by Deno's for an address in use", async () => {
  const profile = profileFor("http://127.0.0.1:1");
  const opts = { upstream: "http://127.0.0.1:1", env: envOf({}), accessLog: false };
  const bad = await assertRejects(() => startProxy(profile, { ...opts, listen: "a:b" }), TypeError);
  assertStringIncludes(bad.message, 'Cannot use listen address "a:b"');
  await using busy = await startProxy(profile, opts);
  const taken = await assertRejects(
    () => startProxy(profile, { ...opts, listen: `127.0.0.1:${busy.addr.port}` }),
    Error,
    `Cannot start the proxy on "127.0.0.1:${busy.addr.port}": the address is in use; pick another port`,
  );
  assert(!(taken instanceof TypeError), "an address in use is not a bad argument");
  assert(taken.cause instanceof Deno.errors.AddrInUse, `cause: ${taken.cause}`);
});

test("startProxy() refreshes the credential once after a 401 and retries a replayable request", async () => {
  let valid = "tok-old";
  await using up = await startServer((req) =>
    req.headers.get("authorization") === `Bearer ${valid}`
      ? new Response("ok")
      : new Response("denied", { status: 401 })
  );
  const secrets: Record<string, string> = { T: "tok-old" };
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: (n) => secrets[n],
    accessLog: false,
  });
  const post = async (body: BodyInit) => {
    const res = await fetch(`${proxy.url}/api/2.0/mlflow/runs/log-metric`, {
      method: "POST",
      body,
      ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit);
    return [res.status, await res.text()];
  };
  assertEquals(await post('{"v":1}'), [200, "ok"]);
  // Rotation: the provider and the server change; the cached credential is now rejected.
  secrets.T = "tok-new";
  valid = "tok-new";
  const results = await Promise.all(Array.from({ length: 10 }, () => post('{"v":2}')));
  assertEquals(results.every(([s]) => s === 200), true);
  assertEquals(proxy.metrics.refreshes >= 1, true);
  assertEquals(proxy.metrics.secretFetches, 2);
  // The retried requests carried their body again.
  assert(
    up.received.filter((r) =>
      r.body === '{"v":2}' && r.headers.get("authorization") === "Bearer tok-new"
    ).length === 10,
  );

  // A body larger than the replay limit cannot be sent twice: the 401 is passed back.
  valid = "tok-newer";
  secrets.T = "tok-newer";
  const big = new Uint8Array(2 * 1024 * 1024);
  const [status] = await post(new Blob([big]).stream());
  assertEquals(status, 401);
  assertEquals(await post("small"), [200, "ok"]);
});

test("startProxy() passes a 401 back without another provider call when the refreshed secret is the rejected one", async () => {
  await using up = await startServer(() => new Response("denied", { status: 401 }));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: envOf({ T: "tok-never-accepted" }),
    accessLog: false,
  });
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
    assertEquals(res.status, 401);
    await res.body?.cancel();
  }
  // One load, one refresh that brought back the same value; then the server's answer stands.
  assertEquals(proxy.metrics.secretFetches, 2);
  assertEquals(up.received.length, 11);
});

test("startProxy() answers 503 and sends nothing when the credential cannot be resolved", async () => {
  await using up = await startServer(() => new Response("ok"));
  const lines: string[] = [];
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: envOf({}),
    logWrite: (l) => lines.push(l),
    logLevel: "info",
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
  assertEquals(res.status, 503);
  const body = await res.json();
  assertEquals(body.error_code, "TEMPORARILY_UNAVAILABLE");
  assertStringIncludes(body.message, 'environment variable "T" is not set');
  assertEquals(up.received.length, 0);
  assertEquals(proxy.metrics.rejected.secretUnavailable, 1);
  assert(lines.some((l) => l.includes("rejected=secret_unavailable")), lines.join(""));
});

test("startProxy() answers 502 when the upstream cannot be reached", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const origin = `http://127.0.0.1:${port}`;
  await using proxy = await startProxy(profileFor(origin), {
    upstream: origin,
    env: envOf({ T: "tok-1" }),
    logWrite: () => {},
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
  assertEquals(res.status, 502);
  assertEquals((await res.json()).error_code, "BAD_GATEWAY");
  assertEquals(proxy.metrics.rejected.upstreamError, 1);
});

test("startProxy() drains in-flight requests on shutdown", async () => {
  const release = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  const up = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    arrived.resolve();
    await release.promise;
    return new Response("finished");
  });
  const origin = `http://127.0.0.1:${up.addr.port}`;
  const proxy = await startProxy(profileFor(origin), {
    upstream: origin,
    env: envOf({ T: "tok-1" }),
    accessLog: false,
  });
  try {
    const pending = fetch(`${proxy.url}/api/2.0/mlflow/runs/get`).then((r) => r.text());
    await arrived.promise;
    const stopped = proxy.shutdown();
    let stoppedEarly = false;
    stopped.then(() => stoppedEarly = true);
    await Promise.resolve();
    assert(!stoppedEarly, "shutdown did not wait for the in-flight request");
    release.resolve();
    assertEquals(await pending, "finished");
    await stopped;
    await assertRejects(() => fetch(`${proxy.url}/api/2.0/mlflow/runs/get`), TypeError);
  } finally {
    release.resolve();
    await proxy.shutdown();
    await up.shutdown();
  }
});

test("startProxy() keeps a canary secret out of logs, metrics and every response", async () => {
  const canary = "proxy-canary-7f3a9c1e5b";
  let mode = "ok";
  await using up = await startServer((req) => {
    if (mode === "401") return new Response("no", { status: 401 });
    if (mode === "redirect") {
      return new Response(null, {
        status: 302,
        headers: { location: `${new URL(req.url).origin}/x` },
      });
    }
    return new Response("ok");
  });
  const lines: string[] = [];
  const secrets: Record<string, string> = { T: JSON.stringify({ token: canary }) };
  await using proxy = await startProxy(
    profileFor(up.origin, "auth: bearer", "defaults: { retry: { attempts: 1 } }"),
    {
      upstream: up.origin,
      env: (n) => secrets[n],
      clientToken: TOKEN,
      logWrite: (l) => lines.push(l),
      logLevel: "debug",
      logFormat: "json",
    },
  );
  const seen: string[] = [];
  const call = async (
    path: string,
    headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
  ) => {
    const res = await fetch(`${proxy.url}${path}`, { headers, redirect: "manual" });
    seen.push(`${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`);
  };
  await call("/api/2.0/mlflow/experiments/search");
  await call(`/api/${canary}/path`);
  await call("/api/x", {});
  await call("/api/x", { authorization: `Bearer ${canary}` });
  mode = "401";
  await call("/api/x");
  mode = "redirect";
  await call("/api/x");
  mode = "ok";
  secrets.T = JSON.stringify({ nottoken: canary });
  proxy.resolver.cache.clear();
  await call("/api/x"); // field missing: 503
  delete secrets.T;
  await call("/api/x"); // variable missing: 503
  await call("/__mlflow-secrets-auth/metrics");
  await call("/__mlflow-secrets-auth/health");
  assert(lines.length > 5, "expected access lines");
  assertNoCanary(lines.join(""), canary);
  assertNoCanary(lines.join(""), TOKEN);
  assertNoCanary(seen.join("\n"), canary);
  assertNoCanary(proxy.prometheus(), canary);
  assertNoCanary(JSON.stringify(proxy.metrics), canary);
  // And the upstream did get it, so the test is not vacuous.
  assert(up.received.some((r) => r.headers.get("authorization") === `Bearer ${canary}`));
});
