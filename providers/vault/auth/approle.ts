/**
 * Auth method `approle`: logs in at `auth/<mount>/login` (mount default `approle`) with a role
 * id and an optional secret id, each read from an environment variable or a file at every
 * login, so a rotated secret id is picked up.
 *
 * @module
 */

import type { Redactor } from "../../../core/redact.ts";
import { trimSlashes } from "../_util.ts";
import type { CredentialReader } from "../credentials.ts";
import type { VaultAuthOptions } from "../options.ts";
import type { LoginMethod, LoginRequest } from "./types.ts";

/** The `approle` method: builds its login from the role id and secret id. */
export class AppRoleLogin implements LoginMethod {
  /** Always `approle`. */
  readonly method = "approle";
  /** Always `AppRole`. */
  readonly label = "AppRole";
  /** The auth mount, without slashes. */
  readonly mount: string;
  /** Names the method and its mount, for messages. */
  readonly description: string;
  /** What to check when a login fails. */
  readonly loginHint: string;
  /** What a 403 to the login means. */
  readonly loginDeniedHint: string;
  /** What to do when the token of a fresh login is refused. */
  readonly tokenHint =
    "the token of a fresh login was refused too; check the auth role's token TTLs";
  readonly #auth: VaultAuthOptions;
  readonly #credentials: CredentialReader;
  readonly #redactor: Redactor;

  /**
   * Creates the method; reads nothing yet.
   *
   * @param auth The `auth:` block (checked: exactly one role id source).
   * @param credentials Reads the role id and secret id.
   * @param redactor Learns them, so no message or log shows them.
   */
  constructor(auth: VaultAuthOptions, credentials: CredentialReader, redactor: Redactor) {
    this.#auth = auth;
    this.#credentials = credentials;
    this.#redactor = redactor;
    this.mount = trimSlashes(auth.mount ?? "approle");
    this.description = `auth method approle on "auth/${this.mount}"`;
    const roleSrc = auth.role_id_env !== undefined
      ? `environment variable "${auth.role_id_env}"`
      : `file "${auth.role_id_file}"`;
    const secretSrc = auth.secret_id_env !== undefined
      ? `environment variable "${auth.secret_id_env}"`
      : auth.secret_id_file !== undefined
      ? `file "${auth.secret_id_file}"`
      : "no secret id";
    this.loginHint =
      `check the role id (${roleSrc}), the secret id (${secretSrc}) and the mount "${this.mount}"`;
    this.loginDeniedHint =
      `no AppRole auth method is enabled at "auth/${this.mount}" (check auth.mount), or it refused this client`;
  }

  /**
   * Reads the role id and secret id and builds the login.
   *
   * @returns `auth/<mount>/login` with `role_id` and, when configured, `secret_id`.
   * @throws {ProviderSetupError} When a source cannot be read.
   */
  async loginRequest(): Promise<LoginRequest> {
    const auth = this.#auth;
    const roleId = auth.role_id_env !== undefined
      ? this.#credentials.env(auth.role_id_env, "AppRole role id")
      : await this.#credentials.file(auth.role_id_file!, "AppRole role id");
    this.#redactor.add(roleId);
    const secretId = auth.secret_id_env !== undefined
      ? this.#credentials.env(auth.secret_id_env, "AppRole secret id")
      : auth.secret_id_file !== undefined
      ? await this.#credentials.file(auth.secret_id_file, "AppRole secret id")
      : undefined;
    if (secretId !== undefined) this.#redactor.add(secretId);
    return {
      method: "approle",
      mount: this.mount,
      path: `auth/${this.mount}/login`,
      body: { role_id: roleId, ...(secretId !== undefined ? { secret_id: secretId } : {}) },
    };
  }
}
