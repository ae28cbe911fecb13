/**
 * The proxy's HTTP/1.1 server, over `Deno.listen`: it owns the accept loop, so that it survives
 * resource exhaustion, and parses requests strictly, so that nothing ambiguous reaches the
 * upstream.
 *
 * Why not `Deno.serve` or `node:http` (measured with Deno 2.9.6, `ulimit -n 1024`, 2,000 idle TCP
 * connections):
 * - `Deno.serve` exits the process: `Uncaught (in promise) Http: Error: Too many open files`. It
 *   offers no hook on accept, no connection bound, no header or idle timeouts.
 * - `node:http` (with `maxConnections`, `headersTimeout`, `keepAliveTimeout`) survived only while
 *   its bound stayed under the descriptor limit (500: it dropped the excess and served again
 *   afterwards). Once `accept()` hit EMFILE (bound 5,000) it stayed up but answered nothing, even
 *   after the flood was gone; it offers no hook on accept errors and no shedding of idle
 *   connections.
 * - An accept loop of our own over `Deno.listen` sees EMFILE as an ordinary rejected `accept()`,
 *   backs off, sheds idle connections, and serves again as soon as descriptors are free.
 *
 * What it does:
 * - At most `maxConnections` connections. Past the bound, the connection that has waited longest
 *   for a request is closed to make room; when none is idle, the new one gets 503 and is closed.
 * - A request head must arrive whole within `headersTimeoutMs` of its first byte (a fresh
 *   connection gets the same time for its first byte), so slow-header clients cannot hold
 *   connections; a keep-alive connection is closed after `keepAliveTimeoutMs` without a request;
 *   a body or a response that makes no progress for `idleTimeoutMs` ends the connection.
 * - Strict HTTP/1.1 (RFC 9112): request line `METHOD /origin-form HTTP/1.1` (or 1.0); refused
 *   with 400: absolute-form and asterisk targets, obs-fold, bare LF or CR, whitespace before a
 *   colon, invalid names or values, Content-Length with Transfer-Encoding, more than one
 *   Content-Length (even equal), a Content-Length that is not digits, a missing or repeated Host,
 *   a body on GET or HEAD; 431 for a head over `maxHeaderBytes` or over 100 fields; 501 for
 *   CONNECT and any transfer coding but `chunked`; 505 for another HTTP version; 417 for an
 *   `Expect` other than `100-continue`.
 * - Bodies stream both ways, `Content-Length` or chunked (chunked toward an HTTP/1.1 client
 *   when the length is unknown); HEAD, 204 and 304 answers carry no body. A body of known length
 *   up to 64 KiB is sent with the head in one write.
 * - A client that goes away before its answer is written (end of stream while its body is read,
 *   while the handler waits, or while the answer streams) aborts the request's `signal`, so the
 *   handler can cancel what it started upstream.
 * - Keep-alive and pipelining: requests on one connection are answered one at a time, in order;
 *   bytes after a request wait in the buffer until its answer is written. A request whose body
 *   was not read to the end closes the connection after its answer.
 *
 * This file owns the accept loop, the bounds and timeouts and the connection loop. The request
 * head parser is in `_server_head.ts`, a connection's buffer in `_server_connection.ts`, the
 * request body reader in `_server_body.ts`, the response writer in `_server_writer.ts`.
 *
 * @module
 */

import { Connection, type Phase, readHead } from "./_server_connection.ts";
import { HttpParseError, parseRequestHead, type RequestHead } from "./_server_head.ts";
import { requestBody } from "./_server_body.ts";
import { writeResponse, writeSimple } from "./_server_writer.ts";

const encoder = new TextEncoder();

/** Options of {@linkcode serveHttp}. */
export interface HttpServerOptions {
  /** Bound listener (`Deno.listen`). The server closes it at shutdown. */
  readonly listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  /** Most connections open at once. */
  readonly maxConnections: number;
  /** Time for a whole request head, from its first byte (or from accept). */
  readonly headersTimeoutMs: number;
  /** Time a connection may wait for its next request. */
  readonly keepAliveTimeoutMs: number;
  /** Time a body read or a response write may make no progress. */
  readonly idleTimeoutMs: number;
  /** Largest request head (request line and fields). */
  readonly maxHeaderBytes: number;
  /** Told about failures that are not a client's fault (e.g. the handler threw). */
  readonly onError: (error: unknown) => Response;
  /** Told when accept fails (descriptors exhausted), at most once per second. */
  readonly onAcceptError?: (error: unknown, open: number) => void;
}

