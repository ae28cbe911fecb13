/**
 * Reading a secret from a KV mount. A secret is `path` on `mount`. With `kv: auto` (the
 * default) or without `mount`, the mount and its KV version are asked from
 * `sys/internal/ui/mounts/<path>`, as the `vault` CLI does, and remembered
 * ({@linkcode MountTable}). KV v2 reads `<mount>/data/<path>` (`version` pins one); KV v1 reads
 * `<mount>/<path>` ({@linkcode readKv}). Either returns the secret's data object; `field` is
 * applied by the runtime.
 *
 * @module
 */

import { SecretResolutionError } from "../../core/errors.ts";
import { encodePath, isRecord, record, trimSlashes } from "./_util.ts";
import type { VaultApi } from "./client.ts";
import { isNamespaceNotFound, VaultHttpError } from "./errors.ts";
import { describeRef, type VaultRef } from "./reference.ts";

/** Where a secret lives once the mount is known. */
export interface Location {
  /** Mount without slashes; `""` when unknown (a KV v1 read of the full path). */
  readonly mount: string;
  /** Path below the mount. */
  readonly rel: string;
  /** KV version of the mount. */
  readonly kv: 1 | 2;
}

/** A secret's data as read. */
export interface KvSecret {
  /** The secret's data object. */
  readonly data: Record<string, unknown>;
  /** KV v1: the `lease_duration` Vault suggests, in ms, when positive. */
  readonly leaseMs?: number;
  /** KV v2: the version read. */
  readonly version?: number;
}

/** The token and signal of one read. */
export interface ReadOptions {
  /** The Vault token. */
  readonly token: string;
  /** The caller's cancellation. */
  readonly signal: AbortSignal;
}

/** The mounts learnt from `sys/internal/ui/mounts`, by full path. */
export class MountTable {
  readonly #locations = new Map<string, Location>();

  /**
   * Where a reference's secret lives: from the reference when it names mount and KV version,
   * else from a remembered or a new mount lookup. A Vault without the lookup endpoint (404)
   * is taken for KV v1, as the `vault` CLI does.
   *
   * @param api The Vault API.
   * @param ref The reference.
   * @param options The token and the caller's signal.
   * @returns The location.
   */
  async locate(
    api: VaultApi,
    ref: VaultRef,
    options: ReadOptions,
  ): Promise<Location> {
    const { token, signal } = options;
    if (ref.kv !== "auto" && ref.mount !== undefined) {
      return { mount: ref.mount, rel: ref.path, kv: ref.kv };
    }
    if (ref.kv === 1 && ref.mount === undefined) return { mount: "", rel: ref.path, kv: 1 };
    const full = ref.mount === undefined ? ref.path : `${ref.mount}/${ref.path}`;
    const known = this.#locations.get(full);
    if (known !== undefined) return known;
    const apiPath = `sys/internal/ui/mounts/${encodePath(full)}`;
    let loc: Location;
    try {
      const body = await api.read(apiPath, token, signal);
      const d = record(record(body).data);
      const mountPath = typeof d.path === "string" ? trimSlashes(d.path) : "";
      const opts = record(d.options);
      const version = opts.version === "2" ? 2 : 1;
      if (mountPath === "" || !(`${full}/`).startsWith(`${mountPath}/`)) {
        throw new VaultHttpError(
          200,
          [`the mount lookup named "${mountPath}/", which does not hold "${full}"`],
          [],
          null,
          apiPath,
        );
      }
      loc = {
        mount: mountPath,
        rel: full.slice(mountPath.length + 1),
        kv: ref.kv === "auto" ? version : ref.kv,
      };
    } catch (e) {
      // Like the vault CLI: a Vault too old to have the endpoint is KV v1.
      if (!(e instanceof VaultHttpError && e.status === 404) || isNamespaceNotFound(e)) throw e;
      if (ref.kv === 2) throw e;
      loc = ref.mount === undefined
        ? { mount: "", rel: ref.path, kv: 1 }
        : { mount: ref.mount, rel: ref.path, kv: 1 };
    }
    this.#locations.set(full, loc);
    return loc;
  }

  /**
   * Forgets a reference's location (after a 404: the mount may have moved).
   *
   * @param ref The reference.
   */
  forget(ref: VaultRef): void {
    this.#locations.delete(ref.mount === undefined ? ref.path : `${ref.mount}/${ref.path}`);
  }

  /** Forgets every location (on `close`). */
  clear(): void {
    this.#locations.clear();
  }
}

/**
 * Reads a secret at a known location.
 *
 * @param api The Vault API.
 * @param ref The reference (its pinned version).
 * @param options Where the secret lives, the token, the caller's signal and the provider name
 * (for errors).
 * @returns The secret's data, with the KV v1 lease or the KV v2 version.
 * @throws {SecretResolutionError} When a version is pinned on a KV v1 mount.
 */
export async function readKv(
  api: VaultApi,
  ref: VaultRef,
  options: ReadOptions & { readonly location: Location; readonly provider: string },
): Promise<KvSecret> {
  const { location: loc, token, signal } = options;
  const mountPrefix = loc.mount === "" ? "" : `${encodePath(loc.mount)}/`;
  if (loc.kv === 1) {
    if (ref.version !== undefined) {
      throw new SecretResolutionError(
        `version ${ref.version} was asked for, but "${
          loc.mount || ref.path
        }" is a KV v1 mount, which keeps no versions; remove version`,
        { provider: options.provider, reference: describeRef(ref.raw) },
      );
    }
    const apiPath = `${mountPrefix}${encodePath(loc.rel)}`;
    const body = record(await api.read(apiPath, token, signal));
    const data = body.data;
    if (!isRecord(data)) {
      throw new VaultHttpError(200, ["the answer holds no data object"], [], null, apiPath);
    }
    const lease = typeof body.lease_duration === "number" && body.lease_duration > 0
      ? body.lease_duration * 1000
      : undefined;
    return lease === undefined ? { data } : { data, leaseMs: lease };
  }
  const query = ref.version === undefined ? "" : `?version=${ref.version}`;
  const apiPath = `${mountPrefix}data/${encodePath(loc.rel)}${query}`;
  const body = record(await api.read(apiPath, token, signal));
  const outer = record(body.data);
  if (!isRecord(outer.data)) {
    throw new VaultHttpError(200, ["the answer holds no data object"], [], null, apiPath);
  }
  const version = record(outer.metadata).version;
  return typeof version === "number" ? { data: outer.data, version } : { data: outer.data };
}
