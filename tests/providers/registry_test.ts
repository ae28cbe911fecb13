import { assert, assertEquals } from "../_assert.ts";
import { PROVIDER_DESCRIPTORS, PROVIDER_KINDS, PROVIDERS } from "../../providers/registry.ts";

const ROOT = new URL("../../", import.meta.url);

interface Schema {
  readonly $defs: Readonly<Record<string, unknown>> & {
    readonly provider: { readonly properties: { readonly kind: { readonly enum: string[] } } };
  };
}

Deno.test("PROVIDER_KINDS equals the kind list of schema/profile.schema.json, in its order", async () => {
  const schema = JSON.parse(
    await Deno.readTextFile(new URL("schema/profile.schema.json", ROOT)),
  ) as Schema;
  assertEquals([...PROVIDER_KINDS], schema.$defs.provider.properties.kind.enum);
  assertEquals([...PROVIDERS.keys()], [...PROVIDER_KINDS]);
  assertEquals([...PROVIDER_DESCRIPTORS.keys()], [...PROVIDER_KINDS]);
  for (const kind of PROVIDER_KINDS) {
    const id = kind.replaceAll("-", "_");
    assert(`provider_${id}` in schema.$defs, `the schema has no provider_${id} fragment`);
    assert(`secret_${id}` in schema.$defs, `the schema has no secret_${id} fragment`);
  }
});

Deno.test("PROVIDER_DESCRIPTORS: each descriptor holds its kind's factory and says where it is exported", async () => {
  for (const [kind, descriptor] of PROVIDER_DESCRIPTORS) {
    assertEquals(descriptor.factory.kind, kind);
    assert(PROVIDERS.get(kind) === descriptor.factory, `${kind}: PROVIDERS holds another factory`);
    const mod = await import(descriptor.exported.module);
    assert(
      mod[descriptor.exported.name] === descriptor,
      `${kind}: ${descriptor.exported.module} does not export ${descriptor.exported.name}`,
    );
    for (const sdk of descriptor.sdks) {
      assert(sdk.module.startsWith(new URL("deps/", ROOT).href), `${kind}: ${sdk.module}`);
    }
  }
});

/** Every `.ts` file below a folder, as paths from the repository root. */
async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    if (entry.isDirectory) out.push(...await sources(`${dir}${entry.name}/`));
    else if (entry.name.endsWith(".ts")) out.push(`${dir}${entry.name}`);
  }
  return out;
}

Deno.test("a provider kind's name appears in code only in its folder, the registry and the schema", async () => {
  // The kinds whose names are not also ordinary words of the code (`env`, `file`, `vault`).
  const kinds = PROVIDER_KINDS.filter((k) => k.includes("-"));
  assert(kinds.length >= 2, kinds.join());
  const files = [
    "mod.ts",
    "builtin.ts",
    "cli.ts",
    ...(await Promise.all(
      ["core/", "profile/", "engine/", "http/", "cli/", "providers/"].map(sources),
    )).flat(),
  ];
  const found: string[] = [];
  for (const file of files) {
    const code = (await Deno.readTextFile(new URL(file, ROOT)))
      // Comments and the help text snapshot are documentation, not code.
      .replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    if (file === "cli/_help.ts") continue;
    for (const kind of kinds) {
      const own = `providers/${kind.replaceAll("-", "_")}/`;
      if (file.startsWith(own) || file === "providers/registry.ts") continue;
      if (code.includes(`"${kind}"`)) found.push(`${file} names "${kind}"`);
    }
  }
  assertEquals(found, []);
});
