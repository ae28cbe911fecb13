/**
 * What `init` can write, as lists: the choices of its `--provider` and `--vault-auth` flags.
 * Kept apart from `init.ts`, which parses and validates profiles, so that defining the command
 * line does not load a YAML parser (`schema` and `completions` start as fast as before).
 *
 * @module
 */

/** Provider kinds `init` can write. */
export const INIT_KINDS = [
  "env",
  "file",
  "vault",
  "aws-secrets-manager",
  "azure-key-vault",
] as const;
/** Vault auth methods `init` can write. */
export const VAULT_METHODS = ["token", "token_file", "approle", "kubernetes"] as const;
