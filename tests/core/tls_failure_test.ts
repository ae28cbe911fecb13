/**
 * `tlsFailure()` and `clientCertificateAnswer()` on what real servers say: OpenSSL's `s_server`
 * checking client certificates in the handshake (`-Verify 1 -verify_return_error`, as Envoy or Go
 * do), and nginx with `ssl_verify_client on`, which completes the handshake and answers 400.
 */

import {
  clientCertificateAnswer,
  describeTlsFailure,
  tlsFailure,
} from "../../core/_tls_failure.ts";
import { issueTestCertificates } from "../_tls.ts";
import { freePort } from "../_peers/_process.ts";
import { startTlsNginx } from "../_peers/nginx.ts";
import { assertEquals, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";

type ClientOptions = Parameters<typeof Deno.createHttpClient>[0];

async function failureOf(url: string, options: ClientOptions) {
  const client = Deno.createHttpClient(options);
  try {
    const r = await fetch(url, { client });
    await r.body?.cancel();
    return `answered ${r.status}`;
  } catch (error) {
    return tlsFailure(error);
  } finally {
    client.close();
  }
}

Deno.test("tlsFailure() tells an untrusted server from a refused client certificate, on OpenSSL's s_server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "msa-tls-failure-" });
  const otherDir = await Deno.makeTempDir({ prefix: "msa-tls-failure-other-" });
  const port = freePort();
  let server: Deno.ChildProcess | undefined;
  try {
    const pki = await issueTestCertificates({ client: true, dir });
    const other = await issueTestCertificates({ client: true, dir: otherDir });
    server = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-accept",
        `127.0.0.1:${port}`,
        "-cert",
        pki.files.cert,
        "-key",
        pki.files.key,
        "-CAfile",
        pki.files.ca,
        "-Verify",
        "1",
        "-verify_return_error",
        "-www",
        "-quiet",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0;; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const url = `https://127.0.0.1:${port}/`;
    const untrusted = await failureOf(url, {});
    assertEquals(typeof untrusted === "object" && untrusted?.kind, "untrusted");
    const required = await failureOf(url, { caCerts: [pki.ca] });
    assertEquals(required, {
      kind: "client-certificate-required",
      detail: "received fatal alert: CertificateRequired",
    });
    const refused = await failureOf(url, {
      caCerts: [pki.ca],
      cert: other.client.cert,
      key: other.client.key,
    });
    assertEquals(typeof refused === "object" && refused?.kind, "client-certificate-refused");
    assertEquals(
      await failureOf(url, { caCerts: [pki.ca], cert: pki.client.cert, key: pki.client.key }),
      "answered 200",
    );
  } finally {
    server?.kill();
    await server?.status;
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(otherDir, { recursive: true });
  }
});

Deno.test("clientCertificateAnswer() recognises nginx's 400 pages for a missing and a foreign client certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "msa-tls-answer-" });
  const otherDir = await Deno.makeTempDir({ prefix: "msa-tls-answer-other-" });
  await using upstream = await startServer(() => new Response("ok"));
  try {
    const pki = await issueTestCertificates({ client: true, dir });
    const other = await issueTestCertificates({ client: true, dir: otherDir });
    await using nginx = await startTlsNginx({
      upstream: upstream.origin,
      cert: pki.files.cert,
      key: pki.files.key,
      clientCa: pki.files.ca,
    });
    const answer = async (options: ClientOptions) => {
      const client = Deno.createHttpClient({ caCerts: [pki.ca], ...options });
      try {
        const r = await fetch(nginx.url, { client });
        return clientCertificateAnswer(r.status, await r.text());
      } finally {
        client.close();
      }
    };
    const missing = await answer({});
    assertEquals(missing?.kind, "client-certificate-required");
    assertStringIncludes(describeTlsFailure(missing!), "demands a client certificate");
    assertEquals(
      (await answer({ cert: other.client.cert, key: other.client.key }))?.kind,
      "client-certificate-refused",
    );
    assertEquals(await answer({ cert: pki.client.cert, key: pki.client.key }), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(otherDir, { recursive: true });
  }
});