/** Connection counts, for metrics. */
export interface HttpServerStats {
  /** Connections open now. */
  readonly open: number;
  /** Connections accepted since start. */
  readonly accepted: number;
  /** Connections closed to make room (idle ones past the bound, or on EMFILE). */
  readonly shed: number;
  /** Connections refused with 503 past the bound. */
  readonly refused: number;
  /** Connections closed by a timeout (head, keep-alive, idle body or write). */
  readonly timedOut: number;
  /** Requests refused by the parser (400, 431, 501, 505, 417). */
  readonly malformed: number;
  /** Failed `accept()` calls (EMFILE and the like). */
  readonly acceptErrors: number;
}

/** The addresses of a connection; one object per connection, shared by its requests. */
export interface ConnectionInfo {
  /** The peer. */
  readonly remoteAddr: Deno.NetAddr;
  /** This end (the listen address and port). */
  readonly localAddr: Deno.NetAddr;
}

/** A running server. */
export interface HttpServer {
  readonly addr: Deno.NetAddr;
  /** Resolves when the accept loop and every connection have ended. */
  readonly finished: Promise<void>;
  readonly stats: HttpServerStats;
  /** Stops accepting, closes idle connections, lets requests in progress finish. */
  shutdown(): Promise<void>;
  /** Closes every connection now. */
  closeAll(): void;
}

/**
 * Serves HTTP/1.1 on a bound listener.
 *
 * @param options Listener, bounds and timeouts.
 * @param handler Answers one request; `info` holds the peer's and this end's addresses, and is the
 *   same object for every request of one connection (a key for what is known per connection).
 * @returns The running server.
 */
