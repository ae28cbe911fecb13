/**
 * Picks the auth method a provider block names.
 *
 * @module
 */

import type { Redactor } from "../../../core/redact.ts";
import type { CredentialReader } from "../credentials.ts";
import type { VaultAuthOptions } from "../options.ts";
import { AppRoleLogin } from "./approle.ts";
import { KubernetesLogin } from "./kubernetes.ts";
import { EnvTokenSource } from "./token.ts";
import { TokenFileSource } from "./token_file.ts";
import type { AuthMethod } from "./types.ts";

/**
 * The auth method of a checked `auth:` block. Reads nothing yet.
 *
 * @param auth The `auth:` block.
 * @param credentials Reads environment variables and files.
 * @param redactor Learns every credential read.
 * @returns The method.
 */
export function createAuthMethod(
  auth: VaultAuthOptions,
  credentials: CredentialReader,
  redactor: Redactor,
): AuthMethod {
  switch (auth.method) {
    case "token":
      return new EnvTokenSource(auth, credentials, redactor);
    case "token_file":
      return new TokenFileSource(auth, credentials, redactor);
    case "approle":
      return new AppRoleLogin(auth, credentials, redactor);
    case "kubernetes":
      return new KubernetesLogin(auth, credentials, redactor);
  }
}
