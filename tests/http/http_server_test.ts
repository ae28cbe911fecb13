/**
 * The proxy's own HTTP/1.1 server: strict parsing (what request smuggling needs is refused),
 * bodies both ways, keep-alive and pipelining, connection bounds and timeouts.
 */

import { parseProfile } from "../../mod.ts";
import { HttpParseError, parseRequestHead } from "../../http/_server_head.ts";
import { type ProxyOptions, startProxy } from "../../http/proxy.ts";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../_assert.ts";
import { startServer, type TestServer } from "../_servers.ts";
import { deadlineTest } from "../_deadline.ts";

/** Every test here talks over sockets: it fails after its deadline instead of hanging. */
const test = deadlineTest(60);

const encoder = new TextEncoder();

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

async function proxyFor(up: TestServer, extra: Partial<ProxyOptions> = {}) {
  return await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: (n) => n === "T" ? "server-test-token" : undefined,
    accessLog: false,
    ...extra,
  });
}

/** One parsed response: status, lower-cased head, body. */
interface Answer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/**
 * Writes raw bytes, then reads until the server closes (or 5 s pass) and splits the answers
 * (Content-Length or chunked framing).
 */
async function exchange(
  port: number,
  ...writes: (string | Uint8Array)[]
): Promise<Answer[]> {
  return splitAnswers(await exchangeText(port, ...writes));
}

async function exchangeText(port: number, ...writes: (string | Uint8Array)[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    for (const w of writes) await conn.write(typeof w === "string" ? encoder.encode(w) : w);
    return await new Response(conn.readable).text().catch(() => "");
  } finally {
    clearTimeout(timer);
  }
}

