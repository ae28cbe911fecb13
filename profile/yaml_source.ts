/**
 * YAML text → plain data, keeping a map from JSON pointers back to line and column.
 *
 * @module
 */

import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from "../deps/yaml.ts";
import type { Document, Node } from "../deps/yaml.ts";
import { ProfileError, type ProfileIssue } from "../core/errors.ts";

/** A position in the source text (1-based). */
export interface SourcePosition {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
}

/** Parsed YAML and a way back from a JSON pointer to where it was written. */
export interface YamlSource {
  /** File name, for messages. */
  readonly file: string;
  /** The data, as plain JSON-compatible values. */
  readonly data: unknown;
  /**
   * Position of the value at a JSON pointer, or of the nearest ancestor that exists. With
   * `key`, the position of that key inside the object at `pointer`.
   */
  locate(pointer: string, key?: string): SourcePosition | undefined;
}

/**
 * Parses YAML. Duplicate keys, syntax errors and anchors used as bombs are errors.
 *
 * @param text YAML text.
 * @param file Name for messages.
 * @returns The data and a locator.
 * @throws {ProfileError} with every syntax error, each with line, column and a snippet.
 *
 * @example
 * ```ts
 * import { parseYamlSource } from "./yaml_source.ts";
 * const src = parseYamlSource("version: 1\nhosts:\n  - match: x\n", "p.yaml");
 * const pos = src.locate("/hosts/0/match");
 * if (pos?.line !== 3) throw new Error("wrong line");
 * ```
 */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: true,
    uniqueKeys: true,
    strict: true,
    version: "1.2",
  });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    const issues: ProfileIssue[] = problems.map((e) => {
      const what = e.message.replace(/\s+at line \d+, column \d+:?[\s\S]*$/, "").trim();
      const kind = e.name === "YAMLWarning" ? "warning" : "syntax error";
      const at = offendingOffset(text, e.pos[0]);
      const pos = lineCounter.linePos(at);
      return {
        pointer: "",
        line: pos.line,
        column: pos.col,
        message: [`YAML ${kind}: ${what}`, ...snippet(text, pos.line, pos.col)].join("\n"),
        rule: `yaml.${e.code}`,
      };
    });
    throw new ProfileError(file, issues);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (cause) {
    // Point at the first alias: the expansion failed on one of them.
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const pos = lineCounter.linePos(offset);
    throw new ProfileError(file, [{
      pointer: "",
      line: pos.line,
      column: pos.col,
      message: `YAML cannot be expanded: ${(cause as Error).message}; remove excessive aliases`,
      rule: "yaml.alias",
    }], { cause });
  }
  return {
    file,
    data: data ?? null,
    locate: (pointer, key) => locate(doc, lineCounter, pointer, key),
  };
}

/**
 * Where an error really is: the parser reports some (indentation, a missing `-`) at the start
 * of the line; the offending token is the first one after the indentation.
 */
function offendingOffset(text: string, offset: number): number {
  let at = Math.min(offset, text.length);
  while (at < text.length && (text[at] === " " || text[at] === "\t")) at++;
  return at < text.length && text[at] !== "\n" && text[at] !== "\r" ? at : offset;
}

/** The line before, the offending line, and a caret under the column. */
function snippet(text: string, line: number, column: number): string[] {
  const lines = text.split(/\r?\n/);
  const shown = lines.slice(Math.max(0, line - 2), line).map((l) => l.slice(0, 120));
  return ["", ...shown, `${" ".repeat(Math.min(column - 1, 120))}^`];
}

function locate(
  doc: Document,
  lineCounter: LineCounter,
  pointer: string,
  key?: string,
): SourcePosition | undefined {
  const segments = pointer === "" ? [] : pointer.slice(1).split("/").map(unescapePointer);
  let node: unknown = doc.contents;
  let found: Node | null = doc.contents as Node | null;
  for (const seg of segments) {
    const next = child(node, seg);
    if (next === undefined) break;
    node = next.value;
    found = (next.value as Node | null) ?? next.key ?? found;
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (pair && isScalar(pair.key)) found = pair.key;
  }
  const offset = found?.range?.[0];
  if (offset === undefined) return undefined;
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function child(node: unknown, seg: string): { key: Node | null; value: unknown } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((p) =>
      isPair(p) && isScalar(p.key) && String(p.key.value) === seg
    );
    if (pair === undefined) return undefined;
    return { key: pair.key as Node, value: pair.value };
  }
  if (isSeq(node)) {
    const i = Number(seg);
    if (!Number.isInteger(i) || i < 0 || i >= node.items.length) return undefined;
    return { key: null, value: node.items[i] };
  }
  return undefined;
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** Escapes one JSON pointer segment. */
export function escapePointer(s: string): string {
  return s.replace(/~/g, "~0").replace(/\//g, "~1");
}
