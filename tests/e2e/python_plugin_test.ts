/**
 * Side by side with the Python plugin this project replaces (`mlflow-secrets-auth[vault]` 0.2.0
 * from PyPI, in the project's `.venv`), on one real stack: OpenBao holding the MLflow token,
 * nginx demanding `Authorization: Bearer <token>`, a real MLflow server behind it.
 *
 * - The same unmodified training script succeeds under the plugin (its environment variables)
 *   and under `exec` with the profile `init --from-env` built from exactly those variables; each
 *   reads the secret from OpenBao once (counted by OpenBao's audit log).
 * - The plugin's allowlist does not hold: with `MLFLOW_SECRETS_ALLOWED_HOSTS=127.0.0.1` it still
 *   sends the token to a server on 127.0.0.2 (MLflow calls its `get_auth()`, which never sees a
 *   URL). `exec` refuses that server: exit 2, nothing sent.
 * - The plugin fails open: with a wrong Vault token its requests go out without credentials.
 *   `exec` refuses: exit 1, nothing sent, and says the token was refused.
 */

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { MLFLOW_QUIET_ENV, PYTHON, startMlflow } from "../_peers/mlflow.ts";
import { peerEnv } from "../_peers/_process.ts";
import { startNginx } from "../_peers/nginx.ts";
import { type OpenBao, startOpenBao } from "../_peers/openbao.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;
const TRAIN = `${ROOT}examples/train.py`;
const SECRET_PATH = "secret/data/mlflow/auth";
/** A job that makes one tracking call. */
const ONE_CALL = "import mlflow; print(len(mlflow.search_experiments()))";

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a process with nothing of this machine's environment (`peerEnv`: PATH, the caches, a HOME of
 * its own), the quiet MLflow variables and `env`.
 */
