/**
 * The leak guard: finds a managed secret, or one of its derived forms, in what a job sends to
 * MLflow's write endpoints, so that the proxy and the middleware can refuse the request before it
 * leaves. Pure: a request's method, path, headers and body bytes in, a finding (the endpoint and
 * the JSON pointer of the field, never the value) out.
 *
 * Which requests it reads: every `POST`, `PUT`, `PATCH` or `DELETE` to MLflow's REST API
 * (`/api/<version>/mlflow/…` and `/ajax-api/<version>/mlflow/…`, behind any path prefix), to
 * its OpenTelemetry trace intake (`/v1/traces`), its job API (`/ajax-api/3.0/jobs/…`) and its AI
 * gateway (`/gateway/…`), the path read as the server routes it (percent-escapes decoded, `%2F`
 * included; slashes merged; dot segments resolved). That covers params, tags, metric keys, run
 * and experiment names and descriptions (descriptions are tags), log-batch, log-inputs,
 * registered models and model versions, logged models, datasets, trace tags, trace metadata and
 * span attributes; and the URL's query and the identifiers in its path. Every field is read, not
 * a list of known ones, so a field MLflow adds later is covered too. Artifact transfers
 * (`/mlflow-artifacts/…`, the UI's `upload-artifact`: a job's data, not metadata), reads and
 * `/graphql` (whose only mutations are searches) are not read.
 *
 * How a body is read, as the server would read it: as JSON whatever the `Content-Type` says
 * (MLflow does so for `PATCH` and `DELETE`), UTF-16 and UTF-32 detected as Python's `json.loads`
 * does, a doubly encoded body (a JSON string holding JSON) decoded again, Python's `NaN` and
 * `Infinity` taken; the trace intake also accepts protobuf and gzip or deflate (zlib or raw)
 * bodies. A body the guard cannot read the way the server would (another content coding, larger
 * than the guard's bound) is a finding of its own (`reason: "unreadable"`), so that it fails
 * closed.
 *
 * The search is the redactor's ({@linkcode SecretMatcher}): the raw value, its base64, URL
 * encoding and JSON escaping, and the exact header values and credentials built from it.
 *
 * @module
 */

import { gunzipSync, inflateRawSync, inflateSync } from "node:zlib";

/** Largest body (after decompression) the guard reads: 32 MiB. A larger one is unreadable. */
export const LEAK_GUARD_MAX_BYTES = 32 * 1024 * 1024;

/** Finds registered secrets in a text: the redactor (`Redactor.search`). */
export interface SecretMatcher {
  /** Index of the first registered string in the text, or -1. */
  search(text: string): number;
}

/** The request facts the guard reads. */
export interface GuardedRequest {
  /** HTTP method. */
  readonly method: string;
  /** URL path, percent-encoded as sent (the proxy's path prefix included or not). */
  readonly path: string;
  /** URL query (`?…`, as sent), if any: the server logs it, so it is searched too. */
  readonly query?: string | null;
  /** `Content-Type` header, if any. */
  readonly contentType?: string | null;
  /** `Content-Encoding` header, if any. */
  readonly contentEncoding?: string | null;
  /** The body's bytes (empty for none). */
  readonly body: Uint8Array;
}

