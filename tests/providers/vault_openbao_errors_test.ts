/**
 * The vault provider's error messages against what a real Vault-API server answers: one OpenBao
 * (tests/_peers/openbao.ts) shared by the tests of this file. OpenBao answers 403 "permission
 * denied" both to a token it does not know and to a policy that does not allow a read; the
 * provider tells them apart with `auth/token/lookup-self`, and each message names the real cause.
 */

import { createVaultProvider, type VaultProviderOptions } from "../../providers/vault/mod.ts";
import type { SecretProvider, SecretRef } from "../../providers/types.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { type OpenBao, startOpenBao } from "../_peers/openbao.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { recordingContext } from "./_context.ts";

const CANARY = "canary-0b3e9a61";
const REF: SecretRef = { path: "mlflow/auth", mount: "ml-kv", kv: 2, field: "token" };

/** The file's OpenBao, with a KV v2 mount, two policies and an AppRole role. */
function startSeeded(): Promise<OpenBao> {
  return startOpenBao({
    async seed(bao) {
      await bao.enableKv("ml-kv", 2);
      await bao.kvPut("ml-kv", "mlflow/auth", { token: `tok-${CANARY}` });
      await bao.writePolicy("reader", `path "ml-kv/data/mlflow/*" { capabilities = ["read"] }`);
      await bao.writePolicy("other", `path "ml-kv/data/other/*" { capabilities = ["read"] }`);
      await bao.api("POST", "sys/auth/approle", { type: "approle" });
      await bao.api("POST", "auth/approle/role/ci", { token_policies: ["reader"] });
    },
  });
}

async function failure(
  bao: OpenBao,
  options: Partial<VaultProviderOptions>,
  env: Record<string, string>,
  ref: SecretRef = REF,
): Promise<SecretResolutionError> {
  const context = recordingContext(env);
  const provider: SecretProvider = createVaultProvider("corp-vault", {
    address: bao.address,
    auth: { method: "token" },
    ...options,
  }, context);
  try {
    await provider.resolve(ref, { signal: new AbortController().signal });
  } catch (e) {
    assert(e instanceof SecretResolutionError, `expected SecretResolutionError, got ${e}`);
    for (const secret of Object.values(env)) assertNoCanary([e, context.lines], secret);
    return e;
  } finally {
    provider.close?.();
  }
  throw new Error("expected the read to fail");
}

