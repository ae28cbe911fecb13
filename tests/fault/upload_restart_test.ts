/**
 * Fault suite, the tracking server dying during a large upload: a real MLflow server
 * (`--serve-artifacts`) behind the real `proxy` command (a child process). A client streams a
 * generated 1 GiB artifact (`PUT /api/2.0/mlflow-artifacts/artifacts/…`, a chunked body made on
 * the fly, so neither the client nor the test holds it); a quarter of the way in, MLflow is
 * killed (SIGKILL to its process group: requests in flight are cut, as in a crash or a restart
 * that does not drain) and started again on the same port.
 *
 * What the user sees: the upload fails with an error (a 502 naming the tracking server, or the
 * connection closed), within seconds, not a hang; the proxy stays up (its health endpoint
 * answers, the next request is served once MLflow is back), and the next 1 GiB upload succeeds
 * and lands complete on MLflow's disk. Nothing is half-stored as a success. Then MLflow is killed
 * a quarter of the way into the download of that artifact: the client's read fails (the proxy
 * cuts the connection rather than end the body cleanly, so a truncated download never looks
 * complete), and the proxy stays up. Its memory stays bounded while 1.5 GiB stream through it
 * (its peak RSS, from /proc, is reported and must stay far below the body's size).
 */

import { assert, assertEquals } from "../_assert.ts";
import { withDeadline } from "../_deadline.ts";
import { mlflowInstalled, type MlflowServer, startMlflow } from "../_peers/mlflow.ts";
import { startProxyProcess } from "../e2e/_proxy_process.ts";
import { sleep } from "./_traffic.ts";

const MIB = 1024 * 1024;
const TOTAL_MIB = 1024;
const CRASH_AT_MIB = 256;
/** A generous bound on the proxy's peak RSS: the body is 1 GiB, the idle proxy about 60 MiB. */
const RSS_LIMIT_MIB = 400;

/** Chunk `i` of the generated body: 1 MiB, its index in the first 8 bytes, then a pattern. */
function chunk(i: number): Uint8Array {
  const bytes = new Uint8Array(MIB);
  bytes.fill(0x61 + (i % 26));
  new DataView(bytes.buffer).setBigUint64(0, BigInt(i));
  return bytes;
}

/** A 1 GiB body generated as it is read; `sent` counts the MiB handed to fetch. */
function generatedBody(onMiB: (sent: number) => void): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= TOTAL_MIB) {
        controller.close();
        return;
      }
      controller.enqueue(chunk(sent++));
      onMiB(sent);
    },
  }, { highWaterMark: 0 });
}

/** Samples a process's RSS until stopped; returns the largest seen (MiB). */
function sampleRss(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const status = await Deno.readTextFile(`/proc/${pid}/status`);
        const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
        peak = Math.max(peak, kb / 1024);
      } catch {
        return;
      }
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.round(peak);
    },
  };
}