/** Splits answers; `headAnswers` lists the indexes answering HEAD (a length, no body). */
function splitAnswers(text: string, headAnswers: readonly number[] = []): Answer[] {
  const out: Answer[] = [];
  let rest = text;
  while (rest.length > 0) {
    const split = rest.indexOf("\r\n\r\n");
    if (split < 0) throw new Error(`a cut answer: ${JSON.stringify(rest)}`);
    const head = rest.slice(0, split).toLowerCase();
    rest = rest.slice(split + 4);
    const status = Number(head.split(" ")[1]);
    const length = /\r\ncontent-length: (\d+)/.exec(head);
    let body = "";
    if (status === 100 || headAnswers.includes(out.length)) {
      // Interim, or an answer to HEAD: no body.
    } else if (/\r\ntransfer-encoding: chunked/.test(head)) {
      while (true) {
        const eol = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, eol), 16);
        rest = rest.slice(eol + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else if (length !== null) {
      body = rest.slice(0, Number(length[1]));
      rest = rest.slice(Number(length[1]));
    } else if (!head.startsWith("http/1.1 204") && !head.startsWith("http/1.1 304")) {
      body = rest;
      rest = "";
    }
    out.push({ status, head, body });
  }
  return out;
}

test("parseRequestHead() refuses what request smuggling and confused parsers need", () => {
  const ok = "Host: a\r\n";
  const cases: [string, number][] = [
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked", 501],
    ["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked", 501],
    ["POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two", 400], // obs-fold
    ["GET / HTTP/1.1\r\nHost: a\r\n\tX: y", 400],
    ["GET / HTTP/1.1\r\nHost : a", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc", 400],
    ["GET / HTTP/1.1\nHost: a", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nX: \x00", 400],
    ["GET http://evil.example/ HTTP/1.1\r\nHost: a", 400],
    ["OPTIONS * HTTP/1.1\r\nHost: a", 400],
    ["GET evil.example:80 HTTP/1.1\r\nHost: a", 400],
    ["CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443", 501],
    ["TRACE / HTTP/1.1\r\nHost: a", 501],
    ["GET / HTTP/2.0\r\nHost: a", 505],
    ["GET / HTTP/1.1 \r\nHost: a", 400],
    ["GET  / HTTP/1.1\r\nHost: a", 400],
    ["GET / HTTP/1.1", 400], // no Host
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3", 400], // a body on GET
    ["POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok", 417],
    [`GET / HTTP/1.1\r\n${ok}${"X-F: v\r\n".repeat(100)}X-Last: v`, 431],
  ];
  for (const [head, status] of cases) {
    const error = assertThrows(() => parseRequestHead(head), HttpParseError);
    assertEquals((error as HttpParseError).status, status, JSON.stringify(head));
  }
  const good = parseRequestHead(
    "POST /api/2.0/mlflow/runs/create?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nX-E:\r\n" +
      "Connection: keep-alive",
  );
  assertEquals(good.body, { kind: "length", length: 12 });
  assertEquals(good.fields[2], ["x-e", ""]);
  assertEquals(good.close, false);
  assertEquals(parseRequestHead("GET / HTTP/1.0").close, true);
  assertEquals(
    parseRequestHead("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked").body.kind,
    "chunked",
  );
});

test("startProxy() refuses ambiguous requests on the wire and sends nothing upstream", async () => {
  await using up = await startServer(() => new Response("ok"));
  await using proxy = await proxyFor(up);
  const port = proxy.addr.port;
  const host = `Host: 127.0.0.1:${port}\r\n`;
  const cases: [string, number, string][] = [
    [
      `POST /a HTTP/1.1\r\n${host}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `0\r\n\r\nGET /smuggled HTTP/1.1\r\n${host}\r\n`,
      400,
      "both Content-Length and Transfer-Encoding",
    ],
    [
      `POST /a HTTP/1.1\r\n${host}Content-Length: 0\r\nContent-Length: 44\r\n\r\n`,
      400,
      "more than one Content-Length",
    ],
    [`GET /a HTTP/1.1\r\n${host}X-A: 1\r\n  folded\r\n\r\n`, 400, "obs-fold"],
    [`GET http://evil.example/a HTTP/1.1\r\n${host}\r\n`, 400, "absolute-form"],
    [`CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n`, 501, "CONNECT"],
    [`GET /a HTTP/1.1\r\n${host}X-Big: ${"a".repeat(70_000)}\r\n\r\n`, 431, "too large"],
    [`POST /a HTTP/1.1\r\n${host}Transfer-Encoding: gzip\r\n\r\n`, 501, "transfer coding"],
    [
      `POST /a HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
      400,
      "chunk size is malformed",
    ],
  ];
  for (const [request, status, why] of cases) {
    const answers = await exchange(port, request);
    assertEquals(answers.length, 1, `${why}: ${JSON.stringify(answers)}`);
    assertEquals(answers[0]!.status, status, why);
    assertStringIncludes(answers[0]!.body, why);
    assertStringIncludes(answers[0]!.head, "connection: close");
  }
  assertEquals(up.received.map((r) => new URL(r.url).pathname), []);
  assertEquals(proxy.metrics.connections.malformed, cases.length);
});

test("startProxy() answers pipelined requests in order and decodes chunked bodies", async () => {
  await using up = await startServer((req, body) =>
    new Response(`${req.method} ${new URL(req.url).pathname} ${body}`)
  );
  await using proxy = await proxyFor(up);
  const host = `Host: 127.0.0.1:${proxy.addr.port}\r\n`;
  const answers = await exchange(
    proxy.addr.port,
    `POST /one HTTP/1.1\r\n${host}Content-Length: 5\r\n\r\nhello` +
      `POST /two HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n` +
      `3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n` +
      `GET /three HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
  );
  assertEquals(answers.map((a) => [a.status, a.body]), [
    [200, "POST /one hello"],
    [200, "POST /two abcde"],
    [200, "GET /three "],
  ]);
  assertEquals(up.received.map((r) => r.headers.get("authorization")), [
    "Bearer server-test-token",
    "Bearer server-test-token",
    "Bearer server-test-token",
  ]);
  assertStringIncludes(answers[2]!.head, "connection: close");
});

test("startProxy() sends no body for HEAD, 204 and 304, and sends 100 Continue when asked", async () => {
  await using up = await startServer((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/204") return new Response(null, { status: 204 });
    if (path === "/304") return new Response(null, { status: 304, headers: { etag: '"e"' } });
    return new Response("twelve bytes");
  });
  await using proxy = await proxyFor(up);
  const host = `Host: 127.0.0.1:${proxy.addr.port}\r\n`;
  const answers = splitAnswers(
    await exchangeText(
      proxy.addr.port,
      `HEAD /h HTTP/1.1\r\n${host}\r\nGET /204 HTTP/1.1\r\n${host}\r\n` +
        `GET /304 HTTP/1.1\r\n${host}\r\nGET /last HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
    ),
    [0],
  );
  assertEquals(answers.map((a) => a.status), [200, 204, 304, 200]);
  assertStringIncludes(answers[0]!.head, "content-length: 12");
  assertEquals(answers[0]!.body, "");
  assertEquals(answers[3]!.body, "twelve bytes");
  // Expect: 100-continue: the interim answer comes before the client sends the body.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.addr.port });
  try {
    await conn.write(encoder.encode(
      `POST /c HTTP/1.1\r\n${host}Content-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    ));
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "HTTP/1.1 100 Continue\r\n\r\n");
    await conn.write(encoder.encode("body"));
    const rest = await new Response(conn.readable).text();
    assert(rest.startsWith("HTTP/1.1 200"), rest);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by reading to the end.
    }
  }
});

test("startProxy() closes slow-header and idle keep-alive connections", async () => {
  await using up = await startServer(() => new Response("ok"));
  await using proxy = await proxyFor(up, { headersTimeoutMs: 300, keepAliveTimeoutMs: 300 });
  const port = proxy.addr.port;
  // Slowloris: one byte of the head every 100 ms never completes it in time.
  const slow = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = `GET /a HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Pad: ${"a".repeat(100)}\r\n\r\n`;
  let closedAfter = -1;
  for (let i = 0; i < head.length; i++) {
    try {
      await slow.write(encoder.encode(head[i]!));
    } catch {
      closedAfter = i;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
    if (i === 30) {
      // By now (3 s) the server must have closed: a read sees the end.
      const n = await slow.read(new Uint8Array(16)).catch(() => null);
      assertEquals(n, null);
      closedAfter = i;
      break;
    }
  }
  slow.close();
  assert(closedAfter >= 0 && closedAfter < head.length, "the slow head was accepted");
  // Keep-alive: after one answer, the idle connection is closed by the server.
  const kept = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await kept.write(encoder.encode(`GET /a HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    const text = await new Response(kept.readable).text(); // ends when the server closes
    assertEquals(splitAnswers(text).map((a) => a.status), [200]);
  } catch (error) {
    kept.close();
    throw error;
  }
  assert(proxy.metrics.connections.timedOut >= 2, JSON.stringify(proxy.metrics.connections));
  assertEquals(up.received.length, 1);
});

test("startProxy() past maxConnections closes the longest-idle connection, else answers 503", async () => {
  const release = Promise.withResolvers<void>();
  let arrivals = 0;
  const arrived = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  await using up = await startServer(async (req) => {
    if (new URL(req.url).pathname === "/wait") {
      arrived[arrivals++]?.resolve();
      await release.promise;
    }
    return new Response("ok");
  });
  await using proxy = await proxyFor(up, { maxConnections: 2 });
  const port = proxy.addr.port;
  const host = `Host: 127.0.0.1:${port}\r\n`;
  // Two idle connections fill the bound; a third client is still served, and the oldest idle
  // connection is the one closed for it.
  const idle1 = await Deno.connect({ hostname: "127.0.0.1", port });
  await new Promise((r) => setTimeout(r, 50));
  const idle2 = await Deno.connect({ hostname: "127.0.0.1", port });
  await new Promise((r) => setTimeout(r, 50));
  const served = await exchange(port, `GET /a HTTP/1.1\r\n${host}Connection: close\r\n\r\n`);
  assertEquals(served.map((a) => a.status), [200]);
  assertEquals(await idle1.read(new Uint8Array(8)).catch(() => null), null);
  idle1.close();
  idle2.close();
  // Two requests in progress fill it; nothing is idle, so the next connection gets 503.
  const busy = [0, 1].map(() =>
    exchange(port, `GET /wait HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)
  );
  await Promise.all(arrived.map((a) => a.promise));
  const refused = await exchange(port, `GET /a HTTP/1.1\r\n${host}\r\n`);
  assertEquals(refused.map((a) => a.status), [503]);
  assertStringIncludes(refused[0]!.head, "retry-after: 1");
  release.resolve();
  for (const b of await Promise.all(busy)) assertEquals(b.map((a) => a.status), [200]);
  assertEquals(proxy.metrics.connections.refused, 1);
  assert(proxy.metrics.connections.shed >= 1);
});
