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
