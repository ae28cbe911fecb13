/**
 * A real MLflow tracking server (`mlflow server` from the project's `.venv`) on a free loopback
 * port: SQLite backend and a local artifact root in a temporary directory, `--serve-artifacts`,
 * optionally the basic-auth app. Also the environment every Python MLflow process of the tests
 * gets (no telemetry, nothing but 127.0.0.1), and a helper that runs a process to its end.
 *
 * A small Python launcher runs the server in its own session and kills its process group
 * (uvicorn workers included) as soon as the launcher's stdin closes or it gets SIGTERM, so the
 * server dies with its owner even when the owner is killed before `close()` runs. The launcher
 * ignores SIGINT: a Ctrl-C reaches the whole foreground process group, and the owner decides.
 */

import { freePort, peerEnv, stopChild } from "./_process.ts";

const ROOT = new URL("../../", import.meta.url);

/** The project's virtual environment's Python. */
export const PYTHON: string = new URL(".venv/bin/python", ROOT).pathname;
const MLFLOW = new URL(".venv/bin/mlflow", ROOT).pathname;

/** Variables for every MLflow process (server and clients): no telemetry, no job runner. */
export const MLFLOW_QUIET_ENV: Readonly<Record<string, string>> = {
  MLFLOW_DISABLE_TELEMETRY: "true",
  DO_NOT_TRACK: "true",
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION: "false",
  PYTHONDONTWRITEBYTECODE: "1",
  PYTHONUNBUFFERED: "1",
  NO_PROXY: "127.0.0.1,localhost",
  no_proxy: "127.0.0.1,localhost",
};

const LAUNCHER = `
import os, signal, subprocess, sys, threading
signal.signal(signal.SIGINT, signal.SIG_IGN)
p = subprocess.Popen(
    sys.argv[1:],
    start_new_session=True,
    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
)
def stop():
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
    except Exception:
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except Exception:
        pass
def on_term(*_):
    stop()
    os._exit(143)
signal.signal(signal.SIGTERM, on_term)
def on_usr1(*_):
    # A crash: the server's whole process group dies at once, nothing is shut down gracefully.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except Exception:
        pass
    os._exit(137)
signal.signal(signal.SIGUSR1, on_usr1)
def watch():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        stop()
        os._exit(0)
threading.Thread(target=watch, daemon=True).start()
code = p.wait()
stop()
sys.exit(code)
`;

/** Options of {@linkcode startMlflow}. */
export interface StartMlflowOptions {
  /** Run the basic-auth app (an admin user is created from a generated password). */
  readonly basicAuth?: boolean;
  /** uvicorn workers. Default 1. */
  readonly workers?: number;
  /** Give up after this long. Default 180 s. */
  readonly timeoutMs?: number;
  /** Where to create the server's temporary directory. Default: the system's. */
  readonly parentDir?: string;
  /** Stops a start in progress (the server is stopped and its directory removed). */
  readonly signal?: AbortSignal;
  /** Listen on this port (to start a server again at the same address). Default: a free one. */
  readonly port?: number;
}

/** A running MLflow server. */
export interface MlflowServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The temporary directory (database, artifacts). */
  readonly dir: string;
  /** Spawn to first healthy answer, in milliseconds. */
  readonly startMs: number;
  /** The admin account (basic auth only). */
  readonly admin?: { readonly username: string; readonly password: string };
  /** Creates a user (basic auth only). */
  createUser(username: string, password: string): Promise<void>;
  /** Changes a user's password (basic auth only). */
  updatePassword(username: string, password: string): Promise<void>;
  /** The last lines the server wrote. */
  tail(): string;
  /** Stops the server and waits for it; removes the directory. */
  close(): Promise<void>;
  /**
   * Kills the server at once (SIGKILL to its process group, no graceful shutdown: requests in
   * flight are cut), waits for it and removes the directory. `close()` is then a no-op.
   */
  crash(): Promise<void>;
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
 * Starts MLflow and waits until `/health` answers. A port taken between choosing it and the
 * server binding it is retried with another.
 *
 * @param options Basic auth, workers, timeout, directory, abort signal.
 * @returns The server.
 */
