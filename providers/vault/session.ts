/**
 * The vault provider's token: obtained by a login (AppRole, Kubernetes) or adopted from the
 * environment or a file (token, token file, whose TTL `auth/token/lookup-self` tells), renewed
 * when about two thirds of its TTL have passed and it is renewable, and replaced by a new login
 * once it expires. This happens lazily on the next `resolve` (no timers). After a 403 the
 * provider logs in again (or re-reads the token) once before it reports the failure.
 *
 * @module
 */

import type { Logger } from "../../core/log.ts";
import type { Redactor } from "../../core/redact.ts";
import { isTransientStatus, raceAbort } from "../../core/retry.ts";
import { record } from "./_util.ts";
import { type AuthMethod, canLogin, type LoginMethod } from "./auth/types.ts";
import type { VaultApi } from "./client.ts";
import {
  mentionsInvalidToken,
  VaultHttpError,
  VaultRedirectError,
  VaultTlsRefusal,
} from "./errors.ts";

/** A token in use. */
export interface Session {
  /** The Vault token. */
  readonly token: string;
  /** When it was obtained or last renewed (the context's clock). */
  readonly obtainedAt: number;
  /** TTL when obtained or renewed, in ms; 0 never expires; undefined when unknown. */
  readonly ttlMs: number | undefined;
  /** Whether renewing it may extend it. */
  readonly renewable: boolean;
}

/** What a {@linkcode SessionKeeper} needs besides the API. */
export interface SessionKeeperOptions {
  /** Provider instance name, for logs. */
  readonly name: string;
  /** The auth method. */
  readonly auth: AuthMethod;
  /** The context's clock. */
  readonly now: () => number;
  /** The context's logger. */
  readonly logger: Logger;
  /** Learns each token obtained. */
  readonly redactor: Redactor;
}

/** A renewal that adds less than this is treated as capped at the token's max TTL. */
const MIN_RENEWAL_GAIN_MS = 1_000;

/** Holds the provider's session and runs the work that replaces it, one at a time. */
export class SessionKeeper {
  readonly #o: SessionKeeperOptions;
  #session: Session | undefined;
  #work: Promise<Session> | undefined;

  /**
   * Creates the keeper, with no session yet.
   *
   * @param options Name, auth method, clock, logger and redactor.
   */
  constructor(options: SessionKeeperOptions) {
    this.#o = options;
  }

