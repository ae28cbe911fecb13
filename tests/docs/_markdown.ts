/**
 * Fenced code blocks and links of a Markdown text, with their line numbers: enough Markdown for
 * the doc tests.
 *
 * @module
 */

/** One fenced code block. */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The first word of the info string (`yaml`, `ts`, …), lower-cased; `""` when none. */
  readonly lang: string;
  /** The other words of the info string (`partial`, `ignore`, …). */
  readonly attrs: readonly string[];
  /** The content, with the fence's indentation removed. */
  readonly text: string;
}

const OPEN = /^( {0,3}|\s*(?:[-*+]|\d+\.)?\s*)(`{3,}|~{3,})\s*([^`]*)$/;

/**
 * Every fenced code block of a Markdown text (also inside list items).
 *
 * @param text The Markdown.
 * @returns The blocks in order.
 * @throws {Error} When a fence is never closed.
 */
export function codeBlocks(text: string): CodeBlock[] {
  const lines = text.split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = OPEN.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const fence = open[2]!;
    const [lang = "", ...attrs] = open[3]!.trim().split(/\s+/).filter(Boolean);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim().startsWith(fence[0]!.repeat(fence.length)) && /^\s*[`~]+\s*$/.test(l)) break;
      body.push(l.slice(Math.min(indent, l.length - l.trimStart().length)));
    }
    if (j === lines.length) throw new Error(`Unclosed code fence at line ${i + 1}`);
    blocks.push({ line: i + 1, lang: lang.toLowerCase(), attrs, text: body.join("\n") + "\n" });
    i = j;
  }
  return blocks;
}

/** One inline link or image target. */
export interface Link {
  /** 1-based line. */
  readonly line: number;
  /** The target as written. */
  readonly target: string;
}

/**
 * The link targets of a Markdown text outside code blocks and code spans.
 *
 * @param text The Markdown.
 * @returns Every `[text](target)` target, in order.
 */
export function links(text: string): Link[] {
  const out: Link[] = [];
  let inFence = false;
  text.split("\n").forEach((raw, i) => {
    if (/^\s*(?:[-*+]\s+|\d+\.\s+)?(`{3,}|~{3,})/.test(raw)) {
      inFence = !inFence;
      return;
    }
    if (inFence) return;
    const line = raw.replace(/`[^`]*`/g, "");
    for (const m of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      out.push({ line: i + 1, target: m[1]! });
    }
  });
  return out;
}

/** What {@linkcode machinePaths} looks for: absolute paths that only exist on one machine. */
export const MACHINE_PATH =
  /(?:^|[\s"'`(=:,[])(?:\/|(?:\.{1,2}\/)+)(?:work|home|root|tmp|Users|private\/var)\/|[A-Za-z]:\\(?:Users|work)\\|file:\/\/\//;

/**
 * Lines that name a path of a particular machine (`/work/…`, `/home/…`, `/root/…`, `/tmp/…`,
 * `/Users/…`, `C:\Users\…`, `file:///…`), also when reached through `../..`.
 *
 * @param text Any text.
 * @returns The 1-based line numbers and the lines.
 */
export function machinePaths(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  text.split("\n").forEach((l, i) => {
    if (MACHINE_PATH.test(l)) out.push({ line: i + 1, text: l.trim() });
  });
  return out;
}

/**
 * The anchors GitHub gives a Markdown text's headings (lower case, punctuation dropped, spaces as
 * `-`, a repeated slug suffixed `-1`, `-2`, …).
 *
 * @param text The Markdown.
 * @returns Every heading's anchor.
 */
export function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of text.split("\n")) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) inFence = !inFence;
    const h = inFence ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = h[1]!.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replaceAll(
      " ",
      "-",
    );
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}