export async function startMlflow(options: StartMlflowOptions = {}): Promise<MlflowServer> {
  if (!mlflowInstalled()) {
    throw new Error(`Cannot start MLflow: "${MLFLOW}" is missing; run "bash scripts/setup.sh"`);
  }
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  for (let attempt = 1;; attempt++) {
    try {
      return await tryStart(options.port ?? freePort(), options, deadline);
    } catch (error) {
      const portTaken = /address already in use/i.test(String(error));
      if (!portTaken || options.port !== undefined || attempt >= 3 || Date.now() >= deadline) {
        throw error;
      }
    }
  }
}

async function tryStart(
  port: number,
  options: StartMlflowOptions,
  deadline: number,
): Promise<MlflowServer> {
  const started = performance.now();
  const dir = await Deno.makeTempDir({
    prefix: "msa-e2e-mlflow-",
    ...(options.parentDir ? { dir: options.parentDir } : {}),
  });
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = { ...MLFLOW_QUIET_ENV };
  const args = [
    "-c",
    LAUNCHER,
    MLFLOW,
    "server",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--workers",
    String(options.workers ?? 1),
    "--backend-store-uri",
    `sqlite:///${dir}/mlflow.db`,
    "--artifacts-destination",
    `${dir}/artifacts`,
    "--serve-artifacts",
  ];
  let admin: { username: string; password: string } | undefined;
  if (options.basicAuth) {
    admin = { username: "admin", password: `admin-${crypto.randomUUID()}` };
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
    env.MLFLOW_AUTH_CONFIG_PATH = `${dir}/auth.ini`;
    env.MLFLOW_FLASK_SERVER_SECRET_KEY = crypto.randomUUID();
    args.push("--app-name", "basic-auth");
  }
  const child = new Deno.Command(PYTHON, {
    args,
    cwd: dir,
    env: peerEnv(env),
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines: string[] = [];
  const drain = (stream: ReadableStream<Uint8Array>): Promise<void> =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          lines.push(...chunk.split("\n").filter((l) => l.trim() !== ""));
          if (lines.length > 80) lines.splice(0, lines.length - 80);
        },
      }),
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
      await stopChild(child, status, () => stdin.close(), 20_000);
      await drained;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };

  const crash = (): Promise<void> => {
    closed ??= (async () => {
      try {
        child.kill("SIGUSR1");
      } catch {
        // Already exited.
      }
      await status;
      await drained;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };

  let wait = 50;
  while (!(await healthy(url))) {
    if (exited) {
      await close();
      throw new Error(`MLflow exited before answering on ${url}:\n${lines.join("\n")}`);
    }
    if (options.signal?.aborted) {
      await close();
      throw options.signal.reason;
    }
    if (Date.now() >= deadline) {
      await close();
      throw new Error(`MLflow did not answer on ${url} in time:\n${lines.join("\n")}`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([status, new Promise<void>((r) => timer = setTimeout(r, wait))]);
    clearTimeout(timer);
    wait = Math.min(wait * 2, 500);
  }
  const startMs = Math.round(performance.now() - started);

  const adminCall = async (method: string, path: string, body: unknown): Promise<void> => {
    if (admin === undefined) throw new Error("MLflow runs without basic auth: no users");
    const res = await fetch(`${url}/api/2.0/mlflow/${path}`, {
      method,
      headers: {
        authorization: `Basic ${btoa(`${admin.username}:${admin.password}`)}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`MLflow ${path} answered ${res.status}: ${text}`);
  };

  return {
    url,
    dir,
    startMs,
    ...(admin ? { admin } : {}),
    createUser: (username, password) => adminCall("POST", "users/create", { username, password }),
    updatePassword: (username, password) =>
      adminCall("PATCH", "users/update-password", { username, password }),
    tail: () => lines.join("\n"),
    close,
    crash,
    [Symbol.asyncDispose]: close,
  };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`);
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** The outcome of a finished process. */
export interface ProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a process to its end, with the quiet MLflow variables added to the environment.
 *
 * @param command Program.
 * @param args Arguments.
 * @param env Extra variables.
 * @returns Exit code and output.
 */
export async function run(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<ProcessResult> {
  const out = await new Deno.Command(command, {
    args: [...args],
    env: peerEnv({ ...MLFLOW_QUIET_ENV, ...env }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
