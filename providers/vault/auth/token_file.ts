/**
 * Auth method `token_file`: the token is read from a file (`token_file`, default
 * `~/.vault-token`, or a Vault Agent sink), and read again when the file changes (its inode,
 * size or modification time).
 *
 * @module
 */

import type { Redactor } from "../../../core/redact.ts";
import type { CredentialReader } from "../credentials.ts";
import type { VaultAuthOptions } from "../options.ts";
import type { TokenSource } from "./types.ts";

/** The `token_file` method's token source: remembers the token with the file's stamp. */
export class TokenFileSource implements TokenSource {
  /** Always `token_file`. */
  readonly method = "token_file";
  /** Names the method and its file, for messages. */
  readonly description: string;
  /** What to do when Vault refuses the token. */
  readonly tokenHint: string;
  readonly #file: string;
  readonly #credentials: CredentialReader;
  readonly #redactor: Redactor;
  #memo: { readonly stamp: string; readonly token: string } | undefined;

  /**
   * Creates the source; reads nothing yet.
   *
   * @param auth The `auth:` block.
   * @param credentials Reads the file.
   * @param redactor Learns the token, so no message or log shows it.
   */
  constructor(auth: VaultAuthOptions, credentials: CredentialReader, redactor: Redactor) {
    this.#file = auth.token_file ?? "~/.vault-token";
    this.#credentials = credentials;
    this.#redactor = redactor;
    this.description = `auth method token_file "${this.#file}"`;
    this.tokenHint =
      `the token in "${this.#file}" is invalid, expired or revoked; refresh the file (vault login, or Vault Agent)`;
  }

  /**
   * The token in the file; read again when the file changed or `force` is set.
   *
   * @param force Read the file even if its stamp is unchanged.
   * @returns The token.
   * @throws {ProviderSetupError} When the file is missing, unreadable or empty.
   */
  async token(force: boolean): Promise<string> {
    const path = this.#credentials.expandHome(this.#file);
    let stamp: string;
    try {
      const info = await Deno.stat(path);
      stamp = `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    } catch (cause) {
      throw this.#credentials.fileError(path, "Vault token", cause);
    }
    if (!force && this.#memo !== undefined && this.#memo.stamp === stamp) {
      return this.#memo.token;
    }
    const token = await this.#credentials.file(path, "Vault token");
    this.#redactor.add(token);
    this.#memo = { stamp, token };
    return token;
  }

  /** Forgets the remembered token. */
  forget(): void {
    this.#memo = undefined;
  }
}
