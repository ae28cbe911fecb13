/**
 * Local test servers: Deno.serve on 127.0.0.1, port 0, recording what they receive.
 */

/** One received request. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly body: string;
}

/** A running server. */
export interface TestServer extends AsyncDisposable {
  readonly origin: string;
  readonly port: number;
  readonly received: Received[];
  close(): Promise<void>;
}

/**
 * Starts a server whose handler sees the request and its body text.
 *
 * @param handler Answers a request.
 * @param tls Optional certificate and key (PEM) for https.
 */
export async function startServer(
  handler: (req: Request, body: string, received: Received[]) => Response | Promise<Response>,
  tls?: { cert: string; key: string },
): Promise<TestServer> {
  const received: Received[] = [];
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
    ...(tls ? { cert: tls.cert, key: tls.key } : {}),
  }, async (req) => {
    const body = req.body ? await req.text() : "";
    received.push({ method: req.method, url: req.url, headers: new Headers(req.headers), body });
    return handler(req, body, received);
  });
  const addr = await listening;
  const close = async () => {
    await server.shutdown();
  };
  return {
    origin: `${tls ? "https" : "http"}://127.0.0.1:${addr.port}`,
    port: addr.port,
    received,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A private CA and a certificate it signed for 127.0.0.1 and localhost, made with openssl, in
 * PEM. Trust `ca` to accept `cert`.
 */
export async function selfSignedCert(): Promise<{ ca: string; cert: string; key: string }> {
  const dir = await Deno.makeTempDir();
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!out.success) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  };
  try {
    await run([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=test-ca",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
    ]);
    await run([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-keyout",
      "key.pem",
      "-out",
      "req.csr",
    ]);
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    );
    await run([
      "x509",
      "-req",
      "-in",
      "req.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
      "-out",
      "cert.pem",
    ]);
    return {
      ca: await Deno.readTextFile(`${dir}/ca.pem`),
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
