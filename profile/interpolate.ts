/**
 * `${VAR}` and `${VAR:-default}` interpolation in every string of a profile. `$$` writes a `$`.
 *
 * @module
 */

import type { ProfileIssue } from "../core/errors.ts";
import { escapePointer } from "./yaml_source.ts";

/** Looks up an environment variable. */
export type EnvLookup = (name: string) => string | undefined;

/** Result: the interpolated data and the issues (a missing variable, a malformed reference). */
export interface Interpolated {
  readonly data: unknown;
  readonly issues: readonly ProfileIssue[];
  /** JSON pointers of strings that took a value from the environment. */
  readonly interpolated: ReadonlySet<string>;
  /** Names of the variables the data refers to (`${NAME}`, `${NAME:-default}`), set or not. */
  readonly variables: ReadonlySet<string>;
}

const TOKEN = /\$\$|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Interpolates every string value (not keys) of a data tree.
 *
 * @param data Plain data from YAML.
 * @param env Variable lookup.
 * @returns New data (the input is not changed) and every issue found.
 *
 * @example
 * ```ts
 * import { interpolate } from "./interpolate.ts";
 * const r = interpolate({ a: "${HOST:-localhost}:${PORT}" }, (n) => n === "PORT" ? "5000" : undefined);
 * if ((r.data as { a: string }).a !== "localhost:5000") throw new Error("wrong");
 * ```
 */
export function interpolate(data: unknown, env: EnvLookup): Interpolated {
  const issues: ProfileIssue[] = [];
  const interpolated = new Set<string>();
  const variables = new Set<string>();
  const walk = (value: unknown, pointer: string): unknown => {
    if (typeof value === "string") return interpolateString(value, pointer);
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${pointer}/${i}`));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, walk(v, `${pointer}/${escapePointer(k)}`)]),
      );
    }
    return value;
  };
  const interpolateString = (text: string, pointer: string): string => {
    if (!text.includes("$")) return text;
    return text.replace(TOKEN, (whole, body: string | undefined) => {
      if (whole === "$$") return "$";
      if (body === undefined) {
        issues.push({
          pointer,
          message:
            'Cannot interpolate: "${" is not closed; write "${NAME}" or "$$" for a literal "$"',
          rule: "interpolation",
        });
        return whole;
      }
      const sep = body.indexOf(":-");
      const name = sep === -1 ? body : body.slice(0, sep);
      const fallback = sep === -1 ? undefined : body.slice(sep + 2);
      if (!NAME.test(name)) {
        issues.push({
          pointer,
          message:
            `Cannot interpolate "\${${body}}": "${name}" is not a variable name; use letters, digits and "_"`,
          rule: "interpolation",
        });
        return whole;
      }
      variables.add(name);
      let value: string | undefined;
      try {
        value = env(name);
      } catch {
        value = undefined;
      }
      if (value === undefined || (value === "" && fallback !== undefined)) {
        if (fallback !== undefined) {
          interpolated.add(pointer);
          return fallback;
        }
        issues.push({
          pointer,
          message:
            `Environment variable "${name}" is not set; set it or write "\${${name}:-default}"`,
          rule: "interpolation",
        });
        return whole;
      }
      interpolated.add(pointer);
      return value;
    });
  };
  return { data: walk(data, ""), issues, interpolated, variables };
}
