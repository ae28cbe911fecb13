/**
 * moto (the AWS emulator from PyPI, installed in the project's `.venv` by `scripts/setup.sh`) as
 * a server on a free loopback port, for tests.
 *
 * The server is started through a small Python launcher that runs `moto.server.main` (what the
 * `moto_server` script runs) and exits as soon as its stdin closes, so it dies with the test
 * process even when that process is killed before `close()` runs.
 */

import { freePort, peerEnv, stopChild } from "./_process.ts";
const ROOT = new URL("../../", import.meta.url);
const PYTHON = new URL(".venv/bin/python", ROOT).pathname;
const MOTO_SERVER = new URL(".venv/bin/moto_server", ROOT).pathname;

/** The account moto puts every resource in. */
export const MOTO_ACCOUNT = "123456789012";

/** Credentials moto accepts while IAM enforcement is off. Never real. */
export const MOTO_CREDENTIALS = {
  accessKeyId: "AKIAMOTOTESTSEED0001",
  secretAccessKey: "moto-test-secret-key-not-real",
} as const;

const LAUNCHER = `
import os, sys, threading
def watch():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
`;

/** A running moto server. */
export interface MotoServer {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** How long the start took, in milliseconds (spawn to first answer). */
  readonly startMs: number;
  /** The request log (moto's recorder), one entry per AWS request, when `record` was set. */
  recording(): Promise<readonly MotoRecord[]>;
  /** Stops the server and waits until it has exited. Safe to call twice. */
  close(): Promise<void>;
  /** Calls `close()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** One recorded request. */
export interface MotoRecord {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body as text. */
  readonly body: string;
}

/** Options of {@linkcode startMoto}. */
export interface StartMotoOptions {
  /** Record every request (headers included) so tests can read the log. */
  readonly record?: boolean;
  /** Give up after this many milliseconds. Default 60 s. */
  readonly timeoutMs?: number;
  /** Try this port first (to test the retry on a port that is taken). Default: a free one. */
  readonly firstPort?: number;
}

/** Whether moto is installed (`scripts/setup.sh` has run). */
export function motoInstalled(): boolean {
  try {
    return Deno.statSync(MOTO_SERVER).isFile && Deno.statSync(PYTHON).isFile;
  } catch {
    return false;
  }
}

/**
 * Starts moto on a free port of 127.0.0.1 and waits until it answers. A port taken between
 * choosing it and moto binding it is retried with another.
 *
 * @param options Recording and timeout.
 * @returns The running server.
 * @throws When moto is not installed or does not come up.
 */
export async function startMoto(options: StartMotoOptions = {}): Promise<MotoServer> {
  if (!motoInstalled()) {
    throw new Error(`Cannot start moto: "${MOTO_SERVER}" is missing; run "bash scripts/setup.sh"`);
  }
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (let attempt = 1;; attempt++) {
    const port = attempt === 1 && options.firstPort !== undefined ? options.firstPort : freePort();
    const result = await tryStart(port, options, deadline);
    if (result.server !== undefined) return result.server;
    if (!result.portTaken || attempt >= 5 || Date.now() >= deadline) {
      throw new Error(`Cannot start moto: ${result.why}`);
    }
  }
}

interface StartResult {
  readonly server?: MotoServer;
  readonly portTaken?: boolean;
  readonly why?: string;
}

async function tryStart(
  port: number,
  options: StartMotoOptions,
  deadline: number,
): Promise<StartResult> {
  const started = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "moto-" });
  const recordPath = `${dir}/recording.jsonl`;
  const env: Record<string, string> = {
    // moto needs no credentials; these keep it away from any ~/.aws of the machine.
    AWS_CONFIG_FILE: `${dir}/none`,
    AWS_SHARED_CREDENTIALS_FILE: `${dir}/none`,
    MOTO_RECORDER_FILEPATH: recordPath,
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONUNBUFFERED: "1",
  };
  if (options.record) env.MOTO_ENABLE_RECORDING = "true";
  const child = new Deno.Command(PYTHON, {
    args: ["-c", LAUNCHER, String(port)],
    cwd: dir,
    env: peerEnv(env),
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  // Keep the last lines of output for diagnostics, and keep the pipes drained (moto logs every
  // request to stderr; a full pipe would block it).
  const tail: string[] = [];
  // werkzeug prints "Running on <url>" once it holds the port: proof that a server answering on
  // the port is this one and not another process that took the port meanwhile.
  const runningOn = `Running on http://127.0.0.1:${port}`;
  let bound = false;
  const drain = (stream: ReadableStream<Uint8Array>): Promise<void> => {
    let carry = "";
    return stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          // A line may arrive in two chunks: look at the end of the previous one too.
          if (!bound && (carry + chunk).includes(runningOn)) bound = true;
          carry = chunk.slice(-runningOn.length);
          tail.push(...chunk.split("\n").filter((l) => l.trim() !== ""));
          if (tail.length > 40) tail.splice(0, tail.length - 40);
        },
      }),
    ).catch(() => {});
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      // EOF on stdin makes the launcher exit at once; SIGKILL is the fallback.
      await stopChild(child, child.status, () => stdin.close(), 5_000);
      await drained;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };

  const endpoint = `http://127.0.0.1:${port}`;
  let exited = false;
  const exit = child.status.then((s) => {
    exited = true;
    return s;
  });
  let wait = 10;
  while (true) {
    if (exited) {
      await close();
      const text = tail.join("\n");
      return {
        portTaken: /address already in use|is in use by another program/i.test(text),
        why: `moto exited before answering on port ${port}:\n${text}`,
      };
    }
    if (Date.now() >= deadline) {
      await close();
      return { why: `moto did not answer on ${endpoint} in time:\n${tail.join("\n")}` };
    }
    if (bound && await answers(endpoint)) break;
    // Not up yet: wait for the process to exit or a short, growing interval, whichever is first.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      exit,
      new Promise<void>((r) => timer = setTimeout(r, wait)),
    ]);
    clearTimeout(timer);
    wait = Math.min(wait * 2, 200);
  }
  const startMs = Math.round(performance.now() - started);
  return {
    server: {
      endpoint,
      startMs,
      async recording() {
        let text = "";
        try {
          text = await Deno.readTextFile(recordPath);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
        return text.split("\n").filter((l) => l.trim() !== "").map((l) => {
          const e = JSON.parse(l) as {
            method: string;
            url: string;
            headers: Record<string, string>;
            body: string | null;
            body_encoded: boolean;
          };
          const body = e.body === null
            ? ""
            : e.body_encoded
            ? new TextDecoder().decode(Uint8Array.from(atob(e.body), (c) => c.charCodeAt(0)))
            : e.body;
          return { method: e.method, url: e.url, headers: e.headers, body };
        });
      },
      close,
      [Symbol.asyncDispose]: close,
    },
  };
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/config`);
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Turns moto's IAM enforcement on (every later request must be signed by a known identity and
 * allowed by its policies) or off.
 *
 * @param endpoint The server.
 * @param enforce On or off.
 */
export async function setMotoIamEnforcement(endpoint: string, enforce: boolean): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset-auth`, {
    method: "POST",
    body: enforce ? "0" : "inf",
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`moto reset-auth answered ${res.status}`);
}

/**
 * Calls an AWS query-protocol API (IAM, STS) of moto, unsigned: only while IAM enforcement is off.
 *
 * @param endpoint The server.
 * @param service `iam` or `sts`.
 * @param params `Action` and its parameters.
 * @returns The XML answer.
 */
export async function motoQuery(
  endpoint: string,
  service: "iam" | "sts",
  params: Readonly<Record<string, string>>,
): Promise<string> {
  const body = new URLSearchParams({
    Version: service === "iam" ? "2010-05-08" : "2011-06-15",
    ...params,
  });
  const res = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      // moto routes by the credential scope; the signature is not checked without enforcement.
      authorization:
        `AWS4-HMAC-SHA256 Credential=${MOTO_CREDENTIALS.accessKeyId}/20240101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto ${service} ${params.Action} answered ${res.status}: ${text}`);
  return text;
}

/** The text of the first `<tag>` in an XML answer. */
export function xmlText(xml: string, tag: string): string {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  if (m === null) throw new Error(`no <${tag}> in ${xml}`);
  return m[1]!;
}