Deno.test("createVaultProvider() on OpenBao names the real cause of each failure", async (t) => {
  await using bao = await startSeeded();

  await t.step("an unknown token is reported as a bad token, not a policy", async () => {
    const env = { VAULT_TOKEN: `s.unknown-${CANARY}` };
    for (const ref of [REF, { path: "ml-kv/mlflow/auth", field: "token" }]) {
      const err = await failure(bao, {}, env, ref);
      assertEquals(err.status, 403);
      assertEquals(err.transient, false);
      assertStringIncludes(
        err.message,
        'Vault refused the token (auth method token from "VAULT_TOKEN")',
      );
      assertStringIncludes(err.message, '"auth/token/lookup-self"');
      assertStringIncludes(
        err.message,
        'the token in "VAULT_TOKEN" is invalid, expired or revoked',
      );
      assert(!err.message.includes("policies"), `no policy hint: ${err.message}`);
    }
  });

  await t.step("a revoked token from a file is reported as a bad token", async () => {
    const token = await bao.createToken(["reader"]);
    await bao.api("POST", "auth/token/revoke", { token });
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/token`, token);
      const err = await failure(
        bao,
        { auth: { method: "token_file", token_file: `${dir}/token` } },
        {
          T: token,
        },
      );
      assertEquals(err.status, 403);
      assertStringIncludes(err.message, "Vault refused the token");
      assertStringIncludes(
        err.message,
        `the token in "${dir}/token" is invalid, expired or revoked`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("a valid token its policy does not allow gets the policy hint", async () => {
    const err = await failure(bao, {}, { VAULT_TOKEN: await bao.createToken(["other"]) });
    assertEquals(err.status, 403);
    assertStringIncludes(
      err.message,
      `Vault answered 403 permission denied for "ml-kv/data/mlflow/auth" (auth method token from "VAULT_TOKEN"); the token is valid, but check that the token's policies grant "read" on "ml-kv/data/mlflow/auth"`,
    );
  });

  await t.step(
    "a token without the default policy reads, and its denial is a policy one",
    async () => {
      // Such a token may not look itself up either; OpenBao wraps that denial as a policy denial.
      const token = await bao.createToken(["reader"], { noDefaultPolicy: true });
      const context = recordingContext({ VAULT_TOKEN: token });
      const provider = createVaultProvider("corp-vault", {
        address: bao.address,
        auth: { method: "token" },
      }, context);
      try {
        const r = await provider.resolve(REF, { signal: new AbortController().signal });
        assertEquals(r.value, { token: `tok-${CANARY}` });
      } finally {
        provider.close?.();
      }
      const err = await failure(bao, {}, { VAULT_TOKEN: token }, { ...REF, path: "private/x" });
      assertEquals(err.status, 403);
      assertStringIncludes(err.message, `check that the token's policies grant "read"`);
      assert(!err.message.includes("refused the token"), err.message);
    },
  );

  await t.step(
    "a secret whose path ends in /login is a read, not a login, in the message",
    async () => {
      const err = await failure(bao, {}, { VAULT_TOKEN: await bao.createToken(["other"]) }, {
        ...REF,
        path: "mlflow/login",
      });
      assertEquals(err.status, 403);
      assertStringIncludes(
        err.message,
        `check that the token's policies grant "read" on "ml-kv/data/mlflow/login"`,
      );
      assert(!/login at|Kubernetes|role "undefined"/.test(err.message), err.message);
    },
  );

  await t.step("the mount lookup for a path no mount holds says so", async () => {
    const err = await failure(bao, {}, { VAULT_TOKEN: await bao.createToken(["reader"]) }, {
      path: "nowhere/mlflow/auth",
    });
    assertEquals(err.status, 403);
    assertStringIncludes(
      err.message,
      'the mount lookup "sys/internal/ui/mounts/nowhere/mlflow/auth"',
    );
    assertStringIncludes(err.message, 'no mount holds "nowhere/mlflow/auth"');
  });

  await t.step("a namespace that does not exist is named", async () => {
    for (const ref of [REF, { path: "ml-kv/mlflow/auth" }]) {
      const err = await failure(
        bao,
        { namespace: "no-such-team" },
        { VAULT_TOKEN: bao.rootToken },
        ref,
      );
      assertEquals(err.status, 404);
      assertStringIncludes(err.message, 'namespace "no-such-team" does not exist on Vault at');
      assert(!err.message.includes("no secret at"), err.message);
    }
  });

  await t.step("AppRole failures name the mount or the credentials", async () => {
    const roleId = String(
      ((await bao.api("GET", "auth/approle/role/ci/role-id")).data as { role_id: string }).role_id,
    );
    const approle = (mount: string) => ({
      auth: {
        method: "approle" as const,
        mount,
        role_id_env: "ROLE_ID",
        secret_id_env: "SECRET_ID",
      },
    });
    const env = { ROLE_ID: roleId, SECRET_ID: `wrong-${CANARY}` };
    const wrongMount = await failure(bao, approle("not-approle"), env);
    assertEquals(wrongMount.status, 403);
    assertStringIncludes(
      wrongMount.message,
      'AppRole login at "auth/not-approle/login" failed: Vault answered 403 permission denied; no AppRole auth method is enabled at "auth/not-approle"',
    );
    const wrongSecret = await failure(bao, approle("approle"), env);
    assertEquals(wrongSecret.status, 400);
    assertEquals(wrongSecret.transient, false);
    assertStringIncludes(
      wrongSecret.message,
      'AppRole login at "auth/approle/login" failed: Vault answered 400 invalid role or secret ID; check the role id (environment variable "ROLE_ID"), the secret id (environment variable "SECRET_ID")',
    );
  });

  await t.step("deleted, destroyed and missing versions, and KV v2 read as v1", async () => {
    await bao.kvPut("ml-kv", "versions/x", { token: "one" });
    await bao.kvPut("ml-kv", "versions/x", { token: "two" });
    await bao.kvPut("ml-kv", "versions/x", { token: "three" });
    await bao.api("POST", "ml-kv/delete/versions/x", { versions: [1] });
    await bao.api("PUT", "ml-kv/destroy/versions/x", { versions: [2] });
    const env = { VAULT_TOKEN: bao.rootToken };
    const at = (version?: number, kv: 1 | 2 = 2): SecretRef => ({
      path: "versions/x",
      mount: "ml-kv",
      kv,
      ...(version !== undefined ? { version } : {}),
    });
    const deleted = await failure(bao, {}, env, at(1));
    assertEquals(deleted.status, 404);
    assertStringIncludes(
      deleted.message,
      'version 1 of "versions/x" on KV v2 mount "ml-kv" was deleted at',
    );
    const destroyed = await failure(bao, {}, env, at(2));
    assertStringIncludes(
      destroyed.message,
      'version 2 of "versions/x" on KV v2 mount "ml-kv" was destroyed',
    );
    const missing = await failure(bao, {}, env, at(9));
    assertStringIncludes(
      missing.message,
      'Vault answered 404: no secret at "versions/x" on KV v2 mount "ml-kv"',
    );
    const asV1 = await failure(bao, {}, env, at(undefined, 1));
    assertStringIncludes(
      asV1.message,
      '"ml-kv" is a KV v2 mount but "versions/x" was read as KV v1',
    );
  });

  await t.step("a sealed server is a transient 503 that names the seal", async () => {
    try {
      await bao.seal();
      const err = await failure(bao, {}, { VAULT_TOKEN: bao.rootToken });
      assertEquals(err.status, 503);
      assertEquals(err.transient, true);
      assertStringIncludes(err.message, "Vault answered 503 Vault is sealed");
      assertStringIncludes(err.message, "succeeds once Vault is unsealed");
    } finally {
      await bao.unseal();
    }
  });
});
