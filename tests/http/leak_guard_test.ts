import { deflateRawSync, gzipSync } from "node:zlib";
import {
  guardedEndpoint,
  inspectRequest,
  leakGuardMessage,
  leakGuardResponse,
} from "../../http/leak_guard.ts";
import { Redactor } from "../../core/redact.ts";
import { assert, assertEquals, assertNoCanary } from "../_assert.ts";
import { check, fc } from "../_property.ts";

const CANARY = "canary-7f3e9a/secret+value";
const enc = new TextEncoder();

function redactor(...secrets: unknown[]): Redactor {
  const r = new Redactor();
  for (const s of secrets) r.add(s);
  return r;
}

/** MLflow 3.17's write endpoints, with the JSON the Python client sends to each (one field each). */
const WRITES: readonly [string, string, (v: string) => unknown, string][] = [
  ["POST", "/api/2.0/mlflow/experiments/create", (v) => ({ name: v }), "/name"],
  [
    "POST",
    "/api/2.0/mlflow/experiments/update",
    (v) => ({ experiment_id: "1", new_name: v }),
    "/new_name",
  ],
  [
    "POST",
    "/api/2.0/mlflow/experiments/set-experiment-tag",
    (v) => ({ experiment_id: "1", key: "mlflow.note.content", value: v }),
    "/value",
  ],
  [
    "POST",
    "/api/2.0/mlflow/runs/create",
    (v) => ({
      experiment_id: "1",
      run_name: "r",
      tags: [{ key: "a", value: "b" }, { key: "k", value: v }],
    }),
    "/tags/1/value",
  ],
  ["POST", "/api/2.0/mlflow/runs/update", (v) => ({ run_id: "r", run_name: v }), "/run_name"],
  [
    "POST",
    "/api/2.0/mlflow/runs/log-parameter",
    (v) => ({ run_id: "r", key: "p", value: v }),
    "/value",
  ],
  ["POST", "/api/2.0/mlflow/runs/set-tag", (v) => ({ run_id: "r", key: "t", value: v }), "/value"],
  [
    "POST",
    "/api/2.0/mlflow/runs/log-metric",
    (v) => ({ run_id: "r", key: v, value: 1.5, timestamp: 1, step: 0 }),
    "/key",
  ],
  [
    "POST",
    "/api/2.0/mlflow/runs/log-batch",
    (v) => ({
      run_id: "r",
      metrics: [],
      params: [{ key: "a", value: "1" }, { key: "b", value: "2" }, { key: "c", value: "3" }, {
        key: "d",
        value: v,
      }],
      tags: [],
    }),
    "/params/3/value",
  ],
  [
    "POST",
    "/api/2.0/mlflow/runs/log-inputs",
    (v) => ({
      run_id: "r",
      datasets: [{
        tags: [],
        dataset: {
          name: "d",
          digest: "x",
          source_type: "local",
          source: JSON.stringify({ uri: v }),
        },
      }],
    }),
    "/datasets/0/dataset/source",
  ],
  [
    "POST",
    "/api/2.0/mlflow/runs/outputs",
    (v) => ({ run_id: "r", models: [{ model_id: v, step: 0 }] }),
    "/models/0/model_id",
  ],
  [
    "POST",
    "/api/2.0/mlflow/logged-models",
    (v) => ({ experiment_id: "1", name: "m", params: [{ key: "p", value: v }] }),
    "/params/0/value",
  ],
  [
    "PATCH",
    "/api/2.0/mlflow/logged-models/m-123/tags",
    (v) => ({ tags: [{ key: "t", value: v }] }),
    "/tags/0/value",
  ],
  [
    "POST",
    "/api/2.0/mlflow/registered-models/create",
    (v) => ({ name: "m", description: v }),
    "/description",
  ],
  [
    "PATCH",
    "/api/2.0/mlflow/registered-models/update",
    (v) => ({ name: "m", description: v }),
    "/description",
  ],
  [
    "POST",
    "/api/2.0/mlflow/registered-models/set-tag",
    (v) => ({ name: "m", key: "k", value: v }),
    "/value",
  ],
  [
    "POST",
    "/api/2.0/mlflow/model-versions/create",
    (v) => ({ name: "m", source: "s", tags: [{ key: "k", value: v }] }),
    "/tags/0/value",
  ],
  [
    "PATCH",
    "/api/2.0/mlflow/model-versions/update",
    (v) => ({ name: "m", version: "1", description: v }),
    "/description",
  ],
  [
    "POST",
    "/api/2.0/mlflow/model-versions/set-tag",
    (v) => ({ name: "m", version: "1", key: "k", value: v }),
    "/value",
  ],
  ["PATCH", "/api/2.0/mlflow/traces/tr-1/tags", (v) => ({ key: "k", value: v }), "/value"],
  ["PATCH", "/api/3.0/mlflow/traces/tr-1/tags", (v) => ({ key: "k", value: v }), "/value"],
  [
    "POST",
    "/api/3.0/mlflow/traces",
    (v) => ({
      trace: {
        trace_info: {
          trace_id: "tr-1",
          trace_metadata: { "mlflow.user": "u" },
          tags: { "mlflow.traceName": v },
        },
      },
    }),
    "/trace/trace_info/tags/mlflow.traceName",
  ],
  [
    "POST",
    "/api/3.0/mlflow/traces/tr-1/assessments",
    (v) => ({ assessment: { feedback: { value: v } } }),
    "/assessment/feedback/value",
  ],
  [
    "POST",
    "/api/3.0/mlflow/datasets/create",
    (v) => ({ name: "d", tags: JSON.stringify({ k: v }) }),
    "/tags",
  ],
  [
    "POST",
    "/ajax-api/2.0/mlflow/runs/log-parameter",
    (v) => ({ run_id: "r", key: "p", value: v }),
    "/value",
  ],
  [
    "POST",
    "/mlflow/prefix/api/2.0/mlflow/runs/set-tag",
    (v) => ({ run_id: "r", key: "t", value: v }),
    "/value",
  ],
  [
    "POST",
    "/v1/traces",
    (v) => ({
      resourceSpans: [{
        scopeSpans: [{
          spans: [{ name: "s", attributes: [{ key: "a", value: { stringValue: v } }] }],
        }],
      }],
    }),
    "/resourceSpans/0/scopeSpans/0/spans/0/attributes/0/value/stringValue",
  ],
];

