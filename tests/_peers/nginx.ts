/**
 * nginx (from Debian, installed by `scripts/setup.d/40-nginx.sh`) in front of a tracking server,
 * with a generated configuration on free loopback ports: one server block demands
 * `Authorization: Bearer <token>`, another `X-Api-Key: <key>`. Both stream bodies both ways
 * (no request or response buffering, no body size limit) and strip the credential before
 * passing the request on. {@linkcode startTlsNginx} serves HTTPS with a test CA's certificate in
 * front of any upstream, optionally demanding a client certificate (`ssl_verify_client on`) and
 * a bearer token.
 */

import { freePort, peerEnv, stopChild } from "./_process.ts";

/** Options of {@linkcode startNginx}. */
export interface StartNginxOptions {
  /** The tracking server behind nginx, `http://127.0.0.1:<port>`. */
  readonly upstream: string;
  /** The bearer token the first block accepts. Letters, digits, `-`, `_`, `.` only. */
  readonly bearerToken: string;
  /** The API key the second block accepts. Same alphabet. */
  readonly apiKey: string;
  /**
   * Write an access log to this file: one line per request with
   * `$msec $request_time $upstream_response_time $status $request_method $request_length
   * $bytes_sent $uri $upstream_header_time` (the path without the query; no header). Default: no
   * access log.
   */
  readonly accessLog?: string;
}

/** A running nginx. */
export interface NginxServer extends AsyncDisposable {
  /** The block that demands `Authorization: Bearer <token>` (401 without it). */
  readonly bearerUrl: string;
  /** The block that demands `X-Api-Key: <key>` (401 without it, 403 for a wrong one). */
  readonly apiKeyUrl: string;
  /** Stops nginx and removes its directory. */
  close(): Promise<void>;
}

/** The nginx binary, or undefined. */
export function nginxBinary(): string | undefined {
  for (const p of ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // Next.
    }
  }
  return undefined;
}

const SAFE = /^[A-Za-z0-9._-]+$/;

/**
 * Starts nginx and waits until both blocks answer.
 *
 * @param options Upstream and credentials.
 * @returns The server.
 */
export async function startNginx(options: StartNginxOptions): Promise<NginxServer> {
  for (const v of [options.bearerToken, options.apiKey]) {
    if (!SAFE.test(v)) throw new Error("nginx credentials must be [A-Za-z0-9._-]+");
  }
  const bearerPort = freePort();
  const apiKeyPort = freePort();
  const upstream = new URL(options.upstream);
  const bearerUrl = `http://127.0.0.1:${bearerPort}`;
  const apiKeyUrl = `http://127.0.0.1:${apiKeyPort}`;
  const close = await spawnNginx(
    (dir) => config(dir, upstream.host, bearerPort, apiKeyPort, options),
    async () => await answers(bearerUrl) && await answers(apiKeyUrl),
  );
  return { bearerUrl, apiKeyUrl, close, [Symbol.asyncDispose]: close };
}

/** Options of {@linkcode startTlsNginx}. */
export interface StartTlsNginxOptions {
  /** What nginx passes requests on to, `http://127.0.0.1:<port>` (MLflow, OpenBao). */
  readonly upstream: string;
  /** nginx's certificate and key, PEM files (e.g. from `issueTestCertificates({ dir })`). */
  readonly cert: string;
  /** The key of `cert`. */
  readonly key: string;
  /**
   * The CA whose client certificates are accepted (PEM file): `ssl_verify_client on`. A request
   * without a client certificate gets nginx's 400 "No required SSL certificate was sent", one
   * with a certificate from another CA its 400 "The SSL certificate error"; neither reaches the
   * upstream. Unset: no client certificate is asked for.
   */
  readonly clientCa?: string;
  /** Also demand `Authorization: Bearer <token>` (401 without it), stripped before the upstream. */
  readonly bearerToken?: string;
}

/** A running nginx serving HTTPS. */
export interface TlsNginxServer extends AsyncDisposable {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /**
   * Requests that reached the upstream, from nginx's access log: `"<method> <uri> <status>"`.
   * nginx writes a line once it has finished the request, which can be just after the client has
   * its answer: with `atLeast`, waits (up to 5 s) until that many lines are there.
   */
  forwarded(atLeast?: number): Promise<readonly string[]>;
  /** Stops nginx and removes its directory. */
  close(): Promise<void>;
}

/**
 * Starts nginx serving HTTPS on a free loopback port in front of one upstream, optionally
 * verifying client certificates (mutual TLS) and demanding a bearer token, and waits until it
 * accepts connections.
 *
 * @param options Upstream, certificates, client CA, bearer token.
 * @returns The server.
 */
