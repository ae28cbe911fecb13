/**
 * What went wrong in a TLS exchange with a server, told apart from the error `fetch` threw or the
 * answer a TLS-terminating proxy gave: the server's certificate is not trusted here (or names
 * another host, or has expired), or the server wants a client certificate and got none, or
 * refused the one it got.
 *
 * A server that checks client certificates in the handshake (OpenSSL with
 * `-verify_return_error`, Envoy, Go) ends it with an alert: rustls reports `received fatal alert:
 * CertificateRequired` or `UnknownCA`. nginx with `ssl_verify_client on` completes the handshake
 * and answers HTTP 400 with a page saying "No required SSL certificate was sent" or "The SSL
 * certificate error": the request never reaches what nginx protects.
 *
 * @module
 */

import { causeMessages } from "./_cause_chain.ts";

/** A TLS problem, by who refused what. */
export type TlsFailureKind =
  /** The server's certificate is signed by a CA not trusted here. */
  | "untrusted"
  /** The server's certificate does not name the host connected to. */
  | "wrong-name"
  /** The server's certificate has expired or is not valid yet. */
  | "expired"
  /** The server wants a client certificate and none was sent. */
  | "client-certificate-required"
  /** The server refused the client certificate sent. */
  | "client-certificate-refused"
  /** Any other TLS failure. */
  | "handshake";

/** A TLS problem and the words of the library or server that reported it. */
export interface TlsFailure {
  /** What went wrong. */
  readonly kind: TlsFailureKind;
  /** The reason as reported (`invalid peer certificate: UnknownIssuer`), never a URL. */
  readonly detail: string;
}

/**
 * Classifies an error thrown by `fetch` (its whole `cause` chain) as a TLS failure.
 *
 * @param error What `fetch` threw.
 * @returns The failure, or undefined when the error is not about TLS.
 *
 * @example
 * ```ts
 * import { tlsFailure } from "./_tls_failure.ts";
 * const error = new TypeError("fetch failed", {
 *   cause: new Error("client error (Connect): invalid peer certificate: UnknownIssuer"),
 * });
 * if (tlsFailure(error)?.kind !== "untrusted") throw new Error("not classified");
 * if (tlsFailure(new TypeError("connection refused")) !== undefined) throw new Error("not TLS");
 * ```
 */
export function tlsFailure(error: unknown): TlsFailure | undefined {
  const messages = causeMessages(error, 8);
  const text = messages.join(": ");
  const alert = /received fatal alert: ?([A-Za-z]+)/.exec(text);
  if (alert !== null) {
    const name = alert[1]!;
    const detail = `received fatal alert: ${name}`;
    if (name === "CertificateRequired") return { kind: "client-certificate-required", detail };
    if (CLIENT_CERTIFICATE_ALERTS.has(name)) return { kind: "client-certificate-refused", detail };
    return { kind: "handshake", detail };
  }
  const peer = /invalid peer certificate: ?([^\n]*)/.exec(text);
  if (peer !== null) {
    const detail = stripUrls(`invalid peer certificate: ${peer[1]!.trim()}`);
    if (/NotValidForName|not valid for name/i.test(detail)) return { kind: "wrong-name", detail };
    if (/Expired|NotValidYet|not valid (after|before)/i.test(detail)) {
      return { kind: "expired", detail };
    }
    return { kind: "untrusted", detail };
  }
  const other = /[^:]*(certificate|tls|ssl|handshake)[^\n]*/i.exec(
    messages.filter((m) => !/^(fetch failed|error sending request)/.test(m)).join(": "),
  );
  if (other !== null) return { kind: "handshake", detail: stripUrls(other[0].trim()) };
  return undefined;
}

/**
 * Recognises nginx's answer to a request whose client certificate is missing or refused
 * (`ssl_verify_client on`): status 400 and its own error page.
 *
 * @param status The response status.
 * @param body The response body, or its first few KiB.
 * @returns The failure, or undefined for any other answer.
 *
 * @example
 * ```ts
 * import { clientCertificateAnswer } from "./_tls_failure.ts";
 * const page = "<html><head><title>400 No required SSL certificate was sent</title></head></html>";
 * if (clientCertificateAnswer(400, page)?.kind !== "client-certificate-required") throw new Error();
 * ```
 */
export function clientCertificateAnswer(status: number, body: string): TlsFailure | undefined {
  if (status !== 400) return undefined;
  if (body.includes("No required SSL certificate was sent")) {
    return {
      kind: "client-certificate-required",
      detail: 'the server answered 400 "No required SSL certificate was sent"',
    };
  }
  if (body.includes("The SSL certificate error")) {
    return {
      kind: "client-certificate-refused",
      detail: 'the server answered 400 "The SSL certificate error"',
    };
  }
  return undefined;
}

/**
 * Whether an answer may be a client-certificate refusal worth reading: a 400 whose body is a
 * small HTML page (nginx's pages are about 250 bytes and carry a `Content-Length`).
 *
 * @param response The answer.
 * @returns Whether to read its body and pass it to {@linkcode clientCertificateAnswer}.
 */
export function mayBeClientCertificateAnswer(response: Response): boolean {
  if (response.status !== 400) return false;
  const type = response.headers.get("content-type") ?? "";
  const length = Number(response.headers.get("content-length") ?? NaN);
  return type.startsWith("text/html") && length >= 0 && length <= MAX_PAGE_BYTES;
}

/** Largest error page read to look for a client-certificate refusal. */
export const MAX_PAGE_BYTES = 4096;

/**
 * The failure in words, as the end of a sentence naming the server (`cannot reach X: …`).
 *
 * @param failure The failure.
 * @returns A clause: what happened, with the reported detail in parentheses.
 *
 * @example
 * ```ts
 * import { describeTlsFailure } from "./_tls_failure.ts";
 * const text = describeTlsFailure({ kind: "untrusted", detail: "invalid peer certificate: UnknownIssuer" });
 * if (!text.startsWith("its TLS certificate is signed by a CA not trusted here")) throw new Error(text);
 * ```
 */
export function describeTlsFailure(failure: TlsFailure): string {
  const what = {
    "untrusted": "its TLS certificate is signed by a CA not trusted here",
    "wrong-name": "its TLS certificate does not name this host",
    "expired": "its TLS certificate has expired or is not valid yet",
    "client-certificate-required": "it demands a client certificate and none was sent",
    "client-certificate-refused": "it refused the client certificate",
    "handshake": "the TLS handshake failed",
  }[failure.kind];
  return `${what} (${failure.detail})`;
}

/** Alerts a server sends when it does not accept the client certificate it got. */
const CLIENT_CERTIFICATE_ALERTS: ReadonlySet<string> = new Set([
  "BadCertificate",
  "UnsupportedCertificate",
  "CertificateRevoked",
  "CertificateExpired",
  "CertificateUnknown",
  "UnknownCA",
  "AccessDenied",
]);

function stripUrls(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s)]*/g, "<url>");
}
