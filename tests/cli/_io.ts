/**
 * A fake {@linkcode CliIo} for running `main()` in-process, and small fixtures shared by the CLI
 * tests.
 */

import type { CliIo } from "../../cli/io.ts";

/** A fake io that records what the command wrote. */
export interface FakeIo extends CliIo {
  /** Everything written to stdout so far. */
  out(): string;
  /** Everything written to stderr so far. */
  err(): string;
}

/** Options of {@linkcode fakeIo}. */
export interface FakeIoOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly isTty?: boolean;
  readonly prompt?: (message: string, defaultValue?: string) => string | null;
}

/** Creates a fake io: no colour, not a terminal, only the given variables. */
export function fakeIo(options: FakeIoOptions = {}): FakeIo {
  const out: string[] = [];
  const err: string[] = [];
  const env = options.env ?? {};
  return {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: (name) => Object.hasOwn(env, name) ? env[name] : undefined,
    isTty: options.isTty ?? false,
    ...(options.prompt ? { prompt: options.prompt } : {}),
    out: () => out.join(""),
    err: () => err.join(""),
  };
}

const tempDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of tempDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  }
});

/** A fresh temporary directory, removed when the test process ends. */
export async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "msa-cli-" });
  tempDirs.push(dir);
  return dir;
}

/** Writes a file into a fresh temporary directory and returns its path. */
export async function tempFile(name: string, text: string): Promise<string> {
  const path = `${await tempDir()}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** Path of a file under tests/testdata/cli/. */
export function testdata(name: string): string {
  return new URL(`../testdata/cli/${name}`, import.meta.url).pathname;
}

/** A loopback HTTP server for one test; `close()` shuts it down. */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  /** Requests seen: method, path and the headers that matter. */
  readonly seen: {
    method: string;
    path: string;
    authorization: string | null;
    apiKey: string | null;
  }[];
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1, port 0, with the given handler. */
export function serve(
  handler: (req: Request) => Response | Promise<Response>,
  tls?: { readonly cert: string; readonly key: string },
): TestServer {
  const seen: TestServer["seen"] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...(tls ?? {}) },
    (req) => {
      const u = new URL(req.url);
      seen.push({
        method: req.method,
        path: u.pathname + u.search,
        authorization: req.headers.get("authorization"),
        apiKey: req.headers.get("x-api-key"),
      });
      return handler(req);
    },
  );
  const port = server.addr.port;
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    seen,
    close: () => server.shutdown(),
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
export function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** An MLflow-like JSON answer to experiments/search. */
export function mlflowOk(): Response {
  return Response.json({ experiments: [{ experiment_id: "0", name: "Default" }] });
}

/** A profile with one env rule for `match`, bearer auth on `var`. */
export function envProfile(match: string, variable = "MLFLOW_TOKEN", auth = "bearer"): string {
  return [
    "version: 1",
    "providers: { ci: { kind: env } }",
    "hosts:",
    `  - { match: "${match}", provider: ci, secret: { var: ${variable} }, auth: ${auth} }`,
    "",
  ].join("\n");
}