Deno.test({
  name:
    "proxy command, MLflow killed and restarted during a 1 GiB upload: the upload fails with an error, the proxy stays healthy, the next 1 GiB upload succeeds; killed during the download, the client's read fails; proxy memory bounded",
  ignore: !mlflowInstalled() || Deno.build.os !== "linux",
  fn: withDeadline(240, async () => {
    let mlflow: MlflowServer = await startMlflow();
    const port = Number(new URL(mlflow.url).port);
    const dir = await Deno.makeTempDir({ prefix: "msa-fault-upload-" });
    try {
      const profilePath = `${dir}/profile.yaml`;
      await Deno.writeTextFile(
        profilePath,
        `version: 1
providers:
  ci: { kind: env }
hosts:
  - { match: "${mlflow.url}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }
`,
      );
      await using proxy = await startProxyProcess(
        [
          "--profile",
          profilePath,
          "--upstream",
          mlflow.url,
          "--no-access-log",
          "--log-level",
          "warn",
        ],
        { MLFLOW_TOKEN: `upload-canary-${crypto.randomUUID()}` },
      );
      const artifact = (name: string) =>
        `${proxy.url}/api/2.0/mlflow-artifacts/artifacts/fault/${name}`;
      const idleMiB = Math.round((await proxy.memory()).rss / MIB);
      const rss = sampleRss(proxy.pid);

      // 1. MLflow dies a quarter of the way into the upload, and is started again.
      let crashed: Promise<void> | undefined;
      let sentAtCrash = 0;
      let sent = 0;
      const t0 = performance.now();
      const first = await fetch(artifact("big-1.bin"), {
        method: "PUT",
        body: generatedBody((n) => {
          sent = n;
          if (n === CRASH_AT_MIB) {
            sentAtCrash = n;
            crashed = mlflow.crash();
          }
        }),
      }).then(
        async (res) => ({ status: res.status, text: await res.text().catch((e) => String(e)) }),
        (error) => ({ status: 0, text: String(error) }),
      );
      const firstMs = Math.round(performance.now() - t0);
      assert(crashed !== undefined, "MLflow was killed during the upload");
      await crashed;
      console.log(
        `upload 1: ${
          first.status === 0 ? first.text : `${first.status} ${first.text}`
        } after ${firstMs} ms; ${sent} MiB handed to fetch (MLflow killed at ${sentAtCrash} MiB)`,
      );
      // An error, not a success: a 502 from the proxy naming the tracking server, or the
      // connection closed under the client.
      if (first.status !== 0) {
        assertEquals(first.status, 502, first.text);
        assert(first.text.includes("could not reach the tracking server"), first.text);
      }
      assert(sent < TOTAL_MIB, `the upload was cut short, not sent to its end (${sent} MiB)`);

      // 2. The proxy is still up, and serves again once MLflow is back at the same address.
      const health = await fetch(`${proxy.url}/__mlflow-secrets-auth/health`);
      assertEquals(health.status, 200);
      await health.body?.cancel();
      assert(proxy.alive(), "the proxy survived");
      const restartStarted = performance.now();
      mlflow = await startMlflow({ port });
      const restartMs = Math.round(performance.now() - restartStarted);
      const search = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search?max_results=1`);
      assertEquals(search.status, 200, await search.text());

      // 3. The next 1 GiB upload succeeds and is complete on MLflow's side.
      const t1 = performance.now();
      const second = await fetch(artifact("big-2.bin"), {
        method: "PUT",
        body: generatedBody(() => {}),
      });
      assertEquals(second.status, 200, await second.text());
      const secondMs = Math.round(performance.now() - t1);
      const stored = `${mlflow.dir}/artifacts/fault/big-2.bin`;
      assertEquals((await Deno.stat(stored)).size, TOTAL_MIB * MIB, "1 GiB stored");
      using file = await Deno.open(stored);
      for (const i of [0, 1, TOTAL_MIB / 2, TOTAL_MIB - 1]) {
        const got = new Uint8Array(MIB);
        await file.seek(i * MIB, Deno.SeekMode.Start);
        let off = 0;
        while (off < MIB) off += (await file.read(got.subarray(off))) ?? MIB;
        assertEquals(got, chunk(i), `chunk ${i} stored as sent`);
      }

      console.log(
        `upload 2: 1024 MiB stored in ${secondMs} ms (${
          Math.round(TOTAL_MIB / (secondMs / 1000))
        } MiB/s); MLflow back in ${restartMs} ms`,
      );

      // 4. MLflow dies a quarter of the way into the download of that artifact: the client's
      // read fails; a truncated body never looks complete (the proxy does not end it cleanly).
      const download = await fetch(artifact("big-2.bin"));
      assertEquals(download.status, 200);
      const reader = download.body!.getReader();
      let received = 0;
      let downloadCrash: Promise<void> | undefined;
      const readError = await (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          received += value.byteLength;
          if (downloadCrash === undefined && received >= CRASH_AT_MIB * MIB) {
            downloadCrash = mlflow.crash();
          }
        }
      })().catch((e: unknown) => e);
      await downloadCrash;
      console.log(
        `download: ${Math.round(received / MIB)} MiB read, then ${
          String(readError)
        } (MLflow killed at ${CRASH_AT_MIB} MiB)`,
      );
      assert(readError instanceof Error, `the truncated download ended without an error`);
      assert(received < TOTAL_MIB * MIB, `${received} bytes`);
      const after = await fetch(`${proxy.url}/__mlflow-secrets-auth/health`);
      assertEquals(after.status, 200);
      await after.body?.cancel();

      const peakRss = await rss.stop();
      const { peak } = await proxy.memory();
      const peakMiB = Math.round(peak / MIB);
      console.log(
        `proxy RSS: idle ${idleMiB} MiB, sampled peak ${peakRss} MiB, VmHWM ${peakMiB} MiB`,
      );
      assert(peakMiB < RSS_LIMIT_MIB, `proxy peak RSS ${peakMiB} MiB`);
      const { code } = await proxy.stop();
      assertEquals(code, 0, "the proxy exits 0 on SIGTERM");
    } finally {
      await mlflow.close();
      await Deno.remove(dir, { recursive: true });
    }
  }),
});
