import { createPlan, parseProfile, SecretResolver } from "../../mod.ts";
import { createLogger } from "../../core/log.ts";
import { Redactor } from "../../core/redact.ts";
import { expiryTtlMs, jwtExpiry, secretJwtExpiry } from "../../engine/_expiry.ts";
import { assert, assertEquals, assertNoCanary } from "../_assert.ts";

const T0 = Date.parse("2026-06-01T12:00:00Z");

function b64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An unsigned-looking JWT (the signature is never checked here) with these claims. */
function jwt(claims: Record<string, unknown>): string {
  const sig = b64url(`sig-${crypto.randomUUID()}`);
  return `${b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${
    b64url(JSON.stringify(claims))
  }.${sig}`;
}

Deno.test("jwtExpiry() reads exp from a JWT's payload and ignores what is not a JWT", () => {
  assertEquals(jwtExpiry(jwt({ sub: "ci", exp: 1_800_000_000 })), 1_800_000_000_000);
  assertEquals(jwtExpiry(jwt({ sub: "ci" })), undefined);
  assertEquals(jwtExpiry(jwt({ exp: "soon" })), undefined);
  assertEquals(jwtExpiry("plain-token-1234"), undefined);
  assertEquals(jwtExpiry("a.b.c"), undefined);
  assertEquals(jwtExpiry(`${b64url("{}")}.${b64url('{"exp":1}')}.x`), undefined); // no alg
  assertEquals(jwtExpiry(`${b64url("not json")}.${b64url("{}")}.x`), undefined);
  assertEquals(
    secretJwtExpiry({ user: "ci", token: jwt({ exp: 2_000 }), other: jwt({ exp: 1_000 }) }),
    1_000_000,
  );
  assertEquals(secretJwtExpiry({ n: 3, token: "opaque" }), undefined);
});

Deno.test("expiryTtlMs() keeps 30 s, or 10 % of a short time left, before the expiry", () => {
  assertEquals(expiryTtlMs(T0 + 3_600_000, T0), 3_570_000);
  assertEquals(expiryTtlMs(T0 + 120_000, T0), 108_000);
  assertEquals(expiryTtlMs(T0 - 5_000, T0), 1_000); // expired: no provider call per request
});

const PROFILE = `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: "https://mlflow.example.com"
    provider: ci
    secret: { var: MLFLOW_TOKEN }
    auth: bearer
    cache: { ttl: 10m }
`;

function setup(first: string) {
  let now = T0;
  let token: string | undefined = first;
  const lines: string[] = [];
  const redactor = new Redactor();
  const plan = createPlan(parseProfile(PROFILE, { env: {} }));
  const resolver = new SecretResolver(plan, {
    env: (name) => name === "MLFLOW_TOKEN" ? token : undefined,
    now: () => now,
    random: () => 0,
    redactor,
    logger: createLogger({ redactor, level: "debug", write: (l) => lines.push(l) }),
  });
  return {
    resolver,
    rule: plan.rules[0]!,
    lines,
    at: (ms: number) => now = T0 + ms,
    rotate: (next: string | undefined) => token = next,
  };
}

Deno.test("SecretResolver reloads a JWT before its exp when the rule's ttl is longer", async () => {
  // Expires in 2 min, the rule caches for 10 min: the entry must end at 2 min - 12 s.
  const first = jwt({ sub: "ci", exp: (T0 + 120_000) / 1000 });
  const second = jwt({ sub: "ci", exp: (T0 + 3_600_000) / 1000 });
  const s = setup(first);
  try {
    const bearer = async () => (await s.resolver.headersFor(s.rule)).headers[0]![1];
    assertEquals(await bearer(), `Bearer ${first}`);
    const fetches = () => s.resolver.stats.secretFetches;
    s.rotate(second);
    s.at(60_000);
    assertEquals(await bearer(), `Bearer ${first}`, "reloaded before the refresh-ahead window");
    assertEquals(fetches(), 1);
    // Refresh ahead targets the expiry: inside its window the cached value is served and a
    // background load fetches the next one.
    s.at(100_000);
    const hit = s.resolver.cachedHeadersFor(s.rule);
    assertEquals(hit?.headers[0]?.[1], `Bearer ${first}`);
    await s.resolver.headersFor(s.rule); // waits for nothing; the load runs in the background
    for (let i = 0; i < 10 && fetches() < 2; i++) await new Promise((r) => setTimeout(r, 0));
    assertEquals(fetches(), 2, "no refresh-ahead before the expiry");
    s.at(115_000); // past the bound, before exp
    assertEquals(await bearer(), `Bearer ${second}`);
    const { expiresAt } = await s.resolver.secretFor(s.rule);
    assertEquals(expiresAt, T0 + 3_600_000);
    for (const token of [first, second]) assertNoCanary(s.lines.join("\n"), token);
    assert(
      s.lines.some((l) => l.includes("secret resolved") && l.includes("2026-06-01T12:02:00.000Z")),
      s.lines.join("\n"),
    );
  } finally {
    await s.resolver.close();
  }
});

Deno.test("SecretResolver keeps the rule's ttl when a JWT expires later, and an opaque token by the ttl", async () => {
  const s = setup(jwt({ exp: (T0 + 24 * 3_600_000) / 1000 }));
  try {
    await s.resolver.headersFor(s.rule);
    s.at(8 * 60_000); // within the 10 min ttl minus its refresh-ahead window
    await s.resolver.headersFor(s.rule);
    assertEquals(s.resolver.stats.secretFetches, 1);
  } finally {
    await s.resolver.close();
  }
  const opaque = setup("opaque-token-5b1d");
  try {
    await opaque.resolver.headersFor(opaque.rule);
    opaque.at(8 * 60_000);
    await opaque.resolver.headersFor(opaque.rule);
    assertEquals(opaque.resolver.stats.secretFetches, 1);
    assertEquals((await opaque.resolver.secretFor(opaque.rule)).expiresAt, undefined);
  } finally {
    await opaque.resolver.close();
  }
});

Deno.test("SecretResolver never serves a secret stale past its own expiry", async () => {
  const first = jwt({ exp: (T0 + 120_000) / 1000 });
  const s = setup(first);
  try {
    await s.resolver.headersFor(s.rule);
    s.rotate(undefined); // the source now fails (the variable is unset)
    s.at(119_000); // past the bound, within stale_if_error, before exp: the stale value is served
    assertEquals((await s.resolver.headersFor(s.rule)).headers[0]![1], `Bearer ${first}`);
    s.at(121_000); // past exp: no longer
    const failed = await s.resolver.headersFor(s.rule).then(() => false, () => true);
    assert(failed, "an expired JWT was served");
  } finally {
    await s.resolver.close();
  }
});
