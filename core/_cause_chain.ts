/**
 * The messages along an error's `cause` chain, outermost first: what fetch and TLS failures say
 * only in their inner causes.
 *
 * @module
 */

/**
 * Collects the message of an error and of each `cause` below it; a cause that is not an `Error`
 * ends the chain as its string.
 *
 * @param error Any thrown value.
 * @param maxDepth How many links to follow at most.
 * @returns The messages, outermost first.
 *
 * @example
 * ```ts
 * import { causeMessages } from "./_cause_chain.ts";
 * const e = new TypeError("fetch failed", { cause: new Error("connection refused") });
 * if (causeMessages(e, 8).join(" / ") !== "fetch failed / connection refused") throw new Error();
 * ```
 */
export function causeMessages(error: unknown, maxDepth: number): string[] {
  const messages: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && e !== null && depth < maxDepth; depth++) {
    if (e instanceof Error) {
      messages.push(e.message);
      e = e.cause;
    } else {
      messages.push(String(e));
      break;
    }
  }
  return messages;
}
