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
 * @module
 */

import { directBody } from "./_upstream.ts";

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

/** A request the server refuses before the handler sees it. */
export class HttpParseError extends Error {
  /** The status to answer. */
  readonly status: 400 | 417 | 431 | 501 | 505;
  constructor(status: 400 | 417 | 431 | 501 | 505, message: string) {
    super(message);
    this.name = "HttpParseError";
    this.status = status;
  }
}

/** A parsed request head. */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: 0 | 1;
  /** Field names lower-cased, in order, repeated names kept. */
  readonly fields: readonly (readonly [string, string])[];
  /** Body framing. */
  readonly body:
    | { readonly kind: "none" }
    | { readonly kind: "length"; readonly length: number }
    | {
      readonly kind: "chunked";
    };
  /** The client asked to close after this request (or is HTTP/1.0). */
  readonly close: boolean;
  /** `Expect: 100-continue` was sent. */
  readonly expectContinue: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, SP and HTAB inside; no CTL (NUL, CR, LF, DEL...).
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Origin-form: a path and an optional query, visible ASCII only.
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;
const MAX_FIELDS = 100;
const MAX_CHUNK_LINE = 4096;
/** Largest single read of a request body from the socket. */
const BODY_READ = 256 * 1024;
/** Bodies up to this length are read whole and written with the head. */
const SMALL_BODY = 64 * 1024;

/**
 * Parses a request head (the bytes before the blank line, without it).
 *
 * @param head The head as a binary string (one char per byte).
 * @returns The parsed head.
 * @throws {HttpParseError} for anything outside the strict grammar above.
 */
export function parseRequestHead(head: string): RequestHead {
  if (/\r(?!\n)|(?<!\r)\n/.test(head)) {
    throw new HttpParseError(400, "a line ends without CRLF (bare CR or LF)");
  }
  const lines = head.split("\r\n");
  const requestLine = lines[0]!;
  const parts = requestLine.split(" ");
  if (parts.length !== 3) {
    throw new HttpParseError(400, "the request line is not METHOD SP target SP HTTP/1.1");
  }
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) throw new HttpParseError(400, "the method is not a token");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpParseError(
      /^HTTP\/\d\.\d$/.test(version) ? 505 : 400,
      `the version "${version.slice(0, 16)}" is not HTTP/1.1`,
    );
  }
  if (/^(CONNECT|TRACE|TRACK)$/i.test(method)) {
    throw new HttpParseError(
      501,
      `${method.toUpperCase()} is not supported: this is not a forward proxy`,
    );
  }
  if (!ORIGIN_FORM.test(target)) {
    throw new HttpParseError(
      400,
      /^[a-z][a-z0-9+.-]*:\/\//i.test(target)
        ? "an absolute-form target is not accepted: send the path only"
        : "the request target is not a path (origin-form)",
    );
  }
  const minor = version === "HTTP/1.1" ? 1 : 0;
  const fields: [string, string][] = [];
  if (lines.length - 1 > MAX_FIELDS) {
    throw new HttpParseError(431, `more than ${MAX_FIELDS} header fields`);
  }
  let contentLength: number | undefined;
  let transferEncoding: string | undefined;
  let hosts = 0;
  let connection = "";
  let expect: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith(" ") || line.startsWith("\t")) {
      throw new HttpParseError(400, "obs-fold (a field line starting with whitespace)");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpParseError(400, "a field line has no name and colon");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) {
      throw new HttpParseError(400, "a field name is not a token (whitespace before the colon?)");
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) {
      throw new HttpParseError(400, `field "${name}" has a control character in its value`);
    }
    const lower = name.toLowerCase();
    fields.push([lower, value]);
    switch (lower) {
      case "content-length":
        if (contentLength !== undefined) {
          throw new HttpParseError(400, "more than one Content-Length");
        }
        if (!/^\d{1,15}$/.test(value)) {
          throw new HttpParseError(400, "Content-Length is not a decimal number");
        }
        contentLength = Number(value);
        break;
      case "transfer-encoding":
        if (transferEncoding !== undefined) {
          throw new HttpParseError(400, "more than one Transfer-Encoding");
        }
        transferEncoding = value.toLowerCase();
        break;
      case "host":
        hosts++;
        break;
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        expect = value.toLowerCase();
        break;
    }
  }
  if (minor === 1 && hosts !== 1) {
    throw new HttpParseError(400, hosts === 0 ? "no Host field" : "more than one Host field");
  }
  if (hosts > 1) throw new HttpParseError(400, "more than one Host field");
  let body: RequestHead["body"] = { kind: "none" };
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) {
      throw new HttpParseError(400, "both Content-Length and Transfer-Encoding");
    }
    if (minor === 0) throw new HttpParseError(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (transferEncoding !== "chunked") {
      throw new HttpParseError(501, "a transfer coding other than chunked");
    }
    body = { kind: "chunked" };
  } else if (contentLength !== undefined && contentLength > 0) {
    body = { kind: "length", length: contentLength };
  }
  const upper = method.toUpperCase();
  if (body.kind !== "none" && (upper === "GET" || upper === "HEAD")) {
    throw new HttpParseError(400, `a ${method} request with a body`);
  }
  if (expect !== undefined && expect !== "100-continue") {
    throw new HttpParseError(417, "an Expect other than 100-continue");
  }
  const tokens = connection.split(",").map((t) => t.trim());
  const close = minor === 0 ? !tokens.includes("keep-alive") : tokens.includes("close");
  return {
    method,
    target,
    minor,
    fields,
    body,
    close,
    expectContinue: expect === "100-continue" && minor === 1,
  };
}

