/**
 * Reading a small text file without trusting what the path names: a FIFO would block the read
 * forever and a device such as `/dev/zero` never ends, so only regular files are read, and never
 * more than a bound. Shared by the profile loader and the file secret provider.
 *
 * @module
 */

/**
 * Why a path was refused: it names something other than a regular file, or a file over the bound.
 * The message says what the path is (never its content); callers wrap it in their own error.
 */
export class FileRefusal extends Error {
  /** `not-regular` or `too-large`. */
  readonly reason: "not-regular" | "too-large";

  /**
   * Creates the refusal.
   *
   * @param reason What is wrong.
   * @param message What the path is, e.g. `it is a FIFO (named pipe), not a regular file`.
   */
  constructor(reason: "not-regular" | "too-large", message: string) {
    super(message);
    this.name = "FileRefusal";
    this.reason = reason;
  }
}

/** Options of {@linkcode readRegularTextFile}. */
export interface ReadRegularOptions {
  /** Largest accepted size in bytes. Default: no bound beyond what the file's size says. */
  readonly maxBytes?: number;
  /** Aborts the read. */
  readonly signal?: AbortSignal;
}

/**
 * Checks what a `stat` found: a regular file, within the bound.
 *
 * @param info The file's information.
 * @param maxBytes The largest accepted size.
 * @throws {FileRefusal} when it is not a regular file or is too large.
 */
export function checkRegularFile(info: Deno.FileInfo, maxBytes = Infinity): void {
  if (!info.isFile) {
    throw new FileRefusal("not-regular", `it is ${describeType(info)}, not a regular file`);
  }
  if (info.size > maxBytes) {
    throw new FileRefusal(
      "too-large",
      `it is ${formatBytes(info.size)}, over the ${formatBytes(maxBytes)} limit`,
    );
  }
}

/**
 * Reads a regular file as UTF-8 text. The path is checked before it is opened (opening a FIFO
 * blocks), the open handle is checked again (the path may have been swapped meanwhile), and the
 * read stops past `maxBytes` even when the file grows while it is read.
 *
 * @param path The file.
 * @param options The bound and an abort signal.
 * @returns The text and the file's information.
 * @throws {FileRefusal} when the path is not a regular file or is over the bound; the
 *   `Deno.errors` of `stat`, `open` and `read` otherwise (`NotFound`, `PermissionDenied`...).
 */
export async function readRegularTextFile(
  path: string,
  options: ReadRegularOptions = {},
): Promise<{ text: string; info: Deno.FileInfo }> {
  const maxBytes = options.maxBytes ?? Infinity;
  options.signal?.throwIfAborted();
  checkRegularFile(await Deno.stat(path), maxBytes);
  using file = await Deno.open(path, { read: true });
  const info = await file.stat();
  checkRegularFile(info, maxBytes);
  const limit = Math.min(maxBytes, Number.MAX_SAFE_INTEGER);
  // The size may change between stat and read: read what is there, one byte past the bound.
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(Math.min(Math.max(info.size + 1, 4096), limit + 1, 1 << 20));
  while (true) {
    options.signal?.throwIfAborted();
    const n = await file.read(buffer);
    if (n === null) break;
    total += n;
    if (total > limit) {
      throw new FileRefusal(
        "too-large",
        `it grew past the ${formatBytes(maxBytes)} limit while it was read`,
      );
    }
    chunks.push(buffer.slice(0, n));
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes), info };
}

function describeType(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "something else";
}

function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${Math.ceil(n / (1 << 10))} KiB`;
  return `${n} bytes`;
}
