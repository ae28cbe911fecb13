/**
 * `deno task bench:e2e`: one real MLflow job, three ways of authenticating it, side by side.
 *
 * The stack, all on 127.0.0.1: OpenBao (a real Vault API) holding the MLflow token with a file
 * audit device, MLflow (2 uvicorn workers, SQLite, served artifacts) behind nginx demanding
 * `Authorization: Bearer <token>` and logging each request's `$request_time`.
 *
 * The job (`bench/e2e_job.py`, only the standard `mlflow` API): a new experiment, a run, 20
 * parameters and 200 metric points one call each, a 20 MiB artifact up and back down (about 232
 * requests; with `--batches N`, also N `MlflowClient().log_batch` calls of about 0.9 MB each). It
 * runs unmodified as:
 * - `static`: the token itself in `MLFLOW_TRACKING_TOKEN` (the baseline);
 * - `plugin`: the Python plugin this project replaces (`mlflow-secrets-auth` 0.2.0, Vault), with
 *   its environment variables;
 * - `exec`: `mlflow-secrets-auth exec` with a Vault profile (its proxy injects the token);
 * - `exec-no-preflight` (only when asked for with `--variants`): the same with `--no-preflight`;
 * - `exec-access-log` (only when asked for): `exec --access-log`, a diagnostic: the proxy's own
 *   time per request (its access log) between the client's and nginx's;
 * - `exec-leak-guard-off` (only when asked for): `exec` with the same profile but `leak_guard: off`,
 *   against `exec`'s default (`block`: the proxy reads every write body). Before the rounds, a probe
 *   logs the token as a param under each of the two profiles: `exec` must refuse it and
 *   `exec-leak-guard-off` must send it, or the harness stops.
 *
 * The variants run interleaved, the order rotated each round, after one warm-up job each. Printed:
 * the job's median wall time (spawn to exit), its quartiles and range, the ratio to static (of the
 * medians, and the median of the per-round ratios), secret reads per job (OpenBao's audit log),
 * the peak RSS of exec's proxy and of the Python client, and per-request times: nginx's
 * `$request_time` and the client's mean time per `log_metric` call. Then where exec's extra time
 * goes: `exec -- true` (start-up, measured in the same rounds) against the per-request difference.
 * With `--batches`, the same per-request split for the log_batch calls; with `exec` and
 * `exec-leak-guard-off` both run, their paired per-round ratio and per-request difference.
 *
 * Usage: deno task bench:e2e [--rounds 5] [--quick] [--json out.json]
 *   [--variants static,plugin,exec] [--params 20] [--metrics 200] [--artifact-mib 20] [--batches 0]
 *
 * `--quick`: one round, no warm-up (a smoke test of the harness). Needs `scripts/setup.sh` (OpenBao,
 * MLflow, the plugin, nginx).
 *
 * @module
 */

import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { MLFLOW_QUIET_ENV, PYTHON, startMlflow } from "../tests/_peers/mlflow.ts";
import { peerEnv } from "../tests/_peers/_process.ts";
import { startNginx } from "../tests/_peers/nginx.ts";
import { type OpenBao, startOpenBao } from "../tests/_peers/openbao.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const JOB = `${ROOT}bench/e2e_job.py`;
const SECRET = "mlflow/auth";
const SECRET_API_PATH = `secret/data/${SECRET}`;
const ALL_VARIANTS = [
  "static",
  "plugin",
  "exec",
  "exec-no-preflight",
  "exec-access-log",
  "exec-leak-guard-off",
] as const;
type Variant = typeof ALL_VARIANTS[number];
const LABELS: Record<Variant, string> = {
  static: "static token (MLFLOW_TRACKING_TOKEN)",
  plugin: "Python plugin 0.2.0 (Vault)",
  exec: "exec (Vault)",
  "exec-no-preflight": "exec --no-preflight (Vault)",
  "exec-access-log": "exec --access-log (Vault; diagnostic)",
  "exec-leak-guard-off": "exec, leak_guard: off (Vault)",
};

const EXEC_FLAGS: Record<Variant, readonly string[]> = {
  static: [],
  plugin: [],
  exec: [],
  "exec-no-preflight": ["--no-preflight"],
  "exec-access-log": ["--access-log"],
  "exec-leak-guard-off": [],
};
const isExec = (v: Variant): boolean => v.startsWith("exec");

