/**
 * The OAuth2 client-credentials token client and its cache, against a real identity provider
 * (`oidc-provider` from npm, on loopback): token requests with Basic and body client
 * authentication, the IdP's error codes, lifetimes from `expires_in` and the JWT's `exp`, single
 * flight, expiry, refresh after a rejection, and re-reading the client secret on `invalid_client`.
 */

import { decodeJwt } from "../../deps/jose.ts";
import { DEFAULT_CACHE } from "../../core/cache_policy.ts";
import { Redactor } from "../../core/redact.ts";
import { DEFAULT_RETRY } from "../../core/retry.ts";
import type { OAuth2ClientCredentialsSpec } from "../../profile/auth_spec.ts";
import {
  clientCredentials,
  MAX_TOKEN_RESPONSE_BYTES,
  OAuth2TokenError,
  parseTokenResponse,
  requestAccessToken,
} from "../../engine/oauth2.ts";
import {
  type CredentialsLease,
  type OAuth2Grant,
  OAuth2TokenCache,
  RETIRED_TOKEN_GRACE_MS,
} from "../../engine/oauth2_tokens.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { createLogger } from "../../core/log.ts";
import { REFRESH_COOLDOWN_MS } from "../../engine/secret_cache.ts";
import { startServer } from "../_servers.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { type OidcProvider, startOidcProvider } from "../_peers/oidc.ts";
import { freePort } from "../_peers/_process.ts";

const SECRET = `cs-${crypto.randomUUID()}`;
// Characters Basic auth must form-encode first (RFC 6749 §2.3.1): ':' '+' '%' ' ' '&' '='. (A
// client secret is VSCHAR, printable ASCII, by Appendix A; the IdP refuses anything else.)
const ODD_SECRET = `odd:+% &=/${crypto.randomUUID()}`;
const CONTEXT = {
  rule: "hosts[0] (https://mlflow.test)",
  provider: "vault",
  reference: "secret/oauth",
};

function spec(
  idp: OidcProvider,
  extra: Partial<OAuth2ClientCredentialsSpec> = {},
): OAuth2ClientCredentialsSpec {
  return {
    type: "oauth2_client_credentials",
    tokenUrl: idp.tokenUrl,
    clientIdField: "client_id",
    clientSecretField: "client_secret",
    clientAuth: "basic",
    ...extra,
  };
}

async function withIdp(
  fn: (idp: OidcProvider) => Promise<void>,
  ttl = 300,
): Promise<void> {
  await using idp = await startOidcProvider({
    accessTokenTtlSeconds: ttl,
    clients: [
      { id: "mlflow-ci", secret: SECRET },
      { id: "mlflow-post", secret: SECRET, authMethod: "client_secret_post" },
      { id: "mlflow-odd", secret: ODD_SECRET },
      { id: "mlflow-code-only", secret: SECRET, grantTypes: ["authorization_code"] },
    ],
  });
  await fn(idp);
}

const quickRetry = { ...DEFAULT_RETRY, baseDelayMs: 1, maxDelayMs: 5 };

Deno.test("requestAccessToken() obtains a JWT access token with HTTP Basic client authentication", async () => {
  await withIdp(async (idp) => {
    const t = await requestAccessToken(
      spec(idp, { scope: "mlflow" }),
      { clientId: "mlflow-ci", clientSecret: SECRET },
      CONTEXT,
    );
    const claims = decodeJwt(t.token);
    assertEquals(claims.aud, idp.resource);
    assertEquals(claims.client_id, "mlflow-ci");
    assertEquals(t.scope, "mlflow");
    assert(t.lifetimeMs > 298_000 && t.lifetimeMs <= 300_000, String(t.lifetimeMs));
    assertEquals(idp.tokenCalls, [{ status: 200, auth: "basic" }]);
  });
});

