/**
 * The leak guard's cost on a 1 MB `runs/log-batch` body (the size MLflow's own limits allow: 800
 * metrics, 100 params and 100 tags of some 4 KB each), in the same run:
 *
 * - the check alone (`inspectRequest`), on a plain ASCII body and on one full of JSON escapes
 *   (Python's `json.dumps` writes non-ASCII text as `\uXXXX`), which takes the slow path;
 * - a whole middleware request to a local server that reads the body, with `leak_guard: off`
 *   (baseline) and `block`;
 * - the same through the proxy, `off` against `block`.
 *
 * Run: deno bench -A bench/leak_guard_bench.ts
 */

import { createAuthFetch } from "../http/auth_fetch.ts";
import { inspectRequest } from "../http/leak_guard.ts";
import { startProxy } from "../http/proxy.ts";
import { Redactor } from "../core/redact.ts";
import { parseProfile } from "../mod.ts";

const TOKEN = "bench-token-4f1c9e2a7b3d";

function logBatch(text: string): string {
  const metrics = Array.from({ length: 800 }, (_, i) => ({
    key: `metric_${i % 50}`,
    value: Math.random(),
    timestamp: 1764590000000 + i,
    step: i,
  }));
  const params = Array.from({ length: 100 }, (_, i) => ({ key: `param_${i}`, value: text }));
  const tags = Array.from({ length: 100 }, (_, i) => ({ key: `tag_${i}`, value: text }));
  return JSON.stringify({ run_id: "0123456789abcdef", metrics, params, tags });
}

const ascii = logBatch("x".repeat(4700).replace(/x/g, () => "abcdefgh "[Math.random() * 9 | 0]!));
const escaped = logBatch("é".repeat(800)).replace(/é/g, "\\u00e9");
const asciiBytes = new TextEncoder().encode(ascii);
const escapedBytes = new TextEncoder().encode(escaped);
if (asciiBytes.length < 1_000_000 || escapedBytes.length < 1_000_000) {
  throw new Error(`bodies too small: ${asciiBytes.length}, ${escapedBytes.length}`);
}

const redactor = new Redactor();
redactor.add(TOKEN);
redactor.add(`Bearer ${TOKEN}`);
const path = "/api/2.0/mlflow/runs/log-batch";
for (const body of [asciiBytes, escapedBytes]) {
  if (inspectRequest({ method: "POST", path, body }, redactor) !== undefined) {
    throw new Error("clean body refused");
  }
}

Deno.bench("decode the body (baseline)", { group: "check only, 1 MB", baseline: true }, () => {
  new TextDecoder().decode(asciiBytes);
});
Deno.bench("inspectRequest, ASCII body", { group: "check only, 1 MB" }, () => {
  inspectRequest({ method: "POST", path, body: asciiBytes }, redactor);
});
Deno.bench("inspectRequest, \\u-escaped body (parse path)", { group: "check only, 1 MB" }, () => {
  inspectRequest({ method: "POST", path, body: escapedBytes }, redactor);
});

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  async (req) => new Response(String((await req.arrayBuffer()).byteLength)),
);
const origin = `http://127.0.0.1:${server.addr.port}`;

function profile(mode: string) {
  return parseProfile(
    `version: 1
leak_guard: ${mode}
providers: { e: { kind: env } }
hosts:
  - { match: "${origin}", provider: e, secret: { var: T }, auth: bearer }
`,
    { env: {} },
  );
}

const options = { env: () => TOKEN, logWrite: () => {} };
const off = createAuthFetch(profile("off"), options);
const block = createAuthFetch(profile("block"), options);
const url = `${origin}${path}`;
for (const f of [off, block]) {
  const res = await f(url, { method: "POST", body: asciiBytes });
  if (await res.text() !== String(asciiBytes.length)) throw new Error("body not forwarded");
}

Deno.bench(
  "leak_guard: off (baseline)",
  { group: "middleware, 1 MB log-batch", baseline: true },
  async () => {
    await (await off(url, { method: "POST", body: asciiBytes })).text();
  },
);
Deno.bench("leak_guard: block", { group: "middleware, 1 MB log-batch" }, async () => {
  await (await block(url, { method: "POST", body: asciiBytes })).text();
});

const proxyOff = await startProxy(profile("off"), {
  upstream: origin,
  ...options,
  accessLog: false,
});
const proxyBlock = await startProxy(profile("block"), {
  upstream: origin,
  ...options,
  accessLog: false,
});
const init = { method: "POST", body: asciiBytes, headers: { "content-type": "application/json" } };
for (const p of [proxyOff, proxyBlock]) {
  const res = await fetch(`${p.url}${path}`, init);
  if (await res.text() !== String(asciiBytes.length)) throw new Error("proxy did not forward");
}

Deno.bench(
  "leak_guard: off (baseline)",
  { group: "proxy, 1 MB log-batch", baseline: true },
  async () => {
    await (await fetch(`${proxyOff.url}${path}`, init)).text();
  },
);
Deno.bench("leak_guard: block", { group: "proxy, 1 MB log-batch" }, async () => {
  await (await fetch(`${proxyBlock.url}${path}`, init)).text();
});

globalThis.addEventListener("unload", () => {
  server.shutdown();
  void proxyOff.shutdown();
  void proxyBlock.shutdown();
  void off.close();
  void block.close();
});
