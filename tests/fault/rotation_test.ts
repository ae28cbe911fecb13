/**
 * Fault suite, rotation under load: the real `proxy` command (a child process) with its credential
 * in OpenBao (the Vault API), 20 concurrent clients alternating a GET and a POST whose body the
 * tracking server echoes, and the secret rotated every 30 s for 80 s. The tracking server is a
 * loopback server that accepts only the current credential:
 * - strict rotation (at 10 s and 70 s): the new value is written to OpenBao, and from that moment
 *   the tracking server rejects the old one. Requests in flight with the old value get 401; the
 *   proxy's designed path (drop the cached secret, fetch it once for all concurrent requests,
 *   replay each request once) must turn every one of them into a 200;
 * - rotation with a grace period (at 40 s): the old value stays accepted for 15 s; the proxy,
 *   whose cache TTL is 10 s, picks the new value up on its own, with no 401 at all.
 *
 * What the user sees: every request answered 200 with its own body echoed; nothing failed. The
 * only failures anywhere are the tracking server's 401s after a strict rotation, and each one was
 * answered inside the proxy by exactly one replay (the proxy's replay counter equals the tracking
 * server's 401 count). OpenBao is read a bounded number of times (not once per client). No value
 * of any generation appears in the proxy's output.
 */

import { assert, assertEquals } from "../_assert.ts";
import { withDeadline } from "../_deadline.ts";
import { openBaoInstalled, startOpenBao } from "../_peers/openbao.ts";
import { startProxyProcess } from "../e2e/_proxy_process.ts";
import { byStatus, metric, readMetrics, sleep, startClients } from "./_traffic.ts";

const RUN_MS = 80_000;
const GRACE_MS = 15_000;
const ROTATIONS = [
  { at: 10_000, kind: "strict" },
  { at: 40_000, kind: "grace" },
  { at: 70_000, kind: "strict" },
] as const;
/** A strict rotation's 401s all come within this time of it (a loaded machine's margin). */
const STRICT_WINDOW_MS = 10_000;

const hex = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0"))
    .join("");
const canary = (generation: number) => `rotation-canary-${generation}-${hex(12)}`;

/** The tracking server: accepts the current value (and the previous one within a grace). */
class Tracking {
  current: string;
  /** Accepted too: the value about to be published (nobody holds it yet). */
  next: string | undefined;
  previous: string | undefined;
  previousUntil = 0;
  readonly rejectedAt: number[] = [];
  acceptedPrevious = 0;
  readonly server: Deno.HttpServer<Deno.NetAddr>;

  constructor(first: string) {
    this.current = first;
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (req) => {
        const auth = req.headers.get("authorization") ?? "";
        const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
        const body = req.method === "POST" ? await req.text() : "";
        if (token !== this.current && token !== this.next) {
          if (token !== "" && token === this.previous && Date.now() < this.previousUntil) {
            this.acceptedPrevious++;
          } else {
            this.rejectedAt.push(Date.now());
            return Response.json({ error_code: "UNAUTHENTICATED" }, { status: 401 });
          }
        }
        return req.method === "POST"
          ? new Response(body, { headers: { "content-type": "application/json" } })
          : Response.json({ experiments: [] });
      },
    );
  }

  get origin(): string {
    return `http://127.0.0.1:${this.server.addr.port}`;
  }
}

