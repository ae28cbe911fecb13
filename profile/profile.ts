/**
 * Reading a profile: YAML → interpolation → validation → a {@linkcode Profile}.
 *
 * @module
 */

import { ProfileError } from "../core/errors.ts";
import type { ProviderFactory } from "../providers/types.ts";
import { FileRefusal, readRegularTextFile } from "../core/_regular_file.ts";
import { type EnvLookup, interpolate } from "./interpolate.ts";
import type { ProfileData } from "./types.ts";
import { validateProfileData } from "./validate.ts";
import { parseYamlSource, type SourcePosition } from "./yaml_source.ts";

/** A validated, interpolated profile, with a way back to its source lines. */
export interface Profile {
  /** File name (or `<inline>`). */
  readonly source: string;
  /** The data. */
  readonly data: ProfileData;
  /** Position of a JSON pointer in the source. */
  readonly locate: (pointer: string, key?: string) => SourcePosition | undefined;
  /** Pointers of strings that took a value from the environment. */
  readonly interpolated: ReadonlySet<string>;
  /** Names of the variables the profile refers to with `${NAME}`, set or not. */
  readonly variables: ReadonlySet<string>;
  /**
   * Provider factories by kind: the ones the profile was validated against, from which its
   * providers are created (the plan and the resolver take them from here).
   */
  readonly factories: ReadonlyMap<string, ProviderFactory>;
}

/** Options of {@linkcode parseProfile}. */
export interface ParseProfileOptions {
  /** File name used in messages. Default `<inline>`. */
  readonly source?: string;
  /**
   * Variables for `${VAR}` interpolation: a record or a lookup function. Default: the process
   * environment (needs `--allow-env` for the variables the profile names).
   */
  readonly env?: EnvLookup | Readonly<Record<string, string>>;
  /**
   * Provider factories by kind, to validate against (each factory's `check`) and to run with.
   * Here, in the profile layer, the default is none: only the schema's checks run and no provider
   * can be created. The `parseProfile` and `loadProfile` of `mod.ts` fill in the built-in ones.
   */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
}

/**
 * Parses and validates a profile text.
 *
 * @param text YAML text.
 * @param options Source name and environment.
 * @returns The profile.
 * @throws {ProfileError} listing every issue, each with line:column and a JSON pointer.
 *
 * @example
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts:
 *   - match: https://mlflow.example.com
 *     provider: ci
 *     secret: { var: MLFLOW_TOKEN }
 *     auth: bearer
 * `, { env: {} });
 * if (profile.data.hosts.length !== 1) throw new Error("wrong");
 * ```
 */
export function parseProfile(text: string, options: ParseProfileOptions = {}): Profile {
  const source = options.source ?? "<inline>";
  const yaml = parseYamlSource(text, source);
  const env = toLookup(options.env);
  const { data, issues: interpolationIssues, interpolated, variables } = interpolate(
    yaml.data,
    env,
  );
  const locate = yaml.locate;
  const factories = options.providers ?? new Map<string, ProviderFactory>();
  const issues = [
    ...interpolationIssues,
    // A value left uninterpolated would also fail its schema check: report it once.
    ...validateProfileData(data, locate, factories).filter((i) =>
      !interpolationIssues.some((x) => x.pointer === i.pointer)
    ),
  ].map((i) => {
    if (i.line !== undefined) return i;
    // Every issue gets a line and column; one about the document as a whole (an empty file)
    // points at its start.
    const pos = locate(i.pointer) ?? { line: 1, column: 1 };
    return { ...i, line: pos.line, column: pos.column };
  });
  if (issues.length > 0) {
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new ProfileError(source, issues);
  }
  return { source, data: data as ProfileData, locate, interpolated, variables, factories };
}