export async function startTlsNginx(options: StartTlsNginxOptions): Promise<TlsNginxServer> {
  if (options.bearerToken !== undefined && !SAFE.test(options.bearerToken)) {
    throw new Error("nginx credentials must be [A-Za-z0-9._-]+");
  }
  const port = freePort();
  const upstream = new URL(options.upstream);
  let logPath = "";
  const close = await spawnNginx((dir) => {
    logPath = `${dir}/forwarded.log`;
    return tlsConfig(dir, upstream.host, port, options);
  }, () => listens(port));
  return {
    url: `https://127.0.0.1:${port}`,
    async forwarded(atLeast = 0) {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const text = await Deno.readTextFile(logPath).catch(() => "");
        const lines = text.split("\n").filter((l) => l !== "");
        if (lines.length >= atLeast || Date.now() >= deadline) return lines;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Writes the configuration `makeConfig(dir)` returns into a fresh directory, starts nginx on it
 * and waits until `ready()` holds. Returns a function that stops nginx (gracefully) and removes
 * the directory.
 */
async function spawnNginx(
  makeConfig: (dir: string) => string,
  ready: () => Promise<boolean>,
): Promise<() => Promise<void>> {
  const bin = nginxBinary();
  if (bin === undefined) {
    throw new Error('Cannot start nginx: it is not installed; run "bash scripts/setup.sh"');
  }
  const dir = await Deno.makeTempDir({ prefix: "msa-e2e-nginx-" });
  await Deno.chmod(dir, 0o755);
  await Deno.writeTextFile(`${dir}/nginx.conf`, makeConfig(dir));
  const child = new Deno.Command(bin, {
    args: ["-e", `${dir}/error.log`, "-p", dir, "-c", `${dir}/nginx.conf`],
    env: peerEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const drain = (s: ReadableStream<Uint8Array>) =>
    s.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (c) => void output.push(c) }),
    ).catch(() => {});
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      // SIGQUIT is nginx's graceful stop: in-flight requests finish.
      await stopChild(child, status, () => child.kill("SIGQUIT"), 10_000);
      await drained;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };
  const deadline = Date.now() + 30_000;
  let wait = 20;
  while (!(await ready())) {
    if (exited || Date.now() >= deadline) {
      const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
      await close();
      throw new Error(`nginx did not start:\n${output.join("")}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 200);
  }
  return close;
}

/** Something accepts connections on the port (nginx opens it once its configuration loaded). */
async function listens(port: number): Promise<boolean> {
  let conn: Deno.Conn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return true;
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/** nginx answers 401 to a request without credentials, without asking the upstream. */
async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`);
    await res.body?.cancel();
    return res.status === 401;
  } catch {
    return false;
  }
}

function config(
  dir: string,
  upstreamHost: string,
  bearerPort: number,
  apiKeyPort: number,
  c: { readonly bearerToken: string; readonly apiKey: string; readonly accessLog?: string },
): string {
  const location = (checks: string, credentialHeader: string) => `
    location / {
      ${checks}
      proxy_pass http://mlflow;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header ${credentialHeader} "";
    }`;
  return `# Generated by tests/_peers/nginx.ts
${Deno.uid() === 0 ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  ${
    c.accessLog === undefined
      ? "access_log off;"
      : `log_format timing '$msec $request_time $upstream_response_time $status $request_method $request_length $bytes_sent $uri $upstream_header_time';
  access_log ${c.accessLog} timing;`
  }
  default_type application/json;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  map_hash_bucket_size 256;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_read_timeout 300s;
  proxy_send_timeout 300s;
  upstream mlflow {
    server ${upstreamHost};
    keepalive 32;
  }
  map $http_authorization $bearer_ok {
    default 0;
    "Bearer ${c.bearerToken}" 1;
  }
  map $http_x_api_key $api_key_state {
    default "wrong";
    "" "missing";
    "${c.apiKey}" "ok";
  }
  server {
    listen 127.0.0.1:${bearerPort};
    ${
    location(
      `if ($bearer_ok = 0) { return 401 '{"error_code":"UNAUTHENTICATED","message":"Bearer token required"}'; }`,
      "Authorization",
    )
  }
  }
  server {
    listen 127.0.0.1:${apiKeyPort};
    ${
    location(
      `if ($api_key_state = "missing") { return 401 '{"error_code":"UNAUTHENTICATED","message":"X-Api-Key required"}'; }
      if ($api_key_state = "wrong") { return 403 '{"error_code":"PERMISSION_DENIED","message":"X-Api-Key rejected"}'; }`,
      "X-Api-Key",
    )
  }
  }
}
`;
}

function tlsConfig(
  dir: string,
  upstreamHost: string,
  port: number,
  o: StartTlsNginxOptions,
): string {
  const bearer = o.bearerToken === undefined ? "" : `
  map $http_authorization $bearer_ok {
    default 0;
    "Bearer ${o.bearerToken}" 1;
  }`;
  const check = o.bearerToken === undefined
    ? ""
    : `if ($bearer_ok = 0) { return 401 '{"error_code":"UNAUTHENTICATED","message":"Bearer token required"}'; }
      proxy_set_header Authorization "";`;
  const verify = o.clientCa === undefined ? "" : `
    ssl_client_certificate ${o.clientCa};
    ssl_verify_client on;`;
  return `# Generated by tests/_peers/nginx.ts
${Deno.uid() === 0 ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  log_format forwarded '$request_method $request_uri $upstream_status';
  access_log off;
  default_type application/json;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  map_hash_bucket_size 256;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_read_timeout 300s;
  proxy_send_timeout 300s;
  upstream backend {
    server ${upstreamHost};
    keepalive 32;
  }${bearer}
  map $upstream_status $reached_upstream {
    "" 0;
    default 1;
  }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${o.cert};
    ssl_certificate_key ${o.key};${verify}
    access_log ${dir}/forwarded.log forwarded if=$reached_upstream;
    location / {
      ${check}
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }
  }
}
`;
}
