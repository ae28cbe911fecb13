/**
 * The response body reader of the proxy's upstream client: Content-Length, chunked or until
 * close, as a stream or read directly (views of one buffer, no copy) by the proxy's server.
 *
 * @module
 */

import { CHUNK_SIZE, MAX_CHUNK_LINE, MAX_FIELDS } from "./_http_syntax.ts";
import { type ResponseHead, UpstreamProtocolError } from "./_upstream_head.ts";
import type { Socket } from "./_upstream_socket.ts";

const READ_SIZE = 256 * 1024;

/**
 * A response body read without its stream: each piece is a view valid until the next call, so
 * a writer that sends a piece whole before asking for the next copies nothing.
 */
export interface DirectBody {
  /** The next piece, or null at the end. */
  next(): Promise<Uint8Array | null>;
  /** Gives up the body (the socket is closed). */
  cancel(): void;
}

const directBodies = new WeakMap<Response, DirectBody>();

/**
 * The direct reader of a response from {@linkcode UpstreamPool}, while its stream is untouched.
 *
 * @param response A response.
 * @returns Its direct reader, or undefined (another response, or its stream was used).
 */
export function directBody(response: Response): DirectBody | undefined {
  const direct = directBodies.get(response);
  if (direct === undefined || response.bodyUsed || response.body?.locked) return undefined;
  directBodies.delete(response);
  return direct;
}

/**
 * A response whose body streams from `body`, its direct reader kept for {@linkcode directBody}.
 *
 * @param head The response head.
 * @param body The body's stream and direct reader.
 * @returns The response.
 */
export function streamedResponse(
  head: ResponseHead,
  body: { stream: ReadableStream<Uint8Array>; direct: DirectBody },
): Response {
  const response = new Response(body.stream, {
    status: head.status,
    statusText: head.reason,
    headers: head.fields as [string, string][],
  });
  directBodies.set(response, body.direct);
  return response;
}

/**
 * The body of a response, read from the socket after its head.
 *
 * @param s The socket.
 * @param head The response head (its framing).
 * @param finish Called once: with true when the body was read to its end, false otherwise.
 * @returns The body as a stream and as a direct reader (use one of them).
 */
export function responseBody(
  s: Socket,
  head: ResponseHead,
  finish: (complete: boolean) => Promise<void>,
): { stream: ReadableStream<Uint8Array>; direct: DirectBody } {
  let remaining = head.framing === "length" ? head.length : 0;
  let state: "size" | "data" | "end" = "size";
  let ended = false;
  const end = (complete: boolean): void => {
    if (ended) return;
    ended = true;
    void finish(complete);
  };
  const more = async (): Promise<void> => {
    if (!await s.fill()) {
      throw new UpstreamProtocolError("the upstream closed the connection inside a body");
    }
  };
  const line = async (): Promise<string> => {
    while (true) {
      for (let i = s.start + 1; i < s.end; i++) {
        if (s.buf[i] === 10) {
          if (s.buf[i - 1] !== 13) {
            throw new UpstreamProtocolError("a chunk line ends without CRLF");
          }
          const text = String.fromCharCode(...s.buf.subarray(s.start, i - 1));
          s.start = i + 1;
          return text;
        }
      }
      if (s.end - s.start > MAX_CHUNK_LINE) {
        throw new UpstreamProtocolError("a chunk line is too long");
      }
      await more();
    }
  };
  /**
   * Up to `max` bytes: buffered ones first, else one read into the scratch buffer. With `copy`
   * false the bytes are a view, valid until the next call.
   */
  const piece = async (max: number, copy: boolean): Promise<Uint8Array | null> => {
    if (s.end > s.start) {
      const n = Math.min(max, s.end - s.start);
      const out = copy ? s.buf.slice(s.start, s.start + n) : s.buf.subarray(s.start, s.start + n);
      s.start += n;
      return out;
    }
    // One scratch buffer per body: a read returns far less than 256 KiB on loopback, and a fresh
    // array per read would be mostly garbage.
    scratch ??= new Uint8Array(READ_SIZE);
    let n: number | null;
    try {
      n = await s.conn.read(scratch.subarray(0, Math.min(max, READ_SIZE)));
    } catch {
      n = null;
    }
    if (n === null) return null;
    return copy ? scratch.slice(0, n) : scratch.subarray(0, n);
  };
  let scratch: Uint8Array | undefined;
  const cut = (): never => {
    throw new UpstreamProtocolError("the upstream closed the connection inside a body");
  };
  /** The next piece of the body, or null at its end (the socket is then released). */
  const next = async (copy: boolean): Promise<Uint8Array | null> => {
    try {
      if (ended) return null;
      if (head.framing === "close") {
        const p = await piece(READ_SIZE, copy);
        if (p === null) end(false);
        return p;
      }
      if (head.framing === "length") {
        if (remaining === 0) {
          end(true);
          return null;
        }
        const p = await piece(remaining, copy) ?? cut();
        remaining -= p.byteLength;
        return p;
      }
      while (true) {
        if (state === "size") {
          const m = CHUNK_SIZE.exec(await line());
          if (m === null) throw new UpstreamProtocolError("a chunk size is malformed");
          remaining = parseInt(m[1]!, 16);
          if (remaining === 0) {
            let trailers = 0;
            while ((await line()) !== "") {
              if (++trailers > MAX_FIELDS) throw new UpstreamProtocolError("too many trailers");
            }
            end(true);
            return null;
          }
          state = "data";
        }
        if (state === "end") {
          if ((await line()) !== "") {
            throw new UpstreamProtocolError("a chunk is longer than its size");
          }
          state = "size";
          continue;
        }
        const p = await piece(remaining, copy) ?? cut();
        remaining -= p.byteLength;
        if (remaining === 0) state = "end";
        return p;
      }
    } catch (error) {
      end(false);
      throw error;
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const p = await next(true);
      if (p === null) controller.close();
      else controller.enqueue(p);
    },
    cancel() {
      end(false);
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    direct: {
      next: () => next(false),
      cancel: () => end(false),
    },
  };
}
