/**
 * A smoke test of `deno task bench:e2e` (bench/e2e.ts): one quick round of a tiny job on the real
 * stack (OpenBao, MLflow, nginx). It checks what the harness reports, never a time: the three
 * variants ran the same requests, OpenBao's audit log counted the secret reads of each (none for
 * the static token, one for the plugin, one for exec), exec's proxy had its peak RSS read, and the
 * JSON for the plot holds it all.
 */

import { assert, assertEquals } from "../_assert.ts";
import { peerEnv } from "../_peers/_process.ts";

const HARNESS = new URL("../../bench/e2e.ts", import.meta.url).pathname;

Deno.test({
  name: "bench:e2e --quick runs static, plugin and exec on one stack and counts their secret reads",
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
      // Three tables (job times, per-request times, start-up and per-request split), a row per
      // variant in each.
      assertEquals(rows.length, 9, stdout);

      const report = JSON.parse(await Deno.readTextFile(json)) as {
        config: { rounds: number; metrics: number };
        variants: {
          variant: string;
          wallMs: number[];
          requestsPerJob: number;
          secretReadsPerJob: number;
          proxyPeakMiB: number | null;
          clientPeakMiB: number;
        }[];
        jobs: unknown[];
      };
      assertEquals(report.config.rounds, 1);
      assertEquals(report.variants.map((v) => v.variant), ["static", "plugin", "exec"]);
      assertEquals(report.jobs.length, 3);
      const [plain, plugin, exec] = report.variants;
      assertEquals(
        [plain!.secretReadsPerJob, plugin!.secretReadsPerJob, exec!.secretReadsPerJob],
        [0, 1, 1],
      );
      // nginx logged the same job three times: the same number of requests, at least one per call.
      assert(plain!.requestsPerJob >= 1 + 3 + 2, `requests: ${plain!.requestsPerJob}`);
      assertEquals(plugin!.requestsPerJob, plain!.requestsPerJob);
      assertEquals(exec!.requestsPerJob, plain!.requestsPerJob);
      assertEquals(plain!.proxyPeakMiB, null);
      assertEquals(plugin!.proxyPeakMiB, null);
      assert(exec!.proxyPeakMiB !== null && exec!.proxyPeakMiB > 10, `${exec!.proxyPeakMiB}`);
      for (const v of report.variants) {
        assertEquals(v.wallMs.length, 1);
        assert(v.clientPeakMiB > 10, `${v.variant}: client peak ${v.clientPeakMiB}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