Deno.test("requestAccessToken() form-encodes the id and secret before Basic encoding (RFC 6749 §2.3.1)", async () => {
  await withIdp(async (idp) => {
    const t = await requestAccessToken(
      spec(idp),
      { clientId: "mlflow-odd", clientSecret: ODD_SECRET },
      CONTEXT,
    );
    assertEquals(decodeJwt(t.token).client_id, "mlflow-odd");
  });
});

Deno.test("requestAccessToken() with client_auth body sends the credentials in the form, and the IdP enforces the method", async () => {
  await withIdp(async (idp) => {
    const t = await requestAccessToken(
      spec(idp, { clientAuth: "body" }),
      { clientId: "mlflow-post", clientSecret: SECRET },
      CONTEXT,
    );
    assertEquals(decodeJwt(t.token).client_id, "mlflow-post");
    assertEquals(idp.tokenCalls[0], { status: 200, auth: "none" });
    const e = await assertRejects(
      () =>
        requestAccessToken(
          spec(idp, { clientAuth: "body" }),
          {
            clientId: "mlflow-post",
            clientSecret: "wrong",
          },
          CONTEXT,
          { signal: AbortSignal.timeout(20_000) },
        ),
      OAuth2TokenError,
    );
    assertEquals(e.oauthError, "invalid_client");
    assertEquals(idp.tokenCalls[1], { status: 401, auth: "none" });
  });
});

Deno.test("requestAccessToken() reports invalid_client with the token URL and status, never the secret, as permanent", async () => {
  await withIdp(async (idp) => {
    const wrong = `wrong-${crypto.randomUUID()}`;
    const e = await assertRejects(
      () => requestAccessToken(spec(idp), { clientId: "mlflow-ci", clientSecret: wrong }, CONTEXT),
      OAuth2TokenError,
    );
    assertEquals(e.oauthError, "invalid_client");
    assertEquals(e.status, 401);
    assertEquals(e.transient, false);
    assertEquals(e.tokenUrl, idp.tokenUrl);
    assertStringIncludes(e.message, `"${idp.tokenUrl}"`);
    assertStringIncludes(e.message, "401 invalid_client");
    assertStringIncludes(e.message, CONTEXT.rule);
    const everything = `${e.message}\n${e.stack}\n${JSON.stringify(e)}\n${String(e.cause)}`;
    assert(!everything.includes(wrong) && !everything.includes(SECRET), "secret in the error");
  });
});

Deno.test("requestAccessToken() reports a client without the grant, invalid_scope and invalid_target as permanent", async () => {
  await withIdp(async (idp) => {
    // oidc-provider answers invalid_request here where RFC 6749 says unauthorized_client (that
    // one is parsed in the parseTokenResponse() test below).
    const unauthorized = await assertRejects(
      () =>
        requestAccessToken(
          spec(idp),
          { clientId: "mlflow-code-only", clientSecret: SECRET },
          CONTEXT,
        ),
      OAuth2TokenError,
    );
    assertEquals(unauthorized.oauthError, "invalid_request");
    assertEquals(unauthorized.transient, false);
    assertStringIncludes(unauthorized.message, "grant type is not allowed");
    const scope = await assertRejects(
      () =>
        requestAccessToken(
          spec(idp, { scope: "admin" }),
          {
            clientId: "mlflow-ci",
            clientSecret: SECRET,
          },
          CONTEXT,
          { signal: AbortSignal.timeout(20_000) },
        ),
      OAuth2TokenError,
    );
    assertEquals(scope.oauthError, "invalid_scope");
    assertEquals(scope.transient, false);
    const target = await assertRejects(
      () =>
        requestAccessToken(
          spec(idp, { resource: "https://other.test" }),
          {
            clientId: "mlflow-ci",
            clientSecret: SECRET,
          },
          CONTEXT,
          { signal: AbortSignal.timeout(20_000) },
        ),
      OAuth2TokenError,
    );
    assertEquals(target.oauthError, "invalid_target");
  });
});