/** A request the guard refuses (or warns about): where, never what. */
export interface LeakFinding {
  /**
   * The endpoint, with identifiers in the path replaced by `{id}`, e.g.
   * `POST /api/2.0/mlflow/runs/log-batch` (bounded, so it can label a metric).
   */
  readonly endpoint: string;
  /**
   * Where in the body: a JSON pointer (`/params/3/value`), the pointer of an object followed by
   * ` (a member name)` when a member's name holds the secret, `(protobuf body)` for a protobuf
   * trace export, `(body)` for a body that is not JSON or cannot be read; or, outside the body,
   * `(URL query)` or `(URL path)`.
   */
  readonly field: string;
  /** `secret`: a managed secret or a derived form was found; `unreadable`: see `detail`. */
  readonly reason: "secret" | "unreadable";
  /** Why an unreadable body could not be read (no body content in it). */
  readonly detail?: string;
}

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** `…/api/2.0/mlflow/<rest>`; MLflow also routes `…/api/2.0mlflow/…` (no slash). */
const REST = /\/(ajax-api|api)\/(\d{1,2}\.\d{1,2})\/?mlflow\/(.*)$/is;
const OTLP = /\/v1\/traces\/?$/i;
/** MLflow 3's job API (`/ajax-api/3.0/jobs/`): a job's params are stored with it. */
const JOBS = /\/(ajax-api|api)\/(\d{1,2}\.\d{1,2})\/jobs(\/.*)?$/is;
/** MLflow's AI gateway: what it is sent goes to a model provider and into its traces. */
const GATEWAY = /\/gateway\/(.*)$/is;
const GATEWAY_WORDS = new Set(
  ("anthropic chat completions compact embeddings gemini invocations messages mlflow models " +
    "openai proxy responses typesafe v1 v1beta").split(" "),
);
/** The one route under `mlflow/` that carries artifact bytes, not metadata. */
const UNGUARDED = /^upload-artifact\/?$/;
/**
 * Every static segment of MLflow 3.17's routes under `mlflow/` (its Flask and FastAPI ones;
 * gateway routes are labelled apart): any other segment is an
 * identifier (a trace, model, dataset, webhook id, a tag key, a workspace name) and becomes
 * `{id}` in the endpoint label.
 */
const ROUTE_WORDS = new Set(
  ("add add-experiments add-to-endpoint alias aliases artifacts assessments assistant attach " +
    "batchGet batchGetInfos bindings budgets calculate-filter-correlation cancel config " +
    "create create-promptlab-run datasets delete delete-experiment-tag delete-tag " +
    "delete-traces demo detach directories endpoints evaluate experiment-ids experiments " +
    "files gateway gateway-proxy genai generate get get-by-name get-download-uri get-history " +
    "get-history-bulk get-history-bulk-interval get-latest-versions get-online-trace-details " +
    "get-or-create-user get-trace-artifact guardrails health info install invoke issues items " +
    "jobs label-schemas link-prompts link-to-run list list-for-endpoint log-batch log-inputs " +
    "log-metric log-model log-parameter logged-models mcp-servers message metrics " +
    "model-definitions model-versions models online-config online-configs outputs params " +
    "permission presigned-download-url presigned-upload-url prompt-optimization " +
    "provider-config providers records register registered-models remove remove-experiments " +
    "remove-from-endpoint rename restore review-queues runs scorer scorers search " +
    "search-datasets secrets server-info sessions set-experiment-tag set-status set-tag " +
    "skills stream supported-models supported-providers tags test tool-result traces " +
    "transition-stage ui-telemetry unified-traces update update-config upload-artifact " +
    "versions webhooks windows workspaces").split(" "),
);

/**
 * The endpoint label of a request the guard reads, or `undefined` for one it lets through
 * unread (a read, an artifact transfer, anything outside MLflow's API).
 *
 * @param method The HTTP method.
 * @param path The URL path.
 * @returns E.g. `POST /api/2.0/mlflow/runs/log-batch`, `PATCH /api/3.0/mlflow/traces/{id}/tags`.
 *
 * @example
 * ```ts
 * import { guardedEndpoint } from "./leak_guard.ts";
 * if (guardedEndpoint("POST", "/mlflow/api/2.0/mlflow/runs/log-parameter") !==
 *   "POST /api/2.0/mlflow/runs/log-parameter") throw new Error("not guarded");
 * if (guardedEndpoint("GET", "/api/2.0/mlflow/runs/get") !== undefined) throw new Error("a read");
 * ```
 */
export function guardedEndpoint(method: string, path: string): string | undefined {
  return classify(method, path)?.endpoint;
}

/** Runs of identifiers (a route's `{path:path}` part) count as one, keeping labels bounded. */
function collapse(shape: string): string {
  return shape.replace(/\{id\}(\/\{id\})+/g, "{id}");
}

