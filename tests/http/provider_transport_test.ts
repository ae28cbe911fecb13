/**
 * Provider traffic never travels on the tracking fetch: `createAuthFetch`, `installGlobalFetch`
 * and `startProxy` take a `fetch` for the tracking server only; Vault calls (X-Vault-Token
 * included) go through `providerFetch` (default `globalThis.fetch`).
 */

import { parseProfile } from "../../mod.ts";
import { createAuthFetch } from "../../http/auth_fetch.ts";
import { installGlobalFetch } from "../../http/global_fetch.ts";
import { startProxy } from "../../http/proxy.ts";
import { VaultDouble } from "../_peers/vault_double.ts";
import { assert, assertEquals } from "../_assert.ts";
import { startServer } from "../_servers.ts";

const TOKEN = `mlflow-${crypto.randomUUID()}`;

/** A fetch that records every URL it is asked for, then really fetches it. */
function recording(inner: typeof fetch = globalThis.fetch): typeof fetch & { urls: string[] } {
  const urls: string[] = [];
  const f = (input: string | URL | Request, init?: RequestInit) => {
    urls.push(input instanceof Request ? input.url : String(input));
    return inner(input, init);
  };
  return Object.assign(f, { urls });
}

async function setup() {
  const vault = await VaultDouble.start();
  vault.mountKv("secret", 2);
  vault.writeKv("secret", "mlflow/auth", { token: TOKEN });
  vault.writePolicy("reader", { "secret/data/mlflow/*": ["read"] });
  const vaultToken = vault.createToken({ policies: ["reader"] });
  const tracking = await startServer((req) =>
    new Response(req.headers.get("authorization") === `Bearer ${TOKEN}` ? "ok" : "no", {
      status: req.headers.get("authorization") === `Bearer ${TOKEN}` ? 200 : 401,
    })
  );
  const profile = parseProfile(
    `version: 1
providers:
  corp-vault: { kind: vault, address: "${vault.address}", auth: { method: token, token_env: VAULT_TOKEN } }
hosts:
  - { match: "${tracking.origin}", provider: corp-vault, secret: { path: mlflow/auth, mount: secret, kv: 2, field: token }, auth: bearer }
`,
    { env: {} },
  );
  const env = (n: string) => n === "VAULT_TOKEN" ? vaultToken : undefined;
  return {
    vault,
    tracking,
    profile,
    env,
    async [Symbol.asyncDispose]() {
      await tracking.close();
      await vault.shutdown();
    },
  };
}

function onlyTracking(urls: readonly string[], origin: string, vault: string): void {
  assert(urls.length > 0, "the tracking fetch was never used");
  for (const u of urls) {
    assert(!u.startsWith(vault), `provider traffic on the tracking fetch: ${u}`);
    assert(u.startsWith(origin), `unexpected URL on the tracking fetch: ${u}`);
  }
}

Deno.test("createAuthFetch() sends provider calls through providerFetch, never through fetch", async () => {
  await using s = await setup();
  const tracking = recording();
  const providers = recording();
  await using f = createAuthFetch(s.profile, {
    env: s.env,
    fetch: tracking,
    providerFetch: providers,
    logWrite: () => {},
  });
  assertEquals(await (await f(`${s.tracking.origin}/api/2.0/mlflow/runs/get`)).text(), "ok");
  onlyTracking(tracking.urls, s.tracking.origin, s.vault.address);
  assert(providers.urls.some((u) => u.startsWith(s.vault.address)), "providerFetch unused");
  assert(s.vault.requests.some((r) => r.token === "valid"), "Vault never read");

  // Without providerFetch, providers use globalThis.fetch, still not the tracking fetch.
  const tracking2 = recording();
  s.vault.clearRequests();
  await using g = createAuthFetch(s.profile, { env: s.env, fetch: tracking2, logWrite: () => {} });
  assertEquals(await (await g(`${s.tracking.origin}/x`)).text(), "ok");
  onlyTracking(tracking2.urls, s.tracking.origin, s.vault.address);
  assert(s.vault.requests.length > 0, "Vault never read");
});

Deno.test("installGlobalFetch() keeps provider calls off the caller's fetch and off the installed wrapper", async () => {
  await using s = await setup();
  const tracking = recording();
  const original = globalThis.fetch;
  {
    await using _installed = installGlobalFetch(s.profile, {
      env: s.env,
      fetch: tracking,
      logWrite: () => {},
    });
    const res = await globalThis.fetch(`${s.tracking.origin}/api/2.0/mlflow/runs/get`);
    assertEquals(await res.text(), "ok");
  }
  assert(globalThis.fetch === original, "not restored");
  onlyTracking(tracking.urls, s.tracking.origin, s.vault.address);
  assert(s.vault.requests.some((r) => r.token === "valid"), "Vault never read");
});

Deno.test("startProxy() forwards on fetch and resolves secrets on providerFetch", async () => {
  await using s = await setup();
  const tracking = recording();
  const providers = recording();
  await using proxy = await startProxy(s.profile, {
    upstream: s.tracking.origin,
    env: s.env,
    fetch: tracking,
    providerFetch: providers,
    accessLog: false,
    logWrite: () => {},
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
  assertEquals(await res.text(), "ok");
  onlyTracking(tracking.urls, s.tracking.origin, s.vault.address);
  assert(providers.urls.some((u) => u.startsWith(s.vault.address)), "providerFetch unused");
});