Deno.test("requestAccessToken() reports an unreachable token endpoint as transient, naming its URL", async () => {
  const url = `http://127.0.0.1:${freePort()}/token`;
  const e = await assertRejects(
    () =>
      requestAccessToken(
        { ...spec({ tokenUrl: url } as OidcProvider) },
        { clientId: "c", clientSecret: SECRET },
        CONTEXT,
      ),
    OAuth2TokenError,
  );
  assertEquals(e.transient, true);
  assertEquals(e.oauthError, undefined);
  assertStringIncludes(e.message, `"${url}"`);
  assert(!e.message.includes(SECRET));
});

Deno.test("parseTokenResponse() takes the JWT's exp when it is sooner than expires_in, and refuses non-bearer tokens and redirects", () => {
  const now = 1_700_000_000_000;
  const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "");
  const jwt = `${b64({ alg: "RS256" })}.${b64({ exp: now / 1000 + 60 })}.sig`;
  const opts = {
    tokenUrl: "https://idp.test/token",
    context: CONTEXT,
    now: () => now,
    defaultLifetimeMs: 1,
  };
  const t = parseTokenResponse(
    200,
    JSON.stringify({ access_token: jwt, token_type: "bearer", expires_in: 3600 }),
    opts,
  );
  assertEquals([t.lifetimeMs, t.bound], [60_000, "exp"]);
  const longer = parseTokenResponse(
    200,
    JSON.stringify({ access_token: jwt, token_type: "Bearer", expires_in: 30 }),
    opts,
  );
  assertEquals([longer.lifetimeMs, longer.bound], [30_000, "expires_in"]);
  const none = parseTokenResponse(
    200,
    JSON.stringify({ access_token: "opaque", token_type: "Bearer" }),
    opts,
  );
  assertEquals([none.lifetimeMs, none.bound], [1, "default"]);
  const dpop = (() => {
    try {
      parseTokenResponse(200, JSON.stringify({ access_token: "x", token_type: "DPoP" }), opts);
    } catch (e) {
      return e;
    }
  })();
  assert(dpop instanceof OAuth2TokenError && dpop.message.includes('"DPoP"'));
  const redirect = (() => {
    try {
      parseTokenResponse(302, "", opts);
    } catch (e) {
      return e;
    }
  })();
  assert(redirect instanceof OAuth2TokenError && !redirect.transient);
  const busy = (() => {
    try {
      parseTokenResponse(503, "<html>busy</html>", opts);
    } catch (e) {
      return e;
    }
  })();
  assert(busy instanceof OAuth2TokenError && busy.transient && busy.status === 503);
  const unauthorized = (() => {
    try {
      parseTokenResponse(400, JSON.stringify({ error: "unauthorized_client" }), opts);
    } catch (e) {
      return e;
    }
  })();
  assert(unauthorized instanceof OAuth2TokenError && !unauthorized.transient);
  assertEquals(unauthorized.oauthError, "unauthorized_client");
  assertStringIncludes(
    unauthorized.message,
    "400 unauthorized_client; this client may not use the client credentials grant",
  );
  const unavailable = (() => {
    try {
      parseTokenResponse(400, JSON.stringify({ error: "temporarily_unavailable" }), opts);
    } catch (e) {
      return e;
    }
  })();
  assert(unavailable instanceof OAuth2TokenError && unavailable.transient);
});

Deno.test("clientCredentials() names the missing field, never a value", () => {
  const s = {
    type: "oauth2_client_credentials",
    tokenUrl: "https://idp.test/token",
    clientIdField: "id",
    clientSecretField: "secret",
    clientAuth: "basic",
  } as const;
  assertEquals(clientCredentials({ id: "a", secret: "b" }, s, CONTEXT), {
    clientId: "a",
    clientSecret: "b",
  });
  let e: unknown;
  try {
    clientCredentials({ id: "a", other: SECRET }, s, CONTEXT);
  } catch (error) {
    e = error;
  }
  assert(e instanceof SecretResolutionError && e.field === "secret");
  assertStringIncludes(e.message, 'no field "secret"');
  assert(!e.message.includes(SECRET));
});

