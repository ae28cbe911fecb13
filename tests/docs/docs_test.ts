/**
 * Docs that cannot drift: every profile shown in README.md and docs/ validates, every TypeScript
 * block type-checks, every CLI transcript is what the CLI prints now, no doc names a path of the
 * machine it was written on, and every relative link resolves.
 *
 * TypeScript blocks without `ignore` are type-checked and run by `deno test --doc` itself (the
 * README's test command); this file type-checks the `ts ignore` ones, which need a real server
 * or profile to run.
 */

import { fileURLToPath } from "node:url";
import { parseProfile, PROFILE_SCHEMA, ProfileError } from "../../mod.ts";
import { parseYamlSource } from "../../profile/yaml_source.ts";
import { PROVIDERS } from "../../providers/registry.ts";
import {
  DOC_SECRETS,
  generatedParts,
  normalise,
  regenerate,
  relativeFromRoot,
  renderPart,
  renderTranscripts,
  ROOT,
  TRANSCRIPTS,
  walkMarkdown,
} from "../../scripts/docs_transcripts.ts";
import { assert, assertEquals, assertStringIncludes, canaryForms } from "../_assert.ts";
import { anchors, type CodeBlock, codeBlocks, links, machinePaths } from "./_markdown.ts";

const DOCS = await walkMarkdown(ROOT);
const TEXTS = new Map(
  await Promise.all(
    DOCS.map(async (u) => [relativeFromRoot(u, ROOT), await Deno.readTextFile(u)] as const),
  ),
);

/** Languages a doc may use, and who checks them. */
/**
 * Info strings that would let TypeScript, JavaScript or YAML escape the checks below: such blocks
 * are written ```ts (checked by `deno test --doc`, or here with `ignore`) or ```yaml.
 */
const UNCHECKED_LANGS: ReadonlyMap<string, string> = new Map([
  ["typescript", "ts"],
  ["tsx", "ts"],
  ["js", "ts"],
  ["javascript", "ts"],
  ["jsx", "ts"],
  ["mjs", "ts"],
  ["yml", "yaml"],
]);
/** `yaml` attributes: `partial` (a fragment: must be YAML) and `invalid` (must be refused). */
const YAML_ATTRS = new Set(["partial", "invalid"]);

/**
 * Placeholder values for `${VAR}` in documented profiles (they document, they do not run): a port
 * for each `*PORT` variable (a different one for each name), a URL or host where one is expected.
 */
function docEnv(): (name: string) => string {
  const ports = new Map<string, string>();
  return (name) => {
    if (/PORT$/.test(name)) {
      if (!ports.has(name)) ports.set(name, String(5000 + ports.size));
      return ports.get(name)!;
    }
    return placeholder(name);
  };
}

function placeholder(name: string): string {
  if (/(ENDPOINT|ADDR|URL)$/.test(name)) return "https://placeholder.example.com";
  if (/HOST$/.test(name)) return "placeholder.example.com";
  return `placeholder-${name.toLowerCase()}`;
}

/**
 * Checks one YAML block: a whole profile must validate; `partial` must be YAML; `invalid` must be
 * refused by the validator.
 *
 * @returns A problem, or undefined.
 */
function checkYaml(where: string, block: CodeBlock): string | undefined {
  const unknown = block.attrs.filter((a) => !YAML_ATTRS.has(a));
  if (unknown.length) return `${where}: unknown yaml attribute(s) ${unknown.join(", ")}`;
  if (block.attrs.includes("partial")) {
    try {
      parseYamlSource(block.text, where);
      return undefined;
    } catch (e) {
      return `${where}: a "yaml partial" block is not YAML: ${(e as Error).message}`;
    }
  }
  try {
    parseProfile(block.text, { source: where, env: docEnv() });
  } catch (e) {
    if (!(e instanceof ProfileError)) throw e;
    if (block.attrs.includes("invalid")) return undefined;
    return `${where}: the profile does not validate (mark a fragment \`yaml partial\`, a bad example \`yaml invalid\`):\n${e.message}`;
  }
  return block.attrs.includes("invalid")
    ? `${where}: a "yaml invalid" block validates; drop "invalid" or make it invalid`
    : undefined;
}

