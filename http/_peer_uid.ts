/**
 * Who is at the other end of a loopback TCP connection: the uid owning the peer's socket, read
 * from the kernel's socket tables (`/proc/net/tcp`, `/proc/net/tcp6`) on Linux.
 *
 * A connection accepted by the proxy appears twice in those tables: the proxy's own socket
 * (local = the proxy's address, remote = the client's) and the client's socket (local = the
 * client's address, remote = the proxy's). Only the second one, in state ESTABLISHED, names the
 * client's owner; the lookup matches that direction exactly, so the proxy never mistakes its own
 * socket for the client's.
 *
 * Deno lets a program read files under `/proc` only with `--allow-all`, so the tables are read with
 * `open`/`read` from the C library through `--allow-ffi` (which `proxy` and `exec` hold already
 * to make themselves non-dumpable); with neither, nothing can be told.
 *
 * Fails closed: anything but exactly one matching entry per end (another network namespace, a
 * table that cannot be read, a connection already gone, not Linux) gives `undefined`.
 *
 * @module
 */

const TABLES = ["/proc/net/tcp", "/proc/net/tcp6"] as const;
const ESTABLISHED = "01";

/**
 * Encodes an address and port as the kernel prints them in `/proc/net/tcp{,6}`: the address as
 * 32-bit words in host byte order (little-endian on every Linux port Deno runs on), the port as
 * 4 hex digits. An IPv4 address gets both its plain form (for `tcp`) and its IPv4-mapped IPv6
 * form (for `tcp6`, where a dual-stack socket lists it).
 *
 * @param addr A TCP address.
 * @returns The encodings to look for, upper case.
 */
export function procAddresses(addr: Deno.NetAddr): readonly string[] {
  const port = addr.port.toString(16).toUpperCase().padStart(4, "0");
  const v4 = parseV4(addr.hostname);
  if (v4 !== undefined) {
    const word = wordHex(v4);
    return [`${word}:${port}`, `0000000000000000FFFF0000${word}:${port}`];
  }
  const v6 = parseV6(addr.hostname);
  if (v6 === undefined) return [];
  let hex = "";
  for (let w = 0; w < 4; w++) hex += wordHex(v6.subarray(w * 4, w * 4 + 4));
  return [`${hex}:${port}`];
}

/** The owners of both ends of one connection. */
export interface ConnectionOwners {
  /** Owner of the peer's socket (local = the peer, remote = this end). */
  readonly peer: number;
  /** Owner of this end's socket (local = this end, remote = the peer). */
  readonly self: number;
}

/**
 * Finds the uids owning both ends of a TCP connection accepted on this machine.
 *
 * @param remote The peer's address as the accepted connection reports it.
 * @param local This end's address (the listen address and port).
 * @param read Reads a table (tests); default `Deno.readTextFile`.
 * @returns Both owners, or `undefined` when they cannot be told (see the module doc).
 */
export async function connectionOwners(
  remote: Deno.NetAddr,
  local: Deno.NetAddr,
  read: (path: string) => Promise<string> = readProcFile,
): Promise<ConnectionOwners | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const peerAddr = new Set(procAddresses(remote));
  const selfAddr = new Set(procAddresses(local));
  if (peerAddr.size === 0 || selfAddr.size === 0) return undefined;
  const peer: number[] = [];
  const self: number[] = [];
  for (const table of TABLES) {
    let text: string;
    try {
      text = await read(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== ESTABLISHED) continue;
      const from = f[1]!.toUpperCase();
      const to = f[2]!.toUpperCase();
      const uid = Number(f[7]);
      if (!Number.isInteger(uid) || uid < 0) continue;
      if (peerAddr.has(from) && selfAddr.has(to)) peer.push(uid);
      else if (selfAddr.has(from) && peerAddr.has(to)) self.push(uid);
    }
  }
  return peer.length === 1 && self.length === 1 ? { peer: peer[0]!, self: self[0]! } : undefined;
}

/**
 * Whether the peer of a connection accepted on this machine runs as this end's user: both
 * sockets found, in state ESTABLISHED, owned by the same uid. Needs no permission but reading
 * the two tables; `false` wherever that cannot be told.
 *
 * @param remote The peer's address.
 * @param local This end's address.
 * @param read Reads a table (tests).
 * @returns Whether both ends have the same owner.
 */
export async function sameUserPeer(
  remote: Deno.NetAddr,
  local: Deno.NetAddr,
  read?: (path: string) => Promise<string>,
): Promise<boolean> {
  const owners = await connectionOwners(remote, local, read);
  return owners !== undefined && owners.peer === owners.self;
}

const O_RDONLY_CLOEXEC = 0o2000000;

/**
 * Reads a file under `/proc`: through libc when `--allow-ffi` is granted (Deno demands
 * `--allow-all` for `/proc` otherwise), else through `Deno.readTextFile`.
 */
function readProcFile(path: string): Promise<string> {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return Deno.readTextFile(path);
  }
  const lib = Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  });
  try {
    const fd = lib.symbols.open(new TextEncoder().encode(`${path}\0`), O_RDONLY_CLOEXEC);
    if (fd < 0) return Promise.reject(new Deno.errors.NotFound(`cannot open "${path}"`));
    try {
      const chunks: Uint8Array[] = [];
      let total = 0;
      while (total < 64 * 1024 * 1024) {
        const chunk = new Uint8Array(64 * 1024);
        const n = Number(lib.symbols.read(fd, chunk, BigInt(chunk.byteLength)));
        if (n < 0) return Promise.reject(new Error(`cannot read "${path}"`));
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        total += n;
      }
      const all = new Uint8Array(total);
      let offset = 0;
      for (const c of chunks) {
        all.set(c, offset);
        offset += c.byteLength;
      }
      return Promise.resolve(new TextDecoder().decode(all));
    } finally {
      lib.symbols.close(fd);
    }
  } finally {
    lib.close();
  }
}

function wordHex(bytes: Uint8Array): string {
  // Host byte order (little-endian): the word's bytes printed last to first.
  let out = "";
  for (let i = 3; i >= 0; i--) out += bytes[i]!.toString(16).toUpperCase().padStart(2, "0");
  return out;
}

function parseV4(text: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return undefined;
  const bytes = m.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return undefined;
  return new Uint8Array(bytes);
}

function parseV6(text: string): Uint8Array | undefined {
  const host = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!/^[0-9A-Fa-f:.]+$/.test(host)) return undefined;
  let url: URL;
  try {
    url = new URL(`http://[${host}]/`);
  } catch {
    return undefined;
  }
  // The URL parser normalises the address (an embedded IPv4 tail becomes two groups).
  const normal = url.hostname.slice(1, -1);
  const [head, tail] = normal.includes("::") ? normal.split("::") as [string, string] : [
    normal,
    undefined,
  ];
  const a = head === "" ? [] : head.split(":");
  const b = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? a : [...a, ...Array(8 - a.length - b.length).fill("0"), ...b];
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}
