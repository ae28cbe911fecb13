/**
 * Where a profile's `# yaml-language-server: $schema=...` line points: this module's schema, as
 * a path relative to the profile's directory when the module is on disk, else its URL.
 *
 * @module
 */

import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SCHEMA_URL = new URL("../schema/profile.schema.json", import.meta.url);

/**
 * The `$schema` location for a profile written into `directory`.
 *
 * @param directory The directory the profile is written to.
 * @returns A relative path (with `/` separators) or a URL.
 *
 * @example
 * ```ts
 * import { schemaReference } from "./_schema_ref.ts";
 * if (!schemaReference("examples").endsWith("schema/profile.schema.json")) throw new Error();
 * ```
 */
export function schemaReference(directory: string): string {
  if (SCHEMA_URL.protocol !== "file:") return SCHEMA_URL.href;
  const rel = relative(resolve(directory), fileURLToPath(SCHEMA_URL)).replaceAll("\\", "/");
  return rel.startsWith(".") || rel.startsWith("/") ? rel : `./${rel}`;
}

/** The `$schema` location for a profile written at `file`. */
export function schemaReferenceFor(file: string): string {
  return schemaReference(dirname(resolve(file)));
}
