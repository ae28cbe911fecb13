/**
 * A resource server that accepts only valid JWT access tokens, in front of a tracking server:
 * nginx (from Debian) with `auth_request` to a small validator built on `jose` (npm), which checks
 * each token's signature against the identity provider's JWKS, its issuer, audience, type
 * (`at+jwt`, RFC 9068) and expiry. Valid: nginx strips the token and proxies to MLflow. Otherwise
 * 401, and MLflow never sees the request.
 *
 * The validator runs in this process on a free loopback port; it counts the tokens it accepted and
 * rejected, and can revoke every token seen so far (by `jti`), as an identity provider's
 * revocation would.
 */

import { createRemoteJWKSet, decodeJwt, jwtVerify } from "../../deps/jose.ts";
import { nginxBinary } from "./nginx.ts";
import { freePort, peerEnv, stopChild } from "./_process.ts";

/** Options of {@linkcode startJwtGate}. */
export interface StartJwtGateOptions {
  /** The tracking server behind the gate, `http://127.0.0.1:<port>`. */
  readonly upstream: string;
  /** The tokens' expected issuer. */
  readonly issuer: string;
  /** The identity provider's JWKS URL. */
  readonly jwksUrl: string;
  /** The tokens' expected audience. */
  readonly audience: string;
}

/** A running gate. */
export interface JwtGate extends AsyncDisposable {
  /** The gate's URL: a client sends `Authorization: Bearer <jwt>` here. */
  readonly url: string;
  /** Tokens accepted so far (one per request that reached MLflow). */
  readonly accepted: number;
  /** Requests refused so far, with the reason (no token, bad signature, expired, revoked…). */
  readonly rejected: readonly string[];
  /** Distinct `jti` values accepted so far. */
  readonly tokensSeen: ReadonlySet<string>;
  /** Every token presented so far, as sent (to check that none is printed). */
  readonly rawTokens: ReadonlySet<string>;
  /** Refuses every token accepted so far from now on (as if revoked at the IdP). */
  revokeSeen(): void;
  /** Stops nginx and the validator. */
  close(): Promise<void>;
}

/**
 * Starts the validator and nginx, and waits until the gate answers.
 *
 * @param options Upstream and the identity provider's issuer, JWKS and audience.
 * @returns The gate.
 */
export async function startJwtGate(options: StartJwtGateOptions): Promise<JwtGate> {
  const bin = nginxBinary();
  if (bin === undefined) {
    throw new Error('Cannot start nginx: it is not installed; run "bash scripts/setup.sh"');
  }
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl));
  const tokensSeen = new Set<string>();
  const rawTokens = new Set<string>();
  const revoked = new Set<string>();
  const rejected: string[] = [];
  let accepted = 0;
  const validator = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.headers.get("authorization") ?? "");
      if (m === null) {
        rejected.push("no bearer token");
        return new Response(null, { status: 401 });
      }
      rawTokens.add(m[1]!);
      try {
        const { payload } = await jwtVerify(m[1]!, jwks, {
          issuer: options.issuer,
          audience: options.audience,
          typ: "at+jwt",
          algorithms: ["RS256"],
        });
        const jti = String(payload.jti);
        if (revoked.has(jti)) {
          rejected.push("revoked");
          return new Response(null, { status: 401 });
        }
        tokensSeen.add(jti);
        accepted++;
        return new Response(null, { status: 204 });
      } catch (error) {
        rejected.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        return new Response(null, { status: 401 });
      }
    },
  );
  const validatorPort = validator.addr.port;

  const dir = await Deno.makeTempDir({ prefix: "msa-jwt-gate-" });
  await Deno.chmod(dir, 0o755);
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    config(dir, new URL(options.upstream).host, port, validatorPort),
  );
  const child = new Deno.Command(bin, {
    args: ["-e", `${dir}/error.log`, "-p", dir, "-c", `${dir}/nginx.conf`],
    env: peerEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await stopChild(child, status, () => child.kill("SIGQUIT"), 10_000);
      await validator.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  let wait = 20;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`);
      await res.body?.cancel();
      if (res.status === 401) break;
    } catch {
      // Not up yet.
    }
    if (exited || Date.now() >= deadline) {
      const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
      await close();
      throw new Error(`nginx (JWT gate) did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 200);
  }
  // The start-up probe above is not a client's request.
  rejected.length = 0;

  return {
    url,
    get accepted() {
      return accepted;
    },
    rejected,
    tokensSeen,
    rawTokens,
    revokeSeen() {
      for (const jti of tokensSeen) revoked.add(jti);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The `jti` of a JWT, unverified (for tests that compare tokens without printing them). */
export function tokenId(jwt: string): string {
  return String(decodeJwt(jwt).jti);
}

function config(dir: string, upstreamHost: string, port: number, validatorPort: number): string {
  return `# Generated by tests/_peers/jwt_gate.ts
${Deno.uid() === 0 ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  upstream mlflow {
    server ${upstreamHost};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    error_page 401 = @unauthenticated;
    location @unauthenticated {
      add_header WWW-Authenticate 'Bearer error="invalid_token"' always;
      return 401 '{"error_code":"UNAUTHENTICATED","message":"a valid JWT access token is required"}';
    }
    location = /_validate {
      internal;
      proxy_pass http://127.0.0.1:${validatorPort}/validate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Authorization $http_authorization;
    }
    location / {
      auth_request /_validate;
      proxy_pass http://mlflow;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header Authorization "";
    }
  }
}
`;
}
