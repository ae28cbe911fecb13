/**
 * A request body as the proxy's server reads it: a stream over the connection, framed by
 * Content-Length or chunked (trailers read and dropped), `100 Continue` sent on the first read
 * when the client asked for it. A client that breaks the framing or goes away fails the stream;
 * the connection loop then answers 400 and closes.
 *
 * @module
 */

import { CHUNK_SIZE, MAX_CHUNK_LINE, MAX_FIELDS } from "./_http_syntax.ts";
import type { RequestHead } from "./_server_head.ts";
import { BODY_READ, type Connection, type Phase } from "./_server_connection.ts";

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Raised inside a request body stream when the client breaks the framing or goes away. */
class BodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BodyError";
  }
}

/** A request body being read. */
export interface BodyState {
  readonly stream: ReadableStream<Uint8Array> | null;
  /** Set when the client broke the framing: why. */
  readonly failed: string | undefined;
  /** Whether the body was read to its end (the connection can then carry another request). */
  complete(): boolean;
}

/**
 * The body of a request as a stream.
 *
 * @param c The connection.
 * @param head The request's head (its framing).
 * @param idleTimeoutMs Time a read may make no progress.
 * @param setPhase Sets the connection's phase and deadline.
 * @param hooks `complete` when the body was read to its end, `gone` when the client went away.
 * @returns The stream (null without a body) and its state.
 */
export function requestBody(
  c: Connection,
  head: RequestHead,
  idleTimeoutMs: number,
  setPhase: (c: Connection, phase: Phase, ms: number) => void,
  hooks: { readonly complete: () => void; readonly gone: () => void },
): BodyState {
  const onComplete = hooks.complete;
  if (head.body.kind === "none") {
    onComplete();
    return { stream: null, failed: undefined, complete: () => true };
  }
  let done = false;
  let cancelled = false;
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
    setPhase(c, "body", idleTimeoutMs);
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
            const m = CHUNK_SIZE.exec(text);
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
            setPhase(c, "body", idleTimeoutMs);
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
        // A read the handler no longer waits for (it cancelled the body and answered, e.g. a
        // write the leak guard refused) is not the client's fault: the handler's answer stands.
        if (cancelled && !(error instanceof BodyError)) return;
        // The connection ends after the answer (400), written by the connection loop.
        failed ??= error instanceof BodyError ? error.message : "the body could not be read";
        throw error instanceof BodyError ? error : new BodyError(failed);
      }
    },
    cancel() {
      cancelled = true;
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