Deno.test({
  name:
    "proxy command, OpenBao secret rotated every 30 s under 20 concurrent clients: no failed request, each 401 answered by one refresh and one replay",
  ignore: !openBaoInstalled(),
  fn: withDeadline(180, async () => {
    const readerToken = `reader-${crypto.randomUUID()}`;
    const values = [canary(1)];
    await using bao = await startOpenBao({
      audit: true,
      seed: async (b) => {
        await b.kvPut("secret", "mlflow/auth", { token: values[0]! });
        await b.writePolicy("reader", `path "secret/data/mlflow/*" { capabilities = ["read"] }`);
        await b.api("POST", "auth/token/create", {
          id: readerToken,
          policies: ["reader"],
          ttl: "1h",
        });
      },
    });
    const tracking = new Tracking(values[0]!);
    const dir = await Deno.makeTempDir({ prefix: "msa-fault-rotation-" });
    try {
      const profilePath = `${dir}/profile.yaml`;
      await Deno.writeTextFile(
        profilePath,
        `version: 1
providers:
  corp-vault: { kind: vault, address: "${bao.address}", auth: { method: token } }
defaults:
  cache: { ttl: 10s }
hosts:
  - match: "${tracking.origin}"
    provider: corp-vault
    secret: { path: mlflow/auth, mount: secret, kv: 2, field: token }
    auth: bearer
`,
      );
      await using proxy = await startProxyProcess(
        [
          "--profile",
          profilePath,
          "--upstream",
          tracking.origin,
          "--no-access-log",
          "--log-level",
          "warn",
        ],
        { VAULT_TOKEN: readerToken },
      );
      const readsBefore = (await bao.audit()).length;

      let n = 0;
      const clients = startClients({
        clients: 20,
        tag: "rot",
        pauseMs: 50,
        request: (id) =>
          n++ % 2 === 0
            ? { url: `${proxy.url}/api/2.0/mlflow/experiments/search?max_results=1&id=${id}` }
            : {
              url: `${proxy.url}/api/2.0/mlflow/runs/log-metric`,
              init: {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ run_id: id, key: "loss", value: 0.5, step: n }),
              },
            },
      });

      const t0 = Date.now();
      const done: { kind: string; at: number }[] = [];
      try {
        for (const r of ROTATIONS) {
          await sleep(t0 + r.at - Date.now());
          const next = canary(values.length + 1);
          values.push(next);
          tracking.next = next;
          const at = Date.now();
          await bao.kvPut("secret", "mlflow/auth", { token: next }); // published
          if (r.kind === "grace") {
            tracking.previous = tracking.current;
            tracking.previousUntil = Date.now() + GRACE_MS;
          } else {
            tracking.previous = undefined;
          }
          tracking.current = next;
          tracking.next = undefined;
          done.push({ kind: r.kind, at });
        }
        await sleep(t0 + RUN_MS - Date.now());
      } finally {
        await clients.stop();
      }
      const outcomes = clients.outcomes;
      const metrics = await readMetrics(proxy.url);
      const retried = metric(metrics, "mlflow_secrets_auth_proxy_retried_total");
      const refreshes = metric(metrics, "mlflow_secrets_auth_secret_refreshes_total");
      const reads = (await bao.audit()).slice(readsBefore).filter((e) =>
        e.type === "response" && e.path === "secret/data/mlflow/auth"
      ).length;
      const { code, stderr } = await proxy.stop();

      const strict = done.filter((d) =>
        d.kind === "strict"
      );
      const grace = done.find((d) => d.kind === "grace")!;
      const rejected = tracking.rejectedAt;
      console.log(
        `rotation: ${outcomes.length} requests in ${
          Math.round((Date.now() - t0) / 1000)
        } s through 20 clients, ${
          JSON.stringify(byStatus(outcomes))
        }; ${done.length} rotations (${strict.length} strict, 1 with a ${
          GRACE_MS / 1000
        } s grace); tracking-server 401s ${rejected.length}, proxy replays ${retried}, refreshes asked ${refreshes}, OpenBao reads ${reads}, old value accepted in the grace ${tracking.acceptedPrevious} times`,
      );

      // The user saw no failure: every request 200, every POST its own body.
      assertEquals(byStatus(outcomes), { 200: outcomes.length }, "every request answered 200");
      for (const o of outcomes) {
        if (o.body.includes("run_id")) assert(o.body.includes(`"${o.id}"`), `echo of ${o.id}`);
      }
      assert(outcomes.length > 2_000, `enough traffic: ${outcomes.length} requests`);

      // The scenario did what it says: strict rotations gave 401s, right after them only ...
      assert(rejected.length > 0, "the tracking server rejected the old value after a rotation");
      for (const at of rejected) {
        assert(
          strict.some((s) => at >= s.at && at < s.at + STRICT_WINDOW_MS),
          `a 401 ${at - t0} ms into the run, not right after a strict rotation`,
        );
      }
      // ... each strict rotation gave some, the grace rotation none; the old value was in use
      // during the grace.
      for (const s of strict) {
        assert(rejected.some((at) => at >= s.at && at < s.at + STRICT_WINDOW_MS), "401s");
      }
      assert(!rejected.some((at) => at >= grace.at && at < grace.at + GRACE_MS));
      assert(tracking.acceptedPrevious > 0, "the old value was still used within the grace");

      // One designed retry: each 401 answered by exactly one replay, after a refresh shared by
      // the concurrent requests (counted below as OpenBao reads).
      assertEquals(retried, rejected.length, "one replay per 401");
      assertEquals(refreshes, rejected.length, "one refresh asked per 401");
      // OpenBao is asked about once per TTL less its refresh-ahead window (8–9 s), plus the
      // refreshes: not once per client.
      assert(reads <= RUN_MS / 6_000 + 2 * strict.length + 2, `${reads} OpenBao reads`);

      assertEquals(code, 0, "the proxy exits 0 on SIGTERM");
      for (const v of values) assert(!stderr.includes(v), "no secret value in the proxy's output");
    } finally {
      await tracking.server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  }),
});
