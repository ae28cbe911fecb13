/**
 * Plumbing shared by the peers the tests start (moto, MLflow, nginx): a free loopback port, and
 * stopping a child process gracefully with a hard deadline.
 */

import { DENO_DIR } from "../_deno_dir.ts";

/** A port of 127.0.0.1 that was free a moment ago: bind port 0, read the port, close. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Stops a child: `ask()` asks it to exit (a signal, closing its stdin); after `graceMs` it is
 * killed with SIGKILL. Resolves once it has exited.
 *
 * @param child The process.
 * @param exited Its status promise (the caller may already hold `child.status`).
 * @param ask How to ask it to stop.
 * @param graceMs How long it may take before SIGKILL.
 */
export async function stopChild(
  child: Deno.ChildProcess,
  exited: Promise<unknown>,
  ask: () => Promise<void> | void,
  graceMs: number,
): Promise<void> {
  try {
    await ask();
  } catch {
    // Already exited.
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

let ownHome: string | undefined;

/**
 * The environment of a peer process (Python, MLflow, moto, nginx, a CLI child): `PATH`, the Deno
 * and npm caches, a fresh `HOME` with nothing in it, and `extra`. Nothing else of this process's
 * environment passes, so no ambient `VAULT_*`, `AWS_*` or `AZURE_*` variable and no
 * `~/.vault-token` or `~/.aws/credentials` of the developer's machine reaches a peer. Use it with
 * `clearEnv: true`.
 *
 * Under `scripts/sealed_env.sh` (the test task) the HOME is the sealed one; otherwise one empty
 * directory per test process, removed when it ends.
 *
 * @param extra The variables the peer needs.
 * @returns The whole environment.
 */
export function peerEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const get = (name: string): string | undefined => Deno.env.get(name);
  const sealed = get("MSA_SEALED_HOME");
  let home = sealed;
  if (home === undefined) {
    if (ownHome === undefined) {
      const dir = Deno.makeTempDirSync({ prefix: "msa-peer-home-" });
      ownHome = dir;
      // Maven artifacts (never settings.xml), as scripts/sealed_env.sh does.
      const m2 = `${get("HOME") ?? ""}/.m2/repository`;
      try {
        if (Deno.statSync(m2).isDirectory) {
          Deno.mkdirSync(`${dir}/.m2`);
          Deno.symlinkSync(m2, `${dir}/.m2/repository`);
        }
      } catch {
        // No Maven repository here.
      }
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch {
          // Already gone.
        }
      });
    }
    home = ownHome;
  }
  const realHome = sealed === undefined ? get("HOME") : undefined;
  const npmCache = get("npm_config_cache") ??
    (realHome !== undefined ? `${realHome}/.npm` : undefined);
  const env: Record<string, string> = {
    PATH: get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    ...(sealed !== undefined ? { MSA_SEALED_HOME: sealed } : {}),
    // This run's Deno cache (the npm packages live there): Deno would look under the new HOME.
    DENO_DIR,
    ...(npmCache !== undefined ? { npm_config_cache: npmCache } : {}),
  };
  for (const name of ["TMPDIR", "LANG", "LC_ALL", "TZ"]) {
    const v = get(name);
    if (v !== undefined) env[name] = v;
  }
  return { ...env, ...extra };
}

/** A started server process: its stderr so far, and the URL of its "listening on …" line. */
export interface ListeningChild {
  /** The URL from the start-up line; rejects if the process exits first or the time runs out. */
  readonly url: Promise<string>;
  /** Everything written on stderr so far (the first `maxBytes`). */
  stderr(): string;
  /** Whether the process has exited. */
  exited(): boolean;
  /** The process's status. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Settles once stderr has been read to its end. */
  readonly reading: Promise<void>;
}

/**
 * Collects a child's stderr and waits for the `listening on http://…` line that `proxy` (and
 * `exec`'s proxy) writes when it is ready. The child must have `stderr: "piped"`.
 *
 * @param child The process.
 * @param options How long to wait (default 30 s), how much stderr to keep (default 4 MB).
 */
export function watchListening(
  child: Deno.ChildProcess,
  options: { readonly timeoutMs?: number; readonly maxBytes?: number } = {},
): ListeningChild {
  const maxBytes = options.maxBytes ?? 4_000_000;
  let text = "";
  let exited = false;
  const started = Promise.withResolvers<string>();
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        if (text.length < maxBytes) text += chunk;
        const m = /listening on (http:\/\/\S+)/.exec(text);
        if (m !== null) started.resolve(m[1]!);
      },
    }),
  ).catch(() => {});
  const timer = setTimeout(
    () =>
      started.reject(new Error(`the process did not start in ${options.timeoutMs ?? 30_000} ms`)),
    options.timeoutMs ?? 30_000,
  );
  const status = child.status.then((s) => {
    exited = true;
    started.reject(
      new Error(`the process exited (${s.code}) before listening:\n${text.slice(0, 4000)}`),
    );
    return s;
  });
  const url = started.promise.finally(() => clearTimeout(timer));
  url.catch(() => {});
  return { url, stderr: () => text, exited: () => exited, status, reading };
}
