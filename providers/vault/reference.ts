/**
 * A vault secret reference (`path`, `mount`, `kv`, `version`, `field`): how it is checked and
 * how it is written in messages (`mount/path?version=N#field`, never a value).
 *
 * @module
 */

import { SecretResolutionError } from "../../core/errors.ts";
import type { SecretRef } from "../types.ts";
import { trimSlashes } from "./_util.ts";

/** A checked secret reference. */
export interface VaultRef {
  /** The reference as the profile gave it. */
  readonly raw: SecretRef;
  /** Path without surrounding slashes: below `mount`, or the full path when `mount` is unset. */
  readonly path: string;
  /** Mount without surrounding slashes, or undefined to look it up. */
  readonly mount: string | undefined;
  /** KV version, or `auto` to look it up. */
  readonly kv: 1 | 2 | "auto";
  /** KV v2 version to pin. */
  readonly version: number | undefined;
  /** The field the runtime takes from the secret's data. */
  readonly field: string | undefined;
}

/**
 * Writes a reference for messages and logs: `mount/path?version=N#field`.
 *
 * @param ref A secret reference from the profile.
 * @returns Its printable form; never a value.
 *
 * @example
 * ```ts
 * import { describeRef } from "./reference.ts";
 * const text = describeRef({ path: "/mlflow/auth/", mount: "secret", version: 3, field: "token" });
 * if (text !== "secret/mlflow/auth?version=3#token") throw new Error(text);
 * ```
 */
export function describeRef(ref: SecretRef): string {
  const path = typeof ref.path === "string" ? trimSlashes(ref.path) : String(ref.path);
  const mount = typeof ref.mount === "string" && trimSlashes(ref.mount) !== ""
    ? `${trimSlashes(ref.mount)}/`
    : "";
  const version = typeof ref.version === "number" ? `?version=${ref.version}` : "";
  const field = typeof ref.field === "string" && ref.field !== "" ? `#${ref.field}` : "";
  return `${mount}${path}${version}${field}`;
}

/**
 * Checks a secret reference.
 *
 * @param raw The reference from the profile.
 * @param provider Provider instance name, for the error.
 * @param reference The reference's printable form, for the error.
 * @returns The checked reference.
 * @throws {SecretResolutionError} When `path` is missing, `mount` is not a string, `kv` is not
 * 1, 2 or auto, or `version` is not a positive integer or is given for KV v1.
 */
export function parseRef(raw: SecretRef, provider: string, reference: string): VaultRef {
  const bad = (why: string): never => {
    throw new SecretResolutionError(why, { provider, reference });
  };
  const path = typeof raw.path === "string" ? trimSlashes(raw.path) : "";
  if (path === "") bad('the secret reference needs "path", the secret\'s path in Vault');
  let mount: string | undefined;
  if (raw.mount !== undefined) {
    if (typeof raw.mount !== "string") return bad('"mount" must be a string');
    mount = trimSlashes(raw.mount) === "" ? undefined : trimSlashes(raw.mount);
  }
  const kvRaw = raw.kv ?? "auto";
  const kv = kvRaw === 1 || kvRaw === "1" ? 1 : kvRaw === 2 || kvRaw === "2" ? 2 : kvRaw;
  if (kv !== 1 && kv !== 2 && kv !== "auto") {
    bad(`kv ${JSON.stringify(kvRaw)} is not 1, 2 or auto`);
  }
  let version: number | undefined;
  if (raw.version !== undefined) {
    if (typeof raw.version !== "number" || !Number.isInteger(raw.version) || raw.version < 1) {
      return bad("version must be a positive integer (a KV v2 version number)");
    }
    if (kv === 1) bad("version applies to KV v2 only; remove it or set kv: 2");
    version = raw.version;
  }
  return {
    raw,
    path,
    mount,
    kv: kv as 1 | 2 | "auto",
    version,
    field: typeof raw.field === "string" ? raw.field : undefined,
  };
}
