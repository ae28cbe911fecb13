/**
 * The vault provider against a real Vault-API server: OpenBao in dev mode (tests/_peers/openbao.ts),
 * one per file, shared by the steps of one test. Token, token file, AppRole (a short token TTL,
 * renewal, re-login, a rotated secret id), Kubernetes auth (OpenBao's real `kubernetes` method,
 * its `kubernetes_host` pointing at a small local TokenReview endpoint, the one piece with no
 * real counterpart here), KV v1 and v2 on custom and nested mounts, the mount lookup under a
 * least-privilege policy, pinned versions, namespaces, the provider contract, and through
 * `createAuthFetch` a sealed server (503) and a restarted one: the cached secret is served while
 * OpenBao is away, and fetched again once it is back. OpenBao's audit log counts what was asked.
 *
 * The Vault double (tests/_peers/vault_double.ts) stays for what OpenBao cannot produce here (a
 * standby's redirect, slow or malformed answers); the contract runs against both.
 */

import { createAuthFetch, parseProfile } from "../../mod.ts";
import { createVaultProvider, type VaultProviderOptions } from "../../providers/vault/mod.ts";
import type { ProviderContext, SecretProvider, SecretRef } from "../../providers/types.ts";
import { type OpenBao, type OpenBaoAuditEntry, startOpenBao } from "../_peers/openbao.ts";
import { VaultDouble } from "../_peers/vault_double.ts";
import { startServer } from "../_servers.ts";
import { issueTestCertificates } from "../_tls.ts";
import { assert, assertEquals, assertNoCanary } from "../_assert.ts";
import { recordingContext } from "./_context.ts";
import { runProviderContract } from "./_contract.ts";

const CANARY = "canary-4f2a9c10";
const VALUE = { token: `tok-${CANARY}`, username: "mlflow" };
const signal = (): AbortSignal => new AbortController().signal;

/** A clock the provider reads; moved by hand to make renewal and expiry due. */
class Clock {
  offset = 0;
  readonly now = (): number => Date.now() + this.offset;
}

/** Seeds (again after a restart): mounts, secrets, policies, a token with a fixed id. */
function seeder(state: { generation: number; readerToken: string }) {
  return async (bao: OpenBao): Promise<void> => {
    state.generation++;
    await bao.enableKv("ml-kv", 2);
    await bao.kvPut("ml-kv", "mlflow/auth", VALUE);
    await bao.kvPut("ml-kv", "private/x", { token: `private-${CANARY}` });
    await bao.kvPut("ml-kv", "rotating/auth", { token: `gen-${state.generation}-${CANARY}` });
    await bao.enableKv("teams/ml/kv1", 1);
    await bao.api("POST", "teams/ml/kv1/app/db", { password: `db-${CANARY}` });
    await bao.enableKv("teams/ml/kv2", 2);
    await bao.kvPut("teams/ml/kv2", "mlflow/auth", VALUE);
    await bao.writePolicy(
      "reader",
      [
        `path "ml-kv/data/mlflow/*" { capabilities = ["read"] }`,
        `path "ml-kv/data/rotating/*" { capabilities = ["read"] }`,
      ].join("\n"),
    );
    // Least privilege: one KV v2 secret, nothing else (no list, no metadata, no sys/mounts).
    await bao.writePolicy(
      "least",
      `path "teams/ml/kv2/data/mlflow/auth" { capabilities = ["read"] }`,
    );
    await bao.writePolicy("kv1", `path "teams/ml/kv1/app/*" { capabilities = ["read"] }`);
    await bao.api("POST", "auth/token/create", {
      id: state.readerToken,
      policies: ["reader"],
      ttl: "1h",
    });
  };
}

function reads(entries: readonly OpenBaoAuditEntry[], path: string): OpenBaoAuditEntry[] {
  return entries.filter((e) => e.type === "response" && e.path === path);
}

