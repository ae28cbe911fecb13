/** The JSON-Schema validator (ajv, draft 2020-12), pinned once for the whole project. @module */
export { Ajv2020 } from "npm:ajv@8.20.0/dist/2020.js";
export type { ErrorObject, ValidateFunction } from "npm:ajv@8.20.0";
