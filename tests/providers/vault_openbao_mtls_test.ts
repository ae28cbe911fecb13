/**
 * The vault provider's `tls.client_cert` and `tls.client_key`, proven on real components: nginx
 * serving HTTPS with a certificate from a private CA made here, `ssl_verify_client on`, in front
 * of OpenBao. Without a client certificate (or with one from another CA) nginx refuses the
 * request and OpenBao never sees it; the provider says so clearly, without the token. With the
 * right one the secret resolves.
 */

import { createVaultProvider } from "../../providers/vault/mod.ts";
import type { SecretProvider } from "../../providers/types.ts";
import { SecretResolutionError } from "../../mod.ts";
import { startOpenBao } from "../_peers/openbao.ts";
import { startTlsNginx } from "../_peers/nginx.ts";
import { issueTestCertificates } from "../_tls.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { recordingContext } from "./_context.ts";

const CANARY = "canary-7b31e0d2";
const REF = { path: "mlflow/auth", mount: "secret", kv: 2 } as const;

Deno.test("createVaultProvider() sends tls.client_cert to a Vault behind nginx with ssl_verify_client on", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "msa-vault-mtls-" });
  await using bao = await startOpenBao({
    seed: async (b) => {
      await b.kvPut("secret", "mlflow/auth", { token: `tok-${CANARY}` });
    },
  });
  const pki = await issueTestCertificates({ client: true, dir });
  const otherDir = await Deno.makeTempDir({ prefix: "msa-vault-mtls-other-" });
  const other = await issueTestCertificates({ client: true, dir: otherDir });
  await using nginx = await startTlsNginx({
    upstream: bao.address,
    cert: pki.files.cert,
    key: pki.files.key,
    clientCa: pki.files.ca,
  });
  const vaultToken = `${CANARY}-${crypto.randomUUID()}`;
  await bao.api("POST", "auth/token/create", { id: vaultToken, policies: ["root"], ttl: "1h" });
  const providers: SecretProvider[] = [];
  const logs: string[][] = [];
  const provider = (tls: Record<string, string>): SecretProvider => {
    const context = recordingContext({ VAULT_TOKEN: vaultToken });
    const p = createVaultProvider("corp-vault", {
      address: nginx.url,
      auth: { method: "token" },
      tls,
    }, context);
    providers.push(p);
    logs.push(context.lines);
    return p;
  };
  const failure = async (p: SecretProvider): Promise<SecretResolutionError> => {
    try {
      await p.resolve(REF, { signal: new AbortController().signal });
    } catch (error) {
      assert(error instanceof SecretResolutionError, `unexpected ${String(error)}`);
      assertNoCanary(error, CANARY);
      return error;
    }
    throw new Error("the read succeeded without the right client certificate");
  };
  try {
    await t.step("without a client certificate: nginx refuses, the provider says why", async () => {
      const error = await failure(provider({ ca_cert: pki.files.ca }));
      assertStringIncludes(error.message, "demands a client certificate");
      assertStringIncludes(error.message, "tls.client_cert");
      assertEquals(error.transient, false);
      assertEquals(await nginx.forwarded(), [], "nothing reached OpenBao");
    });

    await t.step("a client certificate from another CA: refused, and said so", async () => {
      const error = await failure(provider({
        ca_cert: pki.files.ca,
        client_cert: other.files.client.cert,
        client_key: other.files.client.key,
      }));
      assertStringIncludes(error.message, "refused the client certificate");
      assertEquals(await nginx.forwarded(), [], "nothing reached OpenBao");
    });

    await t.step("the right client certificate: the secret resolves through nginx", async () => {
      const p = provider({
        ca_cert: pki.files.ca,
        client_cert: pki.files.client.cert,
        client_key: pki.files.client.key,
      });
      const secret = await p.resolve(REF, { signal: new AbortController().signal });
      assertEquals(secret.value, { token: `tok-${CANARY}` });
      // Exactly this provider's two calls reached OpenBao: the refused ones above sent nothing.
      const forwarded = await nginx.forwarded(2);
      assertEquals(forwarded, [
        "GET /v1/auth/token/lookup-self 200",
        "GET /v1/secret/data/mlflow/auth 200",
      ]);
    });
  } finally {
    for (const p of providers) await p.close?.();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(otherDir, { recursive: true });
  }
  assertNoCanary(logs.flat().join("\n"), CANARY);
});
