/**
 * A TypeScript MLflow client over the REST API, authenticated by `createAuthFetch`: it creates
 * (or finds) an experiment, creates a run, logs parameters and metrics in one batch, finishes the
 * run and reads it back.
 *
 * ```sh
 * deno run --allow-read --allow-env --allow-net examples/rest_client.ts mlflow-auth.yaml https://mlflow.company.com
 * ```
 *
 * @module
 */

import { createAuthFetch, loadProfile } from "../mod.ts";

/** What {@linkcode logRunOverRest} did. */
export interface RestRunSummary {
  readonly experimentId: string;
  readonly runId: string;
  readonly metricsLogged: number;
  readonly status: string;
}

/**
 * Logs one run over MLflow's REST API with the given fetch.
 *
 * @param fetchFn A fetch that adds the credentials (from `createAuthFetch`).
 * @param trackingUri The tracking server, e.g. `https://mlflow.company.com`.
 * @param options Experiment name and the number of steps.
 * @returns The run's ids and status as read back from the server.
 * @throws {Error} when the server answers an error.
 */
export async function logRunOverRest(
  fetchFn: typeof fetch,
  trackingUri: string,
  options: { readonly experiment?: string; readonly steps?: number } = {},
): Promise<RestRunSummary> {
  const base = `${trackingUri.replace(/\/+$/, "")}/api/2.0/mlflow`;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetchFn(`${base}/${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) {
      throw new Error(`MLflow ${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    }
    return JSON.parse(text) as T;
  };
  const name = options.experiment ?? "mlflow-secrets-auth-rest";
  const steps = options.steps ?? 5;

  let experimentId: string;
  try {
    const found = await call<{ experiment: { experiment_id: string } }>(
      "GET",
      `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`,
    );
    experimentId = found.experiment.experiment_id;
  } catch (error) {
    if (!String(error).includes("answered 404")) throw error;
    experimentId = (await call<{ experiment_id: string }>("POST", "experiments/create", { name }))
      .experiment_id;
  }
  const now = Date.now();
  const { run } = await call<{ run: { info: { run_id: string } } }>("POST", "runs/create", {
    experiment_id: experimentId,
    start_time: now,
    run_name: "deno-rest-client",
    tags: [{ key: "mlflow.source.name", value: "examples/rest_client.ts" }],
  });
  const runId = run.info.run_id;
  const metrics = Array.from({ length: steps }, (_, step) => ({
    key: "loss",
    value: 1 / (step + 1),
    timestamp: now + step,
    step,
  }));
  await call("POST", "runs/log-batch", {
    run_id: runId,
    metrics,
    params: [{ key: "client", value: "deno" }],
  });
  await call("POST", "runs/update", { run_id: runId, status: "FINISHED", end_time: Date.now() });
  const got = await call<{ run: { info: { status: string } } }>(
    "GET",
    `runs/get?run_id=${runId}`,
  );
  return { experimentId, runId, metricsLogged: metrics.length, status: got.run.info.status };
}

if (import.meta.main) {
  const [profilePath, trackingUri, experiment] = Deno.args;
  if (profilePath === undefined || trackingUri === undefined) {
    console.error("usage: rest_client.ts <profile.yaml> <tracking-uri> [experiment]");
    Deno.exit(2);
  }
  const profile = await loadProfile(profilePath);
  await using authFetch = createAuthFetch(profile);
  const summary = await logRunOverRest(authFetch, trackingUri, {
    ...(experiment !== undefined ? { experiment } : {}),
  });
  console.log(JSON.stringify({ ...summary, secretFetches: authFetch.stats.secretFetches }));
}
