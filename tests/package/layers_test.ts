/**
 * The source folders form one-way layers: a module imports only from its own layer or the ones
 * below it. The module graph comes from `deno info --json` (static, dynamic and type-only imports),
 * walked from both entry points.
 *
 *   core/ → providers/ → profile/ → engine/ → http/ → cli/ → mod.ts, builtin.ts, cli.ts
 *
 * `deps/` (pinned npm packages) and `schema/` (data) may be imported from any layer. The built-in
 * registry of providers is passed in from the top: only the entry points and `cli/` import
 * `providers/registry.ts` (a bundle's generated entry passes its own).
 */

import { assert, assertEquals } from "../_assert.ts";
import { DENO_DIR } from "../_deno_dir.ts";

const ROOT = new URL("../../", import.meta.url);

/** Layers, lowest first. */
const LAYERS = ["core", "providers", "profile", "engine", "http", "cli"] as const;
/** Folders any layer may import from. */
const SHARED = new Set(["deps", "schema"]);
/** The modules above every layer. */
const ENTRY_POINTS = new Set(["mod.ts", "builtin.ts", "cli.ts"]);
/** The registry of built-in providers, which only the top may import. */
const REGISTRY = "providers/registry.ts";

/** One import: the importing module and the imported one, both relative to the repository. */
interface Edge {
  readonly from: string;
  readonly to: string;
}

/** The layer index of a repository-relative path; entry points sit above every layer. */
function rank(path: string): number | "shared" | undefined {
  const top = path.includes("/") ? path.slice(0, path.indexOf("/")) : path;
  if (SHARED.has(top)) return "shared";
  if (ENTRY_POINTS.has(path)) return LAYERS.length;
  const i = (LAYERS as readonly string[]).indexOf(top);
  return i < 0 ? undefined : i;
}

/** The edges that point up the layers (or out of `deps/` and `schema/` into our code). */
export function violations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = rank(from);
    const b = rank(to);
    if (a === undefined || b === undefined || b === "shared") continue;
    if (a === "shared" || b > a) out.push(`${from} imports ${to}`);
  }
  return out;
}

/** The imports of the provider registry from below the top (the entry points and `cli/`). */
export function registryViolations(edges: readonly Edge[]): string[] {
  return edges
    .filter(({ from, to }) =>
      to === REGISTRY && !ENTRY_POINTS.has(from) && !from.startsWith("cli/")
    )
    .map(({ from, to }) => `${from} imports ${to}`);
}

interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier?: string };
    readonly type?: { readonly specifier?: string };
  }[];
}

async function graph(entry: string): Promise<Edge[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT.pathname,
    env: { DENO_DIR, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, `deno info ${entry} failed: ${new TextDecoder().decode(out.stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  const local = (s: string | undefined) =>
    s?.startsWith(ROOT.href) ? s.slice(ROOT.href.length) : undefined;
  const edges: Edge[] = [];
  for (const m of info.modules) {
    const from = local(m.specifier);
    if (from === undefined) continue;
    for (const d of m.dependencies ?? []) {
      for (const s of [d.code?.specifier, d.type?.specifier]) {
        const to = local(s);
        if (to !== undefined) edges.push({ from, to });
      }
    }
  }
  return edges;
}

Deno.test("source folders import one way: core → providers → profile → engine → http → cli", async () => {
  const edges = [...await graph("mod.ts"), ...await graph("cli.ts")];
  const seen = new Set(edges.flatMap((e) => [e.from, e.to]));
  for (const layer of LAYERS) {
    assert([...seen].some((p) => p.startsWith(`${layer}/`)), `no module of ${layer}/ reached`);
  }
  assertEquals(violations(edges), []);
});

Deno.test("the provider registry is passed in: only mod.ts, builtin.ts, cli.ts and cli/ import it", async () => {
  const edges = [...await graph("mod.ts"), ...await graph("cli.ts")];
  assert(edges.some((e) => e.to === REGISTRY), `${REGISTRY} not reached`);
  assertEquals(registryViolations(edges), []);
});

Deno.test("registryViolations() names an import of the registry below the top, and only that one", () => {
  assertEquals(
    registryViolations([
      { from: "engine/resolver.ts", to: "providers/registry.ts" },
      { from: "profile/validate.ts", to: "providers/registry.ts" },
      { from: "providers/registry.ts", to: "providers/env.ts" },
      { from: "cli/load.ts", to: "providers/registry.ts" },
      { from: "builtin.ts", to: "providers/registry.ts" },
      { from: "mod.ts", to: "providers/registry.ts" },
      { from: "cli.ts", to: "providers/registry.ts" },
    ]),
    [
      "engine/resolver.ts imports providers/registry.ts",
      "profile/validate.ts imports providers/registry.ts",
    ],
  );
});

Deno.test("violations() names an import against the direction, and only that one", () => {
  assertEquals(
    violations([
      { from: "profile/plan.ts", to: "engine/secret_cache.ts" },
      { from: "engine/resolver.ts", to: "profile/plan.ts" },
      { from: "core/log.ts", to: "deps/yaml.ts" },
      { from: "deps/ajv.ts", to: "core/errors.ts" },
      { from: "cli/exec.ts", to: "mod.ts" },
      { from: "http/proxy.ts", to: "http/_upstream.ts" },
    ]),
    [
      "profile/plan.ts imports engine/secret_cache.ts",
      "deps/ajv.ts imports core/errors.ts",
      "cli/exec.ts imports mod.ts",
    ],
  );
});
