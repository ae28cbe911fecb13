/**
 * Runs inside a network namespace with only loopback (started by `_airgap.ts`): starts a
 * tracking endpoint and, when asked, a secret provider (moto) on loopback, then the artifact
 * from an empty directory with an empty `DENO_DIR` and no `node_modules`, sends one request
 * through its proxy and prints what the tracking endpoint received, as one JSON line.
 *
 * Usage: deno run -A _airgap_scenario.ts '<ScenarioSpec as JSON>'
 */

import type { ScenarioResult, ScenarioSpec } from "./_airgap.ts";

const spec = JSON.parse(Deno.args[0]!) as ScenarioSpec;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
const decoder = new TextDecoder();

async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return decoder.decode(out.stdout).trim();
}

try {
  // 1. What network is there? Only loopback, and no route anywhere.
  const interfaces = (await sh("ip", "-o", "link", "show"))
    .split("\n").map((l) => l.split(":")[1]?.trim() ?? "").filter((n) => n !== "");
  const routes = [await sh("ip", "route", "show"), await sh("ip", "-6", "route", "show")]
    .filter((r) => r !== "");

  // 2. The tracking endpoint: records the headers of every request.
  const received: { path: string; authorization: string | null }[] = [];
  const tracking = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      received.push({
        path: new URL(req.url).pathname,
        authorization: req.headers.get(spec.header),
      });
      return Response.json({ experiments: [] });
    },
  );
  cleanups.push(() => tracking.shutdown());
  const trackingPort = tracking.addr.port;

  // 3. The secret provider, on loopback inside the namespace.
  const vars: Record<string, string> = { tracking_port: String(trackingPort) };
  if (spec.peer?.kind === "moto") {
    const { MOTO_CREDENTIALS, startMoto } = await import("../_peers/moto.ts");
    const moto = await startMoto();
    cleanups.push(() => moto.close());
    const sm = await import("../../deps/aws_secrets_manager.ts");
    const seed = new sm.SecretsManagerClient({
      region: spec.peer.region,
      endpoint: moto.endpoint,
      credentials: MOTO_CREDENTIALS,
      maxAttempts: 1,
    });
    await seed.send(
      new sm.CreateSecretCommand({ Name: spec.peer.secretId, SecretString: spec.peer.secret }),
    );
    seed.destroy();
    vars.moto_port = new URL(moto.endpoint).port;
    vars.moto_key_id = MOTO_CREDENTIALS.accessKeyId;
    vars.moto_secret_key = MOTO_CREDENTIALS.secretAccessKey;
  } else if (spec.peer?.kind === "vault") {
    const { VaultDouble } = await import("../_peers/vault_double.ts");
    const vault = await VaultDouble.start();
    cleanups.push(() => vault.shutdown());
    vault.mountKv("kv", 2);
    vault.writeKv("kv", "mlflow/auth", spec.peer.data);
    vault.writePolicy("mlflow-reader", { "kv/data/mlflow/*": ["read"] });
    vars.vault_role_id = "airgap-role-id";
    vars.vault_secret_id = "airgap-secret-id";
    vault.addAppRole({
      mount: "approle",
      roleName: "mlflow",
      roleId: vars.vault_role_id,
      secretId: vars.vault_secret_id,
      policies: ["mlflow-reader"],
      tokenTtlSeconds: 3600,
    });
    vars.vault_port = new URL(vault.address).port;
  }

  // 4. An empty directory holding only the artifact, an empty DENO_DIR, an empty HOME.
  const dir = await Deno.makeTempDir({ prefix: "airgap-run-" });
  const denoDir = await Deno.makeTempDir({ prefix: "airgap-deno-dir-" });
  const home = await Deno.makeTempDir({ prefix: "airgap-home-" });
  cleanups.push(() =>
    Promise.all(
      [dir, denoDir, home].map((d) => Deno.remove(d, { recursive: true }).catch(() => {})),
    )
  );
  for (const file of spec.files) {
    const name = file.split("/").pop()!;
    await Deno.copyFile(file, `${dir}/${name}`);
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  const list = async (d: string) =>
    (await Array.fromAsync(Deno.readDir(d))).map((e) => e.name).sort();
  const dirBefore = await list(dir);
  const denoDirBefore = await list(denoDir);

  // 5. The proxy, from the artifact. It listens on a port chosen here: nothing else runs in
  // this namespace, so the port stays free.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const proxyPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  vars.proxy_port = String(proxyPort);
  vars.dir = dir;
  const fill = (s: string) => s.replace(/\{(\w+)\}/g, (w, k: string) => vars[k] ?? w);
  const env: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    HOME: home,
    DENO_DIR: denoDir,
    NO_COLOR: "1",
  };
  for (const [k, v] of Object.entries(spec.env)) env[k] = fill(v);
  const [cmd, ...args] = spec.command.map(fill);
  const started = performance.now();
  const child = new Deno.Command(cmd!, {
    args,
    cwd: dir,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  cleanups.push(async () => {
    if (!exited) child.kill("SIGKILL");
    await status;
  });

  // Wait for the proxy to say it listens (no sleeping): the first output line naming its
  // address, or its exit.
  const output: string[] = [];
  const { promise: ready, resolve: setReady } = Promise.withResolvers<boolean>();
  const exec = spec.mode === "exec";
  const listening = new RegExp(`127\\.0\\.0\\.1:${proxyPort}\\b`);
  const read = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          for (const line of chunk.split("\n")) {
            if (line.trim() === "") continue;
            output.push(line);
            if (!exec && listening.test(line)) setReady(true);
          }
        },
      }),
    ).catch(() => {});
  const drained = Promise.all([read(child.stdout), read(child.stderr)]);
  status.then(() => setReady(exec));
  const up = await ready;
  const startupMs = Math.round(performance.now() - started);

  const result: ScenarioResult = {
    interfaces,
    routes,
    dirBefore,
    denoDirBefore,
    started: up,
    startupMs,
    responses: [],
    received,
    output,
  };
  if (up && !exec) {
    for (const path of spec.paths) {
      const res = await fetch(`http://127.0.0.1:${proxyPort}${path}`, {
        headers: spec.clientHeaders ?? {},
      });
      result.responses.push({ path, status: res.status, body: (await res.text()).slice(0, 500) });
    }
    child.kill("SIGTERM");
  }
  const exit = await status;
  await drained;
  result.exitCode = exit.code;
  console.log(JSON.stringify(result));
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