function jsonBody(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

Deno.test("inspectRequest() finds a secret in each write endpoint's field and names its JSON pointer", () => {
  const r = redactor(CANARY);
  for (const [method, path, body, pointer] of WRITES) {
    const contentType = "application/json";
    const finding = inspectRequest({
      method,
      path,
      contentType,
      body: jsonBody(body(`x ${CANARY} y`)),
    }, r);
    assertEquals(finding?.field, pointer, `${method} ${path}`);
    assertEquals(finding?.reason, "secret");
    const clean = inspectRequest(
      { method, path, contentType, body: jsonBody(body("clean value")) },
      r,
    );
    assertEquals(clean, undefined, `${method} ${path} clean`);
  }
});

Deno.test("guardedEndpoint() labels endpoints with identifiers replaced, and leaves reads and artifacts alone", () => {
  assertEquals(
    guardedEndpoint("PATCH", "/api/3.0/mlflow/traces/tr-abc/tags"),
    "PATCH /api/3.0/mlflow/traces/{id}/tags",
  );
  assertEquals(
    guardedEndpoint("post", "/api/2.0mlflow/experiments/search-datasets"),
    "POST /api/2.0/mlflow/experiments/search-datasets",
  );
  assertEquals(
    guardedEndpoint("DELETE", "/api/2.0/mlflow/logged-models/m-1/tags/some-key"),
    "DELETE /api/2.0/mlflow/logged-models/{id}/tags/{id}",
  );
  assertEquals(guardedEndpoint("POST", "/prefix/v1/traces"), "POST /v1/traces");
  assertEquals(guardedEndpoint("GET", "/api/2.0/mlflow/runs/get"), undefined);
  assertEquals(
    guardedEndpoint("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/model.pkl"),
    undefined,
  );
  assertEquals(guardedEndpoint("POST", "/ajax-api/2.0/mlflow/upload-artifact"), undefined);
  assertEquals(guardedEndpoint("POST", "/health"), undefined);
});

Deno.test("inspectRequest() lets unguarded requests through unread, even holding a secret", () => {
  const r = redactor(CANARY);
  const body = enc.encode(CANARY);
  assertEquals(
    inspectRequest({ method: "GET", path: "/api/2.0/mlflow/runs/get", body }, r),
    undefined,
  );
  assertEquals(
    inspectRequest({ method: "PUT", path: "/api/2.0/mlflow-artifacts/artifacts/a.txt", body }, r),
    undefined,
  );
});

Deno.test("inspectRequest() reads bodies as MLflow does: escapes, UTF-16, double encoding, any content type", () => {
  const r = redactor("sécret-ünïcode-42");
  const path = "/api/2.0/mlflow/runs/log-parameter";
  const method = "POST";
  // Python's json.dumps escapes non-ASCII as \uXXXX (ensure_ascii), and "/" may be escaped.
  const escaped = JSON.stringify({ run_id: "r", key: "p", value: "sécret-ünïcode-42" })
    .replace(/[^ -~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  assertEquals(inspectRequest({ method, path, body: enc.encode(escaped) }, r)?.field, "/value");
  const text = JSON.stringify({ run_id: "r", key: "p", value: "sécret-ünïcode-42" });
  const utf16 = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) utf16[2 * i] = text.charCodeAt(i);
  assertEquals(
    inspectRequest({ method, path, contentType: "text/plain", body: utf16 }, r)?.field,
    "/value",
  );
  const utf32 = new Uint8Array(text.length * 4);
  for (let i = 0; i < text.length; i++) utf32[4 * i + 3] = text.charCodeAt(i);
  assertEquals(inspectRequest({ method, path, body: utf32 }, r)?.field, "/value");
  assertEquals(
    inspectRequest({ method, path, body: enc.encode(JSON.stringify(text)) }, r)?.field,
    "/value",
  );
  assertEquals(
    inspectRequest({ method, path, body: enc.encode("\ufeff" + text) }, r)?.field,
    "/value",
  );
  // Not JSON at all: still read as text.
  assertEquals(
    inspectRequest({ method, path, body: enc.encode("value=sécret-ünïcode-42") }, r)?.field,
    "(body)",
  );
  // A member name holding the secret: the pointer of its object, not the name.
  const named = inspectRequest({
    method: "POST",
    path: "/api/3.0/mlflow/traces",
    body: jsonBody({ trace: { trace_info: { tags: { "sécret-ünïcode-42": "v" } } } }),
  }, r);
  assertEquals(named?.field, "/trace/trace_info/tags (a member name)");
});

Deno.test("inspectRequest() finds a numeric secret logged as a metric value", () => {
  const r = redactor(987654321);
  const body = enc.encode('{"run_id":"r","key":"m","value":987654321.0,"timestamp":1,"step":0}');
  assertEquals(
    inspectRequest({ method: "POST", path: "/api/2.0/mlflow/runs/log-metric", body }, r)?.field,
    "/value",
  );
});

Deno.test("inspectRequest() reads gzip trace exports and protobuf ones", () => {
  const r = redactor(CANARY);
  const otlp = jsonBody({
    resourceSpans: [{
      scopeSpans: [{ spans: [{ attributes: [{ key: "k", value: { stringValue: CANARY } }] }] }],
    }],
  });
  const gz = inspectRequest({
    method: "POST",
    path: "/v1/traces",
    contentType: "application/json",
    contentEncoding: "gzip",
    body: gzipSync(otlp),
  }, r);
  assertEquals(gz?.field, "/resourceSpans/0/scopeSpans/0/spans/0/attributes/0/value/stringValue");
  // A protobuf string field: tag, length, UTF-8 bytes.
  const bytes = enc.encode(CANARY);
  const proto = new Uint8Array(
    [0x0a, 4 + bytes.length, 0x12, 2 + bytes.length, 0x1a, bytes.length, ...bytes].slice(
      0,
      6 + bytes.length,
    ),
  );
  const pb = inspectRequest({
    method: "POST",
    path: "/v1/traces",
    contentType: "application/x-protobuf",
    body: proto,
  }, r);
  assertEquals(pb?.field, "(protobuf body)");
  assertEquals(
    inspectRequest({
      method: "POST",
      path: "/v1/traces",
      contentType: "application/x-protobuf",
      body: new Uint8Array([0x0a, 2, 0x12, 0]),
    }, r),
    undefined,
  );
});

Deno.test("inspectRequest() fails closed on a body it cannot read", () => {
  const r = redactor(CANARY);
  const path = "/api/2.0/mlflow/runs/log-batch";
  const br = inspectRequest(
    { method: "POST", path, contentEncoding: "br", body: enc.encode("x") },
    r,
  );
  assertEquals(br?.reason, "unreadable");
  const big = inspectRequest({ method: "POST", path, body: new Uint8Array(2048) }, r, {
    maxBytes: 1024,
  });
  assertEquals(big?.reason, "unreadable");
  const bomb = inspectRequest(
    { method: "POST", path, contentEncoding: "gzip", body: gzipSync(new Uint8Array(4096)) },
    r,
    { maxBytes: 1024 },
  );
  assertEquals(bomb?.reason, "unreadable");
  // Zero bytes are read as UTF-32, as Python reads them, not refused.
  assertEquals(inspectRequest({ method: "POST", path, body: new Uint8Array(4096) }, r), undefined);
});

Deno.test("leakGuardResponse() is MLflow's error body naming endpoint and field, never the value", async () => {
  const r = redactor(CANARY);
  const finding = inspectRequest({
    method: "POST",
    path: "/api/2.0/mlflow/runs/log-batch",
    body: jsonBody({ params: [{ key: "k", value: CANARY }] }),
  }, r)!;
  const response = leakGuardResponse(finding);
  assertEquals(response.status, 400);
  const body = await response.json();
  assertEquals(body.error_code, "INVALID_PARAMETER_VALUE");
  assert(
    body.message.includes('"/params/0/value"') && body.message.includes("runs/log-batch"),
    body.message,
  );
  assertNoCanary(body, CANARY);
  assertNoCanary(leakGuardMessage(finding, "warn"), CANARY);
});

// ---- properties ----------------------------------------------------------------------------

/** The forms a secret travels in, that the guard must catch. */
function forms(secret: string, user: string): string[] {
  return [
    secret,
    btoa(secret),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    `Bearer ${secret}`,
    btoa(`${user}:${secret}`),
    `${user}:${secret}`,
  ];
}

const secretArb = fc.string({ unit: "grapheme-ascii", minLength: 8, maxLength: 40 })
  .filter((s) => s.trim().length >= 8);
const textArb = fc.string({ maxLength: 20 });

/** A JSON body with string leaves; `path` lists the pointer segments of one chosen leaf. */
const bodyArb = fc.jsonValue({ maxDepth: 3 }).filter((v) => v !== null && typeof v === "object");

function leaves(value: unknown, pointer = ""): string[] {
  if (typeof value === "string") return [pointer];
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, `${pointer}/${i}`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) =>
      leaves(v, `${pointer}/${k.replaceAll("~", "~0").replaceAll("/", "~1")}`)
    );
  }
  return [];
}

