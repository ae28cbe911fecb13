/**
 * End to end against a real MLflow server behind nginx: one server block demands
 * `Authorization: Bearer <token>` (the token in an environment variable, `env` provider), another
 * `X-Api-Key: <key>` (the key in a file, `file` provider). An unmodified Python MLflow script
 * fails without the tool and succeeds under `exec` in both modes; a Deno client logs runs with
 * `createAuthFetch`; a 1 GiB artifact goes up and down through the `proxy` command with its peak
 * memory printed; 2,000 requests from 50 concurrent clients all succeed with one provider call.
 */

import { createHash } from "node:crypto";
import { createAuthFetch, parseProfile } from "../../mod.ts";
import { logRunOverRest } from "../../examples/rest_client.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { PYTHON, run, startMlflow } from "../_peers/mlflow.ts";
import { startNginx } from "../_peers/nginx.ts";
import { startProxyProcess } from "./_proxy_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const TRAIN = `${ROOT}examples/train.py`;
const MiB = 1024 * 1024;

Deno.test("exec, proxy and createAuthFetch against a real MLflow server behind nginx (bearer and X-Api-Key)", async (t) => {
  const t0 = performance.now();
  const bearerToken = `tok-${crypto.randomUUID()}`;
  const apiKey = `key-${crypto.randomUUID()}`;
  const mlflow = await startMlflow();
  const work = await Deno.makeTempDir({ prefix: "msa-e2e-nginx-" });
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  try {
    nginx = await startNginx({ upstream: mlflow.url, bearerToken, apiKey });
    console.log(
      `MLflow up in ${mlflow.startMs} ms; nginx bearer ${nginx.bearerUrl}, key ${nginx.apiKeyUrl}`,
    );
    const keyFile = `${work}/api-key`;
    await Deno.writeTextFile(keyFile, `${apiKey}\n`);
    const profilePath = `${work}/mlflow-auth.yaml`;
    const profileText = `version: 1
providers:
  ci: { kind: env }
  mounted: { kind: file }
hosts:
  - match: ${nginx.bearerUrl}
    provider: ci
    secret: { var: MLFLOW_E2E_TOKEN }
    auth: bearer
  - match: ${nginx.apiKeyUrl}
    provider: mounted
    secret: { path: ${keyFile} }
    auth: { type: header, name: X-Api-Key, value: "{{token}}" }
`;
    await Deno.writeTextFile(profilePath, profileText);
    const secretEnv = { MLFLOW_E2E_TOKEN: bearerToken };
    const modes = [
      { name: "bearer", url: nginx.bearerUrl, secret: bearerToken },
      { name: "X-Api-Key", url: nginx.apiKeyUrl, secret: apiKey },
    ];

    for (const mode of modes) {
      await t.step(
        `${mode.name}: an unmodified MLflow script is refused without the tool`,
        async () => {
          const r = await run(PYTHON, [TRAIN, `e2e-${mode.name}-denied`, "2"], {
            MLFLOW_TRACKING_URI: mode.url,
          });
          assert(r.code !== 0, "the script succeeded without credentials");
          assert(
            /\b40[13]\b|UNAUTHENTICATED|PERMISSION_DENIED/.test(r.stderr),
            r.stderr.slice(-2000),
          );
        },
      );

      await t.step(`${mode.name}: the same script succeeds under exec, unchanged`, async () => {
        const started = performance.now();
        const r = await run(
          Deno.execPath(),
          [
            "run",
            "-A",
            CLI,
            "exec",
            "--profile",
            profilePath,
            "--",
            PYTHON,
            TRAIN,
            `e2e-${mode.name}`,
            "3",
          ],
          { ...secretEnv, MLFLOW_TRACKING_URI: mode.url },
        );
        assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        assertEquals(summary.artifact_bytes, 5 * MiB);
        assert(
          !r.stdout.includes(mode.secret) && !r.stderr.includes(mode.secret),
          "secret printed",
        );
        console.log(
          `train.py under exec (${mode.name}): ${Math.round(performance.now() - started)} ms`,
        );
      });

      await t.step(
        `${mode.name}: a Deno client logs a run over REST with createAuthFetch`,
        async () => {
          const profile = parseProfile(profileText, { source: profilePath, env: {} });
          await using authFetch = createAuthFetch(profile, {
            env: (n) => (secretEnv as Record<string, string>)[n],
            logWrite: () => {},
          });
          const summary = await logRunOverRest(authFetch, mode.url, {
            experiment: `e2e-${mode.name}-rest`,
          });
          assertEquals(summary.status, "FINISHED");
        },
      );
    }

    await t.step(
      "the child of exec never sees the token variable the env provider reads",
      async () => {
        const r = await run(
          Deno.execPath(),
          [
            "run",
            "-A",
            CLI,
            "exec",
            "--profile",
            profilePath,
            "--upstream",
            nginx!.bearerUrl,
            "--",
            PYTHON,
            "-c",
            "import json, os; print(json.dumps(dict(os.environ)))",
          ],
          secretEnv,
        );
        assertEquals(r.code, 0, r.stderr);
        const env = JSON.parse(r.stdout);
        assertEquals(env.MLFLOW_E2E_TOKEN, undefined);
        assert(!r.stdout.includes(bearerToken), "the token is in the child's environment");
      },
    );

    await t.step(
      "exec --env-mode direct exports the real token (the weaker mode) and works",
      async () => {
        const r = await run(
          Deno.execPath(),
          [
            "run",
            "-A",
            CLI,
            "exec",
            "--profile",
            profilePath,
            "--env-mode",
            "direct",
            "--upstream",
            nginx!.bearerUrl,
            "--",
            PYTHON,
            TRAIN,
            "e2e-direct",
            "2",
          ],
          secretEnv,
        );
        assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assertStringIncludes(r.stderr, "--env-mode direct puts the real credential");
      },
    );

    await t.step(
      "the proxy command streams a 1 GiB artifact up and down with bounded memory",
      async () => {
        await using proxy = await startProxyProcess(
          ["--profile", profilePath, "--upstream", nginx!.bearerUrl, "--no-access-log"],
          secretEnv,
        );
        const size = 1024 * MiB;
        const path = `/api/2.0/mlflow-artifacts/artifacts/e2e-large/blob.bin`;
        const base = new Uint8Array(MiB);
        for (let i = 0; i < MiB; i += 65536) crypto.getRandomValues(base.subarray(i, i + 65536));
        const sent = createHash("sha256");
        let produced = 0;
        let peakDuring = 0;
        const sampler = setInterval(async () => {
          const m = await proxy.memory().catch(() => undefined);
          if (m !== undefined) peakDuring = Math.max(peakDuring, m.rss);
        }, 100);
        try {
          // Sent with a Content-Length, as MLflow clients upload files (see putWithLength).
          const upStart = performance.now();
          const answer = await putWithLength(`${proxy.url}${path}`, size, () => {
            const chunk = base.slice();
            new DataView(chunk.buffer).setFloat64(0, produced);
            sent.update(chunk);
            produced += chunk.byteLength;
            return chunk;
          });
          assert(answer.startsWith("HTTP/1.1 200"), answer);
          const upSeconds = (performance.now() - upStart) / 1000;
          const onDisk = await Deno.stat(`${mlflow.dir}/artifacts/e2e-large/blob.bin`);
          assertEquals(onDisk.size, size);

          const downStart = performance.now();
          const down = await fetch(`${proxy.url}${path}`);
          assertEquals(down.status, 200);
          const got = createHash("sha256");
          let received = 0;
          for await (const chunk of down.body!) {
            got.update(chunk);
            received += chunk.byteLength;
          }
          const downSeconds = (performance.now() - downStart) / 1000;
          assertEquals(received, size);
          assertEquals(got.digest("hex"), sent.digest("hex"));
          const { peak } = await proxy.memory();
          console.log(
            `1 GiB through the proxy: up ${upSeconds.toFixed(1)} s (${
              (1024 / upSeconds).toFixed(0)
            } MiB/s), down ${downSeconds.toFixed(1)} s (${
              (1024 / downSeconds).toFixed(0)
            } MiB/s); proxy peak RSS ${(peak / MiB).toFixed(0)} MiB (VmHWM; sampled max ${
              (peakDuring / MiB).toFixed(0)
            } MiB; target < 150 MiB)`,
          );
          assert(peak > 0, "no memory reading");
        } finally {
          clearInterval(sampler);
          await Deno.remove(`${mlflow.dir}/artifacts/e2e-large`, { recursive: true }).catch(
            () => {},
          );
        }
        const { code, stderr } = await proxy.stop();
        assertEquals(code, 0, stderr);
        assertStringIncludes(stderr, "draining in-flight requests");
        assert(!stderr.includes(bearerToken), "the token was logged");
      },
    );

    await t.step(
      "the proxy command serves 2,000 requests from 50 concurrent clients with one provider call",
      async () => {
        await using proxy = await startProxyProcess(
          ["--profile", profilePath, "--upstream", nginx!.bearerUrl, "--no-access-log"],
          secretEnv,
        );
        const total = 2000;
        const concurrency = 50;
        const latencies: number[] = [];
        const statuses = new Map<number, number>();
        let next = 0;
        const started = performance.now();
        await Promise.all(Array.from({ length: concurrency }, async () => {
          while (next < total) {
            next++;
            const s = performance.now();
            const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/get?experiment_id=0`);
            await res.arrayBuffer();
            latencies.push(performance.now() - s);
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          }
        }));
        const seconds = (performance.now() - started) / 1000;
        latencies.sort((a, b) => a - b);
        const pct = (p: number) =>
          latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
        const metrics = await (await fetch(`${proxy.url}/__mlflow-secrets-auth/metrics`)).text();
        const value = (name: string) =>
          Number(new RegExp(`^${name} (\\d+)$`, "m").exec(metrics)?.[1]);
        console.log(
          `load: ${total} requests, ${concurrency} concurrent, ${
            (total / seconds).toFixed(0)
          } rps, p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms; provider calls ${
            value("mlflow_secrets_auth_provider_calls_total")
          }`,
        );
        assertEquals([...statuses], [[200, total]]);
        assertEquals(value("mlflow_secrets_auth_proxy_requests_total"), total);
        assertEquals(value("mlflow_secrets_auth_provider_calls_total"), 1);
        assertEquals(value("mlflow_secrets_auth_secret_fetches_total"), 1);
      },
    );
  } finally {
    await nginx?.close();
    await mlflow.close();
    await Deno.remove(work, { recursive: true }).catch(() => {});
    console.log(`nginx e2e: ${Math.round(performance.now() - t0)} ms`);
  }
});

/**
 * PUT with a Content-Length over a raw connection (fetch sends a stream body chunked): the head,
 * then `size` bytes from `next()`, then the whole answer as text.
 */
async function putWithLength(
  url: string,
  size: number,
  next: () => Uint8Array,
): Promise<string> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const writeAll = async (bytes: Uint8Array) => {
    for (let off = 0; off < bytes.byteLength;) off += await conn.write(bytes.subarray(off));
  };
  await writeAll(
    new TextEncoder().encode(
      `PUT ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Length: ${size}\r\n` +
        "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
    ),
  );
  for (let sent = 0; sent < size;) {
    const chunk = next();
    await writeAll(chunk);
    sent += chunk.byteLength;
  }
  // Reading the answer to its end closes the connection.
  return await new Response(conn.readable).text();
}
