import { UpstreamPool } from "../../http/_upstream.ts";
import { parseResponseHead, UpstreamProtocolError } from "../../http/_upstream_head.ts";
import { parseProfile } from "../../mod.ts";
import { startProxy } from "../../http/proxy.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { deadlineTest } from "../_deadline.ts";

const test = deadlineTest(60);
const encoder = new TextEncoder();

/**
 * A raw TCP upstream: reads each request head and answers with `answer(head, index)` bytes;
 * counts connections. `close` after an answer ends that connection.
 */
function rawUpstream(answer: (head: string, n: number) => { bytes: string; close?: boolean }) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  let connections = 0;
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    let buf = "";
    const chunk = new Uint8Array(65536);
    try {
      while (true) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          const n = await conn.read(chunk);
          if (n === null) return;
          buf += new TextDecoder("latin1").decode(chunk.subarray(0, n));
          continue;
        }
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const length = /\r\ncontent-length: (\d+)/i.exec(head);
        while (length !== null && buf.length < Number(length[1])) {
          const n = await conn.read(chunk);
          if (n === null) return;
          buf += new TextDecoder("latin1").decode(chunk.subarray(0, n));
        }
        if (length !== null) buf = buf.slice(Number(length[1]));
        heads.push(head);
        const a = answer(head, heads.length - 1);
        await conn.write(encoder.encode(a.bytes));
        if (a.close) return;
      }
    } catch {
      // Closed.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Closed.
      }
    }
  };
  const loop = (async () => {
    for await (const conn of listener) {
      connections++;
      void serve(conn);
    }
  })().catch(() => {});
  return {
    url: new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`),
    heads,
    get connections() {
      return connections;
    },
    /** Closes the connections open now (as a server's keep-alive timeout does). */
    dropAll() {
      for (const c of conns) c.close();
    },
    async close() {
      listener.close();
      for (const c of conns) c.close();
      await loop;
    },
  };
}

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

test("parseResponseHead() refuses what response splitting and smuggling need", () => {
  const bad: [string, string][] = [
    ["HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked", "both"],
    ["HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2", "more than one Content-Length"],
    ["HTTP/1.1 200 OK\r\ncontent-length: +2", "not a decimal"],
    ["HTTP/1.1 200 OK\r\nx-a: 1\r\n folded", "obs-fold"],
    ["HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked", "other than chunked"],
    ["HTTP/1.1 200 OK\nx-a: 1", "without CRLF"],
    ["HTTP/1.1 200 OK\r\nx a: 1", "not a token"],
    ["HTTP/2 200", "status line"],
    ["HTTP/1.1 20 OK", "status line"],
  ];
  for (const [head, why] of bad) {
    assertThrows(() => parseResponseHead(head), UpstreamProtocolError, why);
  }
  const good = parseResponseHead("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: b");
  assertEquals([good.status, good.reason, good.framing, good.length, good.keepAlive], [
    404,
    "Not Found",
    "length",
    3,
    true,
  ]);
  assertEquals(good.fields, [["content-length", "3"], ["x-a", "b"]]);
});

test("UpstreamPool reuses one socket for sequential requests and passes a Content-Length on", async () => {
  const up = rawUpstream(() => ({ bytes: OK }));
  const pool = new UpstreamPool(up.url);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await pool.request({
        method: "GET",
        target: `/r${i}`,
        headers: [["x-n", String(i)]],
        body: null,
        signal: new AbortController().signal,
      });
      assertEquals(await res.text(), "ok");
    }
    assertEquals(up.connections, 1);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(encoder.encode("abc"));
        c.enqueue(encoder.encode("de"));
        c.close();
      },
    });
    const res = await pool.request({
      method: "PUT",
      target: "/upload",
      headers: [],
      body: { stream: body, length: 5 },
      signal: new AbortController().signal,
    });
    assertEquals(await res.text(), "ok");
    const head = up.heads.at(-1)!;
    assert(/\r\ncontent-length: 5(\r\n|$)/.test(head), head);
    assert(!/transfer-encoding/i.test(head), head);
  } finally {
    pool.close();
    await up.close();
  }
});

test("UpstreamPool sends a GET again on a new socket when the pooled one was closed", async () => {
  const up = rawUpstream(() => ({ bytes: OK }));
  const pool = new UpstreamPool(up.url);
  try {
    const send = async () =>
      await (await pool.request({
        method: "GET",
        target: "/",
        headers: [],
        body: null,
        signal: new AbortController().signal,
      })).text();
    assertEquals(await send(), "ok");
    up.dropAll();
    assertEquals(await send(), "ok");
    assertEquals(up.connections, 2);
  } finally {
    pool.close();
    await up.close();
  }
});

test("startProxy() answers 502 to an upstream response it cannot frame, and sends nothing of it", async () => {
  const up = rawUpstream(() => ({
    bytes:
      "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
    close: true,
  }));
  const profile = parseProfile(
    `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "${up.url.origin}", provider: e, secret: { var: T }, auth: bearer }
`,
    { env: {} },
  );
  const proxy = await startProxy(profile, {
    upstream: up.url.origin,
    env: () => "tok-0123456789",
    accessLog: false,
    logWrite: () => {},
  });
  try {
    const res = await fetch(`${proxy.url}/x`);
    const text = await res.text();
    assertEquals(res.status, 502);
    assert(text.includes("Content-Length and Transfer-Encoding"), text);
  } finally {
    await proxy.shutdown();
    await up.close();
  }
});

test("UpstreamPool rejects when the request is aborted while waiting for the answer", async () => {
  const up = rawUpstream(() => ({ bytes: "" })); // never answers
  const pool = new UpstreamPool(up.url);
  try {
    const abort = new AbortController();
    const pending = pool.request({
      method: "GET",
      target: "/",
      headers: [],
      body: null,
      signal: abort.signal,
    });
    setTimeout(() => abort.abort(new DOMException("gone", "AbortError")), 50);
    await assertRejects(() => pending);
  } finally {
    pool.close();
    await up.close();
  }
});
