/**
 * Answers written by the proxy's server: a handler's `Response` framed for HTTP/1.1 (Content-Length
 * when known, else chunked, else until close for HTTP/1.0; no body for HEAD, 204, 304), and the
 * server's own short JSON refusals.
 *
 * @module
 */

import { directBody } from "./_upstream_body.ts";
import type { RequestHead } from "./_server_head.ts";
import type { Connection } from "./_server_connection.ts";

/** Bodies up to this length are read whole and written with the head. */
const SMALL_BODY = 64 * 1024;
const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
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

/** Writes a short JSON refusal of the server's own and asks to close the connection. */
export async function writeSimple(c: Connection, status: number, message: string): Promise<void> {
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
export async function writeResponse(
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