function setAt(root: unknown, pointer: string, value: string): unknown {
  const parts = pointer.split("/").slice(1).map((p) =>
    p.replaceAll("~1", "/").replaceAll("~0", "~")
  );
  const copy = structuredClone(root) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
  node[parts.at(-1)!] = value;
  return copy;
}

const endpointArb = fc.constantFrom(...WRITES.map(([m, p]) => [m, p] as const));

Deno.test("inspectRequest() property: a secret in any form, in any string field of any write endpoint's body, is found at its pointer", () => {
  check(
    fc.property(
      secretArb,
      fc.string({ minLength: 3, maxLength: 10 }),
      endpointArb,
      bodyArb,
      fc.nat(),
      fc.nat(),
      textArb,
      textArb,
      (secret, user, [method, path], body, leafPick, formPick, before, after) => {
        // Registered as the resolver registers a basic-auth secret: its fields, the header value
        // and the credential in it.
        const credential = btoa(`${user}:${secret}`);
        const r = redactor({ user, password: secret }, `Basic ${credential}`, credential);
        const target = leaves(body).filter((p) => r.search(p) < 0);
        fc.pre(target.length > 0);
        const pointer = target[leafPick % target.length]!;
        const all = forms(secret, user);
        const form = all[formPick % all.length]!;
        const dirty = setAt(body, pointer, before + form + after);
        const contentType = path.endsWith("/v1/traces") ? "application/json" : "text/plain";
        const finding = inspectRequest({ method, path, contentType, body: jsonBody(dirty) }, r);
        assert(finding !== undefined, "not found");
        // Another field may already hold the secret by chance (fast-check's strings): the
        // finding is then an earlier leaf; else exactly this one.
        const first = leaves(dirty).find((p) => {
          const value = pointerValue(dirty, p);
          return r.search(value) >= 0;
        });
        assertEquals(finding.field, first);
        assertNoCanary(leakGuardMessage(finding, "block"), secret);
      },
    ),
  );
});

