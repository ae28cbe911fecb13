/**
 * Making the process that holds credentials unreadable to other processes of the same user.
 *
 * On Linux, `prctl(PR_SET_DUMPABLE, 0)` makes `/proc/<pid>/environ`, `/proc/<pid>/mem` and the
 * other ptrace-guarded files root-owned, refuses `ptrace` attachment, and disables core dumps:
 * a process of the same user without `CAP_SYS_PTRACE` (a child, its descendants) can no longer
 * read this process's initial environment or memory. Deno has no API for it, so `libc.so.6` is
 * called through FFI (`--allow-ffi`). The flag is not inherited across `execve`: the child of
 * `exec` stays an ordinary, dumpable process.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** Outcome of {@linkcode protectProcess}. */
export type ProtectResult =
  | { readonly protected: true }
  | { readonly protected: false; readonly reason: string };

const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;

/**
 * Makes this process non-dumpable (Linux only).
 *
 * @returns Whether it worked, and if not why (never throws).
 */
export function protectProcess(): ProtectResult {
  if (Deno.build.os !== "linux") {
    return {
      protected: false,
      reason: `no protection is implemented on ${Deno.build.os} (only Linux's prctl)`,
    };
  }
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return { protected: false, reason: "--allow-ffi is not granted" };
    }
    return {
      protected: false,
      reason: `libc.so.6 cannot be loaded (${error instanceof Error ? error.message : error})`,
    };
  }
  try {
    const set = lib.symbols.prctl(PR_SET_DUMPABLE, 0n, 0n, 0n, 0n);
    const now = lib.symbols.prctl(PR_GET_DUMPABLE, 0n, 0n, 0n, 0n);
    if (set !== 0 || now !== 0) {
      return { protected: false, reason: "prctl(PR_SET_DUMPABLE, 0) failed" };
    }
    return { protected: true };
  } finally {
    lib.close();
  }
}

/** Options of {@linkcode protectOrRefuse}. */
export interface ProtectPolicy {
  /** `--allow-dumpable`: go on, with a warning, when the process cannot be protected. */
  readonly allowDumpable: boolean;
  /** Writes the warning (stderr). */
  readonly warn: (line: string) => void;
  /** The protection to apply. Default {@linkcode protectProcess} (tests replace it). */
  readonly protect?: (() => ProtectResult) | undefined;
}

/**
 * Protects the process before it reads any credential, or refuses to go on (fail closed)
 * unless `--allow-dumpable` accepts the risk.
 *
 * @param command `exec` or `proxy`, for messages.
 * @param policy The opt-out and where the warning goes.
 * @throws {UsageError} when the process cannot be protected and `--allow-dumpable` is not given.
 */
export function protectOrRefuse(command: string, policy: ProtectPolicy): void {
  const result = (policy.protect ?? protectProcess)();
  if (result.protected) return;
  if (!policy.allowDumpable) {
    throw new UsageError(
      `Cannot make the ${command} process unreadable to other processes of the same user: ${result.reason}; run deno with --allow-ffi (used only to call prctl(PR_SET_DUMPABLE) in libc), or pass --allow-dumpable to accept that they${
        command === "exec" ? ", the child and its descendants among them," : ""
      } can read its environment and memory, the credential included`,
    );
  }
  policy.warn(
    `mlflow-secrets-auth ${command}: --allow-dumpable: this process stays readable to processes of the same user (${result.reason}); they${
      command === "exec" ? ", the child and its descendants among them," : ""
    } can read the credential from /proc/${Deno.pid}/environ and /proc/${Deno.pid}/mem\n`,
  );
}

const SYMBOLS = {
  prctl: { parameters: ["i32", "usize", "usize", "usize", "usize"], result: "i32" },
} as const;
