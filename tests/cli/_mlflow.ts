/**
 * A real MLflow tracking server with the basic-auth app (`mlflow server --app-name basic-auth`,
 * from the project's `.venv`), on a free loopback port, for `doctor`'s tests.
 *
 * A small Python launcher runs it in its own process group and kills that group as soon as its
 * stdin closes, so the server (and its uvicorn worker) dies with the test even when the test
 * process is killed before `close()` runs.
 */

const ROOT = new URL("../../", import.meta.url);
const PYTHON = new URL(".venv/bin/python", ROOT).pathname;
const MLFLOW = new URL(".venv/bin/mlflow", ROOT).pathname;

const LAUNCHER = `
import os, signal, subprocess, sys, threading
p = subprocess.Popen(sys.argv[1:], start_new_session=True)
def stop():
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
    except Exception:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except Exception:
            pass
def watch():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        stop()
        os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.exit(p.wait())
`;

/** A running MLflow server. */
export interface MlflowServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The admin user's name and password (basic auth). */
  readonly admin: { readonly username: string; readonly password: string };
  /** Stops the server and waits for it. */
  close(): Promise<void>;
}

/** Whether MLflow is installed (`scripts/setup.sh` has run). */
export function mlflowInstalled(): boolean {
  try {
    return Deno.statSync(MLFLOW).isFile;
  } catch {
    return false;
  }
}

/**
 * Starts MLflow with basic auth and waits until uvicorn reports the application started.
 *
 * @param timeoutMs Give up after this long. Default 120 s.
 * @returns The server.
 */
export async function startMlflow(timeoutMs = 120_000): Promise<MlflowServer> {
  if (!mlflowInstalled()) {
    throw new Error(`Cannot start MLflow: "${MLFLOW}" is missing; run "bash scripts/setup.sh"`);
  }
  const dir = await Deno.makeTempDir({ prefix: "msa-mlflow-" });
  const admin = { username: "admin", password: `doctor-${crypto.randomUUID()}` };
  await Deno.writeTextFile(
    `${dir}/auth.ini`,
    [
      "[mlflow]",
      "default_permission = READ",
      `database_uri = sqlite:///${dir}/auth.db`,
      `admin_username = ${admin.username}`,
      `admin_password = ${admin.password}`,
      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
      "",
    ].join("\n"),
  );
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = new Deno.Command(PYTHON, {
    args: [
      "-c",
      LAUNCHER,
      MLFLOW,
      "server",
      "--app-name",
      "basic-auth",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--workers",
      "1",
      "--backend-store-uri",
      `sqlite:///${dir}/mlflow.db`,
      "--default-artifact-root",
      `${dir}/artifacts`,
    ],
    cwd: dir,
    env: {
      MLFLOW_AUTH_CONFIG_PATH: `${dir}/auth.ini`,
      MLFLOW_FLASK_SERVER_SECRET_KEY: crypto.randomUUID(),
      PYTHONUNBUFFERED: "1",
      PYTHONDONTWRITEBYTECODE: "1",
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const tail: string[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((r) => onReady = r);
  const drain = (stream: ReadableStream<Uint8Array>): Promise<void> => {
    let pending = "";
    return stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          pending += chunk;
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const line of lines) {
            if (line.includes("Application startup complete")) onReady();
            tail.push(line);
          }
          if (tail.length > 60) tail.splice(0, tail.length - 60);
        },
      }),
    ).catch(() => {});
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await stdin.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited
        }
      }, 15_000);
      await child.status;
      clearTimeout(timer);
      await drained;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    ready.then(() => "ready" as const),
    child.status.then(() => "exited" as const),
    new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs)),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready") {
    await close();
    throw new Error(`Cannot start MLflow (${outcome}):\n${tail.join("\n")}`);
  }
  return { url: `http://127.0.0.1:${port}`, admin, close };
}