function pointerValue(root: unknown, pointer: string): string {
  let node = root as Record<string, unknown>;
  for (const p of pointer.split("/").slice(1)) {
    node = node[p.replaceAll("~1", "/").replaceAll("~0", "~")] as Record<string, unknown>;
  }
  return node as unknown as string;
}

Deno.test("inspectRequest() property: a clean body passes, whatever it holds", () => {
  check(
    fc.property(secretArb, endpointArb, bodyArb, (secret, [method, path], body) => {
      const r = redactor(secret);
      const text = JSON.stringify(body);
      const containsSecret = (value: unknown): boolean =>
        typeof value === "string"
          ? r.search(value) >= 0
          : typeof value === "number"
          ? r.search(String(value)) >= 0
          : Array.isArray(value)
          ? value.some(containsSecret)
          : value !== null && typeof value === "object"
          ? Object.entries(value).some(([k, v]) => r.search(k) >= 0 || containsSecret(v))
          : false;
      fc.pre(!containsSecret(body));
      assertEquals(
        inspectRequest(
          { method, path, contentType: "application/json", body: enc.encode(text) },
          r,
        ),
        undefined,
      );
    }),
  );
});

Deno.test("guardedEndpoint() reads the path as the server routes it: percent-escapes, %2F, doubled slashes, dot segments", () => {
  const param = "POST /api/2.0/mlflow/runs/log-parameter";
  for (
    const path of [
      "/%61pi/2.0/mlflow/runs/log-parameter",
      "/api%2F2.0%2Fmlflow%2Fruns%2Flog-parameter",
      "/api/2%2E0/mlflow/runs/log-parameter",
      "/api/2.0/%6Dlflow/runs/log-parameter",
      "/%2561pi/2.0/mlflow/runs/log-parameter",
      "/api//2.0//mlflow/runs/log-parameter",
      "/API/2.0/MLFLOW/runs/log-parameter",
      "/api;x=1/2.0/mlflow/runs/log-parameter",
    ]
  ) {
    const label = guardedEndpoint("POST", path);
    assert(label !== undefined, path);
    assertEquals(label.toLowerCase(), param.toLowerCase(), path);
  }
  assert(guardedEndpoint("POST", "/api/2.0/mlflow/runs/log-parameter%0A") !== undefined);
  // The artifact upload route is exempt only as itself, not as a way around through `..`.
  assertEquals(guardedEndpoint("POST", "/ajax-api/2.0/mlflow/upload-artifact"), undefined);
  assert(
    guardedEndpoint("POST", "/ajax-api/2.0/mlflow/upload-artifact%2F..%2Fruns%2Flog-parameter") !==
      undefined,
  );
  assertEquals(guardedEndpoint("POST", "/v1/trace%73"), "POST /v1/traces");
  assertEquals(guardedEndpoint("POST", "/%76%31/traces/"), "POST /v1/traces");
  assertEquals(guardedEndpoint("PUT", "/api/2.0/mlflow-artifacts/artifacts/a%2Fb.txt"), undefined);
});

