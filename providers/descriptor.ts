/**
 * What a provider kind declares, beside its code, for the command line and the bundler: its
 * factory, the SDK packages it loads lazily, the Deno permissions its settings need, its `init`
 * template and its `--from-env` mapping. The registry lists one descriptor per kind; `info`,
 * `doctor`, `permissions`, `compile`, `init`, `--from-env` and `bundle` derive everything from it,
 * so no command names a provider kind.
 *
 * Descriptors are plain data and small functions: they import no SDK and do no I/O.
 *
 * @module
 */

import type { ProviderFactory, SecretRef } from "./types.ts";

/** An npm package a provider imports on first use, and how to import it. */
export interface ProviderSdk {
  /** npm package name, e.g. `node-vault`. */
  readonly package: string;
  /**
   * URL of the `deps/` module that pins the package. A bundle of other kinds replaces it with a
   * module that fails when loaded.
   */
  readonly module: string;
  /** Imports that module: a literal `import()`, so that `deno info` lists it as dynamic. */
  readonly load: () => Promise<unknown>;
}

/**
 * Collects the Deno permissions a provider's settings need, for one provider instance of a
 * profile (`permissions`, `compile`). Every list is narrowed and sorted by the caller.
 */
export interface PermissionGrant {
  /** The instance's name in the profile. */
  readonly provider: string;
  /** The secret references of the host rules that use the instance. */
  readonly secrets: readonly SecretRef[];
  /** The home directory at run time. */
  readonly home: string;
  /** `path` with a leading `~/` replaced by the home directory. */
  tilde(path: string): string;
  /**
   * Network access to a URL of the provider block, at `pointer` below it (e.g. `/address`). Where
   * the profile writes its host or port with `${VAR}`, the grant widens and says so.
   */
  url(pointer: string, url: string): void;
  /** Network access to `host:port`, `host` (every port) or `*.domain:port`. */
  net(host: string): void;
  /** Reading an environment variable, or every one with a prefix (`AWS_*`). */
  env(name: string): void;
  /** Reading the whole environment (`--allow-env` without a list). */
  allEnv(): void;
  /** Reading a file or a directory. */
  read(path: string): void;
  /** One kind of system information, e.g. `osRelease`. */
  sys(kind: string): void;
  /** All system information (`--allow-sys` without a list), e.g. for HTTPS through `node:https`. */
  allSys(): void;
  /** A note for the operator: why a grant is broad, or what to add by hand. */
  note(text: string): void;
}

/** One value `init` needs: a flag, or a question on a terminal. */
export interface InitQuestion {
  /** Key of the answer, and of the option (`secretId` for `--secret-id`). */
  readonly key: string;
  /** The flag, e.g. `--secret-id`. */
  readonly flag: string;
  /** The flag's argument in `--help`, e.g. `id` for `--secret-id <id>`. */
  readonly argument: string;
  /** What the flag gives, for `--help`, e.g. `secret name or ARN`. */
  readonly help: string;
  /** The question asked on a terminal. */
  readonly question: string;
  /**
   * The answer when none is given (off a terminal) or offered (on one). Without it, the value is
   * required.
   */
  readonly fallback?: (env: (name: string) => string | undefined) => string | undefined;
  /**
   * `flag`: taken from the flag only, never asked. `terminal`: asked on a terminal only, else
   * left out. Default: asked on a terminal, else the flag or the fallback, else missing.
   */
  readonly ask?: "flag" | "terminal";
  /** The allowed answers, and what an answer is called in the error for an unknown one. */
  readonly choices?: { readonly values: readonly string[]; readonly what: string };
  /** Asked only when this holds for the answers so far. */
  readonly when?: (answers: Readonly<Record<string, string>>) => boolean;
}

/** The provider block and secret reference `init` writes for a kind. */
export interface InitTemplate {
  /** Default instance name, e.g. `aws`. */
  readonly name: string;
  /** What to ask, in order. */
  readonly questions: readonly InitQuestion[];
  /**
   * The provider block's lines after `kind:` (indented four spaces, comments allowed) and the
   * secret reference's keys in order (`field` is added by `init`).
   *
   * @param answers The answers, by question key.
   * @param scalar Writes a value as a YAML scalar.
   */
  render(
    answers: Readonly<Record<string, string>>,
    scalar: (value: string) => string,
  ): {
    readonly provider: readonly string[];
    readonly secret: readonly (readonly [string, string | number | undefined])[];
  };
}

