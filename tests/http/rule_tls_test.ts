/**
 * A host rule's `tls:` settings in the middleware and the proxy, against nginx serving HTTPS
 * with a certificate from a private CA made here and `ssl_verify_client on`, in front of a small
 * upstream. Without the CA the server is not trusted; without a client certificate (or with one
 * from another CA) nginx refuses the request and the upstream never sees it; with the rule's
 * files the request goes through. A missing or unusable file is a profile error at the
 * setting's line and column, raised before the secret is read. The token never shows up in a
 * message or a log line.
 */

import { createAuthFetch, parseProfile } from "../../mod.ts";
import { startProxy } from "../../http/proxy.ts";
import { ProfileError } from "../../core/errors.ts";
import { startTlsNginx, type TlsNginxServer } from "../_peers/nginx.ts";
import { issueTestCertificates, type TestCertificates } from "../_tls.ts";
import {
  assert,
  assertEquals,
  assertNoCanary,
  assertRejects,
  assertStringIncludes,
} from "../_assert.ts";
import { startServer } from "../_servers.ts";

const CANARY = "canary-91d4c2e7";
const TOKEN = `tok-${CANARY}`;

interface Stack {
  readonly nginx: TlsNginxServer;
  readonly pki: TestCertificates & { files: { ca: string; client: { cert: string; key: string } } };
  readonly other: { files: { client: { cert: string; key: string } } };
  readonly dir: string;
  /** A profile with one rule for nginx; `tls` is the rule's tls block (flow YAML) or "". */
  profile(tls: string): ReturnType<typeof parseProfile>;
}