Deno.test("inspectRequest() reads NaN and Infinity as Python's JSON does, so \\u escapes beside them do not hide a secret", () => {
  const r = redactor(CANARY);
  const hidden = [...CANARY].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .join("");
  for (const constant of ["NaN", "Infinity", "-Infinity"]) {
    const body = enc.encode(
      `{"run_id":"r","metrics":[{"key":"${hidden}","value":${constant},"timestamp":1,"step":0}]}`,
    );
    assertEquals(
      inspectRequest({ method: "POST", path: "/api/2.0/mlflow/runs/log-batch", body }, r)?.field,
      "/metrics/0/key",
      constant,
    );
  }
  // The words inside strings are data, not constants: a clean body stays clean.
  const clean = enc.encode(`{"run_id":"r","key":"NaN \\"Infinity\\"","value":"-Infinity"}`);
  assertEquals(
    inspectRequest({ method: "POST", path: "/api/2.0/mlflow/runs/set-tag", body: clean }, r),
    undefined,
  );
});

Deno.test("inspectRequest() finds the secret in the URL of a write: the query (decoded or not) and identifiers in the path", () => {
  const r = redactor(CANARY);
  const none = new Uint8Array(0);
  for (
    const query of [
      `?t=${CANARY}`,
      `?t=${encodeURIComponent(CANARY)}`,
      `?a=1&t=${encodeURIComponent(CANARY).replaceAll("%2F", "/")}`,
    ]
  ) {
    assertEquals(
      inspectRequest({
        method: "DELETE",
        path: "/api/2.0/mlflow/runs/delete-tag",
        query,
        body: none,
      }, r)
        ?.field,
      "(URL query)",
      query,
    );
  }
  assertEquals(
    inspectRequest({
      method: "PATCH",
      path: `/api/3.0/mlflow/traces/${encodeURIComponent(CANARY)}/tags`,
      body: enc.encode("{}"),
    }, r)?.field,
    "(URL path)",
  );
  // A read is not guarded, query or not.
  assertEquals(
    inspectRequest({
      method: "GET",
      path: "/api/2.0/mlflow/runs/get",
      query: `?x=${CANARY}`,
      body: none,
    }, r),
    undefined,
  );
});