/** A guarded request's endpoint label and the identifiers in its path (decoded). */
function classify(
  method: string,
  path: string,
): { readonly endpoint: string; readonly ids: readonly string[] } | undefined {
  const verb = method.toUpperCase();
  if (!WRITE_METHODS.has(verb)) return undefined;
  // The path as the server routes it, which is not the path as sent: the server (uvicorn,
  // werkzeug, a reverse proxy in front) decodes percent-escapes, `%2F` included, and may merge
  // slashes or resolve dot segments. A request is guarded when any of those readings is.
  for (const form of pathForms(path)) {
    const rest = REST.exec(form);
    if (rest !== null) {
      if (UNGUARDED.test(rest[3]!)) continue;
      const segments = rest[3]!.split("/");
      const ids = segments.filter((s) => s !== "" && !ROUTE_WORDS.has(s));
      const shape = segments.map((s) => s === "" || ROUTE_WORDS.has(s) ? s : "{id}").join("/");
      return {
        endpoint: `${verb} /${rest[1]!.toLowerCase()}/${rest[2]}/mlflow/${collapse(shape)}`,
        ids,
      };
    }
    if (OTLP.test(form)) return { endpoint: `${verb} /v1/traces`, ids: [] };
    const jobs = JOBS.exec(form);
    if (jobs !== null) {
      const segments = (jobs[3] ?? "").split("/").slice(1);
      const ids = segments.filter((s) => s !== "" && s !== "search" && s !== "cancel");
      const shape = segments.map((s) => ids.includes(s) ? "{id}" : s).join("/");
      return {
        endpoint: `${verb} /${jobs[1]!.toLowerCase()}/${jobs[2]}/jobs${jobs[3] ? `/${shape}` : ""}`,
        ids,
      };
    }
    const gateway = GATEWAY.exec(form);
    if (gateway !== null) {
      const segments = gateway[1]!.split("/");
      const ids = segments.filter((s) => s !== "" && !GATEWAY_WORDS.has(s));
      const shape = segments.map((s) => s === "" || GATEWAY_WORDS.has(s) ? s : "{id}").join("/");
      return { endpoint: `${verb} /gateway/${collapse(shape)}`, ids };
    }
  }
  return undefined;
}

/**
 * The readings of a URL path a server may route: percent-decoded until nothing is left to decode
 * (a front proxy and the server may each decode once), with runs of slashes merged; and that
 * again with backslashes as slashes, `;` segment parameters dropped and dot segments resolved.
 */