Deno.test("docs: README.md and docs/ exist, and the README keeps its two commands, within 300 lines", () => {
  const readme = TEXTS.get("README.md");
  assert(readme, "README.md is missing");
  assert(TEXTS.size >= 10, `only ${TEXTS.size} docs: ${[...TEXTS.keys()]}`);
  const lines = readme.replace(/\n$/, "").split("\n").length;
  assert(
    lines <= 300,
    `README.md has ${lines} lines; keep it at most 300 and move reference to docs/`,
  );
  for (const command of ["deno task demo", "deno task test", "npx -y deno@2.9.6 task test"]) {
    assertStringIncludes(readme, command);
  }
});

Deno.test("docs: the README's install line is the one `deno task install-cli` runs", async () => {
  const readme = TEXTS.get("README.md")!;
  const block = /<!-- install:[^]*?<!-- \/install -->/.exec(readme)?.[0];
  assert(block, "README.md has no <!-- install: … --> … <!-- /install --> section");
  const joined = block.replace(/\\\n\s*/g, "").replace(/[ \t]+/g, " ");
  assertStringIncludes(joined, "deno install -g");
  assertStringIncludes(joined, "-n mlflow-secrets-auth");
  assertStringIncludes(joined, "deno run -A cli.ts --help");
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const task: string | undefined = config.tasks?.["install-cli"];
  if (task !== undefined) {
    assertStringIncludes(joined, "deno task install-cli");
    assertStringIncludes(joined, task.replace(/ cli\.ts$/, " <path or URL>/cli.ts"));
  }
});

Deno.test("docs: no doc or example names a path of the machine it was written on", async () => {
  const found: string[] = [];
  const texts = new Map(TEXTS);
  for (const dir of ["examples", "tests/testdata/docs"]) {
    for await (const e of Deno.readDir(new URL(`${dir}/`, ROOT))) {
      if (e.isFile) {
        texts.set(`${dir}/${e.name}`, await Deno.readTextFile(new URL(`${dir}/${e.name}`, ROOT)));
      }
    }
  }
  for (const [file, text] of texts) {
    for (const hit of machinePaths(text)) found.push(`${file}:${hit.line}: ${hit.text}`);
  }
  assertEquals(found, []);
});

Deno.test("docs: the README and docs/cli.md list every command of `--help`, and every provider kind has a page", async () => {
  const help = (await renderTranscripts(["help"])).get("help")!.markdown;
  const commands = help.split("Commands:\n")[1]?.split("\n")
    .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && c !== "help") ?? [];
  assert(commands.length >= 10, `no commands found in --help:\n${help}`);
  const readme = TEXTS.get("README.md")!;
  const cli = TEXTS.get("docs/cli.md")!;
  const missing = commands.filter((c) =>
    !readme.includes(`| \`${c}`) && !readme.includes(`, \`${c}\``)
  );
  assertEquals(missing, [], "commands missing from the README's table");
  assertEquals(
    commands.filter((c) => !cli.includes(`\`${c}`)),
    [],
    "commands missing from docs/cli.md",
  );
  const kinds = [...PROVIDERS.keys()];
  assertEquals(
    kinds.filter((k) => !readme.includes(`| \`${k}\``)),
    [],
    "kinds missing from the README",
  );
  assertEquals(
    kinds.filter((k) => !TEXTS.has(`docs/providers/${k.replaceAll("-", "_")}.md`)),
    [],
    "kinds without a page under docs/providers/",
  );
});

/** A schema object's property names, and one level below as `parent.child`. */
function schemaKeys(def: unknown): string[] {
  const props = (def as { properties?: Record<string, unknown> }).properties ?? {};
  return Object.entries(props).flatMap(([name, sub]) => [
    name,
    ...Object.keys((sub as { properties?: Record<string, unknown> }).properties ?? {})
      .map((child) => `${name}.${child}`),
  ]);
}

