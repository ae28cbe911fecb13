/**
 * The proxy refuses to serve web pages: DNS rebinding (a foreign Host), cross-site requests
 * (Origin, Sec-Fetch-Site), and never builds a Location from the request's Host. Clients that
 * are not browsers (curl, fetch) keep working.
 */

import { parseProfile } from "../../mod.ts";
import { createRequestGuard } from "../../http/_proxy_guard.ts";
import { startProxy } from "../../http/proxy.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { deadlineTest } from "../_deadline.ts";

/** Every test here talks over sockets: it fails after its deadline instead of hanging. */
const test = deadlineTest(60);

function profileFor(origin: string) {
  return parseProfile(
    `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "${origin}", provider: e, secret: { var: T }, auth: bearer }
`,
    { env: {} },
  );
}

/** Sends one raw HTTP/1.1 request with `Connection: close`; returns status, headers and body. */
async function raw(
  port: number,
  requestLine: string,
  headers: Readonly<Record<string, string>>,
  body = "",
): Promise<{ status: number; head: string; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const length = body === "" ? "" : `Content-Length: ${new TextEncoder().encode(body).length}\r\n`;
  await conn.write(
    new TextEncoder().encode(`${requestLine}\r\n${lines}${length}Connection: close\r\n\r\n${body}`),
  );
  const text = await new Response(conn.readable).text();
  const split = text.indexOf("\r\n\r\n");
  const head = text.slice(0, split);
  return { status: Number(head.split(" ")[1]), head, body: text.slice(split + 4) };
}

test("startProxy() refuses a Host that does not name its listen address (DNS rebinding)", async () => {
  await using up = await startServer(() => new Response("ok"));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: (n) => n === "T" ? "rebind-credential-1" : undefined,
    accessLog: false,
  });
  const port = proxy.addr.port;
  const get = (host: string) =>
    raw(port, "GET /api/2.0/mlflow/experiments/search HTTP/1.1", { host });
  for (
    const host of [
      `rebind.attacker.example:${port}`,
      "rebind.attacker.example",
      `localhost.:${port}`,
      `127.0.0.1:${port + 1 === 65536 ? 1 : port + 1}`,
      `127.0.0.2:${port}`,
      `[::1]:${port}`,
      `127.0.0.1:${port}@evil.example`,
    ]
  ) {
    const res = await get(host);
    assertEquals(res.status, 403, `served Host ${host}`);
    const body = JSON.parse(res.body);
    assertEquals(body.error_code, "PERMISSION_DENIED");
    assertStringIncludes(body.message, `answers only to "127.0.0.1:${port}", "localhost:${port}"`);
    assert(!res.body.includes("rebind-credential-1"));
  }
  // Health and metrics are the proxy's own pages: the same rule.
  assertEquals(
    (await raw(port, "GET /__mlflow-secrets-auth/metrics HTTP/1.1", {
      host: `rebind.attacker.example:${port}`,
    })).status,
    403,
  );
  assertEquals(up.received.length, 0);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`]) {
    assertEquals((await get(host)).status, 200, `refused Host ${host}`);
  }
  assertEquals(up.received.length, 3);
  assertEquals(up.received[0]!.headers.get("authorization"), "Bearer rebind-credential-1");
  assertEquals(proxy.metrics.rejected.host, 8);
});

test("startProxy() serves the names given in allowedHosts and no others", async () => {
  await using up = await startServer(() => new Response("ok"));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: (n) => n === "T" ? "tok-1" : undefined,
    accessLog: false,
    allowedHosts: ["mlflow-proxy.corp", "alias.corp:8443"],
  });
  const port = proxy.addr.port;
  const status = async (host: string) =>
    (await raw(port, "GET /api/2.0/mlflow/experiments/search HTTP/1.1", { host })).status;
  assertEquals(await status(`mlflow-proxy.corp:${port}`), 200);
  assertEquals(await status("mlflow-proxy.corp"), 200);
  assertEquals(await status("alias.corp:8443"), 200);
  assertEquals(await status(`alias.corp:${port}`), 403);
  assertEquals(await status(`127.0.0.1:${port}`), 200);
  assertEquals(await status(`other.corp:${port}`), 403);
});

test("startProxy() refuses cross-site browser requests before they reach the upstream", async () => {
  await using up = await startServer(() => new Response("ok"));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: (n) => n === "T" ? "csrf-credential-1" : undefined,
    accessLog: false,
  });
  const port = proxy.addr.port;
  const host = `127.0.0.1:${port}`;
  const post = (extra: Record<string, string>) =>
    raw(port, "POST /api/2.0/mlflow/experiments/create HTTP/1.1", {
      host,
      "content-type": "text/plain",
      ...extra,
    }, '{"name":"planted-by-evil"}');
  const refused: Record<string, string>[] = [
    { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
    { origin: "https://evil.example" },
    { origin: "null" },
    { origin: `http://rebind.attacker.example:${port}` },
    { origin: `http://127.0.0.1:${port}`, "sec-fetch-site": "same-site" },
    { "sec-fetch-site": "cross-site" },
    { "sec-fetch-site": "Same-Site" },
  ];
  for (const headers of refused) {
    const res = await post(headers);
    assertEquals(res.status, 403, `forwarded ${JSON.stringify(headers)}`);
    const body = JSON.parse(res.body);
    assertEquals(body.error_code, "PERMISSION_DENIED");
    assertStringIncludes(body.message, "must not use its credential");
  }
  assertEquals(up.received.length, 0);
  assertEquals(proxy.metrics.rejected.crossSite, refused.length);
  // The proxy's own origin, a user typing the URL, and clients that are not browsers: served.
  const served: Record<string, string>[] = [
    { origin: `http://127.0.0.1:${port}`, "sec-fetch-site": "same-origin" },
    { origin: `http://localhost:${port}` },
    { "sec-fetch-site": "none" },
    {},
  ];
  for (const headers of served) {
    assertEquals((await post(headers)).status, 200, `refused ${JSON.stringify(headers)}`);
  }
  assertEquals(up.received.length, 4);
  assertEquals(up.received[0]!.headers.get("authorization"), "Bearer csrf-credential-1");
});