/** A grant whose credentials come from a list, one entry per (re)read, counted. */
function grantOf(
  idp: OidcProvider,
  secrets: string[],
  extra: Partial<OAuth2ClientCredentialsSpec> = {},
): OAuth2Grant & { reads: number } {
  let generation = 0;
  const g = {
    spec: spec(idp, extra),
    context: CONTEXT,
    retry: quickRetry,
    cache: DEFAULT_CACHE,
    reads: 0,
    credentials(_signal: AbortSignal, rejected?: number): Promise<CredentialsLease> {
      if (rejected === undefined && generation > 0) {
        return Promise.resolve({
          credentials: {
            clientId: "mlflow-ci",
            clientSecret: secrets[Math.min(g.reads, secrets.length) - 1]!,
          },
          generation,
        });
      }
      g.reads++;
      generation++;
      return Promise.resolve({
        credentials: {
          clientId: "mlflow-ci",
          clientSecret: secrets[Math.min(g.reads, secrets.length) - 1]!,
        },
        generation,
      });
    },
  };
  return g;
}

Deno.test("OAuth2TokenCache makes one token request for 50 concurrent callers and registers the token with the redactor", async () => {
  await withIdp(async (idp) => {
    const redactor = new Redactor();
    const tokens = new OAuth2TokenCache({ redactor });
    const grant = grantOf(idp, [SECRET]);
    const got = await Promise.all(Array.from({ length: 50 }, () => tokens.get("k", grant)));
    assertEquals(idp.tokenCalls.length, 1);
    assertEquals(tokens.stats.tokenRequests, 1);
    assertEquals(new Set(got.map((g) => g.value)).size, 1);
    const token = got[0]!.value as string;
    assert(!redactor.redact(`token=${token}`).includes(token), "token not redacted");
    // Later callers are served from the cache, synchronously.
    assertEquals(tokens.peek("k", grant)?.value, token);
    assertEquals(idp.tokenCalls.length, 1);
    tokens.clear();
  });
});

Deno.test("OAuth2TokenCache obtains a new token once the old one's lifetime minus the skew has passed", async () => {
  await withIdp(async (idp) => {
    let offset = 0;
    const tokens = new OAuth2TokenCache({ now: () => Date.now() + offset });
    const grant = grantOf(idp, [SECRET]);
    const first = await tokens.get("k", grant);
    // 10 s tokens are kept 8 s (a fifth of the lifetime as skew).
    offset = 7_000;
    const same = await tokens.get("k", grant);
    assertEquals(same.generation, first.generation);
    offset = 8_200;
    const next = await tokens.get("k", grant);
    assert(next.generation > first.generation);
    assert(next.value !== first.value);
    assertEquals(idp.tokenCalls.length, 2);
    tokens.clear();
  }, 10);
});

Deno.test("OAuth2TokenCache.refresh() replaces a rejected token once for concurrent callers, without re-reading the client secret", async () => {
  await withIdp(async (idp) => {
    const tokens = new OAuth2TokenCache();
    const grant = grantOf(idp, [SECRET]);
    const first = await tokens.get("k", grant);
    const fresh = await Promise.all(
      Array.from({ length: 20 }, () => tokens.refresh("k", grant, first.generation)),
    );
    assertEquals(new Set(fresh.map((f) => f.generation)).size, 1);
    assert(fresh[0]!.value !== first.value);
    assertEquals(idp.tokenCalls.length, 2);
    assertEquals(grant.reads, 1, "the client secret was read again");
    tokens.clear();
  });
});

