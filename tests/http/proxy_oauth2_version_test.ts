import { parseProfile } from "../../mod.ts";
import { startProxy } from "../../http/proxy.ts";
import { createRemoteJWKSet, jwtVerify } from "../../deps/jose.ts";
import { assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { deadlineTest } from "../_deadline.ts";
import { startOpenBao } from "../_peers/openbao.ts";
import { startOidcProvider } from "../_peers/oidc.ts";

const test = deadlineTest(90);

const CLIENT_SECRET = `oauth-cs-${crypto.randomUUID()}`;

test("startProxy() logs and exports the version of the client secret behind an oauth2 rule's access token", async () => {
  await using bao = await startOpenBao();
  await using idp = await startOidcProvider({
    clients: [{ id: "mlflow-ci", secret: CLIENT_SECRET }],
  });
  // Version 1 holds a wrong secret; version 2 the right one, so the version that authenticated is 2.
  await bao.kvPut("secret", "mlflow/oauth", { client_id: "mlflow-ci", client_secret: "stale" });
  assertEquals(
    await bao.kvPut("secret", "mlflow/oauth", {
      client_id: "mlflow-ci",
      client_secret: CLIENT_SECRET,
    }),
    2,
  );
  const jwks = createRemoteJWKSet(new URL(idp.jwksUrl));
  const tokens: string[] = [];
  await using up = await startServer(async (req) => {
    const token = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
    try {
      await jwtVerify(token, jwks, { issuer: idp.issuer, audience: idp.resource, typ: "at+jwt" });
      tokens.push(token);
      return new Response("ok");
    } catch {
      return new Response("no", { status: 401 });
    }
  });
  const profile = parseProfile(
    `version: 1
providers:
  corp-vault: { kind: vault, address: "${bao.address}", auth: { method: token } }
hosts:
  - match: "${up.origin}"
    provider: corp-vault
    secret: { path: mlflow/oauth, mount: secret }
    auth: { type: oauth2_client_credentials, token_url: "${idp.tokenUrl}", scope: mlflow }
`,
    { env: {} },
  );
  const lines: string[] = [];
  await using proxy = await startProxy(profile, {
    upstream: up.origin,
    env: (name) => name === "VAULT_TOKEN" ? bao.rootToken : undefined,
    logWrite: (l) => lines.push(l),
    logLevel: "info",
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
  await res.body?.cancel();
  assertEquals(res.status, 200, lines.join(""));
  assertEquals(tokens.length, 1);

  const access = lines.filter((l) => l.includes("proxy request"));
  assertEquals(access.length, 1, lines.join(""));
  assertStringIncludes(access[0]!, "version=2");
  const metrics = await (await fetch(`${proxy.url}/__mlflow-secrets-auth/metrics`)).text();
  assertStringIncludes(
    metrics,
    `\nmlflow_secrets_auth_secret_version_info{rule="hosts[0]",provider="corp-vault",version="2"} 1\n`,
  );
  for (const out of [metrics, lines.join("")]) {
    assertNoCanary(out, CLIENT_SECRET);
    assertNoCanary(out, tokens[0]!);
  }
});
