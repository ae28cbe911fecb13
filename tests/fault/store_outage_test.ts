/**
 * Fault suite, the secret store failing while traffic flows: the real `proxy` command (a child
 * process) in front of nginx, which lets a request through only with the right bearer token, to a
 * loopback tracking server that records the id of every request it receives. Its credential lives
 * in a real store: OpenBao (the Vault API) or moto (the AWS Secrets Manager API). Mid-run the
 * store is stopped, slowed to 5 s per answer (a TCP relay holding its answers back), or sealed,
 * then brought back. The proxy is never restarted.
 *
 * What the user sees, in every case:
 * 1. while the cached credential is usable (its TTL, then `stale_if_error` after it), every
 *    request is answered 200: the cache, then the stale value, bridge the outage;
 * 2. after that window, 503 `TEMPORARILY_UNAVAILABLE` with `Retry-After: 5` and a message naming
 *    the provider and the secret reference (never the value), within the retry deadline: no hang;
 * 3. once the store is back, 200 again within the retry deadline and the failure memory, from the
 *    same proxy process.
 * Nothing is lost: every request gets an answer; each 200 reached the tracking server exactly
 * once, with the credential (nginx checked it); no 503 reached it.
 *
 * The four stores run at once, each with its own proxy, sharing nginx and the tracking server.
 * Windows are asserted from the profile's own settings, on answers and not on speed: an answer
 * that arrived before the earliest end of the stale window was decided before it, so must be 200;
 * a request sent after the latest end of the window (and before the store is back) must be 503.
 */

import { assert, assertEquals, assertNoCanary } from "../_assert.ts";
import { withDeadline } from "../_deadline.ts";
import { nginxBinary, startNginx } from "../_peers/nginx.ts";
import { MOTO_CREDENTIALS, motoInstalled, type MotoServer, startMoto } from "../_peers/moto.ts";
import { type OpenBao, openBaoInstalled, startOpenBao } from "../_peers/openbao.ts";
import { type ProxyProcess, startProxyProcess } from "../e2e/_proxy_process.ts";
import { startRelay } from "./_relay.ts";
import { byStatus, type Outcome, sleep, startClients } from "./_traffic.ts";

/** The profile's settings the windows are computed from (milliseconds). */
const TTL = 2_000;
const STALE = 6_000;
const FAILURE_TTL = 500;
const DEADLINE = 2_500;
/** The cache draws a TTL from 90–110 % (50–110 % after failures). */
const TTL_MAX = TTL * 1.1;
/** Margin for the proxy's and this process's scheduling on a loaded machine. */
const MARGIN = 1_500;

const POLICY = `defaults:
  cache: { ttl: ${TTL}ms, stale_if_error: ${STALE}ms, failure_ttl: ${FAILURE_TTL}ms }
  retry: { attempts: 2, base_delay: 100ms, max_delay: 200ms, attempt_timeout: 1s, deadline: ${DEADLINE}ms }`;

const hex = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0"))
    .join("");
/** The tracking credential (nginx accepts only it), in every store. */
const TOKEN = `fault-canary-${hex(12)}`;
const READER_TOKEN = `reader-${crypto.randomUUID()}`;