  /**
   * The session to use now: logs in, adopts a new token, or renews, as needed.
   *
   * @param api The Vault API.
   * @param signal Cancellation of this caller's wait.
   * @returns The session.
   */
  async current(api: VaultApi, signal: AbortSignal): Promise<Session> {
    const { auth, now } = this.#o;
    if (!canLogin(auth)) {
      const token = await auth.token(false);
      const s = this.#session;
      if (s !== undefined && s.token === token && !dueForRenewal(s, now())) return s;
    } else {
      const s = this.#session;
      const t = now();
      if (s !== undefined && !expired(s, t) && !dueForRenewal(s, t)) return s;
    }
    return await this.#exclusive(signal, async (sig) => {
      const t = now();
      let s = this.#session;
      if (canLogin(auth)) {
        if (s === undefined || expired(s, t)) s = await this.#login(auth, api, sig);
        else if (dueForRenewal(s, t)) s = await this.#renew(api, s, sig);
      } else {
        const token = await auth.token(false);
        if (s === undefined || s.token !== token) s = await this.#adopt(api, token, sig);
        else if (dueForRenewal(s, t)) s = await this.#renew(api, s, sig);
      }
      this.#session = s;
      return s;
    });
  }

  /**
   * After a 403: a fresh session to try once more, or undefined when there is nothing new.
   *
   * @param api The Vault API.
   * @param denied The session whose token was refused.
   * @param signal Cancellation of this caller's wait.
   * @returns A new session (a new login, or a token that changed), or undefined.
   */
  async afterDenial(
    api: VaultApi,
    denied: Session,
    signal: AbortSignal,
  ): Promise<Session | undefined> {
    const { auth } = this.#o;
    return await this.#exclusive(signal, async (sig) => {
      if (this.#session !== undefined && this.#session !== denied) return this.#session;
      if (canLogin(auth)) {
        this.#session = await this.#login(auth, api, sig);
        return this.#session;
      }
      const token = await auth.token(true);
      if (token === denied.token) return denied;
      this.#session = await this.#adopt(api, token, sig);
      return this.#session;
    }).then((s) => (s === denied ? undefined : s));
  }

  /** Forgets the session (on `close`). */
  clear(): void {
    this.#session = undefined;
  }

  /** Runs session work once at a time; a caller's abort only ends its own wait. */
  async #exclusive(
    signal: AbortSignal,
    work: (signal: AbortSignal) => Promise<Session>,
  ): Promise<Session> {
    for (;;) {
      if (this.#work === undefined) {
        const mine = work(signal).finally(() => {
          if (this.#work === mine) this.#work = undefined;
        });
        this.#work = mine;
        return await raceAbort(mine, signal);
      }
      try {
        await raceAbort(this.#work, signal);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (!isAbortError(e)) throw e;
        // Another caller's abort ended the shared work: try again with our own signal.
      }
    }
  }

  async #login(auth: LoginMethod, api: VaultApi, signal: AbortSignal): Promise<Session> {
    const { name, now, logger, redactor } = this.#o;
    const request = await auth.loginRequest();
    const body = await api.login(request, signal);
    const a = record(record(body).auth);
    const token = typeof a.client_token === "string" ? a.client_token : "";
    if (token === "") {
      throw new VaultHttpError(
        200,
        ["the login answer holds no client_token"],
        [],
        null,
        request.path,
      );
    }
    redactor.add(token);
    const ttl = typeof a.lease_duration === "number" ? a.lease_duration * 1000 : undefined;
    const s: Session = { token, obtainedAt: now(), ttlMs: ttl, renewable: a.renewable === true };
    logger.debug("vault: logged in", {
      provider: name,
      method: auth.method,
      mount: auth.mount,
      ttl_s: ttl === undefined ? "unknown" : ttl / 1000,
    });
    return s;
  }

  /** Learns the TTL of a token that came from the environment or a file. */
  async #adopt(api: VaultApi, token: string, signal: AbortSignal): Promise<Session> {
    const base = { token, obtainedAt: this.#o.now() };
    try {
      const body = await api.lookupSelf(token, signal);
      const d = record(record(body).data);
      const ttl = typeof d.ttl === "number" ? d.ttl * 1000 : undefined;
      return { ...base, ttlMs: ttl, renewable: d.renewable === true && (ttl ?? 0) > 0 };
    } catch (e) {
      if (
        e instanceof VaultHttpError && !isTransientStatus(e.status) && !mentionsInvalidToken(e)
      ) {
        // The policy does not allow lookup-self (or it is unusual): the TTL stays unknown and
        // the token may still read secrets.
        return { ...base, ttlMs: undefined, renewable: false };
      }
      throw e;
    }
  }

  async #renew(api: VaultApi, s: Session, signal: AbortSignal): Promise<Session> {
    const { name, auth, now, logger, redactor } = this.#o;
    try {
      const body = await api.renewSelf(s.token, signal);
      const a = record(record(body).auth);
      const ttl = typeof a.lease_duration === "number" ? a.lease_duration * 1000 : 0;
      const t = now();
      const gained = t + ttl - (s.obtainedAt + (s.ttlMs ?? 0));
      logger.debug("vault: token renewed", {
        provider: name,
        method: auth.method,
        ttl_s: ttl / 1000,
      });
      return {
        token: s.token,
        obtainedAt: t,
        ttlMs: ttl,
        // At the max TTL a renewal no longer extends the token: stop renewing, log in at expiry.
        renewable: a.renewable === true && ttl > 0 && gained >= MIN_RENEWAL_GAIN_MS,
      };
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (e instanceof VaultHttpError && e.status === 403 && canLogin(auth)) {
        return await this.#login(auth, api, signal);
      }
      const transient = e instanceof VaultHttpError
        ? isTransientStatus(e.status)
        : !(e instanceof VaultRedirectError || e instanceof VaultTlsRefusal);
      logger.warn("vault: token renewal failed; using the token until it expires", {
        provider: name,
        method: auth.method,
        reason: redactor.redact(e instanceof Error ? e.message : String(e)),
      });
      // A renewal that will not work again is not tried again; a transient failure is.
      return transient ? s : { ...s, renewable: false };
    }
  }
}

/**
 * Whether a session's token has expired, or will within a small margin (a tenth of its TTL, at
 * most 10 s).
 */
function expired(s: Session, now: number): boolean {
  if (s.ttlMs === undefined || s.ttlMs === 0) return false;
  const skew = Math.min(10_000, s.ttlMs / 10);
  return now >= s.obtainedAt + s.ttlMs - skew;
}

/** Whether a renewable token has used two thirds of its TTL. */
function dueForRenewal(s: Session, now: number): boolean {
  return s.renewable && s.ttlMs !== undefined && s.ttlMs > 0 &&
    now >= s.obtainedAt + (s.ttlMs * 2) / 3;
}

function isAbortError(e: unknown): boolean {
  return e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError");
}
