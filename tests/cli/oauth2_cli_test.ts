/**
 * `validate`, `explain`, `doctor` and `init` with an `oauth2_client_credentials` rule. `doctor`
 * runs against a real identity provider (`oidc-provider`, on loopback) and a tracking server
 * that verifies the JWT access token with the provider's JWKS.
 */

import { main } from "../../cli.ts";
import type { DoctorReport } from "../../cli/doctor.ts";
import { runInit } from "../../cli/init.ts";
import { parseProfile } from "../../profile/profile.ts";
import { createRemoteJWKSet, jwtVerify } from "../../deps/jose.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { startOidcProvider } from "../_peers/oidc.ts";
import { fakeIo, mlflowOk, serve, tempFile } from "./_io.ts";

const SECRET = `oauth-cs-${crypto.randomUUID()}`;

function profile(match: string, tokenUrl: string, extra = ""): string {
  return `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: ${match}
    provider: ci
    secret: { var: OAUTH_CLIENT }
    auth:
      type: oauth2_client_credentials
      token_url: ${tokenUrl}
      scope: mlflow${extra}
`;
}

Deno.test("main() validate refuses an http token_url to a non-loopback host and a resource with a fragment, with pointers", async () => {
  const path = await tempFile(
    "mlflow-auth.yaml",
    profile(
      "https://mlflow.example.com",
      "http://idp.example.com/token",
      "\n      resource: https://mlflow.example.com#x",
    ),
  );
  const io = fakeIo();
  const code = await main(["validate", "-p", path], io);
  assertEquals(code, 2);
  assertStringIncludes(io.err(), "at /hosts/0/auth/token_url");
  assertStringIncludes(io.err(), "over plain http to a non-loopback host");
  assertStringIncludes(io.err(), "[token-url]");
  assertStringIncludes(io.err(), "at /hosts/0/auth/resource");
  // A typo in the type is named among the accepted ones.
  const typo = await tempFile(
    "typo.yaml",
    profile("https://mlflow.example.com", "https://idp.example.com/token").replace(
      "oauth2_client_credentials",
      "oauth2",
    ),
  );
  const io2 = fakeIo();
  assertEquals(await main(["validate", "-p", typo], io2), 2);
  assertStringIncludes(io2.err(), '"oauth2_client_credentials"');
});

Deno.test("main() explain shows the token URL, the fields and the scope, never a value", async () => {
  const path = await tempFile(
    "mlflow-auth.yaml",
    profile("https://mlflow.example.com", "https://idp.example.com/oauth2/token"),
  );
  const io = fakeIo({
    env: { OAUTH_CLIENT: JSON.stringify({ client_id: "a", client_secret: SECRET }) },
  });
  assertEquals(await main(["explain", "-p", path], io), 0);
  assertStringIncludes(
    io.out(),
    "Authorization: Bearer <redacted: access token from https://idp.example.com/oauth2/token>",
  );
  assertStringIncludes(
    io.out(),
    'client id from field "client_id", client secret from field "client_secret", client auth basic; scope "mlflow"',
  );
  const json = fakeIo();
  assertEquals(await main(["explain", "-p", path, "--json"], json), 0);
  assertEquals(JSON.parse(json.out()).rules[0].oauth2, {
    token_url: "https://idp.example.com/oauth2/token",
    client_id_field: "client_id",
    client_secret_field: "client_secret",
    scope: "mlflow",
    client_auth: "basic",
  });
  assertNoCanary(io.out() + json.out(), SECRET);
});

