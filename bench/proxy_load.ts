/**
 * Proxy load test with wrk, all on loopback, each server in its own process, measured in the same
 * run with the variants interleaved (rotated each round):
 * - nginx adding a static `Authorization` header (keep-alive upstream pool);
 * - a naive `Deno.serve` + `fetch` pass-through (the data path the proxy had before its own server);
 * - the `proxy` command (its own HTTP/1.1 server; Host and Origin checks, credential injected).
 *
 * Prints requests per second at 16 connections and the p50 latency at 1 connection, medians over
 * the rounds, and each variant's ratio to nginx; then the time curl takes to download 512 MiB and
 * to upload 256 MiB (with a Content-Length, and chunked) through each; then the peak RSS of the
 * Deno processes.
 *
 * Run: deno task bench:proxy [rounds] [seconds] [--json FILE] (the setup script installs wrk and
 * nginx). With PROXY_BENCH_BASELINE_CLI=<another checkout>/cli.ts, that checkout's proxy runs in
 * the same rounds too (before/after). `--json FILE` also writes every measurement, for
 * `scripts/plot_proxy.py`.
 */

import { dirname } from "node:path";
import { parseArgs } from "node:util";

const { values: flags, positionals } = parseArgs({
  args: Deno.args,
  options: { json: { type: "string" } },
  allowPositionals: true,
  strict: true,
});
const ROUNDS = Number(positionals[0] ?? 3);
const SECONDS = Number(positionals[1] ?? 4);
const loadBefore = Deno.loadavg().map((v) => v.toFixed(2)).join(" ");
const DOWNLOAD_MIB = 512;
const UPLOAD_MIB = 256;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const PATH = "/api/2.0/mlflow/experiments/search?max_results=1";

interface Child {
  readonly url: string;
  /** The process id, for its peak memory (not for nginx, whose workers are other processes). */
  readonly pid?: number;
  stop(): Promise<void>;
}

/** Spawns a process and waits for a line matching `ready` on stdout or stderr. */
async function spawn(
  cmd: string,
  args: readonly string[],
  ready: RegExp,
  env: Record<string, string> = {},
): Promise<Child & { match: RegExpExecArray }> {
  const child = new Deno.Command(cmd, {
    args: [...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const found = Promise.withResolvers<RegExpExecArray>();
  const watch = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          text += chunk;
          const m = ready.exec(text);
          if (m !== null) found.resolve(m);
        },
      }),
    ).catch(() => {});
  const reading = Promise.all([watch(child.stdout), watch(child.stderr)]);
  child.status.then((s) => found.reject(new Error(`${cmd} exited (${s.code}): ${text}`)));
  const timer = setTimeout(() => found.reject(new Error(`${cmd} did not start: ${text}`)), 20_000);
  const match = await found.promise.finally(() => clearTimeout(timer));
  return {
    url: match[1] ?? "",
    pid: child.pid,
    match,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited.
      }
      await child.status;
      await reading;
    },
  };
}

const UPSTREAM = `
const MiB = new Uint8Array(1024 * 1024).fill(97);
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.log("UP http://127.0.0.1:" + a.port) },
  async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/big") {
      // A download of n MiB with its Content-Length.
      const n = Number(url.searchParams.get("mib"));
      let sent = 0;
      return new Response(new ReadableStream({
        pull(c) { if (sent++ < n) c.enqueue(MiB); else c.close(); },
      }), { headers: { "content-length": String(n * MiB.byteLength) } });
    }
    if (req.method === "PUT") {
      let size = 0;
      for await (const chunk of req.body!) size += chunk.byteLength;
      return new Response(String(size));
    }
    return new Response(req.headers.get("authorization") === null ? "anonymous" : "ok");
  });
`;

