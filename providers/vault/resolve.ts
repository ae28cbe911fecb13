/**
 * One `resolve` of the vault provider: the session's token, the secret's location, the KV read,
 * one more try with a fresh session after a 403, and the cache bound (a KV v1
 * `lease_duration` and the token's remaining TTL bound `maxTtlMs`). Every failure is reported
 * through `error_mapping.ts`.
 *
 * @module
 */

import { raceAbort } from "../../core/retry.ts";
import type { ResolvedSecret, SecretRef } from "../types.ts";
import { canLogin } from "./auth/types.ts";
import type { VaultApi, VaultConnection } from "./client.ts";
import { VaultHttpError } from "./errors.ts";
import { type ErrorContext, judgeToken, toResolutionError } from "./error_mapping.ts";
import { type KvSecret, type Location, type MountTable, readKv } from "./kv.ts";
import { describeRef, parseRef } from "./reference.ts";
import type { Session, SessionKeeper } from "./session.ts";

/** The parts of a provider instance a read uses. */
export interface VaultParts {
  /** Loads node-vault; hands out the API. */
  readonly connection: VaultConnection;
  /** The token. */
  readonly sessions: SessionKeeper;
  /** Mounts learnt so far. */
  readonly mounts: MountTable;
  /** The context's clock. */
  readonly now: () => number;
  /** What error messages name (provider name, address, auth method...). */
  readonly errors: ErrorContext;
}

/**
 * Reads one secret.
 *
 * @param parts The provider instance's parts.
 * @param raw The secret reference from the profile.
 * @param signal Cancellation.
 * @returns The secret's data, its cache bound and its KV v2 version.
 * @throws {SecretResolutionError} When the reference is invalid or the read fails; the
 * signal's reason when it aborts.
 */
export async function resolveVaultSecret(
  parts: VaultParts,
  raw: SecretRef,
  signal: AbortSignal,
): Promise<ResolvedSecret> {
  signal.throwIfAborted();
  const { connection, sessions, mounts, errors } = parts;
  const reference = describeRef(raw);
  const ref = parseRef(raw, errors.name, reference);
  let api: VaultApi | undefined;
  let s: Session | undefined;
  /** The location the reference resolved to, for error messages. */
  let location: Location | undefined;
  try {
    const vault = api = await raceAbort(connection.api(), signal);
    s = await sessions.current(vault, signal);
    const attempt = async (token: string): Promise<KvSecret> => {
      const loc = await mounts.locate(vault, ref, { token, signal });
      location = loc;
      try {
        return await readKv(vault, ref, { location: loc, token, signal, provider: errors.name });
      } catch (e) {
        if (e instanceof VaultHttpError && e.status === 404) mounts.forget(ref);
        throw e;
      }
    };
    let result;
    try {
      result = await attempt(s.token);
    } catch (e) {
      if (!(e instanceof VaultHttpError && e.status === 403)) throw e;
      const fresh = await sessions.afterDenial(vault, s, signal);
      if (fresh === undefined) throw e;
      s = fresh;
      result = await attempt(s.token);
    }
    const bounds: number[] = [];
    if (result.leaseMs !== undefined) bounds.push(result.leaseMs);
    if (s.ttlMs !== undefined && s.ttlMs > 0) {
      bounds.push(Math.max(0, s.obtainedAt + s.ttlMs - parts.now()));
    }
    return {
      value: result.data,
      ...(bounds.length > 0 ? { maxTtlMs: Math.min(...bounds) } : {}),
      ...(result.version !== undefined ? { version: String(result.version) } : {}),
    };
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    let error = e;
    if (
      e instanceof VaultHttpError && e.status === 403 && !e.where.endsWith("/login") &&
      !canLogin(errors.auth) && api !== undefined && s !== undefined
    ) {
      // A login method has just logged in afresh and been denied again: its token is new.
      error = await judgeToken(api, e, { token: s.token, signal });
    }
    throw toResolutionError(error, { ref, reference, location }, errors);
  }
}
