import { createAuthFetch } from "../../http/auth_fetch.ts";
import { installGlobalFetch } from "../../http/global_fetch.ts";
import { parseProfile } from "../../mod.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import type { ProviderFactory } from "../../providers/types.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { issueTestCertificates } from "../_tls.ts";

function profileFor(rules: string, providers = "e: { kind: env }") {
  return parseProfile(`version: 1\nproviders: { ${providers} }\nhosts:\n${rules}`, { env: {} });
}

function rule(match: string, extra: string) {
  return `  - { match: "${match}", ${extra} }\n`;
}

const env = (values: Record<string, string>) => (name: string) => values[name];

Deno.test("createAuthFetch() injects the rule's headers, replacing a caller header of the same name", async () => {
  await using server = await startServer(() => new Response("ok"));
  const profile = profileFor(
    rule(
      server.origin,
      `provider: e, secret: { var: T }, auth: bearer, headers: { X-MLFLOW-WORKSPACE: team-a }`,
    ),
  );
  await using f = createAuthFetch(profile, { env: env({ T: "tok-1" }) });
  const res = await f(`${server.origin}/api/2.0/mlflow/experiments/search`, {
    headers: { Authorization: "Bearer caller-token", "X-Other": "kept" },
  });
  assertEquals(await res.text(), "ok");
  const h = server.received[0]!.headers;
  assertEquals(h.get("authorization"), "Bearer tok-1");
  assertEquals(h.get("x-mlflow-workspace"), "team-a");
  assertEquals(h.get("x-other"), "kept");
});

Deno.test("createAuthFetch() passes an unmatched request to the inner fetch untouched", async () => {
  const calls: unknown[][] = [];
  const inner = (...args: unknown[]) => {
    calls.push(args);
    return Promise.resolve(new Response("x"));
  };
  const profile = profileFor(
    rule("https://mlflow.example.com", "provider: e, secret: { var: T }, auth: bearer"),
  );
  await using f = createAuthFetch(profile, { env: () => undefined, fetch: inner as typeof fetch });
  const init = { method: "POST", body: "b", headers: { A: "1" } };
  const req = new Request("https://other.example.com/x");
  await f("https://other.example.com/y", init);
  await f(req);
  await f(new URL("https://mlflow.example.com.evil.com/"));
  await f("https://u:p@mlflow.example.com/"); // userinfo: never a secret
  assertEquals(calls.length, 4);
  assert(
    calls[0]![0] === "https://other.example.com/y" && calls[0]![1] === init,
    "input or init changed",
  );
  assert(calls[1]![0] === req && calls[1]![1] === undefined, "Request not passed as is");
  assertEquals(f.stats.providerCalls, 0);
});

Deno.test("createAuthFetch() never mutates the caller's Request or Headers", async () => {
  await using server = await startServer(() => new Response("ok"));
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { env: env({ T: "tok-1" }) });
  const headers = new Headers({ "X-A": "1" });
  await (await f(`${server.origin}/a`, { headers })).text();
  assertEquals([...headers.keys()], ["x-a"]);
  const req = new Request(`${server.origin}/b`, { headers: { "X-B": "2" } });
  await (await f(req)).text();
  assertEquals([...req.headers.keys()], ["x-b"]);
  assertEquals(server.received.map((r) => r.headers.get("authorization")), [
    "Bearer tok-1",
    "Bearer tok-1",
  ]);
});