type Phase = "idle" | "head" | "body" | "handler" | "write";

/** One connection's state, watched by the server's timer. */
class Connection {
  readonly conn: Deno.TcpConn;
  buf: Uint8Array;
  start = 0;
  end = 0;
  phase: Phase = "idle";
  deadline = 0;
  closed = false;
  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.buf = new Uint8Array(16 * 1024);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
  #reading: Promise<boolean> | undefined;
  /**
   * Reads more bytes into the buffer, growing it up to `max`. Returns false at EOF. Calls made
   * while a read is pending share it (the close watch and the next request's head).
   */
  fill(max: number): Promise<boolean> {
    this.#reading ??= this.#fill(max).finally(() => this.#reading = undefined);
    return this.#reading;
  }
  async #fill(max: number): Promise<boolean> {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buf.length) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else if (this.buf.length < max) {
        const grown = new Uint8Array(Math.min(max, this.buf.length * 2));
        grown.set(this.buf.subarray(0, this.end));
        this.buf = grown;
      } else {
        throw new HttpParseError(431, "the request head is too large");
      }
    }
    const n = await this.conn.read(this.buf.subarray(this.end));
    if (n === null) return false;
    this.end += n;
    return true;
  }
  /** Reads up to `max` bytes into a new array, bypassing the buffer (which must be empty). */
  async readDirect(max: number): Promise<Uint8Array | null> {
    // Into one scratch buffer, then a copy of what arrived: a read returns far less than `max`
    // on loopback, and a fresh 256 KiB array per read would be mostly garbage.
    this.#scratch ??= new Uint8Array(BODY_READ);
    const n = await this.conn.read(this.#scratch.subarray(0, Math.min(max, BODY_READ)));
    return n === null ? null : this.#scratch.slice(0, n);
  }
  #scratch: Uint8Array | undefined;
  /** Takes up to `n` buffered bytes (a copy). */
  take(n: number): Uint8Array {
    const count = Math.min(n, this.end - this.start);
    const out = this.buf.slice(this.start, this.start + count);
    this.start += count;
    return out;
  }
}

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Raised inside a request body stream when the client breaks the framing or goes away. */
class BodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BodyError";
  }
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
      const body = requestBody(c, head, options, setPhase, {
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
      if (!reusable || !keepAlive || !body.complete()) return;
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

/** Reads up to the blank line; the head as a binary string, or undefined at a clean EOF. */
async function readHead(c: Connection, max: number): Promise<string | undefined> {
  // A client may send empty lines before a request line (RFC 9112 section 2.2).
  let scanFrom = c.start;
  while (true) {
    while (c.end - c.start >= 2 && c.buf[c.start] === 13 && c.buf[c.start + 1] === 10) {
      c.start += 2;
      scanFrom = c.start;
    }
    for (
      let i = c.buf.indexOf(10, Math.max(scanFrom, c.start + 3));
      i >= 0 && i < c.end;
      i = c.buf.indexOf(10, i + 1)
    ) {
      if (c.buf[i - 1] === 13 && c.buf[i - 2] === 10 && c.buf[i - 3] === 13) {
        const headEnd = i - 3;
        if (headEnd - c.start > max) throw new HttpParseError(431, "the request head is too large");
        let text = "";
        for (let p = c.start; p < headEnd; p += 8192) {
          text += String.fromCharCode(...c.buf.subarray(p, Math.min(p + 8192, headEnd)));
        }
        c.start = i + 1;
        return text;
      }
    }
    scanFrom = Math.max(c.start, c.end - 3);
    if (c.end - c.start > max) throw new HttpParseError(431, "the request head is too large");
    const before = c.start;
    if (!await c.fill(max + 4)) {
      if (c.end === c.start) return undefined;
      throw new HttpParseError(400, "the connection closed inside the request head");
    }
    // fill() may have moved the bytes to the buffer's start.
    scanFrom -= before - c.start;
  }
}

interface BodyState {
  readonly stream: ReadableStream<Uint8Array> | null;
  /** Set when the client broke the framing: why. */
  readonly failed: string | undefined;
  /** Whether the body was read to its end (the connection can then carry another request). */
  complete(): boolean;
}

function requestBody(
  c: Connection,
  head: RequestHead,
  options: HttpServerOptions,
  setPhase: (c: Connection, phase: Phase, ms: number) => void,
  hooks: { readonly complete: () => void; readonly gone: () => void },
): BodyState {
  const onComplete = hooks.complete;
  if (head.body.kind === "none") {
    onComplete();
    return { stream: null, failed: undefined, complete: () => true };
  }
  let done = false;
  let failed: string | undefined;
  let continued = !head.expectContinue;
  const fail = (why: string): never => {
    failed ??= why;
    throw new BodyError(why);
  };
  // Bytes of the current chunk (or of the whole Content-Length body) still to read.
  let remaining = head.body.kind === "length" ? head.body.length : 0;
  let chunkedState: "size" | "data" | "end" = "size";
  const chunked = head.body.kind === "chunked";
  const more = async (): Promise<void> => {
    setPhase(c, "body", options.idleTimeoutMs);
    let ok: boolean;
    try {
      ok = await c.fill(Math.max(c.buf.length, MAX_CHUNK_LINE * 2));
    } catch {
      ok = false;
    }
    if (!ok) {
      hooks.gone();
      fail("the client closed the connection before the end of the body");
    }
    // Between reads the handler waits on the upstream, which has no deadline here.
    setPhase(c, "handler", Infinity);
  };
  const line = async (): Promise<string> => {
    while (true) {
      for (let i = c.start + 1; i < c.end; i++) {
        if (c.buf[i] === 10) {
          if (c.buf[i - 1] !== 13) fail("a chunk line ends without CRLF");
          const text = String.fromCharCode(...c.buf.subarray(c.start, i - 1));
          c.start = i + 1;
          return text;
        }
      }
      if (c.end - c.start > MAX_CHUNK_LINE) fail("a chunk line is too long");
      await more();
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!continued) {
          continued = true;
          await c.conn.write(CONTINUE);
        }
        while (true) {
          if (chunked && chunkedState === "size") {
            const text = await line();
            const m = /^([0-9A-Fa-f]{1,12})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?$/.exec(text);
            if (m === null) fail("a chunk size is malformed");
            remaining = parseInt(m![1]!, 16);
            if (remaining === 0) {
              // Trailer fields, if any, are read and dropped; then the blank line.
              let trailers = 0;
              while ((await line()) !== "") {
                if (++trailers > MAX_FIELDS) fail("too many trailer fields");
              }
              done = true;
              onComplete();
              controller.close();
              return;
            }
            chunkedState = "data";
          }
          if (chunked && chunkedState === "end") {
            const text = await line();
            if (text !== "") fail("a chunk is longer than its size");
            chunkedState = "size";
            continue;
          }
          if (remaining === 0) {
            done = true;
            onComplete();
            controller.close();
            return;
          }
          let piece: Uint8Array;
          if (c.start === c.end) {
            // Nothing buffered: read the body straight into a chunk of its own (no copy, large
            // reads), never past this body's end.
            setPhase(c, "body", options.idleTimeoutMs);
            const direct = await c.readDirect(Math.min(remaining, BODY_READ)).catch(() => null);
            if (direct === null) {
              hooks.gone();
              fail("the client closed the connection before the end of the body");
            }
            setPhase(c, "handler", Infinity);
            piece = direct!;
          } else {
            piece = c.take(remaining);
          }
          remaining -= piece.byteLength;
          if (remaining === 0 && chunked) chunkedState = "end";
          controller.enqueue(piece);
          if (remaining === 0 && !chunked) {
            done = true;
            onComplete();
            controller.close();
          }
          return;
        }
      } catch (error) {
        // The connection ends after the answer (400), written by the connection loop.
        failed ??= error instanceof BodyError ? error.message : "the body could not be read";
        throw error instanceof BodyError ? error : new BodyError(failed);
      }
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    get failed() {
      return failed;
    },
    complete: () => done,
  };
}

/** Writes the whole buffer; false when the connection is gone. */
async function writeAll(c: Connection, bytes: Uint8Array): Promise<boolean> {
  try {
    let offset = 0;
    while (offset < bytes.byteLength) offset += await c.conn.write(bytes.subarray(offset));
    return true;
  } catch {
    c.close();
    return false;
  }
}

async function writeSimple(c: Connection, status: number, message: string): Promise<void> {
  const body = JSON.stringify({
    error_code: status === 503 ? "TEMPORARILY_UNAVAILABLE" : "BAD_REQUEST",
    message,
  });
  const bytes = encoder.encode(body);
  await writeAll(
    c,
    encoder.encode(
      `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\ncontent-type: application/json\r\n` +
        `connection: close\r\ncontent-length: ${bytes.byteLength}\r\n\r\n${body}`,
    ),
  );
}

/**
 * Writes a response. Returns whether the connection can carry another request.
 */
async function writeResponse(
  c: Connection,
  head: RequestHead,
  response: Response,
  keepAlive: boolean,
  progress: () => void,
): Promise<boolean> {
  const status = response.status;
  const noBody = head.method.toUpperCase() === "HEAD" || status === 204 || status === 304 ||
    status < 200;
  let lines = `HTTP/1.1 ${status} ${response.statusText || REASONS[status] || ""}\r\n`;
  let length: string | null = null;
  for (const [name, value] of response.headers) {
    if (name === "connection" || name === "keep-alive" || name === "transfer-encoding") continue;
    if (name === "content-length") {
      length = value;
      // Written below when there is a body to frame; passed on as it is for HEAD and 304.
      if (!noBody || status === 204) continue;
    }
    lines += `${name}: ${value}\r\n`;
  }
  const body = noBody ? null : response.body;
  if (noBody) await response.body?.cancel().catch(() => {});
  let framing: "none" | "length" | "chunked" | "close" = "none";
  if (body !== null) {
    if (length !== null && /^\d+$/.test(length)) {
      framing = "length";
      lines += `content-length: ${length}\r\n`;
    } else if (head.minor === 1) {
      framing = "chunked";
      lines += "transfer-encoding: chunked\r\n";
    } else {
      framing = "close";
      keepAlive = false;
    }
  } else if (!noBody) {
    lines += "content-length: 0\r\n";
  }
  if (!keepAlive) lines += "connection: close\r\n";
  lines += "\r\n";
  if (body !== null && framing === "length" && Number(length) <= SMALL_BODY) {
    // A small body of known length: read it whole (no stream round trips) and send it with the
    // head in one write.
    let bytes: Uint8Array;
    try {
      bytes = await response.bytes();
    } catch {
      c.close();
      return false;
    }
    if (bytes.byteLength !== Number(length)) {
      c.close();
      return false;
    }
    const head = encoder.encode(lines);
    const out = new Uint8Array(head.byteLength + bytes.byteLength);
    out.set(head);
    out.set(bytes, head.byteLength);
    return await writeAll(c, out) && keepAlive;
  }
  if (!await writeAll(c, encoder.encode(lines))) {
    await body?.cancel().catch(() => {});
    return false;
  }
  if (body === null) return keepAlive;
  // A body from the proxy's own upstream client is read without its stream: each piece is sent
  // whole before the next is read, so the pieces can be views of one buffer (no copy, no garbage).
  const direct = directBody(response);
  const reader = direct === undefined ? body.getReader() : {
    read: async () => {
      const value = await direct.next();
      return value === null ? { done: true as const, value: undefined } : { done: false, value };
    },
    cancel: () => Promise.resolve(direct.cancel()),
  };
  let sent = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.byteLength === 0) continue;
      sent += value.byteLength;
      if (framing === "length" && sent > Number(length)) {
        // More than announced: the excess would read as the next response.
        await reader.cancel().catch(() => {});
        c.close();
        return false;
      }
      let ok: boolean;
      if (framing === "chunked") {
        const size = encoder.encode(`${value.byteLength.toString(16)}\r\n`);
        const frame = new Uint8Array(size.byteLength + value.byteLength + 2);
        frame.set(size);
        frame.set(value, size.byteLength);
        frame.set(CRLF, size.byteLength + value.byteLength);
        ok = await writeAll(c, frame);
      } else {
        ok = await writeAll(c, value);
      }
      if (!ok) {
        await reader.cancel().catch(() => {});
        return false;
      }
      progress();
    }
  } catch {
    // The body failed (the upstream went away): the client must not take a cut body as whole.
    c.close();
    return false;
  }
  if (framing === "chunked") return await writeAll(c, LAST_CHUNK) && keepAlive;
  if (framing === "length" && sent !== Number(length)) {
    c.close();
    return false;
  }
  return keepAlive;
}
