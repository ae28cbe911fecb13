/**
 * A small TCP relay on 127.0.0.1 for fault tests: it forwards bytes between a client and a target
 * server (a secret store, a tracking server) and can be switched, while connections are open, to
 * hold every answer back by a fixed delay ("the store takes 5 s per answer") or to cut every
 * connection ("the store is gone"). Loopback only, bounded: at most `maxConnections` open at
 * once (more are closed at once), and everything is closed by `close()`.
 *
 * The delay is a latency line, not a throttle: each chunk the target sends is delivered `delayMs`
 * after it arrived, in order, so a one-chunk answer arrives `delayMs` late whatever its size.
 */

/** What the relay does with traffic. */
export type RelayMode =
  | { readonly kind: "pass" }
  | { readonly kind: "delay"; readonly delayMs: number }
  | { readonly kind: "down" };

/** Options of {@linkcode startRelay}. */
export interface RelayOptions {
  /** Most connections open at once; more are closed as soon as they are accepted. Default 64. */
  readonly maxConnections?: number;
}

/** A running relay. */
export interface Relay extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: give this to the client instead of the target. */
  readonly url: string;
  /** The relay's port. */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /**
   * Changes what the relay does. `down` also cuts the connections already open; `pass` and
   * `delay` apply to every chunk that arrives from then on.
   */
  setMode(mode: RelayMode): void;
  /** Forwards to another target port from the next connection on (a restarted server). */
  setTarget(port: number): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Starts a relay to `127.0.0.1:<targetPort>` on a free port of 127.0.0.1.
 *
 * @param targetPort The port of the server behind the relay.
 * @param options Connection bound.
 * @returns The relay, in `pass` mode.
 */
export function startRelay(targetPort: number, options: RelayOptions = {}): Relay {
  const maxConnections = options.maxConnections ?? 64;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let mode: RelayMode = { kind: "pass" };
  let target = targetPort;
  let accepted = 0;
  const open = new Set<{ cut(): void; done: Promise<void> }>();

  const serve = async (client: Deno.TcpConn): Promise<void> => {
    let server: Deno.TcpConn | undefined;
    const cut = () => {
      for (const c of [client, server]) {
        try {
          c?.close();
        } catch {
          // Already closed.
        }
      }
    };
    const { promise: done, resolve } = Promise.withResolvers<void>();
    const entry = { cut, done };
    open.add(entry);
    try {
      if (mode.kind === "down") return;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: target });
      } catch {
        return; // The target is not there: the client sees its connection closed.
      }
      await Promise.all([
        copy(client, server, () => ({ kind: "pass" })),
        copy(server, client, () => mode),
      ]);
    } finally {
      cut();
      open.delete(entry);
      resolve();
    }
  };

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return; // Listener closed.
      }
      accepted++;
      if (open.size >= maxConnections) {
        conn.close();
        continue;
      }
      serve(conn).catch(() => {});
    }
  })();

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      listener.close();
      await accepting;
      for (const c of open) c.cut();
      await Promise.all([...open].map((c) => c.done));
    })();
    return closed;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return open.size;
    },
    setMode(next) {
      mode = next;
      if (next.kind === "down") { for (const c of open) c.cut(); }
    },
    setTarget(next) {
      target = next;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Copies `from` to `to` until `from` ends, holding each chunk back as `modeOf()` says at the
 * moment the chunk arrives. Ends the write side when the read side ends; errors end the copy.
 */
const MAX_HELD = 8 * 1024 * 1024;

async function copy(from: Deno.TcpConn, to: Deno.TcpConn, modeOf: () => RelayMode): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  // Chunks waiting for their delivery time, delivered in order by one writer.
  let chain: Promise<void> = Promise.resolve();
  let failed = false;
  let held = 0;
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      const chunk = buf.slice(0, n);
      const m = modeOf();
      const due = performance.now() + (m.kind === "delay" ? m.delayMs : 0);
      held += n;
      chain = chain.then(async () => {
        held -= n;
        if (failed) return;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          await writeAll(to, chunk);
        } catch {
          failed = true;
        }
      });
      // Bound what is held in memory: without a delay, one chunk at a time; with one, at most
      // MAX_HELD bytes waiting.
      if (m.kind !== "delay" || held > MAX_HELD) await chain;
      if (failed) break;
    }
  } catch {
    // Reset or closed: the copy ends.
  }
  await chain;
  try {
    await to.closeWrite();
  } catch {
    // Already closed.
  }
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}
