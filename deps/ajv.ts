// deno-lint-ignore-file no-import-prefix -- deps/ is the one place that pins npm packages, so
// that the module resolves without this repository's deno.json.
/**
 * The JSON-Schema compiler (ajv, draft 2020-12) and its standalone code generator, pinned once.
 * Used only to generate `profile/_profile_validator.js` (`deno task gen:validator`); at run time
 * the profile is checked by that generated code and {@link ./ajv_runtime.ts}.
 *
 * @module
 */
import standalone from "npm:ajv@8.20.0/dist/standalone/index.js";
export { Ajv2020 } from "npm:ajv@8.20.0/dist/2020.js";
export type { ErrorObject, ValidateFunction } from "npm:ajv@8.20.0";

/** ajv's standalone code generator (CommonJS: its `default` is the function). */
export const standaloneCode: typeof standalone.default = standalone.default;
