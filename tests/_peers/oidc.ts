/**
 * A real OpenID Connect provider on loopback: `oidc-provider` (a certified implementation, from
 * npm), in this process, on a free port of 127.0.0.1. It serves the client credentials grant
 * (RFC 6749 §4.4) and issues JWT access tokens for one resource server (RFC 8707 resource
 * indicators), signed with an RSA key made for the run and published at its JWKS URL.
 *
 * Every call to its token endpoint is counted, with the status it answered, so tests can check
 * how many tokens a client asked for. Its two start-up warnings (the runtime is not the Node.js
 * LTS it names; the in-memory adapter is for development) are expected here.
 */

import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { errors } from "../../deps/oidc_provider.ts";
import { exportJWK, generateKeyPair } from "../../deps/jose.ts";

/** A client registered at the provider. */
export interface OidcClient {
  /** `client_id`. */
  readonly id: string;
  /** `client_secret`. */
  readonly secret: string;
  /** How it must authenticate at the token endpoint. Default `client_secret_basic`. */
  readonly authMethod?: "client_secret_basic" | "client_secret_post";
  /** Grant types it may use. Default `["client_credentials"]`. */
  readonly grantTypes?: readonly string[];
  /** Scopes it may ask for (space separated). Default `mlflow` (not `admin`). */
  readonly scope?: string;
}

/** Options of {@linkcode startOidcProvider}. */
export interface StartOidcOptions {
  /** Registered clients. */
  readonly clients: readonly OidcClient[];
  /** The resource server's identifier: the tokens' `aud`. Default `https://mlflow.test`. */
  readonly resource?: string;
  /** The scopes the resource server knows (space separated). Default `mlflow admin`. */
  readonly scope?: string;
  /** Access token lifetime in seconds. Default 300. */
  readonly accessTokenTtlSeconds?: number;
}

/** One call to the token endpoint. */
export interface TokenCall {
  /** The status answered. */
  readonly status: number;
  /** The `Authorization` scheme used (`basic`), or `none`. */
  readonly auth: string;
}

/** A running provider. */
export interface OidcProvider extends AsyncDisposable {
  /** The issuer, `http://127.0.0.1:<port>` (the tokens' `iss`). */
  readonly issuer: string;
  /** The token endpoint. */
  readonly tokenUrl: string;
  /** The JWKS URL. */
  readonly jwksUrl: string;
  /** The resource server identifier (the tokens' `aud`). */
  readonly resource: string;
  /** Calls to the token endpoint so far. */
  readonly tokenCalls: readonly TokenCall[];
  /** Changes the lifetime of the access tokens issued from now on. */
  setAccessTokenTtl(seconds: number): void;
  /** Stops the server and closes its connections. */
  close(): Promise<void>;
}

/**
 * Starts the provider on a free loopback port.
 *
 * @param options Clients, resource server, token lifetime.
 * @returns The running provider.
 */
export async function startOidcProvider(options: StartOidcOptions): Promise<OidcProvider> {
  const resource = options.resource ?? "https://mlflow.test";
  const scope = options.scope ?? "mlflow admin";
  let ttl = options.accessTokenTtlSeconds ?? 300;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = {
    ...(await exportJWK(privateKey)),
    kid: crypto.randomUUID(),
    alg: "RS256",
    use: "sig",
  };

  const tokenCalls: TokenCall[] = [];
  // The provider needs its issuer URL, hence the port, before it can handle requests.
  const route: { handle?: (req: http.IncomingMessage, res: http.ServerResponse) => void } = {};
  const server = http.createServer((req, res) => {
    if (req.method === "POST" && req.url?.split("?")[0] === "/token") {
      const scheme = (req.headers.authorization ?? "none").split(" ")[0]!.toLowerCase();
      res.on("finish", () => tokenCalls.push({ status: res.statusCode, auth: scheme }));
    }
    route.handle!(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      grant_types: [...(c.grantTypes ?? ["client_credentials"])],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: c.authMethod ?? "client_secret_basic",
      scope: c.scope ?? "mlflow",
    })),
    jwks: { keys: [jwk] },
    scopes: scope.split(" "),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return { scope, audience: resource, accessTokenTTL: ttl, accessTokenFormat: "jwt" };
        },
      },
    },
    ttl: { ClientCredentials: () => ttl },
  });
  // Its console warnings (development adapter, runtime) are not the tests' business.
  provider.on("server_error", () => {});
  route.handle = provider.callback();

  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    return closed;
  };
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    jwksUrl: `${issuer}/jwks`,
    resource,
    tokenCalls,
    setAccessTokenTtl(seconds: number) {
      ttl = seconds;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