Deno.test("createVaultProvider() against OpenBao", async (t) => {
  const state = { generation: 0, readerToken: `reader-${crypto.randomUUID()}` };
  await using bao = await startOpenBao({ audit: true, seed: seeder(state) });
  const dir = await Deno.makeTempDir({ prefix: "msa-openbao-test-" });
  const providers: SecretProvider[] = [];
  const provider = (
    options: Partial<VaultProviderOptions>,
    env: Record<string, string>,
    extra: Partial<ProviderContext> = {},
  ): SecretProvider & { readonly lines: string[] } => {
    const context = { ...recordingContext(env), ...extra };
    const p = createVaultProvider("corp-vault", {
      address: bao.address,
      auth: { method: "token" },
      ...options,
    } as VaultProviderOptions, context);
    providers.push(p);
    return Object.assign(p, { lines: context.lines });
  };
  try {
    await t.step("the provider contract (token auth)", async (t) => {
      const denied = provider({}, { VAULT_TOKEN: await bao.createToken(["least"]) });
      await runProviderContract(t, {
        provider: provider({}, { VAULT_TOKEN: state.readerToken }),
        existing: { ref: { path: "mlflow/auth", mount: "ml-kv", kv: 2 }, value: VALUE },
        missing: { path: "mlflow/missing", mount: "ml-kv", kv: 2 },
        denied: { ref: { path: "mlflow/auth", mount: "ml-kv", kv: 2 }, provider: denied },
        canary: CANARY,
      });
    });

    await t.step("the same contract holds on the Vault double", async (t) => {
      await using vault = await VaultDouble.start();
      vault.mountKv("ml-kv", 2);
      vault.writeKv("ml-kv", "mlflow/auth", VALUE);
      vault.writePolicy("reader", { "ml-kv/data/mlflow/*": ["read"] });
      vault.writePolicy("least", { "teams/ml/kv2/data/mlflow/auth": ["read"] });
      const make = (token: string) =>
        createVaultProvider("corp-vault", {
          address: vault.address,
          auth: { method: "token" },
        }, recordingContext({ VAULT_TOKEN: token }));
      const reader = make(vault.createToken({ policies: ["reader"] }));
      const denied = make(vault.createToken({ policies: ["least"] }));
      try {
        await runProviderContract(t, {
          provider: reader,
          existing: { ref: { path: "mlflow/auth", mount: "ml-kv", kv: 2 }, value: VALUE },
          missing: { path: "mlflow/missing", mount: "ml-kv", kv: 2 },
          denied: { ref: { path: "mlflow/auth", mount: "ml-kv", kv: 2 }, provider: denied },
          canary: CANARY,
        });
      } finally {
        await reader.close?.();
        await denied.close?.();
      }
    });

    await t.step("token file: read, and read again when the file changes", async () => {
      const file = `${dir}/vault-token`;
      await Deno.writeTextFile(file, `${state.readerToken}\n`);
      const p = provider({ auth: { method: "token_file", token_file: file } }, {});
      const ref = { path: "mlflow/auth", mount: "ml-kv", kv: 2 };
      assertEquals((await p.resolve(ref, { signal: signal() })).value, VALUE);
      // A new token (as Vault Agent would write) is picked up; the old one is revoked.
      const fresh = await bao.createToken(["reader"]);
      await bao.api("POST", "auth/token/revoke", { token: state.readerToken });
      await Deno.writeTextFile(file, `${fresh}\n`);
      assertEquals((await p.resolve(ref, { signal: signal() })).value, VALUE);
      // Later steps use the fixed-id reader token again.
      await bao.api("POST", "auth/token/create", {
        id: state.readerToken,
        policies: ["reader"],
        ttl: "1h",
      });
    });

    await t.step(
      "KV v1 and v2 on nested mounts, found by the mount lookup (kv: auto)",
      async () => {
        const kv1 = provider({}, { VAULT_TOKEN: await bao.createToken(["kv1"]) });
        const r1 = await kv1.resolve({ path: "teams/ml/kv1/app/db" }, { signal: signal() });
        assertEquals(r1.value, { password: `db-${CANARY}` });
        assert(r1.maxTtlMs !== undefined && r1.maxTtlMs > 0, "a KV v1 lease bounds the cache");
        const kv2 = provider({}, { VAULT_TOKEN: await bao.createToken(["least"]) });
        const r2 = await kv2.resolve({ path: "mlflow/auth", mount: "teams/ml/kv2" }, {
          signal: signal(),
        });
        assertEquals(r2.value, VALUE);
        assertEquals(r2.version, "1");
      },
    );

    await t.step(
      "the mount lookup works under a least-privilege policy and is remembered",
      async () => {
        const before = (await bao.audit()).length;
        const p = provider({}, { VAULT_TOKEN: await bao.createToken(["least"]) });
        for (let i = 0; i < 3; i++) {
          const r = await p.resolve({ path: "teams/ml/kv2/mlflow/auth" }, { signal: signal() });
          assertEquals(r.value, VALUE);
        }
        const entries = (await bao.audit()).slice(before);
        assertEquals(
          reads(entries, "sys/internal/ui/mounts/teams/ml/kv2/mlflow/auth").length,
          1,
          "one mount lookup",
        );
        assertEquals(reads(entries, "teams/ml/kv2/data/mlflow/auth").length, 3);
      },
    );

    await t.step("a pinned version is read; deleted and destroyed ones are not", async () => {
      await bao.kvPut("ml-kv", "pinned/x", { token: "one" });
      await bao.kvPut("ml-kv", "pinned/x", { token: "two" });
      await bao.kvPut("ml-kv", "pinned/x", { token: "three" });
      await bao.api("POST", "ml-kv/delete/pinned/x", { versions: [1] });
      await bao.api("PUT", "ml-kv/destroy/pinned/x", { versions: [3] });
      const p = provider({}, { VAULT_TOKEN: bao.rootToken });
      const at = (version?: number): SecretRef => ({
        path: "pinned/x",
        mount: "ml-kv",
        ...(version ? { version } : {}),
      });
      const two = await p.resolve(at(2), { signal: signal() });
      assertEquals([two.value, two.version], [{ token: "two" }, "2"]);
      for (const v of [1, 3, undefined]) {
        const err = await p.resolve(at(v), { signal: signal() }).then(() => undefined, (e) => e);
        assert(err instanceof Error, `version ${v} resolved`);
        assertEquals((err as { status?: number }).status, 404);
      }
    });

    await t.step("namespaces: a secret in a child namespace, by header", async () => {
      await bao.api("POST", "sys/namespaces/team-a");
      await bao.api("POST", "sys/namespaces/ml", undefined, { namespace: "team-a" });
      for (const ns of ["team-a", "team-a/ml"]) {
        await bao.enableKv("secret", 2, { namespace: ns });
        await bao.kvPut("secret", "mlflow/auth", { token: `${ns}-${CANARY}` }, { namespace: ns });
        await bao.writePolicy(
          "reader",
          `path "secret/data/mlflow/*" { capabilities = ["read"] }`,
          { namespace: ns },
        );
        const token = await bao.createToken(["reader"], { namespace: ns });
        const p = provider({ namespace: ns }, { VAULT_TOKEN: token });
        const r = await p.resolve({ path: "secret/mlflow/auth" }, { signal: signal() });
        assertEquals(r.value, { token: `${ns}-${CANARY}` });
        // The same token outside its namespace is unknown.
        const outside = provider({}, { VAULT_TOKEN: token });
        const err = await outside.resolve({ path: "mlflow/auth", mount: "ml-kv", kv: 2 }, {
          signal: signal(),
        }).then(() => undefined, (e) => e as { status?: number });
        assertEquals(err?.status, 403);
      }
      const entries = await bao.audit();
      assert(
        entries.some((e) => e.namespace === "team-a/ml" && e.path === "secret/data/mlflow/auth"),
        "the read went to team-a/ml",
      );
    });

    await t.step(
      "AppRole: a 3 s token is renewed, replaced by a login at its max TTL, and a rotated secret id is used",
      async () => {
        await bao.api("POST", "sys/auth/approle", { type: "approle" });
        await bao.api("POST", "auth/approle/role/ci", {
          token_policies: ["reader"],
          token_ttl: "3s",
          token_max_ttl: "6s",
        });
        const roleId = String(
          ((await bao.api("GET", "auth/approle/role/ci/role-id")).data as { role_id: string })
            .role_id,
        );
        const secretId = async (): Promise<{ id: string; accessor: string }> => {
          const d = (await bao.api("POST", "auth/approle/role/ci/secret-id")).data as {
            secret_id: string;
            secret_id_accessor: string;
          };
          return { id: d.secret_id, accessor: d.secret_id_accessor };
        };
        const first = await secretId();
        const secretFile = `${dir}/secret-id`;
        await Deno.writeTextFile(secretFile, first.id);
        const clock = new Clock();
        const p = provider(
          {
            auth: {
              method: "approle",
              role_id_env: "ROLE_ID",
              secret_id_file: secretFile,
            },
          },
          { ROLE_ID: roleId },
          { now: clock.now },
        );
        const ref = { path: "mlflow/auth", mount: "ml-kv", kv: 2 };
        const before = (await bao.audit()).length;
        const calls = async () =>
          (await bao.audit()).slice(before).filter((e) =>
            e.type === "response" && (e.path.startsWith("auth/") || e.path.startsWith("ml-kv/"))
          ).map((e) =>
            e.error === ""
              ? e.path
              : `${e.path} (${/permission denied/.test(e.error) ? "denied" : e.error})`
          );

        const r = await p.resolve(ref, { signal: signal() });
        assertEquals(r.value, VALUE);
        assert(r.maxTtlMs !== undefined && r.maxTtlMs <= 3_000, "the token TTL bounds the cache");
        // Two thirds of the TTL later the token is renewed, not replaced.
        clock.offset += 2_100;
        await p.resolve(ref, { signal: signal() });
        // Past the max TTL a renewal gains nothing: the provider logs in again.
        clock.offset += 7_000;
        await p.resolve(ref, { signal: signal() });
        assertEquals(await calls(), [
          "auth/approle/login",
          "ml-kv/data/mlflow/auth",
          "auth/token/renew-self",
          "ml-kv/data/mlflow/auth",
          "auth/approle/login",
          "ml-kv/data/mlflow/auth",
        ]);

        // Rotation: a new secret id is written, the old one destroyed, the token revoked. The next
        // read is denied, the provider logs in with the new secret id and reads.
        const second = await secretId();
        await Deno.writeTextFile(secretFile, second.id);
        await bao.api("POST", "auth/approle/role/ci/secret-id-accessor/destroy", {
          secret_id_accessor: first.accessor,
        });
        const accessors = (await bao.api("LIST", "auth/token/accessors")).data as {
          keys: string[];
        };
        for (const accessor of accessors.keys) {
          const info = (await bao.api("POST", "auth/token/lookup-accessor", { accessor }))
            .data as { display_name: string };
          if (info.display_name === "approle") {
            await bao.api("POST", "auth/token/revoke-accessor", { accessor });
          }
        }
        const mark = (await calls()).length;
        assertEquals((await p.resolve(ref, { signal: signal() })).value, VALUE);
        assertEquals((await calls()).slice(mark), [
          "ml-kv/data/mlflow/auth (denied)",
          "auth/approle/login",
          "ml-kv/data/mlflow/auth",
        ]);
        for (const secret of [roleId, first.id, second.id]) assertNoCanary(p.lines, secret);
      },
    );

    await t.step(
      "Kubernetes auth: OpenBao's kubernetes method asks a TokenReview endpoint",
      async () => {
        const jwt = await serviceAccountJwt("ml", "mlflow", crypto.randomUUID());
        const reviews: string[] = [];
        await using reviewer = await startServer((req, body) => {
          const path = new URL(req.url).pathname;
          if (path !== "/apis/authentication.k8s.io/v1/tokenreviews") {
            return Response.json({ kind: "Status", code: 404 }, { status: 404 });
          }
          const review = JSON.parse(body) as { spec: { token: string } };
          reviews.push(review.spec.token === jwt.token ? "ours" : "other");
          const ok = review.spec.token === jwt.token;
          return Response.json({
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            status: ok
              ? {
                authenticated: true,
                user: {
                  username: "system:serviceaccount:ml:mlflow",
                  uid: jwt.uid,
                  groups: ["system:serviceaccounts", "system:serviceaccounts:ml"],
                },
              }
              : { authenticated: false, error: "invalid bearer token" },
          }, { status: 201 });
        });
        await bao.api("POST", "sys/auth/k8s-prod", { type: "kubernetes" });
        await bao.api("POST", "auth/k8s-prod/config", {
          kubernetes_host: reviewer.origin,
          // Required with disable_local_ca_jwt; unused for an http:// host.
          kubernetes_ca_cert: (await issueTestCertificates()).ca,
          disable_local_ca_jwt: true,
        });
        await bao.api("POST", "auth/k8s-prod/role/mlflow", {
          bound_service_account_names: ["mlflow"],
          bound_service_account_namespaces: ["ml"],
          token_policies: ["reader"],
          token_ttl: "10m",
        });
        const jwtFile = `${dir}/sa-token`;
        await Deno.writeTextFile(jwtFile, jwt.token);
        const p = provider({
          auth: { method: "kubernetes", role: "mlflow", mount: "k8s-prod", jwt_file: jwtFile },
        }, {});
        const r = await p.resolve({ path: "mlflow/auth", mount: "ml-kv", kv: 2 }, {
          signal: signal(),
        });
        assertEquals(r.value, VALUE);
        assertEquals(reviews, ["ours"], "OpenBao asked the TokenReview endpoint once");
        // A token the cluster does not vouch for is refused by OpenBao.
        const stranger = await serviceAccountJwt("ml", "mlflow", crypto.randomUUID());
        await Deno.writeTextFile(jwtFile, stranger.token);
        const refused = provider({
          auth: { method: "kubernetes", role: "mlflow", mount: "k8s-prod", jwt_file: jwtFile },
        }, {});
        const err = await refused.resolve({ path: "mlflow/auth", mount: "ml-kv", kv: 2 }, {
          signal: signal(),
        }).then(() => undefined, (e) => e as Error & { status?: number });
        assert(err !== undefined, "a token the TokenReview refused was accepted");
        assertEquals(err.status, 403);
        assert(
          err.message.includes('Kubernetes login at "auth/k8s-prod/login" failed'),
          err.message,
        );
        assertNoCanary([err, p.lines, refused.lines], jwt.token);
      },
    );

    await t.step(
      "createAuthFetch(): sealed, then restarted; the cached secret bridges both",
      async () => {
        await using tracking = await startServer(() => Response.json({}));
        const clock = new Clock();
        const profile = parseProfile(
          `version: 1
providers:
  corp-vault:
    kind: vault
    address: ${bao.address}
    auth: { method: token }
hosts:
  - match: ${tracking.origin}
    provider: corp-vault
    secret: { path: rotating/auth, mount: ml-kv, kv: 2, field: token }
    auth: bearer
    cache: { ttl: 1m, stale_if_error: 10m, failure_ttl: 1s }
    retry: { attempts: 1 }
`,
          { env: {} },
        );
        const env: Record<string, string> = { VAULT_TOKEN: state.readerToken };
        await using authFetch = createAuthFetch(profile, {
          env: (n) => env[n],
          now: clock.now,
          logWrite: () => {},
        });
        const call = async (): Promise<string> => {
          const res = await authFetch(`${tracking.origin}/api/2.0/mlflow/experiments/search`);
          await res.body?.cancel();
          assertEquals(res.status, 200);
          return tracking.received.at(-1)!.headers.get("authorization") ?? "";
        };
        const secretReads = async () =>
          reads(await bao.audit(), "ml-kv/data/rotating/auth").filter((e) => e.error === "")
            .length;
        const gen1 = `Bearer gen-${state.generation}-${CANARY}`;
        assertEquals(await call(), gen1);
        const readsBefore = await secretReads();

        await bao.seal();
        clock.offset += 2 * 60_000;
        assertEquals(await call(), gen1, "sealed: the cached secret is served");
        await bao.unseal();
        // While a stale value is usable, the cache spreads its retries over 25-75 % of the time
        // left (here about 9 minutes): 7 minutes later the next request loads again.
        clock.offset += 7 * 60_000;
        assertEquals(await call(), gen1);
        assertEquals(await secretReads(), readsBefore + 1, "unsealed: fetched again");

        await bao.stop();
        clock.offset += 2 * 60_000;
        assertEquals(await call(), gen1, "stopped: the cached secret is served");
        await bao.restart(); // seeded again: the secret now holds the next generation
        clock.offset += 7 * 60_000;
        assertEquals(await call(), `Bearer gen-${state.generation}-${CANARY}`, "fetched anew");
        assert(state.generation === 2, "restarted once");
      },
    );
  } finally {
    for (const p of providers) await p.close?.();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/**
 * A service-account token as Kubernetes issues them (legacy claims, RS256). OpenBao reads its
 * claims and leaves the verdict to the TokenReview endpoint, so the key is thrown away.
 */
async function serviceAccountJwt(
  namespace: string,
  name: string,
  uid: string,
): Promise<{ token: string; uid: string }> {
  const key = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    false,
    ["sign"],
  );
  const b64 = (data: Uint8Array | string): string =>
    btoa(String.fromCharCode(...(typeof data === "string" ? new TextEncoder().encode(data) : data)))
      .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const header = b64(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "test" }));
  const claims = b64(JSON.stringify({
    iss: "kubernetes/serviceaccount",
    sub: `system:serviceaccount:${namespace}:${name}`,
    "kubernetes.io/serviceaccount/namespace": namespace,
    "kubernetes.io/serviceaccount/service-account.name": name,
    "kubernetes.io/serviceaccount/service-account.uid": uid,
    "kubernetes.io/serviceaccount/secret.name": `${name}-token-${CANARY}`,
  }));
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      "RSASSA-PKCS1-v1_5",
      key.privateKey,
      new TextEncoder().encode(`${header}.${claims}`),
    ),
  );
  return { token: `${header}.${claims}.${b64(signature)}`, uid };
}
