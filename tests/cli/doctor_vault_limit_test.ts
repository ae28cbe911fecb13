/**
 * `doctor` names the provider's own limit on caching (a Vault token's remaining TTL) when it
 * comes before the rule's ttl, against a real OpenBao.
 */

import { main } from "../../cli.ts";
import type { DoctorReport } from "../../cli/doctor.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { startOpenBao } from "../_peers/openbao.ts";
import { fakeIo, mlflowOk, serve, tempFile } from "./_io.ts";

const TOKEN = "doctor-vault-limit-canary-3c9d";

Deno.test("main() doctor says when the Vault token's remaining TTL, not the rule's ttl, bounds the cache", async () => {
  await using bao = await startOpenBao();
  await bao.kvPut("secret", "mlflow/auth", { token: TOKEN });
  await bao.writePolicy("mlflow-read", 'path "secret/data/mlflow/*" { capabilities = ["read"] }');
  const shortLived = await bao.createToken(["mlflow-read"], { ttl: "50s" });
  const longLived = await bao.createToken(["mlflow-read"], { ttl: "24h" });
  const server = serve((req) =>
    req.headers.get("authorization") === `Bearer ${TOKEN}`
      ? mlflowOk()
      : new Response("no", { status: 401 })
  );
  try {
    const path = await tempFile(
      "mlflow-auth.yaml",
      [
        "version: 1",
        "providers:",
        `  v: { kind: vault, address: "${bao.address}", auth: { method: token, token_env: BAO_TOKEN } }`,
        "hosts:",
        `  - { match: "${server.url}", provider: v, secret: { path: mlflow/auth, mount: secret, field: token }, auth: bearer, cache: { ttl: 5m } }`,
        "",
      ].join("\n"),
    );
    const secretStep = async (token: string) => {
      const io = fakeIo({ env: { BAO_TOKEN: token } });
      assertEquals(await main(["doctor", "-p", path, "--json"], io), 0, io.out() + io.err());
      assertNoCanary(io.out() + io.err(), TOKEN);
      assertNoCanary(io.out() + io.err(), token);
      const report = JSON.parse(io.out()) as DoctorReport;
      return report.targets[0]!.steps.find((s) => s.step === "secret")!;
    };
    const limited = await secretStep(shortLived);
    assertEquals(limited.status, "pass");
    const shown =
      /cached for at most (\d+)s \(until \S+Z\), the provider's own limit \(a KV v1 lease or the Vault token's remaining TTL\), not the ttl 5m \(rule\)/
        .exec(limited.detail);
    assert(shown !== null, limited.detail);
    assert(Number(shown[1]) > 0 && Number(shown[1]) <= 50, limited.detail);
    assertStringIncludes((await secretStep(longLived)).detail, "cached by ttl 5m (rule)");
  } finally {
    await server.close();
  }
});