Deno.test("createAuthFetch() keeps credentials on a same-origin redirect and drops them on a cross-origin one", async () => {
  await using other = await startServer(() => new Response("other"));
  await using server = await startServer((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/same") return Response.redirect(`${new URL(req.url).origin}/final`, 302);
    if (path === "/cross") return Response.redirect(`${other.origin}/landing`, 307);
    return new Response("final");
  });
  const profile = profileFor(
    rule(
      server.origin,
      `provider: e, secret: { var: T }, auth: { type: header, name: X-Api-Key, value: "{{token}}" }, headers: { X-Team: a }`,
    ),
  );
  await using f = createAuthFetch(profile, { env: env({ T: "key-1" }) });
  assertEquals(await (await f(`${server.origin}/same`)).text(), "final");
  assertEquals(server.received[1]!.headers.get("x-api-key"), "key-1");
  const res = await f(`${server.origin}/cross`, {
    method: "POST",
    body: "payload",
    headers: {
      Cookie: "session=1",
      Authorization: "Basic caller",
      "X-Api-Key": "caller-key",
      "X-Keep": "y",
    },
  });
  assertEquals(await res.text(), "other");
  const landed = other.received[0]!;
  assertEquals(landed.method, "POST");
  assertEquals(landed.body, "payload");
  for (const h of ["x-api-key", "x-team", "authorization", "cookie"]) {
    assertEquals(landed.headers.get(h), null, h);
  }
  assertEquals(landed.headers.get("x-keep"), "y");
});

Deno.test("createAuthFetch() gives a redirect target only what its own rule gives", async () => {
  await using b = await startServer(() => new Response("b"));
  await using a = await startServer(() => Response.redirect(`${b.origin}/x`, 302));
  const profile = profileFor(
    rule(
      a.origin,
      `provider: e, secret: { var: A }, auth: { type: header, name: X-A-Key, value: "{{token}}" }`,
    ) +
      rule(b.origin, "provider: e, secret: { var: B }, auth: bearer"),
  );
  await using f = createAuthFetch(profile, { env: env({ A: "key-a", B: "tok-b" }) });
  await (await f(`${a.origin}/start`)).text();
  const got = b.received[0]!.headers;
  assertEquals(got.get("x-a-key"), null);
  assertEquals(got.get("authorization"), "Bearer tok-b");
});

Deno.test("createAuthFetch() never sends credentials after an https → http redirect", async () => {
  const tls = await issueTestCertificates();
  await using plain = await startServer(() => new Response("plain"));
  await using secure = await startServer(() => Response.redirect(`${plain.origin}/down`, 302), tls);
  const client = Deno.createHttpClient({ caCerts: [tls.ca] });
  try {
    const profile = profileFor(
      rule(secure.origin, "provider: e, secret: { var: T }, auth: bearer") +
        rule(plain.origin, "provider: e, secret: { var: T }, auth: bearer"),
    );
    await using f = createAuthFetch(profile, {
      env: env({ T: "tok" }),
      fetch: (input, init) => fetch(input, { ...init, client } as unknown as RequestInit),
    });
    assertEquals(await (await f(`${secure.origin}/start`)).text(), "plain");
    assertEquals(secure.received[0]!.headers.get("authorization"), "Bearer tok");
    assertEquals(plain.received[0]!.headers.get("authorization"), null);
  } finally {
    client.close();
  }
});

Deno.test("createAuthFetch() honours redirect: manual and error, and stops after 20 hops", async () => {
  await using server = await startServer((req) => {
    const n = Number(new URL(req.url).searchParams.get("n") ?? "0");
    return Response.redirect(`${new URL(req.url).origin}/loop?n=${n + 1}`, 302);
  });
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { env: env({ T: "tok" }) });
  const manual = await f(`${server.origin}/loop`, { redirect: "manual" });
  assertEquals(manual.status, 302);
  await manual.body?.cancel();
  await assertRejects(
    () => f(`${server.origin}/loop`, { redirect: "error" }),
    TypeError,
    "redirect",
  );
  const before = server.received.length;
  await assertRejects(() => f(`${server.origin}/loop`), TypeError, "Too many redirects");
  assertEquals(server.received.length - before, 21);
});