/** Reads the Python plugin's environment for a `--from-env` mapping. */
export interface FromEnvLookup {
  /** A variable's trimmed value; undefined when unset or empty. */
  get(name: string): string | undefined;
  /** A required variable: its value, or `""` after noting it as missing. */
  need(name: string): string;
  /** Notes something missing that is not one variable, e.g. `VAULT_TOKEN (or ...)`. */
  missing(what: string): void;
  /** Reports what the old configuration did unsafely or what cannot be carried over. */
  warn(text: string): void;
  /** Refuses to build: throws the command line's usage error with this reason. */
  refuse(reason: string): never;
}

/** How the Python plugin's environment variables for one kind become a provider block. */
export interface FromEnvMapping {
  /** The instance name in the profile built, e.g. `aws`. */
  readonly name: string;
  /** Prefix of the plugin's variables for this kind: `<prefix>_AUTH_MODE`, `<prefix>_TTL_SEC`. */
  readonly prefix: string;
  /**
   * Builds the provider block and the secret reference. Never copies a secret value: tokens stay
   * in the variables they are in.
   */
  build(env: FromEnvLookup): {
    readonly provider: Record<string, unknown>;
    readonly secret: Record<string, unknown>;
  };
}

/**
 * A setting that is a non-empty string, else undefined.
 *
 * @param value A value of a provider block or a secret reference.
 * @returns The string, or undefined.
 *
 * @example
 * ```ts
 * import { setting } from "./descriptor.ts";
 * if (setting("") !== undefined || setting(3) !== undefined || setting("a") !== "a") {
 *   throw new Error("wrong");
 * }
 * ```
 */
export function setting(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Everything the command line and the bundler know about a provider kind. */
export interface ProviderDescriptor {
  /** The factory (its `kind` is the descriptor's). */
  readonly factory: ProviderFactory;
  /** Where this descriptor is exported: its module's URL and its name (for generated code). */
  readonly exported: { readonly module: string; readonly name: string };
  /** SDK packages the provider loads on first use; empty for none. */
  readonly sdks: readonly ProviderSdk[];
  /**
   * Adds what one instance of the kind needs to run.
   *
   * @param config The provider block (validated, interpolated).
   * @param grant Where to add it.
   */
  permissions(config: Readonly<Record<string, unknown>>, grant: PermissionGrant): void;
  /** The `init` template. */
  readonly init: InitTemplate;
  /** The `--from-env` mapping, for the kinds the Python plugin knew. */
  readonly fromEnv?: FromEnvMapping;
  /** What `exec` must know to keep the credential away from its child. Default: nothing. */
  readonly exec?: ExecHints;
  /** What a secret of the kind carries about itself, stated from the profile alone. */
  readonly secretFacts?: SecretFacts;
}

/**
 * What a kind's secrets carry about themselves, stated from the profile without reading one, for
 * `explain` and `info` (`doctor` shows the values it reads).
 */
export interface SecretFacts {
  /**
   * Where a secret of this reference carries its own expiry or renewal point, which bounds its
   * cache entry below the rule's ttl; empty when it carries none. A JWT's `exp` in the value is
   * read for every kind and is not listed here.
   *
   * @param config The provider block.
   * @param ref The secret reference.
   */
  expiry(config: Readonly<Record<string, unknown>>, ref: SecretRef): readonly string[];
  /**
   * What the version shown in the access log, the metrics and `doctor` is for this reference;
   * undefined when the kind reports none.
   *
   * @param config The provider block.
   * @param ref The secret reference.
   */
  version(config: Readonly<Record<string, unknown>>, ref: SecretRef): string | undefined;
  /**
   * What the provider's own limit on caching a secret of this reference is, when it sets one
   * (a lease, a token TTL, a re-check interval), for `doctor` to name when it comes first.
   */
  readonly limit?: string;
}

/** What `exec` must know about a kind to keep the credential away from its child. */
export interface ExecHints {
  /**
   * The secret comes from a local source (a variable, a file): no network, no SDK, microseconds.
   * `exec` reads it before the child starts, even with `--no-preflight`.
   */
  readonly local?: boolean;
  /** The key of a secret reference that names the variable the secret is in (`var`). */
  readonly secretVariable?: string;
  /**
   * Variables the kind reads without the profile naming them, which lead to the credential
   * (e.g. `VAULT_TOKEN`): removed from the child's environment.
   */
  readonly defaultEnv?: readonly string[];
  /**
   * The kind's SDK may find credentials in the ambient cloud variables (`AWS_*`, `AZURE_*`):
   * `exec` warns when the child keeps them.
   */
  readonly ambientCloud?: boolean;
}