Deno.test("OAuth2TokenCache re-reads the client secret once on invalid_client and uses the new one", async () => {
  await withIdp(async (idp) => {
    const tokens = new OAuth2TokenCache();
    // The cached secret is stale (rotated at the IdP); the provider now has the right one.
    const grant = grantOf(idp, ["rotated-away", SECRET]);
    const t = await tokens.get("k", grant);
    assertEquals(decodeJwt(t.value as string).client_id, "mlflow-ci");
    assertEquals(idp.tokenCalls.map((c) => c.status), [401, 200]);
    assertEquals(grant.reads, 2);
    tokens.clear();
  });
});

Deno.test("OAuth2TokenCache does not retry invalid_client when the re-read secret is the same", async () => {
  await withIdp(async (idp) => {
    const tokens = new OAuth2TokenCache();
    const grant = grantOf(idp, ["wrong-secret-value"]);
    const e = await assertRejects(() => tokens.get("k", grant), OAuth2TokenError);
    assertEquals(e.oauthError, "invalid_client");
    assertEquals(idp.tokenCalls.map((c) => c.status), [401]);
    assertEquals(grant.reads, 2);
    tokens.clear();
  });
});

Deno.test("OAuth2TokenCache retries an unreachable token endpoint per the rule's retry policy", async () => {
  const url = `http://127.0.0.1:${freePort()}/token`;
  const tokens = new OAuth2TokenCache();
  const grant = grantOf({ tokenUrl: url } as OidcProvider, [SECRET]);
  const e = await assertRejects(() => tokens.get("k", grant), OAuth2TokenError);
  assertEquals(tokens.stats.tokenRequests, quickRetry.attempts);
  assert(e.transient);
  tokens.clear();
});

Deno.test("SecretResolver: an oauth2 rule gets one token for 50 concurrent callers; a rejection replaces the token, not the client secret", async () => {
  const { parseProfile } = await import("../../mod.ts");
  const { createPlan } = await import("../../profile/plan.ts");
  const { SecretResolver } = await import("../../engine/resolver.ts");
  const { createLogger } = await import("../../core/log.ts");
  await withIdp(async (idp) => {
    const plan = createPlan(parseProfile(
      `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: https://mlflow.test
    provider: ci
    secret: { var: OAUTH_CLIENT }
    auth: { type: oauth2_client_credentials, token_url: "${idp.tokenUrl}", scope: mlflow }
`,
      { env: {} },
    ));
    const lines: string[] = [];
    const redactor = new Redactor();
    const resolver = new SecretResolver(plan, {
      env: (n) =>
        n === "OAUTH_CLIENT"
          ? JSON.stringify({ client_id: "mlflow-ci", client_secret: SECRET })
          : undefined,
      redactor,
      logger: createLogger({ redactor, level: "debug", write: (l) => void lines.push(l) }),
    });
    try {
      const rule = plan.rules[0]!;
      const all = await Promise.all(Array.from({ length: 50 }, () => resolver.headersFor(rule)));
      assertEquals(idp.tokenCalls.length, 1);
      const [name, value] = all[0]!.headers[0]!;
      assertEquals(name, "Authorization");
      assert(value.startsWith("Bearer ey"));
      assertEquals(decodeJwt(value.slice(7)).client_id, "mlflow-ci");
      assertEquals(resolver.cachedHeadersFor(rule)?.headers[0]?.[1], value);
      const calls = resolver.stats.providerCalls;
      const fresh = await resolver.refreshedHeadersFor(rule, all[0]!.generation);
      assert(fresh.headers[0]![1] !== value);
      assertEquals(idp.tokenCalls.length, 2);
      assertEquals(resolver.stats.providerCalls, calls, "the client secret was read again");
      const log = lines.join("\n");
      assertStringIncludes(log, "access token obtained");
      for (const canary of [SECRET, value.slice(7), fresh.headers[0]![1].slice(7)]) {
        assert(!log.includes(canary), "a secret or token was logged");
      }
    } finally {
      await resolver.close();
    }
  });
});

