/**
 * `compile`: where a compile runtime (denort) can be had, the executable serves `proxy` inside a
 * network namespace with no network, with nothing else installed; where none can be had, the
 * command fails at once with a message naming DENORT_BIN and the bundle route.
 */

import { main } from "../../cli.ts";
import { formatBytes } from "../../cli/_artifact.ts";
import { type CompileReport, findCompileRuntime, runCompile } from "../../cli/compile.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { DENO_DIR } from "../_deno_dir.ts";
import { runAirgapped } from "./_airgap.ts";
import { captureIo, ENV_PROFILE, run, tempFile } from "./_build.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

/** A runtime available without touching the network: DENORT_BIN (a real denort) or the cache. */
const runtime = await findCompileRuntime(Deno.build.target, (n) => Deno.env.get(n), {
  fetch: () => Promise.reject(new TypeError("no network in tests")),
}).catch((e: Error) => e);

Deno.test("main() compile fails at once without a runtime, naming DENORT_BIN and the bundle route", async () => {
  // The real command, on a host with no network (a namespace with only loopback) and a cache
  // that holds the npm packages but no compile runtime: exactly what an air-gapped build
  // machine sees.
  const { dir, path } = await tempFile("p.yaml", ENV_PROFILE);
  const denoDir = await Deno.makeTempDir({ prefix: "msa-empty-deno-dir-" });
  await Deno.symlink(`${DENO_DIR}/npm`, `${denoDir}/npm`);
  try {
    const output = `${dir}/dist/mlflow-auth`;
    const root = Deno.uid() === 0;
    const result = await run("unshare", [
      ...(root ? ["-n"] : ["-r", "-n"]),
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      `${ROOT}cli.ts`,
      "compile",
      "--profile",
      path,
      "-o",
      output,
    ], {
      cwd: ROOT,
      env: {
        DENO_DIR: denoDir,
        TRACKING_PORT: "1",
        NO_COLOR: "1",
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      },
    });
    console.log(`compile without a runtime gave up after ${result.ms} ms (process start included)`);
    assertEquals(result.code, 1, result.stderr);
    assertStringIncludes(result.stderr, "Cannot compile: the Deno runtime");
    assertStringIncludes(result.stderr, "denort-");
    assertStringIncludes(result.stderr, "DENORT_BIN");
    // The bundle command is shown the way this user runs the program (deno run, not installed).
    assertStringIncludes(result.stderr, `deno run -A cli.ts bundle --profile ${path}`);
    assertEquals(await exists(output), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});

Deno.test("runCompile() stops probing a download host that never answers, after the probe timeout", async () => {
  // A loopback server that accepts connections and never says a word.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const { dir, path } = await tempFile("p.yaml", ENV_PROFILE);
  const denoDir = await Deno.makeTempDir({ prefix: "msa-empty-deno-dir-" });
  try {
    const { port } = listener.addr as Deno.NetAddr;
    const { io, err } = captureIo({ TRACKING_PORT: "1", DENO_DIR: denoDir });
    const code = await runCompile({
      profile: path,
      output: `${dir}/out`,
      runtime: { url: `https://127.0.0.1:${port}/denort.zip`, timeoutMs: 300 },
    }, io);
    assertEquals(code, 1);
    const message = err.join("");
    assertStringIncludes(message, "did not answer within 300 ms");
    assertStringIncludes(message, "set DENORT_BIN");
    assertStringIncludes(message, "build a bundle instead");
    assert(held.length >= 1, "the probe never connected");
    assertEquals(await exists(`${dir}/out`), false);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});

Deno.test("main() compile refuses a DENORT_BIN that is the deno command line", async () => {
  const { dir, path } = await tempFile("p.yaml", ENV_PROFILE);
  try {
    const { io, err } = captureIo({ TRACKING_PORT: "1", DENORT_BIN: Deno.execPath() });
    const code = await main(["compile", "--profile", path, "-o", `${dir}/out`], io);
    assertEquals(code, 1);
    assertStringIncludes(err.join(""), "is the deno command line, not the denort runtime");
    assertEquals(await exists(`${dir}/out`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "main() compile builds an executable that serves proxy with no network, no deno and baked-in permissions",
  ignore: runtime instanceof Error,
  fn: async () => {
    const { dir, path } = await tempFile("p.yaml", ENV_PROFILE);
    try {
      const output = `${dir}/dist/mlflow-auth`;
      const { io, out, err } = captureIo({ TRACKING_PORT: "1", ...Deno.env.toObject() });
      const code = await main(
        ["compile", "--profile", path, "-o", output, "--listen", "127.0.0.1", "--json"],
        io,
      );
      assertEquals(code, 0, err.join(""));
      const report = JSON.parse(out.join("")) as CompileReport;
      console.log(
        `compiled: ${formatBytes(report.bytes)} (bundle ${
          formatBytes(report.bundleBytes)
        }), runtime from ${report.runtime}`,
      );
      const result = await runAirgapped({
        files: [output],
        command: [
          "{dir}/mlflow-auth",
          "proxy",
          "--upstream",
          "http://127.0.0.1:{tracking_port}",
          "--listen",
          "127.0.0.1:{proxy_port}",
        ],
        env: { TRACKING_PORT: "{tracking_port}", MLFLOW_TOKEN: "tok-airgap-compiled" },
        paths: ["/api/2.0/mlflow/experiments/search?max_results=1"],
        header: "authorization",
      });
      console.log(`compiled proxy start-up (spawn to listening): ${result.startupMs} ms`);
      assertEquals(result.interfaces, ["lo"]);
      assertEquals(result.routes, []);
      assertEquals(result.dirBefore, ["mlflow-auth"]);
      assert(result.started, `the proxy did not start:\n${result.output.join("\n")}`);
      assertEquals(result.responses.map((r) => r.status), [200], JSON.stringify(result));
      assertEquals(result.received.map((r) => r.authorization), ["Bearer tok-airgap-compiled"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

if (runtime instanceof Error) {
  console.log(
    `compile test: no compile runtime without network here, so the executable scenario is ignored and the fast failure is checked (${
      runtime.message.slice(0, 120)
    }…)`,
  );
}
