/**
 * The leak guard's I/O, shared by the middleware and the proxy: reads the body of a guarded
 * request (bounded), runs {@linkcode inspectRequest} on it, and hands back a body that can still
 * be sent as it came.
 *
 * @module
 */

import type { LeakGuardMode } from "../profile/types.ts";
import {
  guardedEndpoint,
  inspectRequest,
  LEAK_GUARD_MAX_BYTES,
  type LeakFinding,
  type SecretMatcher,
} from "./leak_guard.ts";
import { type PreparedBody, readUpTo } from "./request_body.ts";

/** The result of a check: the body to send (read or not), and a finding if any. */
export interface LeakCheck {
  /** The body, now bytes when it was read; the same stream, whole, when it was too large. */
  readonly body: PreparedBody;
  /** What was found; `undefined` for a clean or unguarded request. */
  readonly finding?: LeakFinding;
}

/**
 * Checks one request. A request that is not guarded (mode `off`, a read, an artifact transfer)
 * is returned untouched, its body unread.
 *
 * @param request Method, URL path, headers, prepared body, declared length.
 * @param matcher The redactor.
 * @param mode The rule's (or the profile's) leak guard mode.
 * @returns The body to send and the finding.
 */
export async function checkForLeak(
  request: {
    readonly method: string;
    readonly path: string;
    /** The URL query (`?…`), searched too: servers write it to their access logs. */
    readonly query?: string;
    readonly headers: Headers;
    readonly body: PreparedBody;
    /**
     * A stream read whole stays a one-shot stream past this size, as it would have been without
     * the guard (no replay after a 401 for a body past the replay limit).
     */
    readonly replayLimit: number;
    /** The body's declared `Content-Length`: past the guard's bound, the body is not read. */
    readonly declaredLength?: number | undefined;
  },
  matcher: SecretMatcher,
  mode: LeakGuardMode,
): Promise<LeakCheck> {
  const { body } = request;
  if (mode === "off") return { body };
  const endpoint = guardedEndpoint(request.method, request.path);
  if (endpoint === undefined) return { body };
  if (body.kind === "none") {
    const finding = inspectRequest({
      method: request.method,
      path: request.path,
      query: request.query ?? null,
      body: new Uint8Array(0),
    }, matcher);
    return finding === undefined ? { body } : { body, finding };
  }
  const tooLarge = (request.declaredLength ?? 0) > LEAK_GUARD_MAX_BYTES;
  const read = tooLarge
    ? { body }
    : await readBytes(body, LEAK_GUARD_MAX_BYTES, request.replayLimit);
  if (read.bytes === undefined) {
    return {
      body: read.body,
      finding: {
        endpoint,
        field: "(body)",
        reason: "unreadable",
        detail: `the body is larger than the ${LEAK_GUARD_MAX_BYTES} bytes the leak guard reads`,
      },
    };
  }
  const finding = inspectRequest({
    method: request.method,
    path: request.path,
    query: request.query ?? null,
    contentType: request.headers.get("content-type"),
    contentEncoding: request.headers.get("content-encoding"),
    body: read.bytes,
  }, matcher);
  return finding === undefined ? { body: read.body } : { body: read.body, finding };
}

/**
 * Reads a prepared body into bytes, up to `max`; past it, gives back the whole stream. A stream
 * read whole is replayable bytes up to `replayLimit`, a one-shot stream of them past it.
 */
async function readBytes(
  body: PreparedBody,
  max: number,
  replayLimit: number,
): Promise<{ bytes?: Uint8Array; body: PreparedBody }> {
  if (body.kind === "none") return { bytes: new Uint8Array(0), body };
  if (body.kind === "replayable") {
    const b = body.body;
    if (typeof b === "string") return { bytes: new TextEncoder().encode(b), body };
    if (b instanceof Uint8Array) return { bytes: b, body };
    if (b instanceof ArrayBuffer) return { bytes: new Uint8Array(b), body };
    if (ArrayBuffer.isView(b)) {
      return { bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), body };
    }
    if (b instanceof Blob && b.size > max) return { body };
    // Blob, FormData, URLSearchParams: serialised as fetch would serialise them.
    const request = new Request("http://body.invalid/", { method: "POST", body: b });
    const bytes = new Uint8Array(await request.arrayBuffer());
    return bytes.byteLength > max ? { body } : { bytes, body };
  }
  const read = await readUpTo(body.stream, max);
  if (!("bytes" in read)) return { body: { kind: "stream", stream: read.stream } };
  const { bytes } = read;
  if (bytes.byteLength <= replayLimit) return { bytes, body: { kind: "replayable", body: bytes } };
  return { bytes, body: { kind: "stream", stream: new Blob([bytes]).stream() } };
}