Deno.test("createAuthFetch() turns a POST into a GET without body on 303", async () => {
  await using server = await startServer((req) =>
    new URL(req.url).pathname === "/post"
      ? Response.redirect(`${new URL(req.url).origin}/get`, 303)
      : new Response("ok")
  );
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { env: env({ T: "tok" }) });
  await (await f(`${server.origin}/post`, {
    method: "POST",
    body: "x",
    headers: { "Content-Type": "text/plain" },
  })).text();
  const second = server.received[1]!;
  assertEquals([second.method, second.body, second.headers.get("content-type")], ["GET", "", null]);
});

Deno.test("createAuthFetch() fails closed: nothing is sent when the secret cannot be resolved", async () => {
  await using server = await startServer(() => new Response("should not be reached"));
  const profile = profileFor(
    rule(server.origin, "provider: e, secret: { var: MISSING }, auth: bearer"),
  );
  await using f = createAuthFetch(profile, { env: () => undefined, logWrite: () => {} });
  const err = await assertRejects(
    () => f(`${server.origin}/x`, { method: "POST", body: "b" }),
    SecretResolutionError,
  );
  assertEquals(err.provider, "e");
  assertEquals(err.reference, "env:MISSING");
  assert(err.message.includes("hosts[0]"), err.message);
  assertEquals(server.received.length, 0);
});

Deno.test("createAuthFetch() fails closed when the header cannot be built (missing field)", async () => {
  await using server = await startServer(() => new Response("no"));
  const profile = profileFor(
    rule(server.origin, "provider: e, secret: { var: T, field: token }, auth: bearer"),
  );
  await using f = createAuthFetch(profile, { env: env({ T: '{"access":"x"}' }) });
  const err = await assertRejects(
    () => f(`${server.origin}/x`),
    SecretResolutionError,
    'no field "token"',
  );
  assertEquals(err.field, "token");
  assertEquals(server.received.length, 0);
});

/** A provider whose reads wait until `open()` and count calls; its value can be rotated. */
function gatedProvider() {
  let calls = 0;
  let value = "v1";
  let gate = Promise.withResolvers<void>();
  let gated = false;
  const factory: ProviderFactory = {
    kind: "env",
    create: (name) => ({
      name,
      kind: "env",
      describe: () => "gated:secret",
      async resolve(_ref, { signal }) {
        calls++;
        if (gated) {
          await new Promise<void>((resolve, reject) => {
            gate.promise.then(resolve);
            signal.addEventListener("abort", () => reject(signal.reason));
          });
        }
        return { value };
      },
    }),
  };
  return {
    providers: new Map([["env", factory]]),
    calls: () => calls,
    rotate: (v: string) => (value = v),
    hold: () => {
      gated = true;
      gate = Promise.withResolvers<void>();
    },
    open: () => {
      gated = false;
      gate.resolve();
    },
  };
}

/**
 * A server that answers "ok" to `Bearer <accepted>` and 401 to anything else, and an auth fetch
 * whose bearer token comes from a {@linkcode gatedProvider}; both start at "v1". `rotate(v)`
 * changes the token the server accepts and the one the provider returns.
 */
async function rotatingBearer() {
  let accepted = "v1";
  const server = await startServer((req) =>
    req.headers.get("authorization") === `Bearer ${accepted}`
      ? new Response("ok")
      : new Response("no", { status: 401 })
  );
  const g = gatedProvider();
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  const f = createAuthFetch(profile, { providers: g.providers });
  return {
    server,
    g,
    f,
    rotate(value: string): void {
      accepted = value;
      g.rotate(value);
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await f.close();
      await server.close();
    },
  };
}

Deno.test("createAuthFetch() makes exactly one provider call for 200 simultaneous requests on a cold cache", async () => {
  await using server = await startServer((req) => new Response(req.headers.get("authorization")));
  const g = gatedProvider();
  g.hold();
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { providers: g.providers });
  const all = Promise.all(
    Array.from({ length: 200 }, (_, i) => f(`${server.origin}/r/${i}`).then((r) => r.text())),
  );
  // Let every request reach the cache before the provider answers.
  while (f.resolver.cache.stats.misses < 200) await new Promise((r) => setTimeout(r, 1));
  g.open();
  const bodies = await all;
  assertEquals(g.calls(), 1);
  assertEquals(bodies.filter((b) => b === "Bearer v1").length, 200);
});

