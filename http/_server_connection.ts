/**
 * One client connection of the proxy's server: its socket, its read buffer, the phase the
 * server's timer watches, and the reading of a request head up to its blank line.
 *
 * @module
 */

import { HttpParseError } from "./_server_head.ts";

/** Largest single read of a request body from the socket. */
export const BODY_READ = 256 * 1024;

/** What a connection is waiting for; each phase has its own deadline. */
export type Phase = "idle" | "head" | "body" | "handler" | "write";

/** One connection's state, watched by the server's timer. */
export class Connection {
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

/** Reads up to the blank line; the head as a binary string, or undefined at a clean EOF. */
export async function readHead(c: Connection, max: number): Promise<string | undefined> {
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
