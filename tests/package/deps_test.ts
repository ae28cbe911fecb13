/**
 * Versions are pinned once: every `npm:` specifier lives in `deps/`, with one version per
 * package, and no module names a package by a bare specifier that only an import map resolves.
 */

import { assert, assertEquals } from "../_assert.ts";

const ROOT = new URL("../../", import.meta.url);
const SPECIFIER = /["'](npm:((?:@[^/"']+\/)?[^@/"']+)@([^/"']+)[^"']*)["']/g;

async function sources(): Promise<string[]> {
  const ls = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.ts", "*.js"],
    cwd: ROOT.pathname,
    stdout: "piped",
  }).output();
  assert(ls.success, "git ls-files failed");
  const files = new TextDecoder().decode(ls.stdout).split("\0").filter(Boolean);
  const present = await Promise.all(
    files.map((f) => Deno.stat(new URL(f, ROOT)).then((s) => s.isFile, () => false)),
  );
  return files.filter((_, i) => present[i]);
}

Deno.test("npm packages are pinned in deps/ only, one version each", async () => {
  const versions = new Map<string, Set<string>>();
  const outside: string[] = [];
  for (const file of await sources()) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const m of text.matchAll(SPECIFIER)) {
      if (!file.startsWith("deps/")) {
        outside.push(`${file}: ${m[1]}`);
        continue;
      }
      versions.set(m[2]!, (versions.get(m[2]!) ?? new Set()).add(m[3]!));
    }
  }
  assertEquals(outside, [], "npm: specifiers outside deps/");
  assert(versions.size >= 8, `only ${versions.size} packages found in deps/`);
  for (const [name, v] of versions) assertEquals([...v], [[...v][0]], `${name} pinned twice`);
});

interface InfoGraph {
  readonly modules: readonly {
    readonly specifier: string;
    readonly error?: string;
    readonly dependencies?: readonly {
      readonly specifier: string;
      readonly code?: { readonly error?: string };
      readonly type?: { readonly error?: string };
    }[];
  }[];
}

Deno.test("every import of mod.ts, cli.ts and their lazy modules resolves without this repository's deno.json", async () => {
  for (const entry of ["mod.ts", "cli.ts"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-config", entry],
      cwd: ROOT.pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as InfoGraph;
    const unresolved: string[] = [];
    for (const m of graph.modules) {
      if (m.error !== undefined) unresolved.push(`${m.specifier}: ${m.error}`);
      for (const d of m.dependencies ?? []) {
        const error = d.code?.error ?? d.type?.error;
        if (error !== undefined) unresolved.push(`${m.specifier} imports ${d.specifier}: ${error}`);
      }
    }
    assertEquals(unresolved, [], entry);
    // Not vacuous: the lazily loaded SDK modules are in the graph.
    assert(graph.modules.some((m) => m.specifier.endsWith("/deps/node_vault.ts")), entry);
  }
});