Deno.test("createAuthFetch() refreshes a rotated secret once on 401 and retries with the same body", async () => {
  await using r = await rotatingBearer();
  const { server, g, f } = r;
  assertEquals(await (await f(`${server.origin}/a`)).text(), "ok");
  r.rotate("v2");
  const bodies: [string, BodyInit | (() => BodyInit)][] = [
    ["string", "hello"],
    ["bytes", new TextEncoder().encode("bytes!")],
    ["blob", new Blob(["blob-body"])],
    ["params", new URLSearchParams({ a: "1" })],
    ["stream", () => new Blob(["small stream"]).stream()],
  ];
  for (const [name, body] of bodies) {
    server.received.length = 0;
    const res = await f(`${server.origin}/${name}`, {
      method: "POST",
      body: typeof body === "function" ? body() : body,
    });
    assertEquals(await res.text(), "ok", name);
    if (name === "string") {
      assertEquals(server.received.length, 2, "one 401, one retry");
      assertEquals(server.received[0]!.body, server.received[1]!.body);
    } else {
      assertEquals(server.received.length, 1, `${name}: the refreshed secret is already cached`);
    }
  }
  assertEquals(g.calls(), 2);
  // 50 concurrent 401s on a newly rotated secret cause one provider call.
  r.rotate("v3");
  const all = await Promise.all(
    Array.from({ length: 50 }, () => f(`${server.origin}/c`).then((r) => r.text())),
  );
  assert(all.every((b) => b === "ok"));
  assertEquals(g.calls(), 3);
});

Deno.test("createAuthFetch() replays FormData after a 401", async () => {
  await using r = await rotatingBearer();
  const { server, f } = r;
  await (await f(`${server.origin}/warm`)).text();
  r.rotate("v2");
  server.received.length = 0;
  const form = new FormData();
  form.set("field", "value-123");
  assertEquals(
    await (await f(`${server.origin}/form`, { method: "POST", body: form })).text(),
    "ok",
  );
  assertEquals(server.received.length, 2);
  assert(server.received[1]!.body.includes("value-123"));
});

Deno.test("createAuthFetch() returns the 401 as is when a large stream body cannot be replayed", async () => {
  await using server = await startServer(() => new Response("no", { status: 401 }));
  const g = gatedProvider();
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { providers: g.providers, maxReplayBytes: 10 });
  const body = new Blob(["x".repeat(1000)]).stream();
  const res = await f(`${server.origin}/big`, { method: "POST", body });
  assertEquals(res.status, 401);
  await res.body?.cancel();
  assertEquals(server.received.length, 1);
  assertEquals(server.received[0]!.body.length, 1000);
  assertEquals(g.calls(), 1);
});

Deno.test("createAuthFetch() does not refresh on 403 unless refresh_on says so", async () => {
  await using server = await startServer(() => new Response("no", { status: 403 }));
  const g = gatedProvider();
  const plain = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(plain, { providers: g.providers });
  assertEquals((await f(`${server.origin}/x`)).status, 403);
  assertEquals(g.calls(), 1);
  const g2 = gatedProvider();
  const with403 = profileFor(
    rule(server.origin, "provider: e, secret: { var: T }, auth: bearer, refresh_on: [401, 403]"),
  );
  await using f2 = createAuthFetch(with403, { providers: g2.providers });
  assertEquals((await f2(`${server.origin}/x`)).status, 403);
  assertEquals(g2.calls(), 2);
});

