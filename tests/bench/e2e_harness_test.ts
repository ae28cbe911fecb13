/**
 * A smoke test of `deno task bench:e2e` (bench/e2e.ts): one quick round of a tiny job on the real
 * stack (OpenBao, MLflow, nginx). It checks what the harness reports, never a time: the four
 * variants ran the same requests, one large log_batch each (`--batches 1`), OpenBao's audit log
 * counted the secret reads of each (none for the static token, one for the plugin and for each
 * exec), exec's proxy had its peak RSS read, the leak guard probe found the guard on under `exec`
 * and off under `exec-leak-guard-off`, and the JSON for the plot holds it all.
 */

import { assert, assertEquals } from "../_assert.ts";
import { peerEnv } from "../_peers/_process.ts";

const HARNESS = new URL("../../bench/e2e.ts", import.meta.url).pathname;

Deno.test({
  name:
    "bench:e2e --quick runs static, plugin, exec and exec-leak-guard-off on one stack with a large log_batch and counts their secret reads",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "msa-bench-e2e-test-" });
    try {
      const json = `${dir}/e2e.json`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-run",
          "--allow-net=127.0.0.1",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-sys",
          HARNESS,
          "--quick",
          "--params",
          "1",
          "--metrics",
          "3",
          "--artifact-mib",
          "1",
          "--batches",
          "1",
          "--variants",
          "static,plugin,exec,exec-leak-guard-off",
          "--json",
          json,
        ],
        clearEnv: true,
        env: peerEnv({ NO_COLOR: "1" }),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr).slice(-3000));

      const rows = stdout.split("\n").filter((l) => /^\| (static|Python plugin|exec)/.test(l));
      // Four tables (job times, per-request times, start-up and per-request split, log_batch), a
      // row per variant in each.
      assertEquals(rows.length, 16, stdout);

      const report = JSON.parse(await Deno.readTextFile(json)) as {
        config: { rounds: number; metrics: number; batches: number };
        leakGuard: { probe: Record<string, string> } | null;
        variants: {
          variant: string;
          wallMs: number[];
          requestsPerJob: number;
          logBatchRequestsPerJob: number;
          logBatchRequestBytes: number | null;
          secretReadsPerJob: number;
          proxyPeakMiB: number | null;
          clientPeakMiB: number;
        }[];
        jobs: unknown[];
      };
      assertEquals(report.config.rounds, 1);
      assertEquals(report.config.batches, 1);
      assertEquals(report.variants.map((v) => v.variant), [
        "static",
        "plugin",
        "exec",
        "exec-leak-guard-off",
      ]);
      assertEquals(report.jobs.length, 4);
      const [plain, plugin, exec, guardOff] = report.variants;
      assertEquals(report.variants.map((v) => v.secretReadsPerJob), [0, 1, 1, 1]);
      // The guard refused the token under exec's profile and let it through with leak_guard: off.
      assertEquals(report.leakGuard?.probe, { exec: "refused", "exec-leak-guard-off": "sent" });
      // nginx logged the same job three times: the same number of requests, at least one per call.
      assert(plain!.requestsPerJob >= 1 + 3 + 2, `requests: ${plain!.requestsPerJob}`);
      assertEquals(plugin!.requestsPerJob, plain!.requestsPerJob);
      assertEquals(exec!.requestsPerJob, plain!.requestsPerJob);
      assertEquals(guardOff!.requestsPerJob, plain!.requestsPerJob);
      assertEquals(plain!.proxyPeakMiB, null);
      assertEquals(plugin!.proxyPeakMiB, null);
      for (const v of [exec!, guardOff!]) {
        assert(v.proxyPeakMiB !== null && v.proxyPeakMiB > 10, `${v.variant}: ${v.proxyPeakMiB}`);
      }
      for (const v of report.variants) {
        assertEquals(v.wallMs.length, 1);
        // One log_batch request of about 0.9 MB (nginx's $request_length), in every variant.
        assertEquals(v.logBatchRequestsPerJob, 1, v.variant);
        assert(
          v.logBatchRequestBytes !== null && v.logBatchRequestBytes > 500_000,
          `${v.variant}: log_batch request of ${v.logBatchRequestBytes} bytes`,
        );
        assert(v.clientPeakMiB > 10, `${v.variant}: client peak ${v.clientPeakMiB}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
