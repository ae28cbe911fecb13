/**
 * Where the vault provider reads credentials and TLS files: environment variables and files,
 * with `~/` expanded from `HOME`. Each failure is a {@linkcode ProviderSetupError} that
 * names the variable or file and what to do, with a redacted `cause`; values are never quoted.
 *
 * @module
 */

import type { Redactor } from "../../core/redact.ts";
import { ProviderSetupError } from "../errors.ts";

/** Reads environment variables and files for the provider; holds no value itself. */
export class CredentialReader {
  readonly #env: (name: string) => string | undefined;
  readonly #redactor: Redactor;

  /**
   * Creates the reader.
   *
   * @param env Reads an environment variable (the provider context's `env`).
   * @param redactor Masks known credentials in the causes of errors.
   */
  constructor(env: (name: string) => string | undefined, redactor: Redactor) {
    this.#env = env;
    this.#redactor = redactor;
  }

  /**
   * Reads a credential from an environment variable.
   *
   * @param variable The variable's name.
   * @param what What it holds, for messages (e.g. `Vault token`).
   * @returns The value, trimmed.
   * @throws {ProviderSetupError} When the variable is unset, blank or not permitted.
   */
  env(variable: string, what: string): string {
    let value: string | undefined;
    try {
      value = this.#env(variable);
    } catch (cause) {
      throw new ProviderSetupError(
        `reading environment variable "${variable}" (${what}) is not permitted; run with --allow-env`,
        { cause: this.#redactor.redactError(cause) },
      );
    }
    if (value === undefined || value.trim() === "") {
      throw new ProviderSetupError(
        `environment variable "${variable}" (${what}) is not set; export it before starting`,
      );
    }
    return value.trim();
  }

  /**
   * Expands a leading `~` to `HOME`.
   *
   * @param path A path from the profile.
   * @returns The path, with `~` expanded.
   * @throws {ProviderSetupError} When the path starts with `~` and `HOME` is unset.
   */
  expandHome(path: string): string {
    if (path !== "~" && !path.startsWith("~/")) return path;
    const home = this.#env("HOME");
    if (home === undefined || home === "") {
      throw new ProviderSetupError(
        `cannot expand "${path}": HOME is not set; give an absolute path`,
      );
    }
    return home + path.slice(1);
  }

  /**
   * Reads a credential from a file.
   *
   * @param path The file (`~/` allowed).
   * @param what What it holds, for messages.
   * @returns The file's text, trimmed.
   * @throws {ProviderSetupError} When the file is missing, unreadable or empty.
   */
  async file(path: string, what: string): Promise<string> {
    const text = await this.configFile(path, what);
    const value = text.trim();
    if (value === "") {
      throw new ProviderSetupError(`file "${path}" (${what}) is empty`);
    }
    return value;
  }

  /**
   * Reads a file named by a setting (a credential or a PEM file).
   *
   * @param path The file (`~/` allowed).
   * @param what What it holds, for messages (e.g. `tls.ca_cert`).
   * @returns The file's text.
   * @throws {ProviderSetupError} When the file is missing or unreadable.
   */
  async configFile(path: string, what: string): Promise<string> {
    const full = this.expandHome(path);
    try {
      return await Deno.readTextFile(full);
    } catch (cause) {
      throw this.fileError(full, what, cause);
    }
  }

  /**
   * The error for a file that could not be read or stat'ed.
   *
   * @param path The file, expanded.
   * @param what What it holds, for messages.
   * @param cause What the file system threw.
   * @returns The error to throw: transient unless the file is missing or not permitted.
   */
  fileError(path: string, what: string, cause: unknown): ProviderSetupError {
    const safe = { cause: this.#redactor.redactError(cause) };
    if (cause instanceof Deno.errors.NotFound) {
      return new ProviderSetupError(
        `file "${path}" (${what}) does not exist; check the path`,
        safe,
      );
    }
    if (cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable) {
      return new ProviderSetupError(
        `file "${path}" (${what}) cannot be read: permission denied; check the file mode and --allow-read`,
        safe,
      );
    }
    return new ProviderSetupError(`file "${path}" (${what}) cannot be read`, {
      ...safe,
      transient: true,
    });
  }
}
