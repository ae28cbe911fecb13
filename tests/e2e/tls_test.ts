/**
 * TLS to the tracking server, end to end: a real MLflow server behind nginx serving HTTPS with a
 * certificate from a private CA made here, `ssl_verify_client on` and a bearer token check. The
 * unmodified Python MLflow job runs under `exec` only with the client certificate, from the
 * rule's `tls:` block or from MLflow's own `MLFLOW_TRACKING_SERVER_CERT_PATH` and
 * `MLFLOW_TRACKING_CLIENT_CERT_PATH`; the child sees neither variable (it talks plain http to the
 * proxy). The `proxy` command honours the variables too, and `doctor` calls the server through the
 * same client and says which side of TLS failed. The token never appears in any output.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { PYTHON, run, startMlflow } from "../_peers/mlflow.ts";
import { startTlsNginx } from "../_peers/nginx.ts";
import { issueTestCertificates } from "../_tls.ts";
import { startProxyProcess } from "./_proxy_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const TRAIN = `${ROOT}examples/train.py`;
const MiB = 1024 * 1024;

Deno.test("exec, proxy and doctor reach an MLflow server behind nginx with ssl_verify_client on", async (t) => {
  const token = `tok-${crypto.randomUUID()}`;
  const work = await Deno.makeTempDir({ prefix: "msa-e2e-tls-" });
  await using mlflow = await startMlflow();
  try {
    const pki = await issueTestCertificates({ client: true, dir: work });
    await using nginx = await startTlsNginx({
      upstream: mlflow.url,
      cert: pki.files.cert,
      key: pki.files.key,
      clientCa: pki.files.ca,
      bearerToken: token,
    });
    const combined = `${work}/mlflow-client.pem`;
    await Deno.writeTextFile(combined, `${pki.client.cert}${pki.client.key}`, { mode: 0o600 });
    const profileWith = async (name: string, tls: string) => {
      const path = `${work}/${name}.yaml`;
      await Deno.writeTextFile(
        path,
        `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: ${nginx.url}
    provider: ci
    secret: { var: MLFLOW_E2E_TOKEN }
    auth: bearer${tls === "" ? "" : `\n    tls: ${tls}`}
`,
      );
      return path;
    };
    const full = await profileWith(
      "full",
      `{ ca_cert: ${pki.files.ca}, client_cert: ${pki.files.client.cert}, client_key: ${pki.files.client.key} }`,
    );
    const caOnly = await profileWith("ca-only", `{ ca_cert: ${pki.files.ca} }`);
    const bare = await profileWith("bare", "");
    const env = { MLFLOW_E2E_TOKEN: token, MLFLOW_TRACKING_URI: nginx.url };
    const mlflowTls = {
      MLFLOW_TRACKING_SERVER_CERT_PATH: pki.files.ca,
      MLFLOW_TRACKING_CLIENT_CERT_PATH: combined,
    };
    const cli = (args: readonly string[], extra: Record<string, string> = {}) =>
      run(Deno.execPath(), ["run", "-A", CLI, ...args], { ...env, ...extra });
    const noToken = (r: { stdout: string; stderr: string }) =>
      assert(!r.stdout.includes(token) && !r.stderr.includes(token), "the token was printed");

    await t.step(
      "exec without a client certificate: nginx refuses, exec's log says why",
      async () => {
        const r = await cli([
          "exec",
          "--profile",
          caOnly,
          "--log-level",
          "warn",
          "--",
          PYTHON,
          TRAIN,
          "e2e-tls-refused",
          "1",
        ]);
        assert(r.code !== 0, "the job succeeded without a client certificate");
        assertStringIncludes(r.stderr, "it demands a client certificate and none was sent");
        assertStringIncludes(r.stderr, "set tls.client_cert and tls.client_key on rule hosts[0]");
        assertEquals(await nginx.forwarded(), [], "nothing reached MLflow");
        noToken(r);
      },
    );

    await t.step("exec with the rule's tls block: the unmodified job runs", async () => {
      const r = await cli(["exec", "--profile", full, "--", PYTHON, TRAIN, "e2e-tls-profile", "2"]);
      assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assertEquals(summary.artifact_bytes, 5 * MiB);
      assert((await nginx.forwarded(1)).some((l) => l.includes("/runs/create 200")));
      noToken(r);
    });

    await t.step("exec with MLflow's own TLS variables and a bare rule: the job runs", async () => {
      const r = await cli(
        ["exec", "--profile", bare, "--", PYTHON, TRAIN, "e2e-tls-mlflow-vars", "2"],
        mlflowTls,
      );
      assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
      noToken(r);
    });

    await t.step(
      "the child of exec sees neither TLS variable, and a plain-http tracking URI",
      async () => {
        const script = "import os, json; print(json.dumps({k: os.environ.get(k) for k in " +
          '["MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_CLIENT_CERT_PATH"]}))';
        const r = await cli(
          ["exec", "--profile", bare, "--log-level", "info", "--", PYTHON, "-c", script],
          mlflowTls,
        );
        assertEquals(r.code, 0, r.stderr);
        const seen = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        assert(String(seen.MLFLOW_TRACKING_URI).startsWith("http://127.0.0.1:"));
        assertEquals(seen.MLFLOW_TRACKING_SERVER_CERT_PATH, null);
        assertEquals(seen.MLFLOW_TRACKING_CLIENT_CERT_PATH, null);
        assertStringIncludes(r.stderr, "using MLFLOW_TRACKING_SERVER_CERT_PATH as tls.ca_cert");
        assertStringIncludes(
          r.stderr,
          "removed MLflow's TLS variables from the child's environment",
        );
      },
    );

    await t.step("the profile wins over MLflow's variables", async () => {
      // The variables point at the wrong CA's bundle and a missing file; the profile's are used.
      const r = await cli(
        [
          "exec",
          "--profile",
          full,
          "--log-level",
          "info",
          "--",
          PYTHON,
          TRAIN,
          "e2e-tls-wins",
          "1",
        ],
        {
          MLFLOW_TRACKING_SERVER_CERT_PATH: `${work}/missing-ca.pem`,
          MLFLOW_TRACKING_CLIENT_CERT_PATH: `${work}/missing-client.pem`,
        },
      );
      assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assertStringIncludes(r.stderr, "sets tls.ca_cert, and the profile wins");
    });

    await t.step("the proxy command uses MLflow's TLS variables toward its upstream", async () => {
      await using proxy = await startProxyProcess(
        ["--profile", bare, "--upstream", nginx.url],
        { ...env, ...mlflowTls },
      );
      const r = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search?max_results=5`);
      assertEquals(r.status, 200);
      const body = await r.json();
      assert(Array.isArray(body.experiments) && body.experiments.length > 0, "experiments listed");
      assert(!proxy.stderr().includes(token));
    });

    await t.step("doctor: ok with the rule's files; each TLS failure named", async () => {
      const ok = await cli(["doctor", "--profile", full]);
      assertEquals(ok.code, 0, ok.stdout);
      assertStringIncludes(ok.stdout, "live call to the tracking server: GET");
      const untrusted = await cli(["doctor", "--profile", bare]);
      assertEquals(untrusted.code, 1);
      assertStringIncludes(untrusted.stdout, "TLS server certificate");
      assertStringIncludes(untrusted.stdout, "signed by a CA not trusted here");
      assertStringIncludes(untrusted.stdout, "set tls.ca_cert on rule hosts[0]");
      const noClient = await cli(["doctor", "--profile", caOnly]);
      assertEquals(noClient.code, 1);
      assertStringIncludes(noClient.stdout, "TLS client certificate");
      assertStringIncludes(noClient.stdout, "demands a client certificate and none was sent");
      const viaVars = await cli(["doctor", "--profile", bare], mlflowTls);
      assertEquals(viaVars.code, 0, viaVars.stdout);
      for (const r of [ok, untrusted, noClient, viaVars]) noToken(r);
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