/**
 * The keys a doc does not name in a code span: `key`, `key.…` (an object documented by its
 * members), or the last part of `parent.key`.
 */
function undocumented(keys: readonly string[], text: string): string[] {
  return keys.filter((k) =>
    k !== "$schema" && k !== "kind" && !text.includes(`\`${k}\``) &&
    !text.includes(`\`${k}.`) && !text.includes(`\`${k.split(".").pop()}\``)
  );
}

Deno.test("docs: every key of the profile schema is documented: top level and host rules in profile.md, each provider's options and secret reference on its page", () => {
  const schema = PROFILE_SCHEMA as unknown as { $defs: Record<string, unknown> };
  const missing: string[] = [];
  const profile = TEXTS.get("docs/profile.md") ?? "";
  for (
    const k of undocumented([
      ...schemaKeys(PROFILE_SCHEMA),
      ...schemaKeys(schema.$defs.host_rule),
      ...schemaKeys(schema.$defs.policy),
    ], profile)
  ) {
    missing.push(`docs/profile.md: ${k}`);
  }
  for (const kind of PROVIDERS.keys()) {
    const id = kind.replaceAll("-", "_");
    const page = `docs/providers/${id}.md`;
    const keys = [
      ...schemaKeys(schema.$defs[`provider_${id}`]),
      ...schemaKeys(schema.$defs[`secret_${id}`]),
    ];
    assert(keys.length > 0, `no schema definitions for kind "${kind}"`);
    for (const k of undocumented(keys, TEXTS.get(page) ?? "")) missing.push(`${page}: ${k}`);
  }
  assertEquals(missing, []);
});

Deno.test("machinePaths() finds the leaks the docs once had, and leaves portable paths alone", () => {
  const leaked = [
    "# yaml-language-server: $schema=../../work/main/schema/profile.schema.json",
    "see /home/alice/mlflow-auth.yaml",
    "token_file: /root/.vault-token",
    "written to /tmp/docs-home-1234/x",
    'import { x } from "file:///srv/x/mod.ts";',
  ];
  for (const l of leaked) assertEquals(machinePaths(l).length, 1, l);
  const portable = [
    "# yaml-language-server: $schema=../schema/profile.schema.json",
    "token_file: /run/vault-agent/token # default ~/.vault-token",
    "ca_cert: /etc/ssl/vault-ca.pem, /var/run/secrets/kubernetes.io/serviceaccount/token",
    "`/proc/<pid>/environ`, --allow-read=$HOME/.aws, https://example.com/tmp/x",
  ];
  for (const l of portable) assertEquals(machinePaths(l), [], l);
});

Deno.test("docs: TypeScript, JavaScript and YAML blocks use the info strings the doc tests check", () => {
  const bad: string[] = [];
  for (const [file, text] of TEXTS) {
    for (const b of codeBlocks(text)) {
      const instead = UNCHECKED_LANGS.get(b.lang);
      if (instead) {
        bad.push(
          `${file}:${b.line}: \`\`\`${b.lang} escapes the doc tests; write \`\`\`${instead}`,
        );
      }
      if (b.lang === "ts" && b.attrs.some((a) => a !== "ignore")) {
        bad.push(`${file}:${b.line}: ts attributes ${b.attrs.join(" ")} (only "ignore")`);
      }
    }
  }
  assertEquals(bad, []);
});

Deno.test("docs: every YAML block validates as a profile, or is marked partial (and is YAML) or invalid (and is refused)", () => {
  const problems: string[] = [];
  let profiles = 0;
  for (const [file, text] of TEXTS) {
    for (const b of codeBlocks(text).filter((b) => b.lang === "yaml")) {
      if (!b.attrs.length) profiles++;
      const p = checkYaml(`${file}:${b.line}`, b);
      if (p) problems.push(p);
    }
  }
  assertEquals(problems, []);
  assert(profiles >= 8, `only ${profiles} whole profiles in the docs`);
});

