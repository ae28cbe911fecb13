/**
 * The real entry point, run as a subprocess; and proof from the module graph that `--help`,
 * `validate` and `explain` cannot load a provider SDK.
 */

import { VERSION } from "../../cli.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { testdata } from "./_io.ts";

const ROOT = new URL("../../", import.meta.url);
const CLI = new URL("cli.ts", ROOT).pathname;

async function run(args: string[], permissions: string[] = []) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...permissions, CLI, ...args],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("cli.ts --version prints the version and exits 0, with no permissions", async () => {
  const r = await run(["--version"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, `${VERSION}\n`);
  assertEquals(r.stderr, "");
});

Deno.test("cli.ts --help lists every command, without colour when piped", async () => {
  const r = await run(["--help"]);
  assertEquals(r.code, 0, r.stderr);
  for (const cmd of ["validate", "explain", "schema", "doctor", "info", "init", "completions"]) {
    assertStringIncludes(r.stdout, `\n  ${cmd}`);
  }
  assert(!r.stdout.includes("\x1b["), "colour in piped help");
});

Deno.test("cli.ts maps exit codes: 2 for an invalid profile, 0 for a valid one", async () => {
  const perms = ["--allow-read", "--allow-env"];
  const bad = await run(["validate", "-p", testdata("invalid.yaml")], perms);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "invalid.yaml:2:10 at /version");
  const good = await run(["validate", "-p", testdata("valid.yaml")], perms);
  assertEquals(good.code, 0, good.stderr);
  const usage = await run(["explain", "--bogus"], perms);
  assertEquals(usage.code, 2);
});

interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly specifier: string;
    readonly isDynamic?: boolean;
    readonly code?: { readonly specifier: string };
  }[];
}

// The SDK packages, and the `deps/` modules that pin them.
const SDK = /(^|\/|npm:)(@aws-sdk\/|@azure\/|node-vault)|deps\/(node_vault|aws_|azure_)/;

Deno.test("cli.ts, validate and explain reach no provider SDK through static imports", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", CLI],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const graph: { modules: InfoModule[] } = JSON.parse(new TextDecoder().decode(out.stdout));
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  // validate and explain are loaded on use: walk the static graph from each of them too.
  const roots = ["cli.ts", "cli/validate.ts", "cli/explain.ts"].map((f) => new URL(f, ROOT).href);
  for (const root of roots) assert(modules.has(root), `${root} not in the graph`);
  const reached = new Set<string>(roots);
  const queue = [...roots];
  const dynamicSdkEdges: string[] = [];
  while (queue.length > 0) {
    const m = modules.get(queue.shift()!);
    for (const dep of m?.dependencies ?? []) {
      if (dep.code === undefined) continue; // type-only
      if (dep.isDynamic) continue;
      assert(
        !SDK.test(dep.specifier) && !SDK.test(dep.code.specifier),
        `${m!.specifier} statically imports ${dep.specifier}`,
      );
      if (!reached.has(dep.code.specifier)) {
        reached.add(dep.code.specifier);
        queue.push(dep.code.specifier);
      }
    }
  }
  for (const m of graph.modules) {
    for (const dep of m.dependencies ?? []) {
      // Resolved, so that the check holds wherever in the tree the importing module sits.
      const target = dep.code?.specifier ?? dep.specifier;
      if (dep.isDynamic && SDK.test(target)) dynamicSdkEdges.push(target);
    }
  }
  for (const s of reached) assert(!SDK.test(s), `SDK module reachable statically: ${s}`);
  // Not vacuous: the SDKs are in the graph, behind dynamic imports only.
  for (
    const sdk of [
      "deps/node_vault.ts",
      "deps/aws_secrets_manager.ts",
      "deps/azure_identity.ts",
    ].map((f) => new URL(f, ROOT).href)
  ) {
    assert(dynamicSdkEdges.includes(sdk), `no dynamic import of ${sdk} in the graph`);
  }
  // Not vacuous either: the profile loader is reached statically from validate and explain.
  assert(reached.has(new URL("profile/profile.ts", ROOT).href), "profile/profile.ts not reached");
});