function pathForms(path: string): string[] {
  let decoded = path;
  for (let round = 0; round < 8 && decoded.includes("%"); round++) {
    const next = decoded.replace(
      /%([0-9a-fA-F]{2})/g,
      (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
    );
    if (next === decoded) break;
    decoded = next;
  }
  const merged = decoded.replace(/\/{2,}/g, "/");
  const out: string[] = [];
  for (const segment of merged.replaceAll("\\", "/").split("/")) {
    const s = segment.replace(/;.*$/, "");
    if (s === "..") out.pop();
    else if (s !== "." && s !== "") out.push(s);
  }
  const trailing = /[/\\]\.{0,2}$/.test(merged) ? "/" : "";
  const resolved = `/${out.join("/")}${out.length > 0 ? trailing : ""}`;
  return resolved === merged ? [merged] : [merged, resolved];
}

/**
 * Looks for a managed secret in a request to one of MLflow's write endpoints.
 *
 * @param request Method, path, content headers and body bytes.
 * @param matcher The redactor that knows every secret resolved so far and its forms.
 * @param options `maxBytes`: the largest body read (default {@linkcode LEAK_GUARD_MAX_BYTES}).
 * @returns `undefined` when the request is not guarded or is clean; else where the secret is
 *   (or why the body could not be read).
 *
 * @example
 * ```ts
 * import { inspectRequest } from "./leak_guard.ts";
 * import { Redactor } from "../core/redact.ts";
 * const redactor = new Redactor();
 * redactor.add("tok-canary-123");
 * const body = new TextEncoder().encode(JSON.stringify({
 *   run_id: "r1",
 *   params: [{ key: "a", value: "1" }, { key: "token", value: btoa("tok-canary-123") }],
 * }));
 * const finding = inspectRequest(
 *   { method: "POST", path: "/api/2.0/mlflow/runs/log-batch", body },
 *   redactor,
 * );
 * if (finding?.field !== "/params/1/value") throw new Error("not found");
 * ```
 */
export function inspectRequest(
  request: GuardedRequest,
  matcher: SecretMatcher,
  options: { readonly maxBytes?: number } = {},
): LeakFinding | undefined {
  const guarded = classify(request.method, request.path);
  if (guarded === undefined) return undefined;
  const { endpoint } = guarded;
  // The URL first: servers and the proxies in front of them write it to their access logs.
  const query = request.query ?? "";
  if (query.length > 1 && matcher.search(decodeQuery(query)) >= 0) {
    return { endpoint, field: "(URL query)", reason: "secret" };
  }
  // Identifiers only (a secret in a route's own words would be too short to matter), joined as
  // they were so that a secret holding a slash is still whole.
  if (guarded.ids.length > 0 && matcher.search(guarded.ids.join("/")) >= 0) {
    return { endpoint, field: "(URL path)", reason: "secret" };
  }
  if (request.body.byteLength === 0) return undefined;
  const maxBytes = options.maxBytes ?? LEAK_GUARD_MAX_BYTES;
  const unreadable = (detail: string): LeakFinding => ({
    endpoint,
    field: "(body)",
    reason: "unreadable",
    detail,
  });
  if (request.body.byteLength > maxBytes) {
    return unreadable(`the body is larger than the ${maxBytes} bytes the leak guard reads`);
  }
  let bytes = request.body;
  const coding = (request.contentEncoding ?? "").trim().toLowerCase();
  if (coding !== "" && coding !== "identity") {
    try {
      const opts = { maxOutputLength: maxBytes };
      if (coding === "gzip" || coding === "x-gzip") bytes = gunzipSync(bytes, opts);
      else if (coding === "deflate") bytes = inflateEither(bytes, opts);
      else return unreadable(`the leak guard cannot decode Content-Encoding "${coding}"`);
    } catch {
      return unreadable(
        `the ${coding} body cannot be decompressed within the ${maxBytes} bytes the leak guard reads`,
      );
    }
  }
  const media = (request.contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const otlp = endpoint.endsWith(" /v1/traces");
  if (otlp && media !== "application/json") {
    // Protobuf: string fields are their UTF-8 bytes on the wire, so a lossy decode keeps them.
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    return matcher.search(text) >= 0
      ? { endpoint, field: "(protobuf body)", reason: "secret" }
      : undefined;
  }
  const text = decodeJsonText(bytes);
  if (matcher.search(text) < 0 && !text.includes("\\") && !(otlp && hasBytesField(text))) {
    // Every string and number of the body appears verbatim in its text (no escapes, no base64
    // bytes): clean.
    return undefined;
  }
  let value = parsePythonJson(text);
  if (value === NOT_JSON) {
    // MLflow reads a body that is not JSON as an empty request; the text is still checked.
    return matcher.search(text) >= 0 ? { endpoint, field: "(body)", reason: "secret" } : undefined;
  }
  if (typeof value === "string") {
    // Older clients post their JSON encoded once more as a JSON string; MLflow decodes it again.
    const again = parsePythonJson(value);
    if (again !== NOT_JSON) value = again;
  }
  const field = findInValue(value, "", matcher, otlp);
  return field === undefined ? undefined : { endpoint, field, reason: "secret" };
}

const NOT_JSON: unique symbol = Symbol("not JSON");

/**
 * JSON as Python's `json.loads` reads it, which MLflow uses: it also takes the bare constants
 * `NaN`, `Infinity` and `-Infinity` that `JSON.parse` refuses (read here as `null`). Without this
 * a single `NaN` anywhere made the body unparsable to the guard, so a secret written with `\u`
 * escapes in another field went unseen while MLflow stored it.
 */
function parsePythonJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const replaced = replacePythonConstants(text);
    if (replaced === undefined) return NOT_JSON;
    try {
      return JSON.parse(replaced);
    } catch {
      return NOT_JSON;
    }
  }
}