Deno.test("createAuthFetch() lets the request's AbortSignal cancel the wait for a secret", async () => {
  await using server = await startServer(() => new Response("no"));
  const g = gatedProvider();
  g.hold();
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { providers: g.providers });
  const c = new AbortController();
  const pending = f(`${server.origin}/x`, { signal: c.signal });
  while (f.resolver.cache.stats.misses < 1) await new Promise((r) => setTimeout(r, 1));
  c.abort(new DOMException("user cancelled", "AbortError"));
  const err = await assertRejects(() => pending, DOMException);
  assertEquals(err.name, "AbortError");
  assertEquals(server.received.length, 0);
  g.open();
});

Deno.test("installGlobalFetch() wraps globalThis.fetch idempotently and restores it", async () => {
  await using server = await startServer((req) =>
    new Response(req.headers.get("authorization") ?? "none")
  );
  const original = globalThis.fetch;
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  const first = installGlobalFetch(profile, { env: env({ T: "one" }) });
  const second = installGlobalFetch(profile, { env: env({ T: "two" }) });
  try {
    assertEquals(await (await fetch(`${server.origin}/x`)).text(), "Bearer two");
    assertEquals(server.received.length, 1); // not wrapped twice
  } finally {
    await second();
    await first();
  }
  assert(globalThis.fetch === original, "original fetch not restored");
  assertEquals(await (await fetch(`${server.origin}/y`)).text(), "none");
});

Deno.test("createAuthFetch() sends to the URL as it was at the call, even if the caller's URL object changes", async () => {
  const sent: string[] = [];
  const g = gatedProvider();
  g.hold();
  const profile = profileFor(
    rule("https://mlflow.example.com", "provider: e, secret: { var: T }, auth: bearer"),
  );
  await using f = createAuthFetch(profile, {
    providers: g.providers,
    fetch: (input) => {
      sent.push(String(input));
      return Promise.resolve(new Response("ok"));
    },
  });
  const u = new URL("https://mlflow.example.com/x");
  const pending = f(u);
  u.hostname = "evil.example.net";
  g.open();
  await pending;
  assertEquals(sent, ["https://mlflow.example.com/x"]);
});

Deno.test("createAuthFetch() returns a 401 as is when the refreshed secret is the value just rejected", async () => {
  await using server = await startServer(() => new Response("no", { status: 401 }));
  const g = gatedProvider();
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { providers: g.providers });
  for (let i = 0; i < 50; i++) {
    const res = await f(`${server.origin}/x`);
    assertEquals(res.status, 401);
    await res.body?.cancel();
  }
  // One load, one refresh that brought back the same value; then the server's answer stands.
  assertEquals(g.calls(), 2);
  assertEquals(server.received.length, 51);
});

Deno.test("createAuthFetch() replays an async-iterable body after a 401", async () => {
  await using r = await rotatingBearer();
  const { server, f } = r;
  await (await f(`${server.origin}/warm`)).text();
  r.rotate("v2");
  server.received.length = 0;
  async function* chunks() {
    yield new TextEncoder().encode("part-1,");
    yield new TextEncoder().encode("part-2");
  }
  const res = await f(`${server.origin}/iter`, {
    method: "POST",
    body: chunks() as unknown as BodyInit,
  });
  assertEquals(await res.text(), "ok");
  assertEquals(server.received.map((r) => r.body), ["part-1,part-2", "part-1,part-2"]);
});

Deno.test("createAuthFetch() rejects any redirect status under redirect: error, with or without Location", async () => {
  await using server = await startServer(() => new Response(null, { status: 302 }));
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { env: env({ T: "tok" }) });
  await assertRejects(() => f(`${server.origin}/x`, { redirect: "error" }), TypeError, "redirect");
  const followed = await f(`${server.origin}/x`);
  assertEquals(followed.status, 302); // no Location: nothing to follow
  await followed.body?.cancel();
});

Deno.test("createAuthFetch() names the rule when a secret holds a character no header can carry", async () => {
  await using server = await startServer(() => new Response("no"));
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  await using f = createAuthFetch(profile, { env: env({ T: "tok€n" }), logWrite: () => {} });
  const err = await assertRejects(() => f(`${server.origin}/x`), SecretResolutionError, "hosts[0]");
  assert(!err.message.includes("tok€n"), "value in message");
  assertEquals(server.received.length, 0);
});

