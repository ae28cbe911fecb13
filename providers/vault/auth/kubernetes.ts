/**
 * Auth method `kubernetes`: logs in at `auth/<mount>/login` (mount default `kubernetes`) as
 * `role`, with the pod's service-account token read from `jwt_file` at every login (the
 * kubelet rotates it).
 *
 * @module
 */

import type { Redactor } from "../../../core/redact.ts";
import { trimSlashes } from "../_util.ts";
import type { CredentialReader } from "../credentials.ts";
import type { VaultAuthOptions } from "../options.ts";
import type { LoginMethod, LoginRequest } from "./types.ts";

/** Where Kubernetes mounts a pod's service-account token. */
export const DEFAULT_JWT_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** The `kubernetes` method: builds its login from the role and the service-account token. */
export class KubernetesLogin implements LoginMethod {
  /** Always `kubernetes`. */
  readonly method = "kubernetes";
  /** Always `Kubernetes`. */
  readonly label = "Kubernetes";
  /** The auth mount, without slashes. */
  readonly mount: string;
  /** Names the method, its role and its mount, for messages. */
  readonly description: string;
  /** What to check when a login fails. */
  readonly loginHint: string;
  /** What a 403 to the login means: the same checks. */
  readonly loginDeniedHint: string;
  /** What to do when the token of a fresh login is refused. */
  readonly tokenHint =
    "the token of a fresh login was refused too; check the auth role's token TTLs";
  readonly #role: string | undefined;
  readonly #jwtFile: string;
  readonly #credentials: CredentialReader;
  readonly #redactor: Redactor;

  /**
   * Creates the method; reads nothing yet.
   *
   * @param auth The `auth:` block (checked: `role` is set).
   * @param credentials Reads the service-account token.
   * @param redactor Learns it, so no message or log shows it.
   */
  constructor(auth: VaultAuthOptions, credentials: CredentialReader, redactor: Redactor) {
    this.#role = auth.role;
    this.#jwtFile = auth.jwt_file ?? DEFAULT_JWT_FILE;
    this.#credentials = credentials;
    this.#redactor = redactor;
    this.mount = trimSlashes(auth.mount ?? "kubernetes");
    this.description = `auth method kubernetes, role "${auth.role}" on "auth/${this.mount}"`;
    this.loginHint =
      `check the role "${auth.role}", the mount "${this.mount}" and that Vault trusts the service-account token in "${this.#jwtFile}"`;
    this.loginDeniedHint = this.loginHint;
  }

  /**
   * Reads the service-account token and builds the login.
   *
   * @returns `auth/<mount>/login` with `role` and `jwt`.
   * @throws {ProviderSetupError} When the token file cannot be read.
   */
  async loginRequest(): Promise<LoginRequest> {
    const jwt = await this.#credentials.file(this.#jwtFile, "Kubernetes service-account token");
    this.#redactor.add(jwt);
    return {
      method: "kubernetes",
      mount: this.mount,
      path: `auth/${this.mount}/login`,
      body: { role: this.#role as string, jwt },
    };
  }
}