Deno.test("OAuth2TokenCache.refresh(): a tracking server that rejects every token gets one new token per cooldown, not one per 401", async () => {
  await withIdp(async (idp) => {
    let offset = 0;
    const tokens = new OAuth2TokenCache({ now: () => Date.now() + offset });
    const grant = grantOf(idp, [SECRET]);
    const first = await tokens.get("k", grant);
    // The first rejection replaces the token at once.
    const second = await tokens.refresh("k", grant, first.generation);
    assert(second.generation > first.generation);
    assertEquals(idp.tokenCalls.length, 2);
    // The replacement rejected too, moments later: 20 more 401s, no token request.
    for (let i = 0; i < 20; i++) {
      offset += 100;
      const again = await tokens.refresh("k", grant, second.generation);
      assertEquals(again.generation, second.generation);
    }
    assertEquals(idp.tokenCalls.length, 2);
    assertEquals(tokens.stats.refreshesHeldBack, 20);
    // Once the cooldown has passed, a rejection is believed again.
    offset += REFRESH_COOLDOWN_MS;
    const third = await tokens.refresh("k", grant, second.generation);
    assert(third.generation > second.generation);
    assertEquals(idp.tokenCalls.length, 3);
    tokens.clear();
  });
});

Deno.test("createAuthFetch(): 20 requests to a tracking server answering 401 to every token cost 2 token requests, not 21", async () => {
  const { createAuthFetch } = await import("../../http/auth_fetch.ts");
  const { parseProfile } = await import("../../mod.ts");
  await withIdp(async (idp) => {
    await using up = await startServer(() => new Response("no", { status: 401 }));
    await using authFetch = createAuthFetch(
      parseProfile(
        `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: "${up.origin}"
    provider: ci
    secret: { var: OAUTH_CLIENT }
    auth: { type: oauth2_client_credentials, token_url: "${idp.tokenUrl}" }
`,
        { env: {} },
      ),
      {
        env: (n) =>
          n === "OAUTH_CLIENT"
            ? JSON.stringify({ client_id: "mlflow-ci", client_secret: SECRET })
            : undefined,
        logWrite: () => {},
      },
    );
    for (let i = 0; i < 20; i++) {
      const res = await authFetch(`${up.origin}/api/2.0/mlflow/experiments/search`);
      assertEquals(res.status, 401);
      await res.body?.cancel();
    }
    assertEquals(idp.tokenCalls.length, 2);
  });
});

/** A token endpoint that is not one: answers whatever `answer` makes of the request. */
async function hostileIdp(
  answer: (req: Request, body: string) => Response,
): Promise<{ url: string } & AsyncDisposable> {
  const server = await startServer(answer);
  return {
    url: `${server.origin}/token`,
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  };
}

const HOSTILE_SPEC = (
  tokenUrl: string,
  clientAuth: "basic" | "body",
): OAuth2ClientCredentialsSpec => ({
  type: "oauth2_client_credentials",
  tokenUrl,
  clientIdField: "client_id",
  clientSecretField: "client_secret",
  clientAuth,
});

Deno.test("OAuth2TokenCache: an identity provider echoing the Authorization header or the form in error_description does not get the secret into the error, its cause or the log", async () => {
  for (const clientAuth of ["basic", "body"] as const) {
    await using idp = await hostileIdp((req, body) =>
      Response.json({
        error: "invalid_client",
        error_description: `refused: authorization=${
          req.headers.get("authorization")
        } form=${body}`,
      }, { status: 401 })
    );
    const lines: string[] = [];
    const redactor = new Redactor();
    redactor.add(ODD_SECRET);
    const tokens = new OAuth2TokenCache({
      redactor,
      logger: createLogger({ redactor, level: "debug", write: (l) => void lines.push(l) }),
    });
    const grant: OAuth2Grant = {
      spec: HOSTILE_SPEC(idp.url, clientAuth),
      context: CONTEXT,
      retry: quickRetry,
      cache: DEFAULT_CACHE,
      credentials: () =>
        Promise.resolve({
          credentials: { clientId: "mlflow-odd", clientSecret: ODD_SECRET },
          generation: 1,
        }),
    };
    const error = await assertRejects(() => tokens.get("k", grant), OAuth2TokenError);
    assertStringIncludes(error.message, "refused: authorization=");
    const basic = btoa(`mlflow-odd:${new URLSearchParams({ v: ODD_SECRET }).toString().slice(2)}`);
    const formEncoded = new URLSearchParams({ v: ODD_SECRET }).toString().slice(2);
    const seen = `${error.message}\n${String(error.cause)}\n${lines.join("\n")}`;
    for (const form of [ODD_SECRET, basic, formEncoded]) {
      assert(!seen.includes(form), `${clientAuth}: a form of the secret is in the error or log`);
    }
    tokens.clear();
  }
});

