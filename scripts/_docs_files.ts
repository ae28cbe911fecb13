/**
 * Which files are the project's docs: every Markdown file at the root (README.md, SECURITY.md, …)
 * and under `docs/`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/**
 * A file URL as a path (a directory URL keeps its trailing `/`).
 *
 * @param url The file URL.
 * @returns The path.
 */
export function fromFileUri(url: URL): string {
  const path = fileURLToPath(url);
  return url.pathname.endsWith("/") && !path.endsWith("/") ? `${path}/` : path;
}

/**
 * A doc's path relative to the repository root, with `/` separators.
 *
 * @param file The doc's URL.
 * @param root The root's URL (ending in `/`).
 * @returns The relative path.
 */
export function relativeFromRoot(file: URL, root: URL): string {
  return file.href.startsWith(root.href) ? file.href.slice(root.href.length) : file.href;
}

async function walk(dir: URL, out: URL[]): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const e of entries) {
    if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), out);
    else if (e.isFile && e.name.endsWith(".md")) out.push(new URL(e.name, dir));
  }
}

/**
 * Every doc of the repository, sorted by path.
 *
 * @param root The repository root's URL (ending in `/`).
 * @returns File URLs of the root's `*.md` and of `docs/**\/*.md`.
 */
export async function walkMarkdown(root: URL): Promise<URL[]> {
  const out: URL[] = [];
  for await (const e of Deno.readDir(root)) {
    if (e.isFile && e.name.endsWith(".md")) out.push(new URL(e.name, root));
  }
  await walk(new URL("docs/", root), out);
  return out.sort((a, b) => a.href.localeCompare(b.href));
}
