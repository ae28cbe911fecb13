/**
 * A client that goes away cancels its upstream request: while the proxy waits for the upstream's
 * answer, while it streams the answer back, and while it streams the client's body up. The
 * upstream, a raw TCP server, must see its connection close within a second.
 */

import { parseProfile } from "../../mod.ts";
import { startProxy } from "../../http/proxy.ts";
import { assert, assertEquals } from "../_assert.ts";
import { deadlineTest } from "../_deadline.ts";

/** Every test here talks over sockets: it fails after its deadline instead of hanging. */
const test = deadlineTest(60);

const encoder = new TextEncoder();

/** A raw upstream: reports each request head, then does what `answer` says, and reports the close. */
function rawUpstream(answer: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const gotHead = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(1 << 16);
        let head = "";
        while (!head.includes("\r\n\r\n")) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          head += new TextDecoder().decode(buf.subarray(0, n));
        }
        gotHead.resolve();
        await answer(conn).catch(() => {});
        // Read (and drop) until the proxy closes the connection.
        while (true) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
        }
        closed.resolve();
        conn.close();
      })();
    }
  })().catch(() => {});
  const origin = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  return {
    origin,
    gotHead: gotHead.promise,
    closed: closed.promise,
    async close() {
      listener.close();
      await serving;
    },
  };
}

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

/** Resolves true if `p` settles within `ms`. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(() => {
      clearTimeout(timer);
      resolve(true);
    }, () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const cases: {
  name: string;
  answer: (conn: Deno.Conn) => Promise<void>;
  request: (port: number) => string;
  body?: number;
  readFirst?: boolean;
}[] = [
  {
    name: "while the upstream has not answered",
    answer: async () => {},
    request: (port) => `GET /slow HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
  },
  {
    name: "in the middle of the response",
    answer: async (conn) => {
      await conn.write(encoder.encode(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n" +
          `content-length: ${100 * 1024 * 1024}\r\n\r\n`,
      ));
      await conn.write(new Uint8Array(64 * 1024));
    },
    request: (port) => `GET /artifact HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
    readFirst: true,
  },
  {
    name: "in the middle of the request body",
    answer: async () => {},
    request: (port) =>
      `PUT /upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-length: ${
        8 * 1024 * 1024
      }\r\n\r\n`,
    body: 2 * 1024 * 1024,
  },
];

for (const c of cases) {
  test(`startProxy() cancels the upstream request when the client goes away ${c.name}`, async () => {
    const up = rawUpstream(c.answer);
    const proxy = await startProxy(profileFor(up.origin), {
      upstream: up.origin,
      env: (n) => n === "T" ? "tok-1" : undefined,
      accessLog: false,
    });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: proxy.addr.port });
    try {
      await client.write(encoder.encode(c.request(proxy.addr.port)));
      if (c.body !== undefined) await client.write(new Uint8Array(c.body).fill(1));
      assert(await within(up.gotHead, 5_000), "the request did not reach the upstream");
      if (c.readFirst) {
        const n = await client.read(new Uint8Array(1024));
        assert(n !== null && n > 0, "no response bytes before the close");
      }
      client.close();
      assert(await within(up.closed, 1_000), "the upstream connection stayed open");
      // The proxy is still serving after that.
      const health = await fetch(`${proxy.url}/__mlflow-secrets-auth/health`);
      assertEquals(health.status, 200);
      await health.body?.cancel();
    } finally {
      try {
        client.close();
      } catch {
        // Closed above.
      }
      await proxy.shutdown();
      await up.close();
    }
  });
}