async function runClean(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<Outcome> {
  const out = await new Deno.Command(command, {
    args: [...args],
    clearEnv: true,
    env: peerEnv({ ...MLFLOW_QUIET_ENV, ...env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Secret reads OpenBao answered without error. */
async function secretReads(bao: OpenBao): Promise<number> {
  return (await bao.audit()).filter((e) =>
    e.type === "response" && e.operation === "read" && e.path === SECRET_PATH && e.error === ""
  ).length;
}

/** A server on a loopback address that records the Authorization header of every request. */
function recorder(hostname: string): {
  readonly url: string;
  readonly authorization: (string | null)[];
  close(): Promise<void>;
} {
  const authorization: (string | null)[] = [];
  const server = Deno.serve({ hostname, port: 0, onListen: () => {} }, async (req) => {
    authorization.push(req.headers.get("authorization"));
    await req.body?.cancel();
    return Response.json({ experiments: [] });
  });
  return {
    url: `http://${hostname}:${server.addr.port}`,
    authorization,
    close: () => server.shutdown(),
  };
}

Deno.test("the Python plugin and exec on one OpenBao + nginx + MLflow: same job, and exec refuses what the plugin lets through", async (t) => {
  const bearerToken = `tok-${crypto.randomUUID()}`;
  const work = await Deno.makeTempDir({ prefix: "msa-e2e-plugin-" });
  const [bao, mlflow] = await Promise.all([
    startOpenBao({
      audit: true,
      async seed(b) {
        await b.kvPut("secret", "mlflow/auth", { token: bearerToken });
        await b.writePolicy("mlflow-reader", `path "${SECRET_PATH}" { capabilities = ["read"] }`);
      },
    }),
    startMlflow({ parentDir: work }),
  ]);
  const nginx = await startNginx({ upstream: mlflow.url, bearerToken, apiKey: "unused-key" });
  const elsewhere = recorder("127.0.0.2");
  const failOpen = recorder("127.0.0.1");
  try {
    const vaultToken = await bao.createToken(["mlflow-reader"]);
    /** The plugin's variables, as its README has them. */
    const plugin = (trackingUri: string, token = vaultToken): Record<string, string> => ({
      MLFLOW_TRACKING_URI: trackingUri,
      MLFLOW_TRACKING_AUTH: "mlflow_secrets_auth",
      MLFLOW_SECRETS_AUTH_ENABLE: "vault",
      MLFLOW_SECRETS_ALLOWED_HOSTS: "127.0.0.1",
      VAULT_ADDR: bao.address,
      VAULT_TOKEN: token,
      MLFLOW_VAULT_SECRET_PATH: SECRET_PATH,
    });
    /** `init --from-env` on exactly these variables; the profile's path. */
    const fromEnv = async (vars: Record<string, string>, name: string): Promise<string> => {
      const path = `${work}/${name}.yaml`;
      const r = await runClean(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "init",
        "--from-env",
        "--profile",
        path,
      ], vars);
      assertEquals(r.code, 0, r.stderr);
      return path;
    };
    /** The job under `exec`; the plugin itself is not asked for (MLFLOW_TRACKING_AUTH unset). */
    const underExec = (
      profile: string,
      vars: Record<string, string>,
      job: readonly string[],
    ): Promise<Outcome> => {
      const { MLFLOW_TRACKING_AUTH: _, ...rest } = vars;
      return runClean(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "exec",
        "--profile",
        profile,
        "--",
        PYTHON,
        ...job,
      ], rest);
    };

    await t.step("without credentials nginx refuses the job", async () => {
      const r = await runClean(PYTHON, ["-c", ONE_CALL], {
        MLFLOW_TRACKING_URI: nginx.bearerUrl,
      });
      assert(r.code !== 0, "the job ran without credentials");
      assertStringIncludes(r.stderr, "UNAUTHENTICATED: Bearer token required");
    });

    let profile = "";
    await t.step("the same unmodified job succeeds under the plugin and under exec", async () => {
      const before = await secretReads(bao);
      const withPlugin = await runClean(
        PYTHON,
        [TRAIN, "side-by-side-plugin", "3"],
        plugin(nginx.bearerUrl),
      );
      assertEquals(withPlugin.code, 0, withPlugin.stderr.slice(-3000));
      const afterPlugin = await secretReads(bao);
      assertEquals(afterPlugin - before, 1, "the plugin reads the secret once");

      profile = await fromEnv(plugin(nginx.bearerUrl), "from-env");
      const withExec = await underExec(profile, plugin(nginx.bearerUrl), [
        TRAIN,
        "side-by-side-exec",
        "3",
      ]);
      assertEquals(withExec.code, 0, withExec.stderr.slice(-3000));
      assertEquals(await secretReads(bao) - afterPlugin, 1, "exec reads the secret once");
      for (const r of [withPlugin, withExec]) {
        const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        assertEquals(summary.artifact_bytes, 5 * 1024 * 1024);
        assert(!(r.stdout + r.stderr).includes(bearerToken), "the token was printed");
      }
    });

    await t.step("the plugin sends the token outside its allowlist; exec refuses", async () => {
      const vars = plugin(elsewhere.url);
      const withPlugin = await runClean(PYTHON, ["-c", ONE_CALL], vars);
      assertEquals(withPlugin.code, 0, withPlugin.stderr.slice(-3000));
      assert(elsewhere.authorization.length > 0, "the plugin's job made no request");
      assert(
        elsewhere.authorization.every((h) => h === `Bearer ${bearerToken}`),
        "the plugin did not send the token to 127.0.0.2",
      );
      const seen = elsewhere.authorization.length;

      const withExec = await underExec(profile, vars, ["-c", ONE_CALL]);
      assertEquals(withExec.code, 2, withExec.stderr);
      assertStringIncludes(withExec.stderr, elsewhere.url);
      assertEquals(elsewhere.authorization.length, seen, "exec sent a request to 127.0.0.2");
    });

    await t.step("with a wrong Vault token the plugin fails open; exec refuses", async () => {
      const vars = plugin(failOpen.url, `s.wrong-${crypto.randomUUID()}`);
      const withPlugin = await runClean(PYTHON, ["-c", ONE_CALL], vars);
      assertEquals(withPlugin.code, 0, withPlugin.stderr.slice(-3000));
      assert(failOpen.authorization.length > 0, "the plugin's job made no request");
      assert(
        failOpen.authorization.every((h) => h === null),
        "the plugin's requests carried credentials",
      );
      const seen = failOpen.authorization.length;

      const withExec = await underExec(await fromEnv(vars, "wrong-token"), vars, ["-c", ONE_CALL]);
      assertEquals(withExec.code, 1, withExec.stderr);
      assertStringIncludes(withExec.stderr, "Vault refused the token");
      assertEquals(failOpen.authorization.length, seen, "exec sent a request");
      assert(!withExec.stderr.includes(vars.VAULT_TOKEN!), "the Vault token was printed");
    });
  } finally {
    await Promise.all([
      elsewhere.close(),
      failOpen.close(),
      nginx.close(),
      mlflow.close(),
      bao.close(),
    ]);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
