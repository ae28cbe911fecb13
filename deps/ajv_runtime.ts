// deno-lint-ignore-file no-import-prefix -- deps/ is the one place that pins npm packages, so
// that the module resolves without this repository's deno.json.
/**
 * The few ajv run-time helpers the generated profile validator calls, without the compiler.
 * Same package and version as {@link ./ajv.ts}; a test holds the two equal.
 *
 * @module
 */
import ucs2 from "npm:ajv@8.20.0/dist/runtime/ucs2length.js";

/** Length of a string in Unicode code points, as JSON Schema's `maxLength` counts it. */
export const ucs2length: (text: string) => number =
  (ucs2 as unknown as { default: (text: string) => number }).default;
