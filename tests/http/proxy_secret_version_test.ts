import { parseProfile } from "../../mod.ts";
import { startProxy } from "../../http/proxy.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { deadlineTest } from "../_deadline.ts";
import { startOpenBao } from "../_peers/openbao.ts";

const test = deadlineTest(90);

const BEFORE = `tok-before-${crypto.randomUUID()}`;
const AFTER = `tok-after-${crypto.randomUUID()}`;

test("startProxy() logs and exports the secret version that authenticated, and a rotation changes it", async () => {
  await using bao = await startOpenBao();
  assertEquals(await bao.kvPut("secret", "mlflow/auth", { token: BEFORE }), 1);
  // The tracking server accepts only the current token: after the rotation the cached one gets a
  // 401, the proxy drops it, reads the new version and sends the request again.
  let current = BEFORE;
  await using up = await startServer((req) =>
    req.headers.get("authorization") === `Bearer ${current}`
      ? new Response("ok")
      : new Response("no", { status: 401 })
  );
  const profile = parseProfile(
    `version: 1
providers:
  corp-vault: { kind: vault, address: "${bao.address}", auth: { method: token } }
hosts:
  - match: "${up.origin}"
    provider: corp-vault
    secret: { path: mlflow/auth, mount: secret, field: token }
    auth: bearer
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
  const get = async (): Promise<number> => {
    const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
    await res.body?.cancel();
    return res.status;
  };
  const metrics = async (): Promise<string> =>
    await (await fetch(`${proxy.url}/__mlflow-secrets-auth/metrics`)).text();
  const info = (version: number) =>
    `mlflow_secrets_auth_secret_version_info{rule="hosts[0]",provider="corp-vault",version="${version}"} 1`;
  const accessLines = () => lines.filter((l) => l.includes("proxy request"));

  assertEquals(await get(), 200);
  let access = accessLines();
  assertEquals(access.length, 1, lines.join(""));
  assertStringIncludes(access[0]!, "version=1");
  let text = await metrics();
  assertStringIncludes(text, "# TYPE mlflow_secrets_auth_secret_version_info gauge");
  assertStringIncludes(text, `\n${info(1)}\n`);

  // Rotate in OpenBao: a second write is KV v2 version 2.
  assertEquals(await bao.kvPut("secret", "mlflow/auth", { token: AFTER }), 2);
  current = AFTER;
  assertEquals(await get(), 200);
  access = accessLines();
  assertEquals(access.length, 2, lines.join(""));
  assertStringIncludes(access[1]!, "version=2");
  assertStringIncludes(access[1]!, "refreshed=true");
  text = await metrics();
  assertStringIncludes(text, `\n${info(2)}\n`);
  assert(!text.includes(info(1)), "the old version is still exported");

  for (const out of [text, lines.join("")]) {
    assertNoCanary(out, BEFORE);
    assertNoCanary(out, AFTER);
  }
});