async function withStack(run: (s: Stack) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "msa-rule-tls-" });
  const otherDir = await Deno.makeTempDir({ prefix: "msa-rule-tls-other-" });
  await using upstream = await startServer(() => Response.json({ experiments: [] }));
  try {
    const pki = await issueTestCertificates({ client: true, dir });
    const other = await issueTestCertificates({ client: true, dir: otherDir });
    await using nginx = await startTlsNginx({
      upstream: upstream.origin,
      cert: pki.files.cert,
      key: pki.files.key,
      clientCa: pki.files.ca,
      bearerToken: TOKEN,
    });
    await run({
      nginx,
      pki,
      other,
      dir,
      profile: (tls) =>
        parseProfile(
          `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: ${nginx.url}
    provider: ci
    secret: { var: T }
    auth: bearer${tls === "" ? "" : `\n    tls: ${tls}`}
`,
          { source: "mlflow-auth.yaml", env: {} },
        ),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(otherDir, { recursive: true });
  }
}

/** The environment of the env provider, counting reads of the token. */
function countingEnv(): { env: (n: string) => string | undefined; reads: () => number } {
  let reads = 0;
  return {
    env: (n) => {
      if (n !== "T") return undefined;
      reads++;
      return TOKEN;
    },
    reads: () => reads,
  };
}

const API = "/api/2.0/mlflow/experiments/search?max_results=1";

Deno.test("createAuthFetch() sends a rule's requests with its tls: CA and client certificate", async (t) => {
  await withStack(async (s) => {
    const lines: string[] = [];
    const call = async (tls: string): Promise<Response | Error> => {
      const { env } = countingEnv();
      await using authFetch = createAuthFetch(s.profile(tls), {
        env,
        logWrite: (l) => lines.push(l),
      });
      try {
        return await authFetch(`${s.nginx.url}${API}`);
      } catch (error) {
        assertNoCanary(error, CANARY);
        return error as Error;
      }
    };

    await t.step("no tls: the private CA is not trusted, nothing is sent", async () => {
      const r = await call("");
      assert(r instanceof TypeError, `expected a TLS error, got ${String(r)}`);
      assertStringIncludes(String(r.cause ?? r.message), "UnknownIssuer");
      assertEquals(await s.nginx.forwarded(), []);
    });

    await t.step("the CA only: nginx refuses for want of a client certificate", async () => {
      const r = await call(`{ ca_cert: ${s.pki.files.ca} }`);
      assert(r instanceof Response);
      assertEquals(r.status, 400);
      assertStringIncludes(await r.text(), "No required SSL certificate was sent");
      assertEquals(await s.nginx.forwarded(), []);
    });

    await t.step("another CA's client certificate: nginx refuses it", async () => {
      const r = await call(
        `{ ca_cert: ${s.pki.files.ca}, client_cert: ${s.other.files.client.cert}, client_key: ${s.other.files.client.key} }`,
      );
      assert(r instanceof Response);
      assertEquals(r.status, 400);
      assertStringIncludes(await r.text(), "The SSL certificate error");
      assertEquals(await s.nginx.forwarded(), []);
    });

    await t.step(
      "the rule's CA and client certificate: the request reaches the server",
      async () => {
        const r = await call(
          `{ ca_cert: ${s.pki.files.ca}, client_cert: ${s.pki.files.client.cert}, client_key: ${s.pki.files.client.key} }`,
        );
        assert(r instanceof Response);
        assertEquals(r.status, 200, "nginx accepted the client certificate and the bearer token");
        assertEquals(await r.json(), { experiments: [] });
        assertEquals(await s.nginx.forwarded(1), [`GET ${API} 200`]);
      },
    );

    await t.step("one file holding certificate and key serves as both (MLflow's way)", async () => {
      const combined = `${s.dir}/combined.pem`;
      await Deno.writeTextFile(
        combined,
        `${await Deno.readTextFile(s.pki.files.client.cert)}${await Deno.readTextFile(
          s.pki.files.client.key,
        )}`,
      );
      const r = await call(
        `{ ca_cert: ${s.pki.files.ca}, client_cert: ${combined}, client_key: ${combined} }`,
      );
      assert(r instanceof Response);
      assertEquals(r.status, 200);
      await r.body?.cancel();
    });
    assertNoCanary(lines.join("\n"), CANARY);
  });
});

Deno.test("createAuthFetch() refuses a missing or unusable tls file at its line and column, before the secret is read", async () => {
  await withStack(async (s) => {
    const attempt = async (tls: string) => {
      const counted = countingEnv();
      await using authFetch = createAuthFetch(s.profile(tls), {
        env: counted.env,
        logWrite: () => {},
      });
      const error = await assertRejects(() => authFetch(`${s.nginx.url}${API}`), ProfileError);
      assertEquals(counted.reads(), 0, "the secret was read although nothing could be sent");
      assertNoCanary(error, CANARY);
      return error;
    };
    const missing = await attempt(`{ ca_cert: ${s.dir}/nope.pem }`);
    assertStringIncludes(missing.message, "mlflow-auth.yaml:8:21 at /hosts/0/tls/ca_cert");
    assertStringIncludes(missing.message, `file "${s.dir}/nope.pem" (tls.ca_cert) does not exist`);

    const swapped = await attempt(
      `{ ca_cert: ${s.pki.files.client.key}, client_cert: ${s.pki.files.client.key}, client_key: ${s.pki.files.client.cert} }`,
    );
    assertEquals(swapped.issues.map((i) => i.pointer), [
      "/hosts/0/tls/ca_cert",
      "/hosts/0/tls/client_cert",
      "/hosts/0/tls/client_key",
    ]);
    assertStringIncludes(swapped.message, "holds no PEM certificate");
    assertStringIncludes(swapped.message, "holds no PEM private key");

    const foreignKey = await attempt(
      `{ client_cert: ${s.pki.files.client.cert}, client_key: ${s.other.files.client.key} }`,
    );
    assertEquals(foreignKey.issues.map((i) => i.pointer), ["/hosts/0/tls/client_key"]);
    assertStringIncludes(foreignKey.message, "is not the key of");
    assertNoCanary(foreignKey.message, "PRIVATE KEY");
    assertEquals(await s.nginx.forwarded(), []);
  });
});

Deno.test("startProxy() forwards to an https upstream with the rule's tls: settings and says which side refused", async (t) => {
  await withStack(async (s) => {
    const lines: string[] = [];
    const proxyFor = async (tls: string) => {
      return await startProxy(s.profile(tls), {
        upstream: s.nginx.url,
        env: countingEnv().env,
        logWrite: (l) => lines.push(l),
        logLevel: "info",
      });
    };
    const mutual =
      `{ ca_cert: ${s.pki.files.ca}, client_cert: ${s.pki.files.client.cert}, client_key: ${s.pki.files.client.key} }`;

    await t.step("the rule's CA and client certificate: forwarded", async () => {
      await using proxy = await proxyFor(mutual);
      const r = await fetch(`${proxy.url}${API}`);
      assertEquals(r.status, 200);
      assertEquals(await r.json(), { experiments: [] });
      assertEquals(await s.nginx.forwarded(1), [`GET ${API} 200`]);
    });

    await t.step("no CA: 502 saying the server's certificate is not trusted", async () => {
      lines.length = 0;
      await using proxy = await proxyFor("");
      const r = await fetch(`${proxy.url}${API}`);
      assertEquals(r.status, 502);
      const body = await r.json();
      assertStringIncludes(body.message, "signed by a CA not trusted here");
      assertStringIncludes(body.message, "set tls.ca_cert on rule hosts[0]");
      assertEquals((await s.nginx.forwarded()).length, 1, "nothing more reached the upstream");
    });

    await t.step("no client certificate: nginx's 400 passes, the log says why", async () => {
      lines.length = 0;
      await using proxy = await proxyFor(`{ ca_cert: ${s.pki.files.ca} }`);
      const r = await fetch(`${proxy.url}${API}`);
      assertEquals(r.status, 400);
      assertStringIncludes(await r.text(), "No required SSL certificate was sent");
      const log = lines.join("\n");
      assertStringIncludes(log, "it demands a client certificate and none was sent");
      assertStringIncludes(log, "set tls.client_cert and tls.client_key on rule hosts[0]");
    });

    await t.step("another CA's client certificate: the log says it was refused", async () => {
      lines.length = 0;
      await using proxy = await proxyFor(
        `{ ca_cert: ${s.pki.files.ca}, client_cert: ${s.other.files.client.cert}, client_key: ${s.other.files.client.key} }`,
      );
      const r = await fetch(`${proxy.url}${API}`);
      assertEquals(r.status, 400);
      await r.body?.cancel();
      assertStringIncludes(lines.join("\n"), "it refused the client certificate");
    });

    await t.step("a missing file stops the start with its position", async () => {
      const error = await assertRejects(
        () => proxyFor(`{ ca_cert: ${s.dir}/gone.pem }`),
        ProfileError,
      );
      assertStringIncludes(error.message, "mlflow-auth.yaml:8:21 at /hosts/0/tls/ca_cert");
    });
    assertEquals((await s.nginx.forwarded()).length, 1);
    assertNoCanary(lines.join("\n"), CANARY);
  });
});
