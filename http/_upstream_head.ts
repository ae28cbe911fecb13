/**
 * The response head reader of the proxy's upstream client: interim 1xx answers skipped, the final
 * head parsed as strictly as the server parses requests (see `_upstream.ts`).
 *
 * @module
 */

import { FIELD_VALUE, MAX_FIELDS, TOKEN } from "./_http_syntax.ts";
import type { Socket } from "./_upstream_socket.ts";

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const MAX_HEAD = 64 * 1024;

/** An answer from the upstream that breaks HTTP/1.1 framing or syntax. */
export class UpstreamProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpstreamProtocolError";
  }
}

/** The upstream closed the connection before sending any byte of an answer. */
export class EmptyAnswer extends Error {
  constructor() {
    const cause = new Deno.errors.ConnectionReset(
      "the upstream closed the connection before answering",
    );
    super(cause.message, { cause });
  }
}

/** A parsed response head. */
export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly fields: [string, string][];
  readonly framing: "length" | "chunked" | "close";
  readonly length: number;
  readonly keepAlive: boolean;
}

/**
 * Reads the final response head from the socket.
 *
 * @param s The socket.
 * @param failed The error of the request body's writing, if it failed.
 * @returns The parsed head; the body's first bytes stay in the buffer.
 * @throws {EmptyAnswer} when the upstream closed the connection before any byte of an answer.
 * @throws {UpstreamProtocolError} for a malformed answer.
 */
export async function readResponseHead(s: Socket, failed: () => unknown): Promise<ResponseHead> {
  let sawByte = false;
  while (true) {
    // Find the blank line.
    let endAt = -1;
    for (
      let i = s.buf.indexOf(10, s.start + 3);
      i >= 0 && i < s.end;
      i = s.buf.indexOf(10, i + 1)
    ) {
      if (s.buf[i - 1] === 13 && s.buf[i - 2] === 10 && s.buf[i - 3] === 13) {
        endAt = i;
        break;
      }
    }
    if (endAt < 0) {
      if (s.end - s.start > MAX_HEAD) {
        throw new UpstreamProtocolError("the response head is too large");
      }
      if (s.end > s.start) sawByte = true;
      if (!await s.fill()) {
        if (failed() !== undefined) throw failed();
        if (!sawByte && s.end === s.start) throw new EmptyAnswer();
        throw new UpstreamProtocolError(
          "the upstream closed the connection inside a response head",
        );
      }
      continue;
    }
    let text = "";
    for (let p = s.start; p < endAt - 3; p += 8192) {
      text += String.fromCharCode(...s.buf.subarray(p, Math.min(p + 8192, endAt - 3)));
    }
    s.start = endAt + 1;
    const head = parseResponseHead(text);
    if (head.status >= 100 && head.status < 200) {
      if (head.status === 101) throw new UpstreamProtocolError("the upstream switched protocols");
      sawByte = true;
      continue; // 100 Continue, 103 Early Hints: the final answer follows.
    }
    return head;
  }
}

/**
 * Parses a response head (without the blank line) strictly.
 *
 * @param text The head as a binary string.
 * @returns Status, reason, fields (names lower-case) and framing.
 * @throws {UpstreamProtocolError} for anything ambiguous.
 */
export function parseResponseHead(text: string): ResponseHead {
  if (/\r(?!\n)|(?<!\r)\n/.test(text)) {
    throw new UpstreamProtocolError("a response line ends without CRLF");
  }
  const lines = text.split("\r\n");
  const m = STATUS_LINE.exec(lines[0]!);
  if (m === null) throw new UpstreamProtocolError("the status line is malformed");
  const minor = Number(m[1]);
  const status = Number(m[2]);
  if (status < 100 || status > 599) throw new UpstreamProtocolError("the status is out of range");
  if (lines.length - 1 > MAX_FIELDS) throw new UpstreamProtocolError("too many response fields");
  const fields: [string, string][] = [];
  let length: number | undefined;
  let te: string | undefined;
  let connection = "";
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith(" ") || line.startsWith("\t")) {
      throw new UpstreamProtocolError("obs-fold in a response");
    }
    const colon = line.indexOf(":");
    const name = colon <= 0 ? "" : line.slice(0, colon);
    if (!TOKEN.test(name)) throw new UpstreamProtocolError("a response field name is not a token");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) {
      throw new UpstreamProtocolError(`response field "${name}" has a control character`);
    }
    const lower = name.toLowerCase();
    if (lower === "content-length") {
      if (length !== undefined) throw new UpstreamProtocolError("more than one Content-Length");
      if (!/^\d{1,15}$/.test(value)) {
        throw new UpstreamProtocolError("Content-Length is not a decimal number");
      }
      length = Number(value);
    } else if (lower === "transfer-encoding") {
      if (te !== undefined) throw new UpstreamProtocolError("more than one Transfer-Encoding");
      te = value.toLowerCase();
    } else if (lower === "connection") {
      connection += `,${value.toLowerCase()}`;
    }
    fields.push([lower, value]);
  }
  if (te !== undefined && length !== undefined) {
    throw new UpstreamProtocolError("both Content-Length and Transfer-Encoding");
  }
  if (te !== undefined && te !== "chunked") {
    throw new UpstreamProtocolError("a transfer coding other than chunked");
  }
  const tokens = connection.split(",").map((t) => t.trim());
  const keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return {
    status,
    reason: m[3] ?? "",
    fields,
    framing: te !== undefined ? "chunked" : length !== undefined ? "length" : "close",
    length: length ?? 0,
    keepAlive,
  };
}
