/**
 * The cached path of the middleware against plain fetch, one connection, same local server.
 * Run: deno task bench
 */

import { createAuthFetch } from "../http/auth_fetch.ts";
import { parseProfile } from "../mod.ts";

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (req) => new Response(req.headers.get("authorization") === null ? "anonymous" : "ok"),
);
const origin = `http://127.0.0.1:${server.addr.port}`;
const profile = parseProfile(
  `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "${origin}", provider: e, secret: { var: T }, auth: bearer, headers: { X-MLFLOW-WORKSPACE: team-a } }
`,
  { env: {} },
);
const authFetch = createAuthFetch(profile, { env: () => "bench-token", logWrite: () => {} });
const url = `${origin}/api/2.0/mlflow/experiments/search?max_results=1`;
await (await authFetch(url)).text(); // warm the cache

Deno.bench("fetch (baseline)", { group: "GET search", baseline: true }, async () => {
  await (await fetch(url, {
    headers: { Authorization: "Bearer bench-token", "X-MLFLOW-WORKSPACE": "team-a" },
  })).text();
});

Deno.bench("createAuthFetch (cached secret)", { group: "GET search" }, async () => {
  await (await authFetch(url)).text();
});

const body = JSON.stringify({ run_id: "r", key: "loss", value: 0.5, timestamp: 0, step: 1 });

Deno.bench("fetch (baseline)", { group: "POST log-metric", baseline: true }, async () => {
  await (await fetch(url, {
    method: "POST",
    body,
    headers: { Authorization: "Bearer bench-token" },
  }))
    .text();
});

Deno.bench("createAuthFetch (cached secret)", { group: "POST log-metric" }, async () => {
  await (await authFetch(url, { method: "POST", body })).text();
});

// The middleware's own cost, without a network: the inner fetch is a stub.
const stub = (_input: unknown, init?: RequestInit) => {
  new Headers(init?.headers);
  return Promise.resolve(new Response(null));
};
const stubbed = createAuthFetch(profile, {
  env: () => "bench-token",
  logWrite: () => {},
  fetch: stub as typeof fetch,
});
await stubbed(url);

Deno.bench("stub fetch (baseline)", { group: "middleware only", baseline: true }, async () => {
  await stub(url, { headers: { Authorization: "Bearer bench-token" } });
});

Deno.bench("createAuthFetch over the stub", { group: "middleware only" }, async () => {
  await stubbed(url);
});

globalThis.addEventListener("unload", () => {
  server.shutdown();
});
