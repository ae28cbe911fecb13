/**
 * The proxy process under a 1,024 open-file limit (a common default) and a flood of 2,000 idle
 * TCP connections: it stays up, serves a normal request during and after the flood, and says
 * nothing it should not. Bounded in time: every connect and request has its own deadline.
 */

import { assert, assertEquals } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import { tempFile } from "./_io.ts";
import { deadlineTest } from "../_deadline.ts";
import { watchListening } from "../_peers/_process.ts";
import { DENO_DIR } from "../_deno_dir.ts";

/** Every test here talks over sockets: it fails after its deadline instead of hanging. */
const test = deadlineTest(120);

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const FLOOD = 2_000;

/** Starts `cli.ts proxy` in `bash -c 'ulimit -n 1024; exec deno run …'`. */
async function startLimitedProxy(args: readonly string[], env: Record<string, string>) {
  const command = [Deno.execPath(), "run", "-A", CLI, "proxy", "--listen", "127.0.0.1:0", ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("bash", {
    args: ["-c", `ulimit -n 1024 && exec ${command}`],
    env: { ...env, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const watch = watchListening(child, { timeoutMs: 20_000 });
  const stop = async () => {
    if (!watch.exited()) child.kill("SIGKILL");
    await watch.status;
    await watch.reading;
  };
  try {
    const url = await watch.url;
    return { url, pid: child.pid, alive: () => !watch.exited(), stderr: watch.stderr, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Opens `count` TCP connections at once, each given 5 s to connect; returns those that did. */
async function flood(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  await Promise.all(Array.from({ length: count }, async () => {
    const connecting = Deno.connect({ hostname: "127.0.0.1", port });
    const late = new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000));
    const conn = await Promise.race([connecting.catch(() => undefined), late]);
    if (conn !== undefined) conns.push(conn);
    else connecting.then((c) => c.close(), () => {}); // connected too late: close it anyway
  }));
  return conns;
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  return `${res.status} ${await res.text()}`;
}

async function openFiles(pid: number): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
  return n;
}

for (
  const variant of [
    { name: "the default connection bound", args: [] as string[] },
    // A bound above the file limit: descriptors run out first, accept() fails with EMFILE.
    { name: "a bound above the file limit (EMFILE)", args: ["--max-connections", "5000"] },
  ]
) {
  test({
    name: `proxy under ulimit -n 1024 survives ${FLOOD} idle connections with ${variant.name}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using up = await startServer(() => new Response("served"));
      const profile = await tempFile(
        "mlflow-auth.yaml",
        `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "${up.origin}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }
`,
      );
      const proxy = await startLimitedProxy(
        ["--profile", profile, "--upstream", up.origin, "--no-access-log", ...variant.args],
        { MLFLOW_TOKEN: "flood-canary-token-7f3a", PATH: Deno.env.get("PATH") ?? "", DENO_DIR },
      );
      const port = Number(new URL(proxy.url).port);
      let conns: Deno.TcpConn[] = [];
      try {
        const limits = await Deno.readTextFile(`/proc/${proxy.pid}/limits`);
        assert(/Max open files\s+1024\s+1024/.test(limits), limits);
        conns = await flood(port, FLOOD);
        assert(proxy.alive(), `the proxy died during the flood:\n${proxy.stderr()}`);
        assert(conns.length > 1000, `only ${conns.length} connections were made`);
        assertEquals(await get(`${proxy.url}/api/2.0/mlflow/experiments/search`), "200 served");
        assert(proxy.alive(), proxy.stderr());
        assert(await openFiles(proxy.pid) <= 1024);
        for (const c of conns) c.close();
        conns = [];
        assertEquals(await get(`${proxy.url}/api/2.0/mlflow/experiments/search`), "200 served");
        const metrics = await get(`${proxy.url}/__mlflow-secrets-auth/metrics`);
        assert(proxy.alive(), proxy.stderr());
        const shed = Number(
          /proxy_connections_closed_total\{reason="shed_idle"\} (\d+)/.exec(metrics)?.[1],
        );
        assert(shed > 0, metrics);
        const stderr = proxy.stderr();
        assert(!stderr.includes("Uncaught"), stderr);
        assert(!stderr.includes("flood-canary-token-7f3a"), "the credential was logged");
        assertEquals(up.received.length, 2);
      } finally {
        for (const c of conns) c.close();
        await proxy.stop();
      }
    },
  });
}
