/**
 * The open-file limit (RLIMIT_NOFILE): read it, and raise the soft limit to the hard one, through
 * `getrlimit`/`setrlimit` in the C library. Needs `--allow-ffi` on Linux; anywhere else, or
 * without the permission, nothing is changed and the limit is unknown (the proxy then uses a
 * fixed connection bound and still survives EMFILE).
 *
 * @module
 */

/** The limit after the attempt to raise it. */
export interface FileLimit {
  /** Soft limit now in force. */
  readonly soft: number;
  /** Hard limit. */
  readonly hard: number;
  /** Whether this call raised the soft limit. */
  readonly raised: boolean;
}

const RLIMIT_NOFILE = 7; // Linux, x86-64 and arm64.

/**
 * Raises the soft open-file limit toward the hard one, where the platform and the permissions
 * allow it.
 *
 * @returns The limit, or `undefined` when it cannot be read (not Linux, no `--allow-ffi`).
 */
export function raiseOpenFileLimit(): FileLimit | undefined {
  if (Deno.build.os !== "linux") return undefined;
  // Never prompt: ask for FFI only when it is granted already.
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  let lib: Deno.DynamicLibrary<{
    getrlimit: { parameters: ["i32", "buffer"]; result: "i32" };
    setrlimit: { parameters: ["i32", "buffer"]; result: "i32" };
  }>;
  try {
    lib = Deno.dlopen("libc.so.6", {
      getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    });
  } catch {
    return undefined;
  }
  try {
    const limits = new BigUint64Array(2);
    const bytes = new Uint8Array(limits.buffer);
    if (lib.symbols.getrlimit(RLIMIT_NOFILE, bytes) !== 0) return undefined;
    const toNumber = (v: bigint): number =>
      v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
    const [soft, hard] = [limits[0]!, limits[1]!];
    if (soft >= hard) return { soft: toNumber(soft), hard: toNumber(hard), raised: false };
    limits[0] = hard;
    const raised = lib.symbols.setrlimit(RLIMIT_NOFILE, bytes) === 0;
    return { soft: toNumber(raised ? hard : soft), hard: toNumber(hard), raised };
  } finally {
    lib.close();
  }
}
