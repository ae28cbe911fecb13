/**
 * Plumbing shared by the peers the tests start (moto, MLflow, nginx): a free loopback port, and
 * stopping a child process gracefully with a hard deadline.
 */

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