const NAIVE = (origin: string) => `
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.log("NAIVE http://127.0.0.1:" + a.port) },
  async (req) => {
    const u = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.set("authorization", "Bearer static-token");
    const res = await fetch("${origin}" + u.pathname + u.search, { method: req.method, headers, body: req.body });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
`;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function startNginx(origin: string): Promise<Child> {
  const dir = await Deno.makeTempDir({ prefix: "proxy-bench-nginx-" });
  const port = await freePort();
  const up = new URL(origin);
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream tracking { server ${up.hostname}:${up.port}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tracking;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer static-token";
      client_max_body_size 0;
      proxy_request_buffering off;
    }
  }
}
`,
  );
  const child = new Deno.Command("nginx", {
    args: ["-c", `${dir}/nginx.conf`, "-e", `${dir}/error.log`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`${url}${PATH}`);
      await res.body?.cancel();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Seconds curl takes for one transfer through `url` (download, or upload of a file). */
async function curlSeconds(
  url: string,
  upload?: { file: string; chunked: boolean },
): Promise<number> {
  const args = ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "120"];
  if (upload !== undefined) {
    args.push("-T", upload.chunked ? "-" : upload.file);
    if (upload.chunked) args.push("-H", "Transfer-Encoding: chunked");
  }
  const child = new Deno.Command("curl", {
    args: [...args, url],
    stdin: upload?.chunked ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (upload?.chunked) {
    const file = await Deno.open(upload.file);
    await file.readable.pipeTo(child.stdin);
  }
  const out = await child.output();
  const [status, seconds] = new TextDecoder().decode(out.stdout).split(" ");
  if (status !== "200") throw new Error(`${url}: curl got ${status}`);
  return Number(seconds);
}

/** Peak resident memory of a process (VmHWM), in MiB. */
async function peakRssMiB(pid: number): Promise<number> {
  // Deno reads /proc only with --allow-all: ask cat.
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  const status = new TextDecoder().decode(out.stdout);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

interface WrkResult {
  readonly rps: number;
  readonly p50us: number;
}

async function wrk(url: string, connections: number): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${connections}`,
      `-d${SECONDS}s`,
      "--latency",
      `${url}${PATH}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(text);
  const scale = p50?.[2] === "ms" ? 1000 : p50?.[2] === "s" ? 1e6 : 1;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx !== null) throw new Error(`${url}: ${non2xx[1]} error responses:\n${text}`);
  return { rps, p50us: Number(p50?.[1] ?? NaN) * scale };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const children: Child[] = [];
try {
  const up = await spawn(Deno.execPath(), ["eval", UPSTREAM], /UP (http:\/\/\S+)/);
  children.push(up);
  const profileDir = await Deno.makeTempDir({ prefix: "proxy-bench-" });
  const profile = `${profileDir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(
    profile,
    `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "${up.url}", provider: e, secret: { var: BENCH_TOKEN }, auth: bearer }
`,
  );
  const variants: { name: string; url: string }[] = [];
  const nginx = await startNginx(up.url);
  children.push(nginx);
  variants.push({ name: "nginx, static header", url: nginx.url });
  const naive = await spawn(Deno.execPath(), ["eval", NAIVE(up.url)], /NAIVE (http:\/\/\S+)/);
  children.push(naive);
  variants.push({ name: "Deno.serve + fetch (old path)", url: naive.url });
  const startOurs = async (cli: string, name: string) => {
    const child = await spawn(
      Deno.execPath(),
      [
        "run",
        "-A",
        cli,
        "proxy",
        "--profile",
        profile,
        "--upstream",
        up.url,
        "--listen",
        "127.0.0.1:0",
        "--no-access-log",
      ],
      /listening on (http:\/\/\S+)/,
      { BENCH_TOKEN: "bench-token", PATH: Deno.env.get("PATH") ?? "" },
    );
    children.push(child);
    variants.push({ name, url: child.url });
  };
  // Another checkout's proxy (e.g. the main branch) measured in the same run, for before/after.
  const baseline = Deno.env.get("PROXY_BENCH_BASELINE_CLI");
  if (baseline !== undefined) await startOurs(baseline, "proxy, baseline checkout");
  await startOurs(CLI, "mlflow-secrets-auth proxy");

  const rps = new Map(variants.map((v) => [v.name, [] as number[]]));
  const p50 = new Map(variants.map((v) => [v.name, [] as number[]]));
  const rps1 = new Map(variants.map((v) => [v.name, [] as number[]]));
  const p50at16 = new Map(variants.map((v) => [v.name, [] as number[]]));
  for (const v of variants) await wrk(v.url, 4); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const v of order) {
      const many = await wrk(v.url, 16);
      rps.get(v.name)!.push(many.rps);
      p50at16.get(v.name)!.push(many.p50us);
      const one = await wrk(v.url, 1);
      rps1.get(v.name)!.push(one.rps);
      p50.get(v.name)!.push(one.p50us);
    }
  }
  // Transfers, rotated the same way: a download, and uploads with and without a length.
  const file = await Deno.makeTempFile({ prefix: "proxy-bench-upload-" });
  {
    const f = await Deno.open(file, { write: true });
    const mib = new Uint8Array(1024 * 1024).fill(98);
    for (let i = 0; i < UPLOAD_MIB; i++) await f.write(mib);
    f.close();
  }
  const transfers = [
    {
      name: `download ${DOWNLOAD_MIB} MiB`,
      run: (url: string) => curlSeconds(`${url}/big?mib=${DOWNLOAD_MIB}`),
    },
    {
      name: `upload ${UPLOAD_MIB} MiB, Content-Length`,
      run: (url: string) => curlSeconds(`${url}/up`, { file, chunked: false }),
    },
    {
      name: `upload ${UPLOAD_MIB} MiB, chunked`,
      run: (url: string) => curlSeconds(`${url}/up`, { file, chunked: true }),
    },
  ];
  const seconds = new Map(
    transfers.flatMap((t) => variants.map((v) => [`${t.name}|${v.name}`, [] as number[]])),
  );
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const t of transfers) {
      for (const v of order) seconds.get(`${t.name}|${v.name}`)!.push(await t.run(v.url));
    }
  }
  await Deno.remove(file);

  const base = median(rps.get(variants[0]!.name)!);
  const baseP50 = median(p50.get(variants[0]!.name)!);
  console.log(
    `wrk, loopback, ${ROUNDS} rounds x ${SECONDS} s, medians; ${navigator.hardwareConcurrency} CPUs`,
  );
  console.log(
    "| variant | rps at 16 conns | ratio to nginx | p50 at 16 conns | rps at 1 conn | p50 at 1 conn | p50 minus nginx |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const v of variants) {
    const r = median(rps.get(v.name)!);
    const l = median(p50.get(v.name)!);
    console.log(
      `| ${v.name} | ${Math.round(r)} | ${(r / base).toFixed(2)} | ${
        Math.round(median(p50at16.get(v.name)!))
      } µs | ${Math.round(median(rps1.get(v.name)!))} | ${Math.round(l)} µs | ${
        Math.round(l - baseP50)
      } µs |`,
    );
  }
  console.log("");
  console.log(`| transfer (curl, seconds, median) | ${variants.map((v) => v.name).join(" | ")} |`);
  console.log(`| --- | ${variants.map(() => "---").join(" | ")} |`);
  for (const t of transfers) {
    const cells = variants.map((v) => median(seconds.get(`${t.name}|${v.name}`)!).toFixed(2));
    console.log(`| ${t.name} | ${cells.join(" | ")} |`);
  }
  console.log("");
  const peaks = new Map<string, number>();
  for (const v of variants) {
    const child = children.find((c) => c.url === v.url);
    if (child?.pid !== undefined) {
      peaks.set(v.name, await peakRssMiB(child.pid));
      console.log(`peak RSS of ${v.name}: ${peaks.get(v.name)!.toFixed(0)} MiB`);
    }
  }
  const loadAfter = Deno.loadavg().map((v) => v.toFixed(2)).join(" ");
  console.log(`load average: ${loadBefore} before, ${loadAfter} after`);
  if (flags.json !== undefined) {
    const json = {
      date: new Date().toISOString(),
      machine: {
        cpus: navigator.hardwareConcurrency,
        loadavgBefore: loadBefore,
        loadavgAfter: loadAfter,
        deno: Deno.version.deno,
      },
      config: {
        rounds: ROUNDS,
        seconds: SECONDS,
        downloadMiB: DOWNLOAD_MIB,
        uploadMiB: UPLOAD_MIB,
      },
      variants: variants.map((v) => ({
        name: v.name,
        rps16: rps.get(v.name)!,
        p50at16us: p50at16.get(v.name)!,
        rps1: rps1.get(v.name)!,
        p50at1us: p50.get(v.name)!,
        medianRps16: median(rps.get(v.name)!),
        medianP50at1us: median(p50.get(v.name)!),
        transfersS: Object.fromEntries(
          transfers.map((t) => [t.name, seconds.get(`${t.name}|${v.name}`)!]),
        ),
        peakRssMiB: peaks.get(v.name) ?? null,
      })),
    };
    await Deno.mkdir(dirname(flags.json), { recursive: true });
    await Deno.writeTextFile(flags.json, JSON.stringify(json, null, 2) + "\n");
    console.log(`wrote ${flags.json}`);
  }
  await Deno.remove(profileDir, { recursive: true });
} finally {
  for (const c of children.reverse()) await c.stop();
}