/** A store and how to break it. */
interface StoreFault {
  readonly name: string;
  /** What the fault is, for messages. */
  readonly fault: string;
  readonly provider: string;
  /** How the proxy's error names the secret. */
  readonly reference: string;
  readonly profile: (upstream: string) => string;
  readonly env: Readonly<Record<string, string>>;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

async function seedOpenBao(bao: OpenBao): Promise<void> {
  await bao.kvPut("secret", "mlflow/auth", { token: TOKEN });
  await bao.writePolicy("reader", `path "secret/data/mlflow/*" { capabilities = ["read"] }`);
  await bao.api("POST", "auth/token/create", { id: READER_TOKEN, policies: ["reader"], ttl: "1h" });
}

function vaultProfile(address: string, upstream: string): string {
  return `version: 1
providers:
  corp-vault: { kind: vault, address: "${address}", auth: { method: token } }
${POLICY}
hosts:
  - match: "${upstream}"
    provider: corp-vault
    secret: { path: mlflow/auth, mount: secret, kv: 2, field: token }
    auth: bearer
`;
}

const VAULT = {
  provider: "corp-vault",
  reference: `"secret/mlflow/auth"`,
  env: { VAULT_TOKEN: READER_TOKEN },
};

async function openBaoStopped(): Promise<StoreFault> {
  const bao = await startOpenBao({ seed: seedOpenBao });
  return {
    name: "vault-stopped",
    fault: "OpenBao stopped, then started again (same port, seeded again)",
    ...VAULT,
    profile: (upstream) => vaultProfile(bao.address, upstream),
    down: () => bao.stop(),
    up: () => bao.restart(),
    close: () => bao.close(),
  };
}

async function openBaoSlow(): Promise<StoreFault> {
  const bao = await startOpenBao({ seed: seedOpenBao });
  const relay = startRelay(Number(new URL(bao.address).port));
  return {
    name: "vault-slow",
    fault: "OpenBao answering 5 s late (a TCP relay holds every answer back), then at once again",
    ...VAULT,
    profile: (upstream) => vaultProfile(relay.url, upstream),
    down: () => Promise.resolve(relay.setMode({ kind: "delay", delayMs: 5_000 })),
    up: () => Promise.resolve(relay.setMode({ kind: "pass" })),
    close: async () => {
      await relay.close();
      await bao.close();
    },
  };
}

async function openBaoSealed(): Promise<StoreFault> {
  const bao = await startOpenBao({ seed: seedOpenBao });
  return {
    name: "vault-sealed",
    fault: "OpenBao sealed (every answer 503), then unsealed",
    ...VAULT,
    profile: (upstream) => vaultProfile(bao.address, upstream),
    down: () => bao.seal(),
    up: () => bao.unseal(),
    close: () => bao.close(),
  };
}

async function motoStopped(dir: string): Promise<StoreFault> {
  const sm = await import("../../deps/aws_secrets_manager.ts");
  let moto: MotoServer = await startMoto();
  const endpoint = moto.endpoint;
  const seed = async () => {
    const client = new sm.SecretsManagerClient({
      region: "eu-west-1",
      endpoint,
      credentials: MOTO_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      await client.send(
        new sm.CreateSecretCommand({
          Name: "mlflow/fault/auth",
          SecretString: JSON.stringify({ token: TOKEN }),
        }),
      );
    } finally {
      client.destroy();
    }
  };
  await seed();
  return {
    name: "aws-stopped",
    fault: "moto (AWS Secrets Manager) stopped, then started again on the same port",
    provider: "aws",
    reference: `"aws-sm:mlflow/fault/auth"`,
    profile: (upstream) =>
      `version: 1
providers:
  aws: { kind: aws-secrets-manager, region: eu-west-1, endpoint: "${endpoint}" }
${POLICY}
hosts:
  - match: "${upstream}"
    provider: aws
    secret: { id: mlflow/fault/auth, field: token }
    auth: bearer
`,
    env: {
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_CONFIG_FILE: `${dir}/no-aws-config`,
      AWS_SHARED_CREDENTIALS_FILE: `${dir}/no-aws-credentials`,
      AWS_EC2_METADATA_DISABLED: "true",
    },
    down: () => moto.close(),
    async up() {
      moto = await startMoto({ firstPort: Number(new URL(endpoint).port) });
      assertEquals(moto.endpoint, endpoint, "moto came back on its port");
      await seed();
    },
    close: () => moto.close(),
  };
}

/** What one case measured, for the log line. */
interface CaseReport {
  readonly name: string;
  readonly requests: number;
  readonly statuses: Record<string, number>;
  readonly staleServed: number;
  readonly firstErrorAfterMs: number;
  readonly recoveredAfterMs: number;
  readonly slowest503Ms: number;
}

async function runCase(
  store: StoreFault,
  upstream: string,
  seen: ReadonlyMap<string, number>,
  dir: string,
): Promise<CaseReport> {
  const profilePath = `${dir}/${store.name}.yaml`;
  await Deno.writeTextFile(profilePath, store.profile(upstream));
  let proxy: ProxyProcess | undefined;
  const clients = {
    value: undefined as ReturnType<typeof startClients> | undefined,
  };
  try {
    proxy = await startProxyProcess(
      ["--profile", profilePath, "--upstream", upstream, "--no-access-log", "--log-level", "warn"],
      store.env,
    );
    const url = proxy.url;
    clients.value = startClients({
      clients: 3,
      tag: store.name,
      request: (id) => ({ url: `${url}/api/2.0/mlflow/experiments/search?max_results=1&id=${id}` }),
    });
    const c = clients.value;
    // Healthy traffic first.
    while (c.outcomes.filter((o) => o.status === 200).length < 20) await sleep(100);

    const t0 = Date.now();
    await store.down();
    const t1 = Date.now();
    // The stale window ends between t0 + STALE (the value cached at t0 was fresh) and
    // t1 + TTL_MAX + STALE (no load succeeds after t1).
    const staleEndMin = t0 + STALE;
    const staleEndMax = t1 + TTL_MAX + STALE;
    await sleep(staleEndMax + MARGIN + 3_000 - Date.now());

    const tUp0 = Date.now();
    await store.up();
    const tUp = Date.now();
    // A load running when the store came back fails within the deadline; the failure is then
    // remembered for failure_ttl; the next request loads the value.
    const recoveredBy = tUp + DEADLINE + FAILURE_TTL + MARGIN;
    await sleep(recoveredBy + 2_000 - Date.now());
    const outcomes = await c.stop();
    clients.value = undefined;

    const what = `${store.name} (${store.fault})`;
    const statuses = byStatus(outcomes);
    // Every request got an answer, and only these two.
    assertEquals(
      outcomes.filter((o) => o.status !== 200 && o.status !== 503).map((o) => o.body),
      [],
      `${what}: answers other than 200 and 503`,
    );

    // 1. Before the earliest end of the stale window, every answer is 200 ...
    const early = outcomes.filter((o) => o.doneAt < staleEndMin);
    assertEquals(byStatus(early), { 200: early.length }, `${what}: answers within the window`);
    // ... including requests sent after the value had expired for sure: served stale.
    const stale = early.filter((o) => o.sentAt > t1 + TTL_MAX);
    assert(stale.length >= 3, `${what}: ${stale.length} requests served stale`);

    // 2. After the latest end of the window, until the store is back: 503 naming the store.
    // (The margin: a load the store answered just before t1 may be stamped later by a busy proxy.)
    const failing = outcomes.filter((o) => o.sentAt > staleEndMax + MARGIN && o.doneAt < tUp0);
    assert(failing.length >= 3, `${what}: ${failing.length} requests after the window`);
    for (const o of failing) {
      assertEquals(o.status, 503, `${what}: after the window, ${o.body}`);
      const body = JSON.parse(o.body) as { error_code?: string; message?: string };
      assertEquals(body.error_code, "TEMPORARILY_UNAVAILABLE");
      assert(
        body.message?.includes(`provider "${store.provider}"`) &&
          body.message.includes(store.reference),
        `${what}: the error names the provider and the reference: ${body.message}`,
      );
      assertEquals(o.retryAfter, "5");
      assertNoCanary(o.body, TOKEN);
      // Not a hang: answered within the retry deadline (and a margin for a loaded machine).
      assert(
        o.doneAt - o.sentAt < DEADLINE + 5_000,
        `${what}: a 503 took ${o.doneAt - o.sentAt} ms`,
      );
    }
    const all503 = outcomes.filter((o) => o.status === 503);
    const first503 = Math.min(...all503.map((o) => o.doneAt));
    // No 503 while the value was usable, and none once the store had been back a while.
    assert(first503 >= staleEndMin, `${what}: a 503 before the stale window's end`);

    // 3. Recovery, same proxy process.
    const recovered = outcomes.filter((o) => o.sentAt > recoveredBy);
    assert(recovered.length >= 3, `${what}: ${recovered.length} requests after recovery`);
    assertEquals(byStatus(recovered), { 200: recovered.length }, `${what}: after recovery`);
    assert(proxy.alive(), `${what}: the proxy is still running`);
    const health = await fetch(`${url}/__mlflow-secrets-auth/health`);
    assertEquals([health.status, await health.text()], [200, '{"status":"ok"}']);
    const firstOkAfterUp = Math.min(
      ...outcomes.filter((o) => o.status === 200 && o.sentAt >= tUp0).map((o) => o.doneAt),
    );

    // Nothing lost: each 200 reached the tracking server once, each 503 never.
    for (const o of outcomes) {
      assertEquals(
        seen.get(o.id) ?? 0,
        o.status === 200 ? 1 : 0,
        `${what}: request ${o.id} (${o.status}) reached the tracking server`,
      );
    }

    const { code, stderr } = await proxy.stop();
    assertEquals(code, 0, `${what}: the proxy exits 0 on SIGTERM`);
    assert(
      stderr.includes("serving the cached secret within stale_if_error"),
      `${what}: the proxy logged that it served the cached secret:\n${stderr.slice(-2000)}`,
    );
    assertNoCanary(stderr, TOKEN);
    assertNoCanary(stderr, READER_TOKEN);
    return {
      name: store.name,
      requests: outcomes.length,
      statuses,
      staleServed: stale.length,
      firstErrorAfterMs: first503 - t0,
      recoveredAfterMs: firstOkAfterUp - tUp,
      slowest503Ms: Math.max(...all503.map((o: Outcome) => o.doneAt - o.sentAt)),
    };
  } finally {
    await clients.value?.stop();
    await proxy?.stop();
    await store.close();
  }
}

Deno.test({
  name:
    "proxy command, secret store stopped, slowed to 5 s or sealed mid-run: 200 within stale_if_error, then 503 naming the store, then 200 again without a restart; no request lost",
  ignore: !openBaoInstalled() || !motoInstalled() || nginxBinary() === undefined,
  // The four cases run at once (test steps, no sanitizers).
  sanitizeOps: false,
  sanitizeResources: false,
  fn: withDeadline(150, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "msa-fault-store-" });
    // The tracking server behind nginx records each request's id.
    const seen = new Map<string, number>();
    const tracking = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const id = new URL(req.url).searchParams.get("id") ?? "";
      seen.set(id, (seen.get(id) ?? 0) + 1);
      return Response.json({ experiments: [] });
    });
    const nginx = await startNginx({
      upstream: `http://127.0.0.1:${tracking.addr.port}`,
      bearerToken: TOKEN,
      apiKey: `unused-${hex(8)}`,
    });
    const reports: CaseReport[] = [];
    try {
      const makers = [openBaoStopped, openBaoSlow, openBaoSealed, () => motoStopped(dir)];
      const stores = await Promise.allSettled(makers.map((m) => m()));
      try {
        for (const s of stores) if (s.status === "rejected") throw s.reason;
        await Promise.all(
          stores.map((s) => {
            const store = (s as PromiseFulfilledResult<StoreFault>).value;
            return t.step({
              name: `${store.name}: ${store.fault}`,
              sanitizeOps: false,
              sanitizeResources: false,
              sanitizeExit: false,
              fn: async () => {
                reports.push(await runCase(store, nginx.bearerUrl, seen, dir));
              },
            });
          }),
        );
      } finally {
        for (const s of stores) if (s.status === "fulfilled") await s.value.close();
      }
      for (const r of reports) {
        console.log(
          `${r.name}: ${r.requests} requests ${
            JSON.stringify(r.statuses)
          }, ${r.staleServed} served stale after expiry, first 503 ${r.firstErrorAfterMs} ms after the fault, 200 again ${r.recoveredAfterMs} ms after the store was back, slowest 503 ${r.slowest503Ms} ms`,
        );
      }
      assertEquals(reports.length, 4, "every case ran");
    } finally {
      await nginx.close();
      await tracking.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  }),
});