/** The text with `NaN`, `Infinity`, `-Infinity` outside strings as `null`; undefined if none. */
function replacePythonConstants(text: string): string | undefined {
  const parts: string[] = [];
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    const constant = c === 0x4e && text.startsWith("NaN", i)
      ? 3
      : c === 0x49 && text.startsWith("Infinity", i)
      ? 8
      : c === 0x2d && text.startsWith("-Infinity", i)
      ? 9
      : 0;
    if (constant > 0) {
      parts.push(text.slice(last, i), "null");
      last = i + constant;
      i = last - 1;
    }
  }
  if (parts.length === 0) return undefined;
  parts.push(text.slice(last));
  return parts.join("");
}

/** A query string as sent, and as servers decode it (`+` as a space, or not). */
function decodeQuery(query: string): string {
  const decode = (q: string): string => {
    try {
      return decodeURIComponent(q);
    } catch {
      return q.replace(
        /%([0-9a-fA-F]{2})/g,
        (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
      );
    }
  };
  return `${query}\n${decode(query)}\n${decode(query.replaceAll("+", " "))}`;
}

/** zlib-wrapped deflate, else raw deflate (both are sent as `deflate`; MLflow reads both). */
function inflateEither(bytes: Uint8Array, opts: { maxOutputLength: number }): Uint8Array {
  try {
    return inflateSync(bytes, opts);
  } catch (error) {
    try {
      return inflateRawSync(bytes, opts);
    } catch {
      throw error;
    }
  }
}

/** The pointer of the first string, number or member name holding a secret, or undefined. */
function findInValue(
  root: unknown,
  rootPointer: string,
  matcher: SecretMatcher,
  otlp: boolean,
): string | undefined {
  const stack: [unknown, string][] = [[root, rootPointer]];
  while (stack.length > 0) {
    const [value, pointer] = stack.pop()!;
    if (typeof value === "string") {
      if (matcher.search(value) >= 0) return pointer;
    } else if (typeof value === "number") {
      if (matcher.search(String(value)) >= 0) return pointer;
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${pointer}/${i}`]);
    } else if (value !== null && typeof value === "object") {
      const entries = Object.entries(value);
      for (const [key] of entries) {
        if (matcher.search(key) >= 0) return `${pointer || "/"} (a member name)`;
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, v] = entries[i]!;
        const at = `${pointer}/${escapePointer(key)}`;
        if (
          otlp && typeof v === "string" && BYTES_FIELDS.has(key) &&
          matcher.search(fromBase64(v)) >= 0
        ) {
          return at;
        }
        stack.push([v, at]);
      }
    }
  }
  return undefined;
}

/**
 * Members whose string is base64 of bytes in protobuf's JSON mapping, read in trace exports only
 * (no message of MLflow's own REST API has a bytes field): an OpenTelemetry attribute's
 * `bytesValue` (MLflow decodes it and stores the bytes' `repr`, so base64 of the
 * secret behind a byte or two of padding, which no derived form matches, ends up in clear).
 */
const BYTES_FIELDS = new Set(["bytesValue", "bytes_value"]);

const BYTES_FIELD_TEXT = /bytes(?:Value|_value)"/;

/** Whether a JSON text may hold a bytes member (names are case-sensitive in protobuf's JSON). */
function hasBytesField(text: string): boolean {
  return BYTES_FIELD_TEXT.test(text);
}

/** Base64 (standard or URL-safe, padded or not) as lossy UTF-8; "" when it is not base64. */
function fromBase64(text: string): string {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(b64) || b64.length % 4 === 1) return "";
  try {
    const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
    return new TextDecoder("utf-8", { fatal: false }).decode(
      Uint8Array.from(bin, (c) => c.charCodeAt(0)),
    );
  } catch {
    return "";
  }
}

function escapePointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * The text of a JSON body, decoded as Python's `json.loads` decodes bytes: UTF-8 (a BOM
 * dropped), or UTF-16 or UTF-32 told by a BOM or by the zero bytes of the first characters.
 */
function decodeJsonText(b: Uint8Array): string {
  const lossy = (label: string, from = 0): string =>
    new TextDecoder(label, { fatal: false, ignoreBOM: true }).decode(b.subarray(from));
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return lossy("utf-8", 3);
  const [b0, b1, b2, b3] = [b[0], b[1], b[2], b[3]];
  if (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) return utf32(b.subarray(4), true);
  if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) return utf32(b.subarray(4), false);
  if (b0 === 0xff && b1 === 0xfe) return lossy("utf-16le", 2);
  if (b0 === 0xfe && b1 === 0xff) return lossy("utf-16be", 2);
  if (b.byteLength >= 4) {
    if (b0 === 0 && b1 === 0) return utf32(b, false);
    if (b0 === 0) return lossy("utf-16be");
    if (b1 === 0 && b2 === 0 && b3 === 0) return utf32(b, true);
    if (b1 === 0) return lossy("utf-16le");
  } else if (b.byteLength === 2) {
    if (b0 === 0) return lossy("utf-16be");
    if (b1 === 0) return lossy("utf-16le");
  }
  return lossy("utf-8");
}

/** UTF-32 (no decoder in the platform): invalid code points become U+FFFD. */
function utf32(b: Uint8Array, littleEndian: boolean): string {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const parts: string[] = [];
  let chunk: number[] = [];
  for (let at = 0; at + 4 <= b.byteLength; at += 4) {
    const cp = view.getUint32(at, littleEndian);
    chunk.push(cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0xfffd : cp);
    if (chunk.length === 4096) {
      parts.push(String.fromCodePoint(...chunk));
      chunk = [];
    }
  }
  parts.push(String.fromCodePoint(...chunk));
  return parts.join("");
}

/**
 * The message of a finding, the same in the 400 answer and the log line: endpoint and field,
 * never the value.
 *
 * @param finding A finding of {@linkcode inspectRequest}.
 * @param mode `block` (the request was refused) or `warn` (it was sent).
 * @returns One sentence.
 *
 * @example
 * ```ts
 * import { leakGuardMessage } from "./leak_guard.ts";
 * const m = leakGuardMessage({
 *   endpoint: "POST /api/2.0/mlflow/runs/log-parameter", field: "/value", reason: "secret",
 * }, "block");
 * if (!m.includes('"/value"')) throw new Error(m);
 * ```
 */
export function leakGuardMessage(finding: LeakFinding, mode: "block" | "warn"): string {
  const what = mode === "block" ? "Request refused by the leak guard" : "Leak guard warning";
  if (finding.reason === "unreadable") {
    return `${what}: the body of ${finding.endpoint} cannot be checked for secrets: ${finding.detail}; ` +
      (mode === "block"
        ? `send it uncompressed (or gzip), as UTF-8 JSON, or set leak_guard: warn for this host`
        : `it was sent unchecked`);
  }
  return `${what}: field "${finding.field}" of ${finding.endpoint} holds a secret managed by ` +
    `mlflow-secrets-auth (or a derived form of it: base64, URL or JSON encoding, a header ` +
    `value); ` +
    (mode === "block"
      ? `the request was not sent; do not log credentials, or set leak_guard: warn for this host`
      : `it was sent anyway because leak_guard is warn`);
}

/**
 * The answer to a refused request, as MLflow words a bad request: status 400 and
 * `{"error_code": "INVALID_PARAMETER_VALUE", "message": …}`, which MLflow clients raise as their
 * own exception (Python: `MlflowException`) with the message.
 *
 * @param finding A finding of {@linkcode inspectRequest}.
 * @returns A new Response.
 *
 * @example
 * ```ts
 * import { leakGuardResponse } from "./leak_guard.ts";
 * const r = leakGuardResponse({ endpoint: "POST /v1/traces", field: "(protobuf body)", reason: "secret" });
 * if (r.status !== 400) throw new Error("not a 400");
 * ```
 */
export function leakGuardResponse(finding: LeakFinding): Response {
  return new Response(
    JSON.stringify({
      error_code: "INVALID_PARAMETER_VALUE",
      message: leakGuardMessage(finding, "block"),
    }),
    { status: 400, headers: { "content-type": "application/json" } },
  );
}