Deno.test("installGlobalFetch() closes the installation it replaces", async () => {
  const profile = profileFor(
    rule("https://mlflow.example.com", "provider: e, secret: { var: T }, auth: bearer"),
  );
  const first = installGlobalFetch(profile, { env: () => "one" });
  let closed = false;
  const close = first.fetch.close;
  (first.fetch as { close: () => Promise<void> }).close = () => {
    closed = true;
    return close();
  };
  const second = installGlobalFetch(profile, { env: () => "two" });
  await second();
  assert(closed, "the first installation was not closed");
});

Deno.test("createAuthFetch() refreshes at most once per call, even when a redirect leads to another 401", async () => {
  let accepted = "v1";
  const server = await startServer((req) => {
    const ok = req.headers.get("authorization") === `Bearer ${accepted}`;
    const path = new URL(req.url).pathname;
    if (!ok || path === "/b") return new Response("no", { status: 401 }); // /b rejects all
    return path === "/a"
      ? new Response(null, { status: 302, headers: { location: "/b" } })
      : new Response("ok");
  });
  const g = gatedProvider();
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: bearer"));
  const f = createAuthFetch(profile, { providers: g.providers });
  try {
    await (await f(`${server.origin}/warm-up`)).body?.cancel();
    server.received.length = 0;
    accepted = "v2";
    g.rotate("v2");
    const res = await f(`${server.origin}/a`);
    assertEquals(res.status, 401);
    await res.body?.cancel();
    // /a with v1 (401), /a with v2 after one refresh (302), /b with v2 (401, returned as is).
    assertEquals(server.received.map((r) => new URL(r.url).pathname), ["/a", "/a", "/b"]);
    assertEquals(g.calls(), 2);
  } finally {
    await f.close();
    await server.close();
  }
});

Deno.test("createAuthFetch() keys its cache by provider instance: two providers of one kind give each host its own value", async () => {
  await using server = await startServer((req) => new Response(req.headers.get("authorization")));
  const factory: ProviderFactory = {
    kind: "env",
    create: (name) => ({
      name,
      kind: "env",
      describe: () => `${name}:T`,
      resolve: () => Promise.resolve({ value: `value-of-${name}` }),
    }),
  };
  const other = server.origin.replace("127.0.0.1", "localhost");
  const profile = profileFor(
    rule(server.origin, "provider: one, secret: { var: T }, auth: bearer") +
      rule(other, "provider: two, secret: { var: T }, auth: bearer"),
    "one: { kind: env }, two: { kind: env }",
  );
  await using f = createAuthFetch(profile, { providers: new Map([["env", factory]]) });
  assertEquals(await (await f(`${server.origin}/x`)).text(), "Bearer value-of-one");
  assertEquals(await (await f(`${other}/x`)).text(), "Bearer value-of-two");
  assertEquals(await (await f(`${server.origin}/y`)).text(), "Bearer value-of-one");
});

Deno.test("createAuthFetch() masks the bare base64 of user:password built from a JSON secret", async () => {
  await using server = await startServer(() => new Response("ok"));
  const factory: ProviderFactory = {
    kind: "env",
    create: (name) => ({
      name,
      kind: "env",
      describe: () => "json:T",
      resolve: () => Promise.resolve({ value: { username: "alice", password: "pw-canary-77" } }),
    }),
  };
  const profile = profileFor(rule(server.origin, "provider: e, secret: { var: T }, auth: basic"));
  await using f = createAuthFetch(profile, { providers: new Map([["env", factory]]) });
  await (await f(`${server.origin}/x`)).text();
  const encoded = btoa("alice:pw-canary-77");
  assertEquals(server.received[0]!.headers.get("authorization"), `Basic ${encoded}`);
  assertEquals(f.resolver.redactor.redact(`seen ${encoded} in a log`), "seen *** in a log");
});