/** What the job prints on its last line. */
interface JobSummary {
  readonly batches?: number;
  readonly artifact_bytes: number;
  readonly import_s: number;
  readonly body_s: number;
  readonly phases_s: Readonly<Record<string, number>>;
  readonly self_peak_kib: number;
  readonly parent_pid: number;
  readonly parent_peak_kib: number;
}

/** One nginx access log line. */
interface NginxEntry {
  readonly requestS: number;
  readonly upstreamS: number;
  readonly status: number;
  readonly path: string;
  /** The request's length in bytes (line, headers and body). */
  readonly requestBytes: number;
  /** Until the upstream's response headers. */
  readonly upstreamHeaderS: number;
}

/** One job of one variant. */
interface JobResult {
  readonly variant: Variant;
  readonly round: number;
  readonly wallMs: number;
  readonly summary: JobSummary;
  readonly secretReads: number;
  readonly openBaoCalls: number;
  readonly nginx: readonly NginxEntry[];
  /** Peak RSS of exec's proxy in MiB (exec variants only). */
  readonly proxyPeakMiB?: number;
  /** The proxy's mean time per log_metric request from its access log (exec-access-log only). */
  readonly proxyLogMetricMs?: number;
}

function usage(message: string): never {
  console.error(`bench:e2e: ${message}`);
  console.error(
    "usage: deno task bench:e2e [--rounds N] [--quick] [--json FILE] [--variants a,b,c]" +
      " [--params N] [--metrics N] [--artifact-mib N] [--batches N]",
  );
  Deno.exit(2);
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) usage(`--${name} must be a whole number, got "${value}"`);
  return n;
}

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string" },
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    variants: { type: "string" },
    params: { type: "string" },
    metrics: { type: "string" },
    "artifact-mib": { type: "string" },
    batches: { type: "string" },
    warmup: { type: "string" },
  },
  strict: true,
  allowPositionals: false,
});
const ROUNDS = flags.quick ? 1 : positiveInt("rounds", flags.rounds, 5);
const WARMUP = flags.quick ? 0 : positiveInt("warmup", flags.warmup, 1);
const PARAMS = positiveInt("params", flags.params, 20);
const METRICS = positiveInt("metrics", flags.metrics, 200);
const ARTIFACT_MIB = positiveInt("artifact-mib", flags["artifact-mib"], 20);
const BATCHES = positiveInt("batches", flags.batches, 0);
const VARIANTS: readonly Variant[] = (flags.variants ?? "static,plugin,exec").split(",").map(
  (v) => {
    if (!(ALL_VARIANTS as readonly string[]).includes(v)) {
      usage(`unknown variant "${v}"; known: ${ALL_VARIANTS.join(", ")}`);
    }
    return v as Variant;
  },
);
if (ROUNDS < 1) usage("--rounds must be at least 1");
if (VARIANTS[0] !== "static" && !VARIANTS.includes("static")) {
  usage('the variants must include "static" (the baseline)');
}

// ---- statistics ----

function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
const median = (values: readonly number[]): number => quantile(values, 0.5);
const mean = (values: readonly number[]): number =>
  values.reduce((a, b) => a + b, 0) / values.length;

// ---- the stack ----

function loadavg(): string {
  return Deno.loadavg().map((v) => v.toFixed(2)).join(" ");
}

async function auditCounts(bao: OpenBao): Promise<{ reads: number; calls: number }> {
  const entries = (await bao.audit()).filter((e) => e.type === "response");
  return {
    reads:
      entries.filter((e) => e.operation === "read" && e.path === SECRET_API_PATH && e.error === "")
        .length,
    calls: entries.length,
  };
}

/** The lines nginx appended to its access log since `offset`; the new offset. */
async function readNginxLog(
  path: string,
  offset: number,
): Promise<{ entries: NginxEntry[]; offset: number }> {
  const bytes = await Deno.readFile(path).catch(() => new Uint8Array());
  const text = new TextDecoder().decode(bytes.subarray(offset));
  const entries = text.split("\n").filter((l) => l.trim() !== "").map((line) => {
    // $msec $request_time $upstream_response_time $status $request_method ...
    const f = line.split(" ");
    return {
      requestS: Number(f[1]),
      // "-" when nginx answered by itself; "a, b" when it tried two upstreams: the last.
      upstreamS: Number(f[2]?.split(",").at(-1)),
      status: Number(f[3]),
      path: f[7] ?? "",
      requestBytes: Number(f[5]),
      upstreamHeaderS: Number(f[8]?.split(",").at(-1)),
    };
  });
  return { entries, offset: bytes.byteLength };
}

