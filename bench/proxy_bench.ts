/**
 * The proxy's per-request cost: a request to a local server directly, through a naive
 * Deno.serve + fetch pass-through, and through `startProxy` (client token checked, credential
 * injected, hop-by-hop headers filtered, metrics counted). One connection, one process.
 * Run: deno task bench
 */

import { parseProfile } from "../mod.ts";
import { startProxy } from "../http/proxy.ts";

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (req) => new Response(req.headers.get("authorization") === null ? "anonymous" : "ok"),
);
const origin = `http://127.0.0.1:${server.addr.port}`;
const profile = parseProfile(
  `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "${origin}", provider: e, secret: { var: T }, auth: bearer }
`,
  { env: {} },
);
const clientToken = "bench-client-token-0123456789";
const proxy = await startProxy(profile, {
  upstream: origin,
  env: () => "bench-token",
  clientToken,
  accessLog: false,
});
const naive = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const u = new URL(req.url);
  const res = await fetch(`${origin}${u.pathname}${u.search}`, {
    method: req.method,
    headers: req.headers,
    body: req.body,
  });
  return new Response(res.body, { status: res.status, headers: res.headers });
});
const path = "/api/2.0/mlflow/experiments/search?max_results=1";
const headers = { authorization: `Bearer ${clientToken}` };
await (await fetch(`${proxy.url}${path}`, { headers })).text(); // warm the cache

Deno.bench("fetch, direct (baseline)", { group: "GET via proxy", baseline: true }, async () => {
  await (await fetch(`${origin}${path}`, { headers })).text();
});

Deno.bench("naive Deno.serve + fetch pass-through", { group: "GET via proxy" }, async () => {
  await (await fetch(`http://127.0.0.1:${naive.addr.port}${path}`, { headers })).text();
});

Deno.bench("startProxy (token check, injection, metrics)", { group: "GET via proxy" }, async () => {
  await (await fetch(`${proxy.url}${path}`, { headers })).text();
});

globalThis.addEventListener("unload", () => {
  proxy.shutdown();
  naive.shutdown();
  server.shutdown();
});
