/**
 * The leak guard's cost end to end: 1 MB `runs/log-batch` requests (100 params and 100 tags of
 * 4,600 characters, 800 metrics: 1,000 entities, MLflow's limit per batch) through the proxy to a real MLflow
 * server, with `leak_guard: off` and `block`, interleaved, in the same run. Prints the medians
 * and their ratio.
 *
 * Run: deno run -A bench/leak_guard_e2e.ts [rounds]   (needs `bash scripts/setup.sh` for MLflow)
 */

import { startProxy } from "../http/proxy.ts";
import { parseProfile } from "../mod.ts";
import { startMlflow } from "../tests/_peers/mlflow.ts";

const rounds = Number(Deno.args[0] ?? "30");
const TOKEN = "bench-token-4f1c9e2a7b3d";
const mlflow = await startMlflow();
try {
  const profile = (mode: string) =>
    parseProfile(
      `version: 1
leak_guard: ${mode}
providers: { e: { kind: env } }
hosts:
  - { match: "${mlflow.url}", provider: e, secret: { var: T }, auth: bearer }
`,
      { env: {} },
    );
  const options = { upstream: mlflow.url, env: () => TOKEN, accessLog: false, logWrite: () => {} };
  const proxies = {
    off: await startProxy(profile("off"), options),
    block: await startProxy(profile("block"), options),
  };
  const post = async (base: string, path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const created = await post(mlflow.url, "/api/2.0/mlflow/experiments/create", {
    name: `leak-guard-bench-${Date.now()}`,
  });
  const text = Array.from({ length: 4600 }, () => "abcdefgh "[Math.random() * 9 | 0]).join("");
  const batch = (runId: string) => ({
    run_id: runId,
    metrics: Array.from({ length: 800 }, (_, i) => ({
      key: `metric_${i % 50}`,
      value: Math.random(),
      timestamp: 1764590000000 + i,
      step: i,
    })),
    params: Array.from({ length: 100 }, (_, i) => ({ key: `param_${i}`, value: text })),
    tags: Array.from({ length: 100 }, (_, i) => ({ key: `tag_${i}`, value: text })),
  });
  console.log(`body: ${JSON.stringify(batch("0123456789abcdef0123456789abcdef")).length} bytes`);
  const times: Record<"off" | "block", number[]> = { off: [], block: [] };
  for (let round = -2; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? ["off", "block"] as const : ["block", "off"] as const) {
      const base = proxies[mode].url;
      const run = await post(base, "/api/2.0/mlflow/runs/create", {
        experiment_id: created.experiment_id,
      });
      const body = batch(run.run.info.run_id);
      const started = performance.now();
      await post(base, "/api/2.0/mlflow/runs/log-batch", body);
      if (round >= 0) times[mode].push(performance.now() - started);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const off = median(times.off);
  const block = median(times.block);
  console.log(
    `1 MB log-batch to MLflow through the proxy, median of ${rounds}: ` +
      `leak_guard off ${off.toFixed(1)} ms, block ${block.toFixed(1)} ms, ratio ${
        (block / off).toFixed(3)
      }`,
  );
  await proxies.off.shutdown();
  await proxies.block.shutdown();
} finally {
  await mlflow.close();
}
