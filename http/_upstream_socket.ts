/**
 * A socket of the proxy's upstream client: the connection and its read buffer.
 *
 * @module
 */

/** A connection to the upstream with its read buffer. */
export class Socket {
  readonly conn: Deno.TcpConn;
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(16 * 1024);
  start = 0;
  end = 0;
  closed = false;
  reused = false;
  idleSince = 0;
  #reading: Promise<boolean> | undefined;
  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // Closed.
    }
  }
  /** Reads more into the buffer; false at EOF. Calls while a read is pending share it. */
  fill(): Promise<boolean> {
    this.#reading ??= this.#fill().finally(() => this.#reading = undefined);
    return this.#reading;
  }
  async #fill(): Promise<boolean> {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buf.length) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        const grown = new Uint8Array(this.buf.length * 2);
        grown.set(this.buf.subarray(0, this.end));
        this.buf = grown;
      }
    }
    let n: number | null;
    try {
      n = await this.conn.read(this.buf.subarray(this.end));
    } catch {
      n = null;
    }
    if (n === null) return false;
    this.end += n;
    return true;
  }
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) offset += await this.conn.write(bytes.subarray(offset));
  }
}