Deno.test("requestAccessToken() reads at most 1 MiB of a token endpoint's answer: a larger or endless one is an error, not memory", async () => {
  const pad = "a".repeat(MAX_TOKEN_RESPONSE_BYTES);
  await using sized = await hostileIdp(() =>
    new Response(`{"access_token":"tok","token_type":"Bearer","pad":"${pad}"}`)
  );
  let pulled = 0;
  await using endless = await hostileIdp(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(
            new TextEncoder().encode(`{"access_token":"tok","token_type":"Bearer","pad":"`),
          );
        },
        pull(c) {
          pulled++;
          c.enqueue(new Uint8Array(64 * 1024).fill(0x61));
        },
      }),
    )
  );
  for (const url of [sized.url, endless.url]) {
    const error = await assertRejects(
      () =>
        requestAccessToken(
          HOSTILE_SPEC(url, "basic"),
          {
            clientId: "c",
            clientSecret: SECRET,
          },
          CONTEXT,
          { signal: AbortSignal.timeout(20_000) },
        ),
      OAuth2TokenError,
    );
    assertStringIncludes(error.message, "larger than 1048576 bytes");
    assertEquals(error.transient, false);
  }
  assert(pulled < 512, `the endless answer was read on: ${pulled} chunks`);
});

Deno.test("OAuth2TokenCache unregisters an access token from the redactor once it has expired, so a long run keeps a bounded set", async () => {
  await withIdp(async (idp) => {
    let offset = 0;
    const redactor = new Redactor();
    const tokens = new OAuth2TokenCache({ redactor, now: () => Date.now() + offset });
    const grant = grantOf(idp, [SECRET]);
    const seen: string[] = [];
    // A day of 60 s tokens, sampled: one token every simulated minute, 200 times.
    let afterFirst = 0;
    for (let i = 0; i < 200; i++) {
      seen.push((await tokens.get("k", grant)).value as string);
      if (i === 0) afterFirst = redactor.size;
      offset += 60_000;
    }
    assertEquals(new Set(seen).size, 200);
    assertEquals(idp.tokenCalls.length, 200);
    const current = seen.at(-1)!;
    // Still masked: the tokens within their lifetime plus the grace (10 min) before now.
    const live = Math.ceil((60_000 + RETIRED_TOKEN_GRACE_MS) / 60_000) + 1;
    for (const t of seen.slice(-live + 1)) {
      assert(!redactor.redact(t).includes(t), "a recent token is not masked");
    }
    assert(!redactor.redact(current).includes(current));
    // Long expired: no longer registered.
    assertEquals(redactor.redact(seen[0]!), seen[0]);
    assertEquals(redactor.search(seen[100]!), -1);
    // The registered set is bounded by the tokens still live, not by every token ever obtained.
    const one = new Redactor();
    one.add(current);
    assert(
      redactor.size <= afterFirst + live * one.size,
      `registered forms grew to ${redactor.size} (${afterFirst} after the first token)`,
    );
    // The client secret stays registered.
    assert(!redactor.redact(SECRET).includes(SECRET));
    tokens.clear();
  }, 60);
});