/** Options of {@linkcode loadProfile}. */
export interface LoadProfileOptions {
  /** Variables for interpolation (see {@linkcode ParseProfileOptions.env}). */
  readonly env?: EnvLookup | Readonly<Record<string, string>>;
  /** Provider factories by kind (see {@linkcode ParseProfileOptions.providers}). */
  readonly providers?: ReadonlyMap<string, ProviderFactory>;
}

/** The largest profile read: real ones are a few KiB; this stops a device or a huge file. */
const MAX_PROFILE_BYTES = 1 << 20;

/**
 * Reads and validates a profile file. Only a regular file of at most 1 MiB is read: a FIFO, a
 * device or a directory is refused before it is opened.
 *
 * @param path File path.
 * @param options Environment for interpolation.
 * @returns The profile.
 * @throws {ProfileError} when the file is missing, unreadable, not a regular file, over 1 MiB
 *   or invalid.
 *
 * @example
 * ```ts
 * import { loadProfile } from "./profile.ts";
 * const profile = await loadProfile("examples/basic.yaml", { env: {} });
 * if (profile.source !== "examples/basic.yaml") throw new Error("wrong source");
 * ```
 */
export async function loadProfile(
  path: string,
  options: LoadProfileOptions = {},
): Promise<Profile> {
  let text: string;
  try {
    ({ text } = await readRegularTextFile(path, { maxBytes: MAX_PROFILE_BYTES }));
  } catch (cause) {
    const why = cause instanceof FileRefusal
      ? `${cause.message}; give the path of the profile's YAML file${
        cause.reason === "too-large" ? ", which is a few KiB at most" : ""
      }`
      : cause instanceof Deno.errors.NotFound
      ? "the file does not exist; check the path"
      : cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable
      ? "permission denied; check the file mode and --allow-read"
      : "it cannot be read";
    throw new ProfileError(path, [{
      pointer: "",
      message: `Cannot read the profile "${absolutePath(path)}": ${why}`,
      rule: "read",
    }], {
      cause,
    });
  }
  return parseProfile(text, {
    source: path,
    ...(options.env ? { env: options.env } : {}),
    ...(options.providers ? { providers: options.providers } : {}),
  });
}

/**
 * The path made absolute against the working directory, for messages (as given when the working
 * directory may not be read).
 *
 * @param path A file path.
 * @returns The absolute path.
 */
export function absolutePath(path: string): string {
  if (path.startsWith("/")) return path;
  // Deno.cwd() needs read access; never prompt for it just to word a message.
  if (Deno.permissions.querySync({ name: "read" }).state !== "granted") return path;
  try {
    const cwd = Deno.cwd();
    return decodeURIComponent(
      new URL(path, `file://${cwd.endsWith("/") ? cwd : `${cwd}/`}`).pathname,
    );
  } catch {
    return path;
  }
}

/** Where the profile path came from. */
export type ProfilePathOrigin = "flag" | "env" | "default";

/**
 * Picks the profile path: the flag, else `MLFLOW_SECRETS_AUTH_PROFILE`, else
 * `./mlflow-auth.yaml`.
 *
 * @param flag The `--profile` value, if given.
 * @param env Environment lookup.
 * @returns The path and where it came from.
 */
export function resolveProfilePath(
  flag: string | undefined,
  env: EnvLookup,
): { path: string; origin: ProfilePathOrigin } {
  if (flag !== undefined && flag !== "") return { path: flag, origin: "flag" };
  const fromEnv = env("MLFLOW_SECRETS_AUTH_PROFILE");
  if (fromEnv !== undefined && fromEnv !== "") return { path: fromEnv, origin: "env" };
  return { path: "./mlflow-auth.yaml", origin: "default" };
}

/** Turns a record or function into a lookup; the default reads the process environment. */
export function toLookup(env: EnvLookup | Readonly<Record<string, string>> | undefined): EnvLookup {
  if (env === undefined) return (name) => Deno.env.get(name);
  if (typeof env === "function") return env;
  return (name) => Object.hasOwn(env, name) ? env[name] : undefined;
}
