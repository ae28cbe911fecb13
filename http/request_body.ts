/**
 * Request bodies that can be sent more than once (after a 401 refresh, or a 307/308 redirect).
 *
 * @module
 */

/** A body ready to send: replayable, or a one-shot stream. */
export type PreparedBody =
  | { readonly kind: "none" }
  | { readonly kind: "replayable"; readonly body: BodyInit }
  | { readonly kind: "stream"; readonly stream: ReadableStream<Uint8Array> };

/** Default limit for buffering a stream body to make it replayable: 1 MiB. */
export const DEFAULT_REPLAY_LIMIT = 1024 * 1024;

/**
 * Prepares a body. Strings, bytes, Blobs, FormData and URLSearchParams are replayable as they
 * are. A stream is read up to `limit` bytes: if it ends by then it becomes replayable bytes,
 * otherwise it is passed on as one stream (what was read, then the rest), not replayable.
 *
 * @param body The caller's `init.body`, if given.
 * @param fallback The stream of the caller's Request, used when `body` is absent.
 * @param limit Buffering limit in bytes.
 * @returns The prepared body; synchronously unless a stream has to be read.
 *
 * @example
 * ```ts
 * import { prepareBody } from "./request_body.ts";
 * const p = await prepareBody(new Blob(["x"]).stream(), null, 1024);
 * if (p.kind !== "replayable") throw new Error("a small stream must become replayable");
 * ```
 */
export function prepareBody(
  body: BodyInit | null | undefined,
  fallback: ReadableStream<Uint8Array> | null,
  limit: number,
): PreparedBody | Promise<PreparedBody> {
  if (body !== undefined && body !== null && isReplayable(body)) {
    return { kind: "replayable", body };
  }
  if ((body === undefined || body === null) && fallback === null) return NONE;
  return bufferStream(body, fallback, limit);
}

const NONE: PreparedBody = { kind: "none" };

async function bufferStream(
  body: BodyInit | null | undefined,
  fallback: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<PreparedBody> {
  // Anything else (a ReadableStream, an async iterable) is read as a stream.
  const stream = body === undefined || body === null
    ? fallback
    : body instanceof ReadableStream
    ? body as ReadableStream<Uint8Array>
    : new Response(body).body;
  if (stream === null || stream === undefined) return { kind: "none" };
  const read = await readUpTo(stream, limit);
  return "bytes" in read
    ? { kind: "replayable", body: read.bytes }
    : { kind: "stream", stream: read.stream };
}

/**
 * Reads a stream whole while it stays within `limit` bytes; past that, hands back a stream that
 * replays what was read and goes on with the rest, so nothing is lost.
 *
 * @param stream The body.
 * @param limit Largest size read whole, in bytes.
 * @returns The bytes, or a stream of the whole body.
 */
export async function readUpTo(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<{ bytes: Uint8Array<ArrayBuffer> } | { stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size <= limit) {
    const { done, value } = await reader.read();
    if (done) {
      reader.releaseLock();
      return { bytes: concat(chunks, size) };
    }
    chunks.push(value);
    size += value.byteLength;
  }
  let i = 0;
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i < chunks.length) {
        controller.enqueue(chunks[i++]!);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { stream: rest };
}

/** Body types that can be sent again as they are. */
function isReplayable(body: BodyInit): boolean {
  return typeof body === "string" || body instanceof ArrayBuffer || ArrayBuffer.isView(body) ||
    body instanceof Blob || body instanceof FormData || body instanceof URLSearchParams;
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * The `body` (and `duplex`) part of a `RequestInit` for a prepared body.
 *
 * @param body A prepared body.
 * @returns Init fields to spread.
 */
export function bodyInit(body: PreparedBody): { body?: BodyInit; duplex?: "half" } {
  switch (body.kind) {
    case "none":
      return {};
    case "replayable":
      return { body: body.body };
    case "stream":
      return { body: body.stream, duplex: "half" };
  }
}
