/**
 * The leak guard against a job that tries to get the secret past it to a real MLflow server:
 * paths the server decodes (`%61pi`, `%2F`, `2%2E0`), doubled slashes (MLflow answers 308 and
 * the client sends the body again), `NaN` / `Infinity` (Python's JSON takes them, `JSON.parse`
 * does not) beside a secret written with `\u` escapes, and the secret in the query string (the
 * server writes it to its access log). With `leak_guard: off` each of them stores the value or
 * logs it, which proves the attempts are real; with the guard on, through the proxy and through
 * the middleware, each is answered 400 and the value is neither in the run nor in the server's log.
 * Also an OpenTelemetry trace whose attribute is bytes (`bytesValue`, base64 of a byte and the
 * secret): MLflow decodes it and stores the bytes in clear.
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
  readonly headers?: Record<string, string>;
}

/** An OTLP/JSON trace export whose one attribute is bytes: a byte, then the secret. */
function otlpBytes(experimentId: string, canary: string): Attempt {
  const hex = (n: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
  const now = BigInt(Date.now()) * 1_000_000n;
  // Base64 of "x" + secret: none of the secret's own forms appears in it.
  const bytes = btoa(`x${canary}`);
  return {
    name: "otlp-bytes",
    path: "/v1/traces",
    headers: { "x-mlflow-experiment-id": experimentId },
    body: JSON.stringify({
      resourceSpans: [{
        resource: { attributes: [] },
        scopeSpans: [{
          scope: { name: "job" },
          spans: [{
            traceId: hex(16),
            spanId: hex(8),
            name: "root",
            kind: 1,
            startTimeUnixNano: String(now),
            endTimeUnixNano: String(now + 1000n),
            attributes: [{ key: "blob", value: { bytesValue: bytes } }],
            status: {},
          }],
        }],
      }],
    }),
  };
}

/** Every file under a directory whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const wanted = new TextEncoder().encode(needle);
  const walk = async (path: string): Promise<void> => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else if (entry.isFile && indexOfBytes(await Deno.readFile(full), wanted) >= 0) {
        found.push(full);
      }
    }
  };
  await walk(dir);
  return found;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function attempts(
  runId: string,
  experimentId: string,
  canary: string,
  tag: string,
): Attempt[] {
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
    otlpBytes(experimentId, canary),
  ];
}

Deno.test("leak guard: encoded paths, doubled slashes, NaN beside \\u escapes, the query string and trace bytes do not get the secret to MLflow", async (t) => {
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

  const experimentId: string = experiment.experiment_id;
  const send = (base: string, a: Attempt, via: typeof fetch = fetch) =>
    via(`${base}${a.path}`, {
      method: "POST",
      headers: { ...JSON_TYPE, ...a.headers },
      body: a.body,
    });

  for (const via of ["proxy", "middleware"] as const) {
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
      for (const a of attempts(runId, experimentId, canary, via)) {
        const res = via === "proxy"
          ? await send(proxy.url, a)
          : await send(mlflow.url, a, authFetch);
        const text = await res.text();
        assertEquals(res.status, 400, `${a.name}: ${text}`);
        assertStringIncludes(text, "Request refused by the leak guard", a.name);
        assert(!text.includes(canary), `${a.name}: the answer holds the canary`);
      }
      assertEquals(await stored(), []);
      // Nothing reached the store or the server's access log.
      assertEquals(await filesContaining(mlflow.dir, canary), []);
      assert(!mlflow.tail().includes(`step=${via}`), "the query reached the server");
      assert(!lines.join("\n").includes(canary), "the canary is in a log line");
    });
  }

  // The same attempts with the guard off: each one stores the secret or logs it, so the
  // refusals above are refusals of real leaks.
  await t.step("leak_guard: off: every attempt stores the secret or logs it", async () => {
    await using proxy = await startProxy(profile("off"), {
      upstream: mlflow.url,
      env,
      logWrite: () => {},
    });
    for (const a of attempts(runId, experimentId, canary, "off")) {
      // Python's requests follows MLflow's 308 with the body, as fetch does.
      const res = await send(proxy.url, a);
      assertEquals(res.status, 200, `${a.name}: ${await res.text()}`);
    }
    assertEquals(
      await stored(),
      ["off-inf", "off-nan", "off-pct-api", "off-pct-dot", "off-pct-slash", "off-slashes"],
    );
    assert(mlflow.tail().includes("step=off"), "the query is not in the log");
    // The trace's bytes attribute is stored in clear (MLflow keeps the bytes' repr).
    assert((await filesContaining(mlflow.dir, canary)).length > 0, "the store check is blind");
  });
});