test("startProxy() never builds a Location from the request's Host", async () => {
  await using up = await startServer((req) =>
    new Response(null, {
      status: 302,
      headers: { location: `${new URL(req.url).origin}/next?a=1` },
    })
  );
  const profile = profileFor(up.origin);
  const env = (n: string) => n === "T" ? "tok-1" : undefined;
  // Even a proxy told to serve any Host answers with its own URL.
  await using open = await startProxy(profile, {
    upstream: up.origin,
    env,
    accessLog: false,
    allowedHosts: ["*"],
  });
  const port = open.addr.port;
  const res = await raw(port, "GET /start HTTP/1.1", { host: `attacker.example:${port}` });
  assertEquals(res.status, 302);
  assertStringIncludes(res.head.toLowerCase(), `\r\nlocation: ${open.url}/next?a=1`);
  assert(!res.head.includes("attacker.example"), res.head);
  // By default that Host does not even get an answer from the upstream.
  await using strict = await startProxy(profile, { upstream: up.origin, env, accessLog: false });
  const refused = await raw(strict.addr.port, "GET /start HTTP/1.1", {
    host: `attacker.example:${strict.addr.port}`,
  });
  assertEquals(refused.status, 403);
  assert(!refused.head.toLowerCase().includes("location"));
});

test("startProxy() keeps serving curl, which sends its own Host and no Origin", async () => {
  await using up = await startServer((req) =>
    Response.json({ auth: req.headers.get("authorization") })
  );
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: (n) => n === "T" ? "curl-credential-1" : undefined,
    accessLog: false,
  });
  for (const base of [proxy.url, `http://localhost:${proxy.addr.port}`]) {
    const out = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--noproxy",
        "*",
        "-X",
        "POST",
        "-d",
        "{}",
        `${base}/api/2.0/mlflow/runs/create`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), {
      auth: "Bearer curl-credential-1",
    });
  }
});

test("createRequestGuard() bound to every interface accepts IP literals at its port, names only when listed", () => {
  const guard = createRequestGuard({ hostname: "0.0.0.0", port: 5055 }, ["proxy.corp"]);
  assertEquals(guard.check("10.1.2.3:5055", null, null), undefined);
  assertEquals(guard.check("[fd00::1]:5055", null, null), undefined);
  assertEquals(guard.check("localhost:5055", null, null), undefined);
  assertEquals(guard.check("proxy.corp", null, null), undefined);
  assertEquals(guard.check("10.1.2.3:5056", null, null)?.status, 403);
  assertEquals(guard.check("rebind.attacker.example:5055", null, null)?.status, 403);
  assertEquals(guard.check(null, null, null)?.status, 400);
  assertEquals(guard.check("proxy.corp", "https://proxy.corp", "same-origin"), undefined);
  assertEquals(guard.check("proxy.corp", "https://evil.example", null)?.reason, "cross_site");
  const v6 = createRequestGuard({ hostname: "::1", port: 80 });
  assertEquals(v6.check("[::1]", null, null), undefined);
  assertEquals(v6.check("[::1]:80", "http://[::1]", null), undefined);
  assertEquals(v6.check("127.0.0.1", null, null)?.status, 403);
  assertEquals(v6.accepted, ["[::1]:80", "localhost:80"]);
});