export function serveHttp(
  options: HttpServerOptions,
  handler: (req: Request, info: ConnectionInfo) => Promise<Response>,
): HttpServer {
  const listener = options.listener;
  const addr = listener.addr;
  const base = `http://${
    addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
  }:${addr.port}`;
  const open = new Set<Connection>();
  const idle = new Set<Connection>(); // oldest first
  let closing = false;
  const stats = {
    open: 0,
    accepted: 0,
    shed: 0,
    refused: 0,
    timedOut: 0,
    malformed: 0,
    acceptErrors: 0,
  };
  const tasks = new Set<Promise<void>>();
  let lastAcceptReport = -Infinity;

  const setPhase = (c: Connection, phase: Phase, ms: number): void => {
    c.phase = phase;
    c.deadline = ms === Infinity ? Infinity : performance.now() + ms;
    if (phase === "idle") {
      idle.delete(c);
      idle.add(c);
    } else {
      idle.delete(c);
    }
  };

  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const c of open) {
      if (c.deadline <= now) {
        stats.timedOut++;
        c.close();
      }
    }
  }, 250);
  Deno.unrefTimer(watchdog);

  const shedOldestIdle = (): boolean => {
    const oldest = idle.values().next();
    if (oldest.done) return false;
    idle.delete(oldest.value);
    stats.shed++;
    oldest.value.close();
    return true;
  };

  const refuse = (conn: Deno.TcpConn): void => {
    stats.refused++;
    const body = '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"The auth proxy is at its ' +
      'connection limit; retry shortly"}';
    const bytes = encoder.encode(
      `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n` +
        `connection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    const done = (): void => {
      try {
        conn.close();
      } catch {
        // Gone.
      }
    };
    // One write; a client that does not read it is closed anyway.
    const timer = setTimeout(done, 1000);
    conn.write(bytes).catch(() => {}).finally(() => {
      clearTimeout(timer);
      done();
    });
  };

  const acceptLoop = async (): Promise<void> => {
    let backoff = 5;
    while (!closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing || error instanceof Deno.errors.BadResource) break;
        // EMFILE, ENFILE, ENOBUFS...: the listener stays; make room and try again.
        stats.acceptErrors++;
        const now = performance.now();
        if (now - lastAcceptReport > 1000) {
          lastAcceptReport = now;
          options.onAcceptError?.(error, open.size);
        }
        shedOldestIdle();
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 500);
        continue;
      }
      backoff = 5;
      stats.accepted++;
      if (open.size >= options.maxConnections && !shedOldestIdle()) {
        refuse(conn);
        continue;
      }
      const c = new Connection(conn);
      open.add(c);
      stats.open = open.size;
      setPhase(c, "idle", options.headersTimeoutMs);
      const task = serveConnection(c).catch(() => {}).finally(() => {
        c.close();
        open.delete(c);
        idle.delete(c);
        stats.open = open.size;
        tasks.delete(task);
      });
      tasks.add(task);
    }
  };

  const serveConnection = async (c: Connection): Promise<void> => {
    try {
      c.conn.setNoDelay(true);
    } catch {
      // Not a TCP socket option here.
    }
    const info: ConnectionInfo = { remoteAddr: c.conn.remoteAddr, localAddr: c.conn.localAddr };
    let first = true;
    while (!c.closed) {
      // Wait for a request: a fresh connection gets the head timeout, a kept-alive one the
      // keep-alive timeout, both counted while nothing has arrived.
      if (c.start === c.end) {
        setPhase(c, "idle", first ? options.headersTimeoutMs : options.keepAliveTimeoutMs);
        if (closing && !first) return;
        let more: boolean;
        try {
          more = await c.fill(options.maxHeaderBytes);
        } catch {
          return;
        }
        if (!more) return;
      }
      first = false;
      setPhase(c, "head", options.headersTimeoutMs);
      let head: RequestHead;
      try {
        const text = await readHead(c, options.maxHeaderBytes);
        if (text === undefined) return;
        head = parseRequestHead(text);
      } catch (error) {
        if (error instanceof HttpParseError) {
          stats.malformed++;
          await writeSimple(
            c,
            error.status,
            `The auth proxy refused a malformed request: ${error.message}`,
          );
        }
        return;
      }
      // Aborted when the client goes away before its answer is written (the handler cancels the
      // upstream request). Watched once the body is read, so no body byte is read ahead.
      const abort = new AbortController();
      let watching = true;
      const watchClose = async (): Promise<void> => {
        while (watching && !c.closed) {
          // Bytes of a pipelined request fill the buffer: stop watching rather than grow it.
          if (c.end - c.start >= c.buf.length) return;
          const more = await c.fill(c.buf.length).catch(() => false);
          if (!more) {
            if (watching) gone();
            return;
          }
        }
      };
      const gone = (): void => abort.abort(new DOMException("The client went away", "AbortError"));
      const body = requestBody(c, head, options.idleTimeoutMs, setPhase, {
        complete: () => void watchClose(),
        gone,
      });
      let request: Request;
      try {
        request = new Request(`${base}${head.target}`, {
          method: head.method,
          headers: head.fields as [string, string][],
          signal: abort.signal,
          ...(body.stream === null ? {} : { body: body.stream, duplex: "half" }),
        } as RequestInit);
      } catch {
        stats.malformed++;
        await writeSimple(
          c,
          400,
          "The auth proxy refused a malformed request: its target or a field",
        );
        return;
      }
      setPhase(c, "handler", Infinity);
      let response: Response;
      try {
        response = await handler(request, info);
      } catch (error) {
        response = options.onError(error);
      }
      if (abort.signal.aborted) {
        // The client went away: nobody to answer.
        await response.body?.cancel().catch(() => {});
        return;
      }
      if (body.failed !== undefined) {
        // The client broke the body's framing: its answer is 400, whatever the handler said.
        await response.body?.cancel().catch(() => {});
        stats.malformed++;
        await writeSimple(c, 400, `The auth proxy refused a malformed request: ${body.failed}`);
        return;
      }
      // A body the handler left unread ends the connection: say so in the answer.
      const keepAlive = !head.close && !closing && head.minor === 1 && body.complete();
      setPhase(c, "write", options.idleTimeoutMs);
      const reusable = await writeResponse(
        c,
        head,
        response,
        keepAlive,
        () => setPhase(c, "write", options.idleTimeoutMs),
      );
      watching = false;
      if (!reusable) gone();
      if (!body.complete() && !c.closed) {
        // The handler answered without reading the whole body (e.g. a write the leak guard
        // refused): the connection ends, but not before the client can read the answer.
        setPhase(c, "body", Infinity);
        await linger(c);
        return;
      }
      if (!reusable || !keepAlive) return;
    }
  };

  const finished = acceptLoop().then(async () => {
    while (tasks.size > 0) await Promise.all([...tasks]);
    clearInterval(watchdog);
  });

  let stopping: Promise<void> | undefined;
  return {
    addr,
    finished,
    get stats(): HttpServerStats {
      return { ...stats, open: open.size };
    },
    shutdown() {
      stopping ??= (async () => {
        closing = true;
        try {
          listener.close();
        } catch {
          // Closed.
        }
        for (const c of [...idle]) c.close();
        await finished;
      })();
      return stopping;
    },
    closeAll() {
      for (const c of [...open]) c.close();
    },
  };
}

/** How long, at most, a connection lingers after an answer that left the request body unread. */
const LINGER_MS = 2_000;
/** How much of that unread body a lingering connection reads and drops, at most. */
const LINGER_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Reads and drops what the client still sends of a body the handler left unread, for at most
 * {@linkcode LINGER_MS} or {@linkcode LINGER_MAX_BYTES}, before the connection is closed: closing
 * with unread bytes would reset the connection, and a reset can discard the answer before the
 * client has read it (RFC 9112 section 9.6).
 */
async function linger(c: Connection): Promise<void> {
  const timer = setTimeout(() => c.close(), LINGER_MS);
  try {
    let dropped = 0;
    while (dropped < LINGER_MAX_BYTES) {
      const chunk = await c.readDirect(LINGER_MAX_BYTES - dropped).catch(() => null);
      if (chunk === null) return;
      dropped += chunk.byteLength;
    }
  } finally {
    clearTimeout(timer);
  }
}
