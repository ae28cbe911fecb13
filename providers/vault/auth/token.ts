/**
 * Auth method `token`: the token is read from an environment variable (`token_env`, default
 * `VAULT_TOKEN`) each time the session checks it.
 *
 * @module
 */

import type { Redactor } from "../../../core/redact.ts";
import type { CredentialReader } from "../credentials.ts";
import type { VaultAuthOptions } from "../options.ts";
import type { TokenSource } from "./types.ts";

/** The `token` method's token source: the variable is read at every check, never remembered. */
export class EnvTokenSource implements TokenSource {
  /** Always `token`. */
  readonly method = "token";
  /** Names the method and its variable, for messages. */
  readonly description: string;
  /** What to do when Vault refuses the token. */
  readonly tokenHint: string;
  readonly #variable: string;
  readonly #credentials: CredentialReader;
  readonly #redactor: Redactor;

  /**
   * Creates the source; reads nothing yet.
   *
   * @param auth The `auth:` block.
   * @param credentials Reads the variable.
   * @param redactor Learns the token, so no message or log shows it.
   */
  constructor(auth: VaultAuthOptions, credentials: CredentialReader, redactor: Redactor) {
    this.#variable = auth.token_env ?? "VAULT_TOKEN";
    this.#credentials = credentials;
    this.#redactor = redactor;
    this.description = `auth method token from "${this.#variable}"`;
    this.tokenHint =
      `the token in "${this.#variable}" is invalid, expired or revoked; provide a fresh token`;
  }

  /**
   * The token in the variable.
   *
   * @returns The token, trimmed.
   * @throws {ProviderSetupError} When the variable is unset, blank or not permitted.
   */
  token(): Promise<string> {
    try {
      const token = this.#credentials.env(this.#variable, "Vault token");
      this.#redactor.add(token);
      return Promise.resolve(token);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Nothing is remembered. */
  forget(): void {}
}