/** Runs a process with nothing of this machine's environment but `peerEnv` and `env`. */
async function runClean(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  onSpawn?: (pid: number) => void,
): Promise<{ code: number; stdout: string; stderr: string; wallMs: number; pid: number }> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args: [...args],
    clearEnv: true,
    env: peerEnv({ ...MLFLOW_QUIET_ENV, ...env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  onSpawn?.(child.pid);
  const out = await child.output();
  const wallMs = performance.now() - started;
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    wallMs,
    pid: child.pid,
  };
}

const work = await Deno.makeTempDir({ prefix: "msa-bench-e2e-" });
const bearerToken = `tok-${crypto.randomUUID()}`;
const nginxLog = `${work}/nginx-access.log`;
const loadBefore = loadavg();
const cleanups: (() => Promise<void>)[] = [];

try {
  console.error(`bench:e2e: starting OpenBao, MLflow (2 workers) and nginx; load ${loadBefore}`);
  const [bao, mlflow] = await Promise.all([
    startOpenBao({
      audit: true,
      async seed(b) {
        await b.kvPut("secret", SECRET, { token: bearerToken });
        await b.writePolicy(
          "mlflow-reader",
          `path "${SECRET_API_PATH}" { capabilities = ["read"] }`,
        );
      },
    }),
    startMlflow({ parentDir: work, workers: 2 }),
  ]);
  cleanups.push(() => bao.close(), () => mlflow.close());
  const nginx = await startNginx({
    upstream: mlflow.url,
    bearerToken,
    apiKey: "unused-key",
    accessLog: nginxLog,
  });
  cleanups.push(() => nginx.close());
  const vaultToken = await bao.createToken(["mlflow-reader"], { ttl: "8h" });
  const tracking = nginx.bearerUrl;

  const profile = `${work}/mlflow-auth.yaml`;
  const profileText = (leakGuard: string) =>
    `version: 1
${leakGuard}providers:
  vault:
    kind: vault
    address: \${VAULT_ADDR}
    auth: { method: token }
hosts:
  - match: ${tracking}
    provider: vault
    secret: { path: ${SECRET}, mount: secret, field: token }
    auth: bearer
proxy:
  upstream: ${tracking}
`;
  await Deno.writeTextFile(profile, profileText(""));
  // The same profile, the leak guard off: the only difference from `exec`'s (default: block).
  const profileGuardOff = `${work}/mlflow-auth-leak-guard-off.yaml`;
  await Deno.writeTextFile(profileGuardOff, profileText("leak_guard: off\n"));
  const profileOf = (v: Variant) => v === "exec-leak-guard-off" ? profileGuardOff : profile;
  const vaultEnv = { VAULT_ADDR: bao.address, VAULT_TOKEN: vaultToken };
  const execArgs = (
    extra: readonly string[],
    command: readonly string[],
    profilePath = profile,
  ): string[] => [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
    "--allow-sys",
    `--allow-run=${command[0]}`,
    "--allow-ffi",
    CLI,
    "exec",
    "--profile",
    profilePath,
    ...extra,
    "--",
    ...command,
  ];

  let jobNumber = 0;
  let logOffset = 0;
  const runJob = async (variant: Variant, round: number): Promise<JobResult> => {
    const job = [JOB, `bench-${variant}-${++jobNumber}`, String(PARAMS), String(METRICS)];
    job.push(String(ARTIFACT_MIB), String(BATCHES));
    const before = await auditCounts(bao);
    logOffset = (await readNginxLog(nginxLog, logOffset)).offset;
    let r;
    let execPid = -1;
    switch (variant) {
      case "static":
        r = await runClean(PYTHON, job, {
          MLFLOW_TRACKING_URI: tracking,
          MLFLOW_TRACKING_TOKEN: bearerToken,
        });
        break;
      case "plugin":
        r = await runClean(PYTHON, job, {
          MLFLOW_TRACKING_URI: tracking,
          MLFLOW_TRACKING_AUTH: "mlflow_secrets_auth",
          MLFLOW_SECRETS_AUTH_ENABLE: "vault",
          MLFLOW_SECRETS_ALLOWED_HOSTS: "127.0.0.1",
          MLFLOW_VAULT_SECRET_PATH: SECRET_API_PATH,
          ...vaultEnv,
        });
        break;
      case "exec":
      case "exec-no-preflight":
      case "exec-access-log":
      case "exec-leak-guard-off":
        r = await runClean(
          Deno.execPath(),
          execArgs(EXEC_FLAGS[variant], [PYTHON, ...job], profileOf(variant)),
          { MLFLOW_TRACKING_URI: tracking, ...vaultEnv },
          (pid) => execPid = pid,
        );
        break;
    }
    if (r.code !== 0) {
      throw new Error(`the ${variant} job exited ${r.code}:\n${r.stderr.slice(-3000)}`);
    }
    if ((r.stdout + r.stderr).includes(bearerToken) || (r.stdout + r.stderr).includes(vaultToken)) {
      throw new Error(`the ${variant} job printed a token`);
    }
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as JobSummary;
    if (summary.artifact_bytes !== ARTIFACT_MIB * 1024 * 1024) {
      throw new Error(`the ${variant} job moved ${summary.artifact_bytes} artifact bytes`);
    }
    if ((summary.batches ?? 0) !== BATCHES) {
      throw new Error(`the ${variant} job logged ${summary.batches} batches, not ${BATCHES}`);
    }
    const after = await auditCounts(bao);
    const log = await readNginxLog(nginxLog, logOffset);
    logOffset = log.offset;
    const refused = log.entries.filter((e) => e.status === 401 || e.status === 403).length;
    if (refused > 0) throw new Error(`nginx refused ${refused} requests of the ${variant} job`);
    let proxyPeakMiB: number | undefined;
    if (execPid !== -1) {
      // The job reads its parent's VmHWM after its last request: exec's proxy.
      if (summary.parent_pid !== execPid || summary.parent_peak_kib < 0) {
        throw new Error(
          `the ${variant} job's parent is ${summary.parent_pid}, not exec ${execPid}`,
        );
      }
      proxyPeakMiB = summary.parent_peak_kib / 1024;
    }
    // `exec --access-log`: "... method=POST path=/api/2.0/mlflow/runs/log-metric status=200 ms=1.2".
    const proxyTimes = [...r.stderr.matchAll(/ path=(\S+) status=\d+ ms=([\d.]+)/g)]
      .filter((m) => m[1]!.endsWith("/runs/log-metric")).map((m) => Number(m[2]));
    return {
      variant,
      round,
      wallMs: r.wallMs,
      summary,
      ...(proxyTimes.length > 0 ? { proxyLogMetricMs: mean(proxyTimes) } : {}),
      secretReads: after.reads - before.reads,
      openBaoCalls: after.calls - before.calls,
      nginx: log.entries,
      ...(proxyPeakMiB !== undefined ? { proxyPeakMiB } : {}),
    };
  };

  /** `exec -- true`: exec's start-up and exit with the same profile and flags, no requests. */
  const execTrueMs = async (v: Variant): Promise<number> => {
    const r = await runClean(
      Deno.execPath(),
      execArgs(EXEC_FLAGS[v], ["/bin/true"], profileOf(v)),
      {
        MLFLOW_TRACKING_URI: tracking,
        ...vaultEnv,
      },
    );
    if (r.code !== 0) throw new Error(`exec -- true exited ${r.code}:\n${r.stderr.slice(-2000)}`);
    return r.wallMs;
  };

  // The leak guard probe: the token logged as a param under exec's profile (must be refused) and
  // under the guard-off profile (must reach MLflow), so the two variants differ as they claim to.
  const leakGuardProbe: Partial<Record<Variant, "refused" | "sent">> = {};
  if (VARIANTS.includes("exec-leak-guard-off")) {
    const probe = [
      "import os, mlflow",
      "from mlflow.exceptions import MlflowException",
      "mlflow.set_experiment('leak-guard-probe')",
      "with mlflow.start_run():",
      "    try:",
      "        mlflow.log_param('probe', open(os.environ['BENCH_PROBE_FILE']).read())",
      "        print('probe=sent')",
      "    except MlflowException as e:",
      "        print('probe=refused' if e.get_http_status_code() == 400 else f'probe={e.error_code}')",
    ].join("\n");
    // A file the job can read, as a job can read a file provider's mounted secret (exec removes a
    // variable holding the credential from the child's environment).
    const probeFile = `${work}/probe-token`;
    await Deno.writeTextFile(probeFile, bearerToken);
    for (const v of ["exec", "exec-leak-guard-off"] as const) {
      const r = await runClean(
        Deno.execPath(),
        execArgs([], [PYTHON, "-c", probe], profileOf(v)),
        { MLFLOW_TRACKING_URI: tracking, ...vaultEnv, BENCH_PROBE_FILE: probeFile },
      );
      const said = r.stdout.match(/^probe=(.*)$/m)?.[1];
      const expected = v === "exec" ? "refused" : "sent";
      if (r.code !== 0 || said !== expected) {
        const out = (r.stdout + r.stderr).replaceAll(bearerToken, "[token]").slice(-2000);
        throw new Error(
          `the leak guard probe under ${v} said "${said}", not "${expected}":\n${out}`,
        );
      }
      leakGuardProbe[v] = expected;
      console.error(`bench:e2e: leak guard probe: ${v} ${said} the token`);
    }
  }

  for (let w = 0; w < WARMUP; w++) {
    for (const v of VARIANTS) {
      console.error(`bench:e2e: warm-up ${v}`);
      await runJob(v, -1);
    }
  }
  const results: JobResult[] = [];
  const execTrue: Record<string, number[]> = Object.fromEntries(
    VARIANTS.filter(isExec).map((v) => [v, []]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
    for (const v of order) {
      const r = await runJob(v, round);
      results.push(r);
      console.error(
        `bench:e2e: round ${round + 1}/${ROUNDS} ${v}: ${
          (r.wallMs / 1000).toFixed(2)
        } s, ${r.nginx.length} requests; load ${loadavg()}`,
      );
    }
    for (const v of VARIANTS.filter(isExec)) execTrue[v]!.push(await execTrueMs(v));
  }
  const loadAfter = loadavg();

  // ---- the report ----
  const of = (v: Variant) => results.filter((r) => r.variant === v);
  const staticWall = of("static").map((r) => r.wallMs);
  const staticMedian = median(staticWall);
  const staticByRound = new Map(of("static").map((r) => [r.round, r.wallMs]));
  const metricCallMs = (r: JobResult) => (r.summary.phases_s.metrics ?? NaN) * 1000 / METRICS;
  // Per log_metric call, the client's time minus nginx's $request_time for those requests: the
  // time spent outside nginx (client, loopback, and exec's proxy), paired within each job.
  const metricOutsideNginxMs = (r: JobResult) => {
    const times = r.nginx.filter((e) => e.path.endsWith("/runs/log-metric"));
    return metricCallMs(r) - mean(times.map((e) => e.requestS * 1000));
  };
  // The same for the log_batch calls (`--batches`): one request of about 0.9 MB each.
  const batchEntries = (r: JobResult) => r.nginx.filter((e) => e.path.endsWith("/runs/log-batch"));
  const batchCallMs = (r: JobResult) => (r.summary.phases_s.batches ?? NaN) * 1000 / BATCHES;
  const batchNginxMs = (r: JobResult) => mean(batchEntries(r).map((e) => e.requestS * 1000));
  const batchOutsideNginxMs = (r: JobResult) => batchCallMs(r) - batchNginxMs(r);
  // Wall time outside the job's own code (process start-up and exit; exec's too).
  const outsideCodeMs = (r: JobResult) => r.wallMs - (r.summary.import_s + r.summary.body_s) * 1000;
  const variants = VARIANTS.map((v) => {
    const rs = of(v);
    const wall = rs.map((r) => r.wallMs);
    const requestMs = rs.flatMap((r) => r.nginx.map((e) => e.requestS * 1000));
    const upstreamMs = rs.flatMap((r) =>
      r.nginx.filter((e) => Number.isFinite(e.upstreamS)).map((e) => e.upstreamS * 1000)
    );
    const proxy = rs.map((r) => r.proxyPeakMiB).filter((x): x is number => x !== undefined);
    return {
      variant: v,
      label: LABELS[v],
      wallMs: wall,
      medianMs: median(wall),
      p25Ms: quantile(wall, 0.25),
      p75Ms: quantile(wall, 0.75),
      minMs: Math.min(...wall),
      maxMs: Math.max(...wall),
      ratio: median(wall) / staticMedian,
      pairedRatio: median(rs.map((r) => r.wallMs / staticByRound.get(r.round)!)),
      requestsPerJob: median(rs.map((r) => r.nginx.length)),
      secretReadsPerJob: median(rs.map((r) => r.secretReads)),
      openBaoCallsPerJob: median(rs.map((r) => r.openBaoCalls)),
      proxyPeakMiB: proxy.length > 0 ? Math.max(...proxy) : null,
      clientPeakMiB: Math.max(...rs.map((r) => r.summary.self_peak_kib / 1024)),
      nginxRequestMs: { median: median(requestMs), mean: mean(requestMs) },
      nginxUpstreamMs: { median: median(upstreamMs), mean: mean(upstreamMs) },
      clientMetricCallMs: median(rs.map(metricCallMs)),
      metricOutsideNginxMs: median(rs.map(metricOutsideNginxMs)),
      outsideCodeMs: median(rs.map(outsideCodeMs)),
      clientBodyMs: median(rs.map((r) => r.summary.body_s * 1000)),
      importMs: median(rs.map((r) => r.summary.import_s * 1000)),
      phasesMs: Object.fromEntries(
        Object.keys(rs[0]!.summary.phases_s).map((k) => [
          k,
          median(rs.map((r) => (r.summary.phases_s[k] ?? NaN) * 1000)),
        ]),
      ),
      execTrueMs: execTrue[v] !== undefined ? median(execTrue[v]!) : null,
      proxyLogMetricMs: rs.some((r) => r.proxyLogMetricMs !== undefined)
        ? median(rs.map((r) => r.proxyLogMetricMs ?? NaN))
        : null,
      nginxLogMetricMs: median(rs.map((r) =>
        mean(
          r.nginx.filter((e) => e.path.endsWith("/runs/log-metric")).map((e) => e.requestS * 1000),
        )
      )),
      nginxLogMetricHeaderMs: median(rs.map((r) =>
        mean(
          r.nginx.filter((e) => e.path.endsWith("/runs/log-metric")).map((e) =>
            e.upstreamHeaderS * 1000
          ),
        )
      )),
      logBatchRequestsPerJob: median(rs.map((r) => batchEntries(r).length)),
      logBatchRequestBytes: BATCHES > 0
        ? median(rs.flatMap((r) => batchEntries(r).map((e) => e.requestBytes)))
        : null,
      clientBatchCallMs: BATCHES > 0 ? median(rs.map(batchCallMs)) : null,
      nginxBatchMs: BATCHES > 0 ? median(rs.map(batchNginxMs)) : null,
      batchOutsideNginxMs: BATCHES > 0 ? median(rs.map(batchOutsideNginxMs)) : null,
    };
  });

  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const mib = (x: number | null) => x === null ? "–" : `${x.toFixed(0)} MiB`;
  const date = new Date().toISOString();
  console.log(
    `\nbench:e2e ${date}: ${ROUNDS} round(s), ${WARMUP} warm-up job(s) per variant, interleaved; ` +
      `job: ${PARAMS} params, ${METRICS} metrics, ${BATCHES} log_batch calls, ${ARTIFACT_MIB} MiB ` +
      `up and down; ` +
      `${navigator.hardwareConcurrency} CPUs, load average ${loadBefore} before, ${loadAfter} after\n`,
  );
  console.log(
    "| variant | median job | ratio to static | paired ratio | p25–p75 | min–max | requests | secret reads | proxy peak RSS | client peak RSS |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const v of variants) {
    console.log(
      `| ${v.label} | ${s(v.medianMs)} | ${v.ratio.toFixed(3)} | ${v.pairedRatio.toFixed(3)} | ${
        s(v.p25Ms)
      }–${s(v.p75Ms)} | ${s(v.minMs)}–${
        s(v.maxMs)
      } | ${v.requestsPerJob} | ${v.secretReadsPerJob} | ${mib(v.proxyPeakMiB)} | ${
        mib(v.clientPeakMiB)
      } |`,
    );
  }
  console.log("");
  console.log(
    "| variant | nginx $request_time median / mean | MLflow (upstream) median / mean | client ms per log_metric | job body (after import) | import mlflow |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const v of variants) {
    console.log(
      `| ${v.label} | ${v.nginxRequestMs.median.toFixed(2)} / ${
        v.nginxRequestMs.mean.toFixed(2)
      } ms | ${v.nginxUpstreamMs.median.toFixed(2)} / ${v.nginxUpstreamMs.mean.toFixed(2)} ms | ${
        v.clientMetricCallMs.toFixed(2)
      } ms | ${s(v.clientBodyMs)} | ${v.importMs.toFixed(0)} ms |`,
    );
  }
  const base = variants.find((v) => v.variant === "static")!;
  console.log("");
  console.log(
    "| variant | wall time outside the job's code (start-up, exit) | per log_metric call: client minus nginx | exec -- true |",
  );
  console.log("| --- | --- | --- | --- |");
  for (const v of variants) {
    const d = (x: number, y: number) =>
      v === base ? "" : ` (${x - y >= 0 ? "+" : ""}${(x - y).toFixed(2)})`;
    console.log(
      `| ${v.label} | ${(v.outsideCodeMs / 1000).toFixed(2)} s${
        d(v.outsideCodeMs / 1000, base.outsideCodeMs / 1000)
      } | ${v.metricOutsideNginxMs.toFixed(2)} ms${
        d(v.metricOutsideNginxMs, base.metricOutsideNginxMs)
      } | ${v.execTrueMs === null ? "–" : `${(v.execTrueMs / 1000).toFixed(2)} s`} |`,
    );
  }
  if (BATCHES > 0) {
    console.log("");
    console.log(
      "| variant | log_batch requests per job | request length | client ms per log_batch | nginx $request_time | client minus nginx |",
    );
    console.log("| --- | --- | --- | --- | --- | --- |");
    for (const v of variants) {
      const d = v === base
        ? ""
        : ` (${v.batchOutsideNginxMs! - base.batchOutsideNginxMs! >= 0 ? "+" : ""}${
          (v.batchOutsideNginxMs! - base.batchOutsideNginxMs!).toFixed(2)
        })`;
      console.log(
        `| ${v.label} | ${v.logBatchRequestsPerJob} | ${
          (v.logBatchRequestBytes! / 1e6).toFixed(3)
        } MB | ${v.clientBatchCallMs!.toFixed(2)} ms | ${v.nginxBatchMs!.toFixed(2)} ms | ${
          v.batchOutsideNginxMs!.toFixed(2)
        } ms${d} |`,
      );
    }
  }
  // The leak guard's cost: exec (block) against exec-leak-guard-off, paired by round.
  let leakGuard: Record<string, unknown> | null = null;
  if (VARIANTS.includes("exec") && VARIANTS.includes("exec-leak-guard-off")) {
    const offByRound = new Map(of("exec-leak-guard-off").map((r) => [r.round, r]));
    const pairs = of("exec").map((r) => [r, offByRound.get(r.round)!] as const);
    const ratios = pairs.map(([on, off]) => on.wallMs / off.wallMs);
    const offToStatic = of("exec-leak-guard-off").map((r) =>
      r.wallMs / staticByRound.get(r.round)!
    );
    const metricDiff = pairs.map(([on, off]) =>
      metricOutsideNginxMs(on) - metricOutsideNginxMs(off)
    );
    const batchDiff = BATCHES > 0
      ? pairs.map(([on, off]) => batchOutsideNginxMs(on) - batchOutsideNginxMs(off))
      : [];
    const spread = (xs: readonly number[], digits: number) =>
      `median ${median(xs).toFixed(digits)}, p25–p75 ${quantile(xs, 0.25).toFixed(digits)}–${
        quantile(xs, 0.75).toFixed(digits)
      }, min–max ${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
    console.log(
      `
leak guard (exec, block, against exec-leak-guard-off; paired by round, ${pairs.length} ` +
        `rounds): job time ratio per round ${spread(ratios, 3)}; exec slower in ${
          ratios.filter((x) => x > 1).length
        } of ${ratios.length} rounds. For scale, exec-leak-guard-off / static per round: ${
          spread(offToStatic, 3)
        }.`,
    );
    console.log(
      `  per log_metric call, exec minus exec-leak-guard-off, client minus nginx: ${
        spread(metricDiff, 2)
      } ms` +
        (BATCHES > 0
          ? `; per log_batch call (${
            (median(of("exec").flatMap((r) => batchEntries(r).map((e) => e.requestBytes))) / 1e6)
              .toFixed(2)
          } MB): ${spread(batchDiff, 2)} ms.`
          : "."),
    );
    leakGuard = {
      ratioPerRound: ratios,
      offToStaticPerRound: offToStatic,
      logMetricOutsideNginxDiffMs: metricDiff,
      logBatchOutsideNginxDiffMs: batchDiff,
      probe: leakGuardProbe,
    };
  }
  for (const v of variants) {
    if (v.execTrueMs === null) continue;
    const extra = (v.medianMs - base.medianMs) / 1000;
    const startup = (v.outsideCodeMs - base.outsideCodeMs) / 1000;
    const perRequest = v.metricOutsideNginxMs - base.metricOutsideNginxMs;
    console.log(
      `\n${v.label}: ${
        extra.toFixed(2)
      } s more than static per job (medians). Start-up and exit: ` +
        `${startup.toFixed(2)} s more outside the job's code; per request: ${
          perRequest.toFixed(2)
        } ms more outside nginx per log_metric call, x ${v.requestsPerJob} requests = ${
          (v.requestsPerJob * perRequest / 1000).toFixed(2)
        } s; the rest is the tracking server's own variation.`,
    );
    if (v.proxyLogMetricMs !== null) {
      // The proxy logs a request when the upstream's response headers arrive.
      console.log(
        `  per log_metric call (means, median job): nginx until MLflow's response headers ${
          v.nginxLogMetricHeaderMs.toFixed(2)
        } ms, until the end ${v.nginxLogMetricMs.toFixed(2)} ms; the proxy until the headers ${
          v.proxyLogMetricMs.toFixed(2)
        } ms (its access log); the client ${v.clientMetricCallMs.toFixed(2)} ms. Proxy minus ` +
          `nginx, until the headers: ${
            (v.proxyLogMetricMs - v.nginxLogMetricHeaderMs).toFixed(2)
          } ms. Static, nginx: headers ${base.nginxLogMetricHeaderMs.toFixed(2)} ms, end ${
            base.nginxLogMetricMs.toFixed(2)
          } ms, client ${base.clientMetricCallMs.toFixed(2)} ms.`,
      );
    }
  }

  if (flags.json !== undefined) {
    const json = {
      date,
      machine: {
        cpus: navigator.hardwareConcurrency,
        loadavgBefore: loadBefore,
        loadavgAfter: loadAfter,
        deno: Deno.version.deno,
      },
      config: {
        rounds: ROUNDS,
        warmup: WARMUP,
        params: PARAMS,
        metrics: METRICS,
        artifactMiB: ARTIFACT_MIB,
        batches: BATCHES,
        mlflowWorkers: 2,
      },
      variants,
      leakGuard,
      jobs: results.map((r) => ({
        variant: r.variant,
        round: r.round,
        wallMs: r.wallMs,
        secretReads: r.secretReads,
        openBaoCalls: r.openBaoCalls,
        requests: r.nginx.length,
        logBatchRequests: batchEntries(r).length,
        proxyPeakMiB: r.proxyPeakMiB ?? null,
        clientPeakMiB: r.summary.self_peak_kib / 1024,
        phasesMs: Object.fromEntries(
          Object.entries(r.summary.phases_s).map(([k, x]) => [k, x * 1000]),
        ),
      })),
      execTrueMs: execTrue,
    };
    await Deno.mkdir(dirname(flags.json), { recursive: true });
    await Deno.writeTextFile(flags.json, JSON.stringify(json, null, 2) + "\n");
    console.error(`bench:e2e: wrote ${flags.json}`);
  }
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