Deno.test("inspectRequest() reads a raw deflate body, as MLflow's trace intake does", () => {
  const body = deflateRawSync(enc.encode(JSON.stringify({ resourceSpans: [{ x: CANARY }] })));
  assertEquals(
    inspectRequest({
      method: "POST",
      path: "/v1/traces",
      contentType: "application/json",
      contentEncoding: "deflate",
      body,
    }, redactor(CANARY))?.field,
    "/resourceSpans/0/x",
  );
});

Deno.test("guardedEndpoint() guards MLflow's job API and AI gateway too, with labels that stay bounded", () => {
  assertEquals(guardedEndpoint("POST", "/ajax-api/3.0/jobs/"), "POST /ajax-api/3.0/jobs/");
  assertEquals(
    guardedEndpoint("PATCH", "/ajax-api/3.0/jobs/cancel/job-123"),
    "PATCH /ajax-api/3.0/jobs/cancel/{id}",
  );
  assertEquals(
    guardedEndpoint("POST", "/gateway/gemini/v1beta/models/my-endpoint:generateContent"),
    "POST /gateway/gemini/v1beta/models/{id}",
  );
  // A route's `{path:path}` part is one identifier however deep.
  assertEquals(guardedEndpoint("POST", "/gateway/proxy/ep/a/b/c/d"), "POST /gateway/proxy/{id}");
  assertEquals(
    guardedEndpoint("PATCH", "/api/3.0/mlflow/mcp-servers/a/b/c/versions/1"),
    "PATCH /api/3.0/mlflow/mcp-servers/{id}/versions/{id}",
  );
  const r = redactor(CANARY);
  const prompt = enc.encode(JSON.stringify({ messages: [{ role: "user", content: CANARY }] }));
  assertEquals(
    inspectRequest({ method: "POST", path: "/gateway/mlflow/v1/chat/completions", body: prompt }, r)
      ?.field,
    "/messages/0/content",
  );
  assertEquals(guardedEndpoint("GET", "/ajax-api/3.0/jobs/job-1"), undefined);
});

Deno.test("inspectRequest() decodes an OpenTelemetry bytesValue: base64 of a byte and the secret is found", () => {
  const r = redactor(CANARY);
  for (const [prefix, key] of [["x", "bytesValue"], ["ab", "bytes_value"], ["", "bytesValue"]]) {
    const bytes = btoa(`${prefix}${CANARY}`).replace(/=+$/, "");
    const body = enc.encode(JSON.stringify({
      resourceSpans: [{
        scopeSpans: [{ spans: [{ attributes: [{ key: "b", value: { [key!]: bytes } }] }] }],
      }],
    }));
    assertEquals(
      inspectRequest(
        { method: "POST", path: "/v1/traces", contentType: "application/json", body },
        r,
      )?.field,
      `/resourceSpans/0/scopeSpans/0/spans/0/attributes/0/value/${key}`,
      prefix,
    );
  }
  const clean = enc.encode(JSON.stringify({ value: { bytesValue: btoa("harmless bytes") } }));
  assertEquals(
    inspectRequest({
      method: "POST",
      path: "/v1/traces",
      contentType: "application/json",
      body: clean,
    }, r),
    undefined,
  );
});