Deno.test("checkYaml() refuses an unmarked fragment, an invalid profile and a valid one marked invalid", () => {
  const block = (text: string, attrs: string[] = []): CodeBlock => ({
    line: 1,
    lang: "yaml",
    attrs,
    text,
  });
  const fragment = "proxy:\n  upstream: https://mlflow.company.com\n";
  assertStringIncludes(checkYaml("x.md:1", block(fragment)) ?? "", "does not validate");
  assertEquals(checkYaml("x.md:1", block(fragment, ["partial"])), undefined);
  assertStringIncludes(checkYaml("x.md:1", block("a: [", ["partial"])) ?? "", "is not YAML");
  const valid = `version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "https://mlflow.company.com", provider: ci, secret: { var: T }, auth: bearer }]
`;
  assertEquals(checkYaml("x.md:1", block(valid)), undefined);
  assertStringIncludes(checkYaml("x.md:1", block(valid, ["invalid"])) ?? "", "validates");
  assertEquals(
    checkYaml("x.md:1", block(valid.replace("bearer", "bearx"), ["invalid"])),
    undefined,
  );
});

Deno.test("docs: every `ts ignore` block type-checks against this checkout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "docs-ts-" });
  try {
    const files: string[] = [];
    const origin = new Map<string, string>();
    for (const [file, text] of TEXTS) {
      const base = new URL(file, ROOT);
      for (const b of codeBlocks(text)) {
        if (b.lang !== "ts" || !b.attrs.includes("ignore")) continue;
        // Relative imports resolve against the doc, as they would next to it.
        const code = b.text.replace(
          /(from\s+|import\s*\(\s*)(["'])(\.{1,2}\/[^"']+)\2/g,
          (_, kw, q, spec) => `${kw}${q}${new URL(spec, base).href}${q}`,
        );
        const name = `${dir}/${file.replaceAll("/", "__")}_${b.line}.ts`;
        await Deno.writeTextFile(name, `export {};\n${code}`);
        files.push(name);
        origin.set(name, `${file}:${b.line}`);
      }
    }
    assert(files.length > 0, "no `ts ignore` block found");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", fileURLToPath(new URL("deno.json", ROOT)), ...files],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    let text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    for (const [name, where] of origin) text = text.replaceAll(name, where);
    assert(out.success, `a TypeScript block in the docs does not type-check:\n${text}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs: relative links point at files that exist, and anchors at headings that exist", async () => {
  const broken: string[] = [];
  for (const [file, text] of TEXTS) {
    for (const l of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(l.target)) continue;
      const [path = "", anchor] = l.target.split("#");
      const target = path ? new URL(path, new URL(file, ROOT)) : new URL(file, ROOT);
      const rel = relativeFromRoot(target, ROOT);
      try {
        await Deno.stat(target);
      } catch {
        broken.push(`${file}:${l.line}: ${l.target}`);
        continue;
      }
      if (anchor !== undefined && rel.endsWith(".md")) {
        const heads = anchors(TEXTS.get(rel) ?? await Deno.readTextFile(target));
        if (!heads.has(anchor)) broken.push(`${file}:${l.line}: ${l.target} (no such heading)`);
      }
    }
  }
  assertEquals(broken, []);
});

Deno.test("anchors() slugs headings as GitHub does", () => {
  const md =
    "# A `exec` and the child's environment\n```sh\n# not a heading\n```\n## TLS to a private CA\n## Top level\n## Top level\n";
  assertEquals([...anchors(md)], [
    "a-exec-and-the-childs-environment",
    "tls-to-a-private-ca",
    "top-level",
    "top-level-1",
  ]);
});

Deno.test("docs: every generated part (CLI transcripts, included files) is what the CLI prints now; run `deno task docs:transcripts`", async () => {
  const used = new Set<string>();
  for (const text of TEXTS.values()) {
    for (const p of generatedParts(text)) if (p.kind === "transcript") used.add(p.name);
  }
  const unknown = [...used].filter((id) => !TRANSCRIPTS.some((t) => t.id === id));
  assertEquals(unknown, [], "transcripts named in the docs but not defined");
  assert(used.size >= 8, `only ${used.size} transcripts in the docs`);
  const rendered = await renderTranscripts(used);
  const secrets = [
    ...canaryForms(DOC_SECRETS.MLFLOW_TOKEN),
    ...canaryForms("docs-pass-9b7e41"),
    ...canaryForms("docs-wrong-token-0000"),
  ];
  for (const [id, r] of rendered) {
    for (const s of secrets) assert(!r.output.includes(s), `transcript "${id}" prints a secret`);
  }
  const stale: string[] = [];
  for (const [file, text] of TEXTS) {
    for (const part of generatedParts(text)) {
      const now = await renderPart(part, rendered);
      if (now !== part.region) {
        stale.push(
          `${file}:${part.line}: ${part.kind} ${part.name}\n${firstDifference(part.region, now)}`,
        );
      }
    }
  }
  assert(
    stale.length === 0,
    `${stale.length} generated part(s) differ from what the CLI prints now; run \`deno task docs:transcripts\` and review the diff\n\n${
      stale.join("\n\n")
    }`,
  );
});

Deno.test("normalise() hides ports, paths, timings, timestamps and Deno's versions, and nothing else", () => {
  const ctx = {
    root: "/srv/checkout/",
    home: "/var/tmp/docs-home-x1",
    ports: new Map([[41234, 5000], [39999, 5001]]),
  };
  const v = Deno.version;
  const raw = [
    "GET http://127.0.0.1:41234/api: 200 (1234 ms)",
    "hosts[1] http://127.0.0.1:39999 refused; proxy on http://127.0.0.1:45678 and [::1]:33333",
    "2026-12-01T13:47:30.123Z INFO proxy request ms=12.5 listen=127.0.0.1:5055",
    `Deno ${v.deno} (V8 ${v.v8}, TypeScript ${v.typescript})`,
    "read /srv/checkout/schema/profile.schema.json and /var/tmp/docs-home-x1/.vault-token   ",
    "",
    "",
  ].join("\n");
  assertEquals(
    normalise(raw, ctx),
    [
      "GET http://127.0.0.1:5000/api: 200 (N ms)",
      "hosts[1] http://127.0.0.1:5001 refused; proxy on http://127.0.0.1:<port> and [::1]:<port>",
      "<time> INFO proxy request ms=N listen=127.0.0.1:5055",
      "Deno <version> (V8 <version>, TypeScript <version>)",
      "read <checkout>/schema/profile.schema.json and ~/.vault-token",
    ].join("\n"),
  );
});

/** The first differing line of two texts, with two lines of context, as `-` (doc) and `+` (now). */
function firstDifference(doc: string, now: string): string {
  const a = doc.split("\n");
  const b = now.split("\n");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const from = Math.max(0, i - 2);
  return [
    ...a.slice(from, i).map((l) => `  ${l}`),
    ...a.slice(i, i + 3).map((l) => `- ${l}`),
    ...b.slice(i, i + 3).map((l) => `+ ${l}`),
  ].join("\n");
}

Deno.test("regenerate() rewrites a stale transcript and leaves the rest of the doc alone", async () => {
  const md = [
    "# t",
    "",
    "<!-- generated: transcript help -->",
    "",
    "```console",
    "$ mlflow-secrets-auth --help",
    "an old help text",
    "```",
    "",
    "<!-- /generated -->",
    "",
    "after",
    "",
  ].join("\n");
  const rendered = await renderTranscripts(["help"]);
  const next = await regenerate(md, rendered);
  assert(!next.includes("an old help text"), "the stale text survived");
  assertStringIncludes(next, "Usage: mlflow-secrets-auth");
  assertStringIncludes(next, "Exit code: 0.");
  assert(next.startsWith("# t\n\n<!-- generated: transcript help -->\n"));
  assert(next.endsWith("<!-- /generated -->\n\nafter\n"));
  assertEquals(await regenerate(next, rendered), next, "not idempotent");
});
