/**
 * The request head parser of the proxy's server: strict HTTP/1.1 (RFC 9112), nothing ambiguous
 * reaches the handler (see `_http_server.ts` for the list of what is refused).
 *
 * @module
 */

import { FIELD_VALUE, MAX_FIELDS, TOKEN } from "./_http_syntax.ts";

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

// Origin-form: a path and an optional query, visible ASCII only.
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;

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