Deno.test("main() doctor obtains an access token and names the token step when the identity provider refuses the client", async () => {
  await using idp = await startOidcProvider({ clients: [{ id: "mlflow-ci", secret: SECRET }] });
  const jwks = createRemoteJWKSet(new URL(idp.jwksUrl));
  const server = serve(async (req) => {
    const token = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
    try {
      await jwtVerify(token, jwks, { issuer: idp.issuer, audience: idp.resource, typ: "at+jwt" });
      return mlflowOk();
    } catch {
      return Response.json({ error_code: "UNAUTHENTICATED" }, { status: 401 });
    }
  });
  try {
    const path = await tempFile("mlflow-auth.yaml", profile(server.url, idp.tokenUrl));
    const good = fakeIo({
      env: { OAUTH_CLIENT: JSON.stringify({ client_id: "mlflow-ci", client_secret: SECRET }) },
    });
    assertEquals(await main(["doctor", "-p", path, "--json"], good), 0, good.out() + good.err());
    const report = JSON.parse(good.out()) as DoctorReport;
    assertEquals(
      report.targets[0]!.steps.map((s) => `${s.step}:${s.status}`),
      ["rule:pass", "provider:pass", "secret:pass", "token:pass", "header:pass", "server:pass"],
    );
    assertStringIncludes(report.targets[0]!.steps[3]!.detail, idp.tokenUrl);
    assertEquals(idp.tokenCalls.length, 1);

    const wrong = `wrong-${crypto.randomUUID()}`;
    const bad = fakeIo({
      env: { OAUTH_CLIENT: JSON.stringify({ client_id: "mlflow-ci", client_secret: wrong }) },
    });
    const seen = server.seen.length;
    assertEquals(await main(["doctor", "-p", path, "--json"], bad), 1);
    const failed = JSON.parse(bad.out()) as DoctorReport;
    assertEquals(
      failed.targets[0]!.steps.map((s) => `${s.step}:${s.status}`),
      ["rule:pass", "provider:pass", "secret:pass", "token:fail", "header:skip", "server:skip"],
    );
    const token = failed.targets[0]!.steps[3]!;
    assertEquals(token.detail, `none from ${idp.tokenUrl}`);
    assertStringIncludes(token.cause!, `"${idp.tokenUrl}"`);
    assertStringIncludes(token.cause!, "invalid_client");
    assertStringIncludes(token.hint!, "client id or secret");
    assertEquals(server.seen.length, seen, "doctor called the server without a token");
    assertNoCanary(good.out() + good.err() + bad.out() + bad.err(), SECRET);
    assertNoCanary(bad.out() + bad.err(), wrong);
  } finally {
    await server.close();
  }
});

Deno.test("runInit() writes a valid oauth2_client_credentials template, and asks for --token-url", async () => {
  const out: string[] = [];
  const io = { ...fakeIo(), stdout: (t: string) => void out.push(t) };
  assertEquals(
    await runInit({
      provider: "env",
      host: "https://mlflow.example.com",
      var: "OAUTH_CLIENT",
      auth: "oauth2_client_credentials",
      tokenUrl: "https://idp.example.com/oauth2/token",
      scope: "mlflow",
      stdout: true,
    }, io),
    0,
  );
  const text = out.join("");
  const rule = parseProfile(text, { env: {} }).data.hosts[0]!;
  assertEquals(rule.auth, {
    type: "oauth2_client_credentials",
    token_url: "https://idp.example.com/oauth2/token",
    client_id_field: "client_id",
    client_secret_field: "client_secret",
    scope: "mlflow",
    client_auth: "basic",
  });
  let error: unknown;
  try {
    await runInit({
      provider: "env",
      host: "https://mlflow.example.com",
      var: "OAUTH_CLIENT",
      auth: "oauth2_client_credentials",
      stdout: true,
    }, io);
  } catch (e) {
    error = e;
  }
  assert(error instanceof Error && error.message.includes("--token-url"), String(error));
});

Deno.test("main() init on a terminal asks for the token URL and the scopes of an oauth2 rule", async () => {
  const path = `${(await tempFile("x", "")).replace(/\/x$/, "")}/mlflow-auth.yaml`;
  const answers: Record<string, string> = {
    "Provider kind": "file",
    "Tracking server URL": "https://mlflow.company.com",
    "File holding the secret": "/run/secrets/oauth.json",
    "Auth type": "oauth2_client_credentials",
    "Token endpoint": "https://idp.company.com/oauth2/token",
    "Scopes": "mlflow",
  };
  const io = fakeIo({
    isTty: true,
    prompt: (message) => {
      const key = Object.keys(answers).find((k) => message.startsWith(k));
      assert(key !== undefined, `unexpected question ${message}`);
      return answers[key]!;
    },
  });
  assertEquals(await main(["init", "-p", path], io), 0, io.err());
  const rule = parseProfile(await Deno.readTextFile(path), { env: {} }).data.hosts[0]!;
  assertEquals(
    (rule.auth as Record<string, unknown>).token_url,
    "https://idp.company.com/oauth2/token",
  );
  assertEquals((rule.auth as Record<string, unknown>).scope, "mlflow");
});

Deno.test("main() doctor names the oauth2 field settings when the client secret's field is missing, and asks the identity provider nothing", async () => {
  const idp = serve(() => new Response("unexpected", { status: 500 }));
  try {
    const path = await tempFile(
      "mlflow-auth.yaml",
      profile("http://127.0.0.1:1", `${idp.url}/token`),
    );
    const io = fakeIo({ env: { OAUTH_CLIENT: JSON.stringify({ client_id: "mlflow-ci" }) } });
    assertEquals(await main(["doctor", "-p", path, "--json"], io), 1);
    const secret = (JSON.parse(io.out()) as DoctorReport).targets[0]!.steps[2]!;
    assertEquals([secret.step, secret.status], ["secret", "fail"]);
    assertStringIncludes(secret.cause!, '"client_secret"');
    assertStringIncludes(secret.hint!, "(client_id_field, client_secret_field)");
    assertEquals(idp.seen.length, 0);
  } finally {
    await idp.close();
  }
});
