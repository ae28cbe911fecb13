/**
 * The leak guard against a job that tries to get the secret past it to a real MLflow server:
 * paths the server decodes (`%61pi`, `%2F`, `2%2E0`), doubled slashes (MLflow answers 308 and
 * the client sends the body again), `NaN` / `Infinity` (Python's JSON takes them, `JSON.parse`
 * does not) beside a secret written with `\u` escapes, and the secret in the query string (the
 * server writes it to its access log). With `leak_guard: off` each of them stores the value or
 * logs it, which proves the attempts are real; with the guard on, through the proxy and through
 * the middleware, each is answered 400 and the value is neither in the run nor in the server's log.
 */

import { createAuthFetch } from "../../http/auth_fetch.ts";
import { startProxy } from "../../http/proxy.ts";
import { parseProfile } from "../../mod.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { startMlflow } from "../_peers/mlflow.ts";

const JSON_TYPE = { "content-type": "application/json" };

/** Every character as a `\uXXXX` escape: no form of the secret appears in the body's text. */
function escaped(value: string): string {
  return [...value].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
}

interface Attempt {
  readonly name: string;
  readonly path: string;
  readonly body: string;
}

function attempts(runId: string, canary: string, tag: string): Attempt[] {
  const param = (key: string) =>
    JSON.stringify({ run_id: runId, key: `${tag}-${key}`, value: canary });
  return [
    { name: "pct-api", path: "/%61pi/2.0/mlflow/runs/log-parameter", body: param("pct-api") },
    {
      name: "pct-slash",
      path: "/api%2F2.0%2Fmlflow%2Fruns%2Flog-parameter",
      body: param("pct-slash"),
    },
    { name: "pct-dot", path: "/api/2%2E0/mlflow/runs/log-parameter", body: param("pct-dot") },
    { name: "slashes", path: "/api//2.0/mlflow/runs/log-parameter", body: param("slashes") },
    {
      name: "nan",
      path: "/api/2.0/mlflow/runs/log-parameter",
      body: `{"run_id":"${runId}","key":"${tag}-nan","value":"${escaped(canary)}","x":NaN}`,
    },
    {
      name: "infinity",
      path: "/api/2.0/mlflow/runs/log-batch",
      body: `{"run_id":"${runId}","params":[{"key":"${tag}-inf","value":"${
        escaped(canary)
      }"}],"metrics":[{"key":"m","value":-Infinity,"timestamp":1,"step":0}]}`,
    },
    {
      name: "query",
      path: `/api/2.0/mlflow/runs/set-tag?note=${encodeURIComponent(canary)}&step=${tag}`,
      body: JSON.stringify({ run_id: runId, key: `${tag}-query`, value: "v" }),
    },
  ];
}

Deno.test("leak guard: encoded paths, doubled slashes, NaN beside \\u escapes and the query string do not get the secret to MLflow", async (t) => {
  const canary = `tok-evade-${crypto.randomUUID()}`;
  await using mlflow = await startMlflow();
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
  const env = (name: string) => name === "T" ? canary : undefined;
  const post = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(url, { method: "POST", headers: JSON_TYPE, ...init });
    const text = await res.text();
    assertEquals(res.status, 200, text);
    return JSON.parse(text);
  };
  const experiment = await post(`${mlflow.url}/api/2.0/mlflow/experiments/create`, {
    body: JSON.stringify({ name: "evasion" }),
  });
  const run = await post(`${mlflow.url}/api/2.0/mlflow/runs/create`, {
    body: JSON.stringify({ experiment_id: experiment.experiment_id }),
  });
  const runId: string = run.run.info.run_id;
  const stored = async (): Promise<string[]> => {
    const res = await fetch(`${mlflow.url}/api/2.0/mlflow/runs/get?run_id=${runId}`);
    const data = (await res.json()).run.data as { params?: { key: string; value: string }[] };
    return (data.params ?? []).filter((p) => p.value.includes(canary)).map((p) => p.key).sort();
  };

  await t.step("leak_guard: off: every attempt stores the secret or logs it", async () => {
    await using proxy = await startProxy(profile("off"), {
      upstream: mlflow.url,
      env,
      logWrite: () => {},
    });
    for (const a of attempts(runId, canary, "off")) {
      // Python's requests follows MLflow's 308 with the body, as fetch does.
      const res = await fetch(`${proxy.url}${a.path}`, {
        method: "POST",
        headers: JSON_TYPE,
        body: a.body,
      });
      assertEquals(res.status, 200, `${a.name}: ${await res.text()}`);
    }
    assertEquals(
      await stored(),
      ["off-inf", "off-nan", "off-pct-api", "off-pct-dot", "off-pct-slash", "off-slashes"],
    );
    assert(mlflow.tail().includes(encodeURIComponent(canary)), "the query is not in the log");
  });

  const before = await stored();
  for (const [via, send] of [["proxy", "proxy"], ["middleware", "middleware"]] as const) {
    await t.step(`leak_guard: block, through the ${via}: every attempt is refused`, async () => {
      const lines: string[] = [];
      await using proxy = await startProxy(profile("block"), {
        upstream: mlflow.url,
        env,
        logWrite: (l) => lines.push(l),
      });
      await using authFetch = createAuthFetch(profile("block"), {
        env,
        logWrite: (l) => lines.push(l),
      });
      for (const a of attempts(runId, canary, via)) {
        const init = { method: "POST", headers: JSON_TYPE, body: a.body };
        const res = send === "proxy"
          ? await fetch(`${proxy.url}${a.path}`, init)
          : await authFetch(`${mlflow.url}${a.path}`, init);
        const text = await res.text();
        assertEquals(res.status, 400, `${a.name}: ${text}`);
        assertStringIncludes(text, "Request refused by the leak guard", a.name);
        assert(!text.includes(canary), `${a.name}: the answer holds the canary`);
      }
      assertEquals(await stored(), before);
      // The query attempt never reached the server's access log.
      assert(!mlflow.tail().includes(`step=${via}`), "the query reached the server");
      assert(!lines.join("\n").includes(canary), "the canary is in a log line");
    });
  }
});
