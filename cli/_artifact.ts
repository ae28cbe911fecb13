/**
 * Building an artifact with an embedded profile: the generated entry module, the provider
 * subset, and `deno bundle`. Shared by `bundle` and `compile`; internal.
 *
 * The entry module imports `main` from `cli.ts` and the descriptors of the provider kinds the
 * profile uses, and passes their factories and the profile text to `main`: nothing is kept in
 * global state. An import map given to `deno bundle` also replaces `providers/registry.ts` with a
 * generated module that lists only those descriptors, so the other provider modules and their
 * SDKs never enter the module graph (and the bundle); the `deps/` modules that pin their SDK
 * packages are also replaced by modules that throw when loaded, so no other import can pull them
 * in. The SDKs of the kinds used are inlined: the bundle imports nothing but Node built-ins (and,
 * at most, the left-out SDKs, from code that never runs). Where each kind's module and SDKs are
 * comes from its descriptor in the registry.
 *
 * @module
 */

import { builtinModules } from "node:module";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Profile } from "../profile/profile.ts";
import { UsageError } from "./errors.ts";
import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";

/** Where a provider kind's descriptor lives, and the npm packages its SDK comes from. */
export interface ProviderModule {
  /** Path from the source root, e.g. `providers/env.ts`. */
  readonly module: string;
  /** Name of the exported `ProviderDescriptor`. */
  readonly descriptor: string;
  /** npm packages the provider imports (lazily). */
  readonly sdks: readonly string[];
  /** Paths from the source root of the `deps/` modules that pin those packages, by package. */
  readonly sdkModules: Readonly<Record<string, string>>;
}

const SOURCE_ROOT = new URL("../", import.meta.url).href;

/** A module URL as a path from the source root (the URL itself when outside it). */
function fromRoot(url: string): string {
  return url.startsWith(SOURCE_ROOT) ? url.slice(SOURCE_ROOT.length) : url;
}

/** Every provider kind, for code generation: from the registry's descriptors. */
export const PROVIDER_MODULES: Readonly<Record<string, ProviderModule>> = Object.fromEntries(
  [...PROVIDER_DESCRIPTORS].map(([kind, d]) => [kind, {
    module: fromRoot(d.exported.module),
    descriptor: d.exported.name,
    sdks: d.sdks.map((sdk) => sdk.package),
    sdkModules: Object.fromEntries(d.sdks.map((sdk) => [sdk.package, fromRoot(sdk.module)])),
  }]),
);

/**
 * The provider kinds a profile's host rules use (a declared provider no rule names is not
 * needed), sorted.
 *
 * @param profile A validated profile.
 * @returns Kinds, e.g. `["env", "file"]`.
 *
 * @example
 * ```ts
 * import { parseProfile } from "../profile/profile.ts";
 * import { usedKinds } from "./_artifact.ts";
 * const profile = parseProfile(`
 * version: 1
 * providers: { ci: { kind: env }, spare: { kind: file } }
 * hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]
 * `, { env: {} });
 * if (usedKinds(profile).join() !== "env") throw new Error("a declared but unused kind counted");
 * ```
 */
export function usedKinds(profile: Profile): string[] {
  const kinds = new Set<string>();
  for (const rule of profile.data.hosts) {
    const kind = profile.data.providers[rule.provider]?.kind;
    if (kind !== undefined) kinds.add(kind);
  }
  return [...kinds].sort();
}

/**
 * The source checkout this module belongs to. Building needs the sources: an artifact cannot
 * build another.
 *
 * @param what The command, for the message.
 * @returns The root, as a directory URL.
 * @throws {UsageError} when this code runs from a bundle or a compiled binary.
 */
export async function sourceRoot(what: string): Promise<URL> {
  const root = new URL("../", import.meta.url);
  const cli = new URL("cli.ts", root);
  const config = new URL("deno.json", root);
  const ok = root.protocol === "file:" &&
    await Promise.all([cli, config].map((u) => Deno.stat(u).then((s) => s.isFile, () => false)))
      .then((all) => all.every(Boolean));
  if (!ok) {
    throw new UsageError(
      `Cannot ${what}: the sources of mlflow-secrets-auth are not next to this program (it is itself a built artifact); run it from a checkout: deno task ${what}`,
    );
  }
  return root;
}

/** Options of {@linkcode buildBundle}. */
export interface BuildBundleOptions {
  /** The source root (from {@linkcode sourceRoot}). */
  readonly root: URL;
  /** Output file. Parent directories are created. */
  readonly output: string;
  /** The profile's YAML text, embedded as is (interpolated at run time). */
  readonly text: string;
  /** Name of the embedded profile in messages, e.g. `embedded:mlflow-auth.yaml`. */
  readonly source: string;
  /** Minify the bundle. */
  readonly minify?: boolean;
  /** The `deno` binary. Default `Deno.execPath()`. */
  readonly deno?: string;
}

/** A built bundle. */
export interface BuiltBundle {
  /** Output path. */
  readonly path: string;
  /** Size in bytes. */
  readonly bytes: number;
  /** Provider kinds inside. */
  readonly kinds: readonly string[];
  /** SDK packages left out (those of the other kinds). */
  readonly excluded: readonly string[];
  /** Optional packages some dependency tries to load, installed nowhere (never needed). */
  readonly optional: readonly string[];
  /** Build time in milliseconds. */
  readonly ms: number;
}

/**
 * Bundles the command line with an embedded profile and only the providers it uses.
 *
 * @param profile The validated profile.
 * @param options Root, output, text.
 * @returns What was built.
 * @throws {Error} when `deno bundle` fails or the bundle still imports a package.
 */
export async function buildBundle(
  profile: Profile,
  options: BuildBundleOptions,
): Promise<BuiltBundle> {
  const started = performance.now();
  // `deno bundle` runs in the source root: a relative output is relative to our directory.
  const output = resolve(options.output);
  const kinds = usedKinds(profile);
  const root = options.root;
  // The SDKs of the kinds left out stay out even if some module (say a diagnostic listing every
  // SDK) imports them: such an import loads a stub that fails only if it runs.
  const included = new Set(kinds.flatMap((k) => PROVIDER_MODULES[k]?.sdks ?? []));
  const excluded = [
    ...new Set(Object.values(PROVIDER_MODULES).flatMap((m) => m.sdks)),
  ].filter((p) => !included.has(p)).sort();
  const work = await Deno.makeTempDir({ prefix: "mlflow-secrets-auth-build-" });
  try {
    const registry = pathToFileURL(`${work}/registry.ts`);
    const entry = pathToFileURL(`${work}/entry.ts`);
    const importMap = `${work}/import_map.json`;
    await Deno.writeTextFile(registry, generatedRegistry(root, kinds));
    await Deno.writeTextFile(
      entry,
      generatedEntry(root, kinds, { text: options.text, source: options.source }),
    );
    const stubs: Record<string, string> = {};
    const sdkModules: Record<string, string> = Object.assign(
      {},
      ...Object.values(PROVIDER_MODULES).map((m) => m.sdkModules),
    );
    for (const pkg of excluded) {
      const module = sdkModules[pkg];
      if (module === undefined) continue;
      const stub = pathToFileURL(`${work}/left_out_${basename(module)}`);
      await Deno.writeTextFile(stub, leftOutSdk(pkg, kinds));
      stubs[new URL(module, root).href] = stub.href;
    }
    const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
      imports?: Record<string, string>;
      scopes?: Record<string, Record<string, string>>;
    };
    await Deno.writeTextFile(
      importMap,
      JSON.stringify({
        imports: {
          ...config.imports,
          [new URL("providers/registry.ts", root).href]: registry.href,
          ...stubs,
        },
        ...(config.scopes ? { scopes: config.scopes } : {}),
      }),
    );
    await Deno.mkdir(dirname(output), { recursive: true });
    const out = await new Deno.Command(options.deno ?? Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "deno",
        "--config",
        fileURLToPath(new URL("deno.json", root)),
        "--import-map",
        importMap,
        ...(options.minify ? ["--minify"] : []),
        "--output",
        output,
        fileURLToPath(entry),
      ],
      cwd: fileURLToPath(root),
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const text = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-15).join("\n");
      throw new Error(`Cannot bundle: deno bundle failed (exit ${out.code}):\n${text}`);
    }
    const code = await Deno.readTextFile(output);
    const foreign = foreignImports(code).filter((spec) =>
      !excluded.some((pkg) => spec === pkg || spec.startsWith(`${pkg}/`))
    );
    // A package esbuild left as an import although it is installed was not inlined: the host
    // would need it. One that is not installed at all is an optional dependency that the code
    // already tries inside a try/catch (as `debug` does with `supports-color`).
    const installed = await installedPackages(root);
    const optional = foreign.filter((spec) => !installed.has(packageName(spec)));
    foreign.splice(0, foreign.length, ...foreign.filter((spec) => !optional.includes(spec)));
    if (foreign.length > 0) {
      throw new Error(
        `Cannot bundle: the bundle still imports ${
          foreign.map((f) => `"${f}"`).join(", ")
        }, which an air-gapped host cannot load; report this as a bug`,
      );
    }
    return {
      path: options.output,
      bytes: new TextEncoder().encode(code).length,
      kinds,
      excluded,
      optional,
      ms: Math.round(performance.now() - started),
    };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * The module specifiers a bundle still imports that are not Node built-ins (an air-gapped host
 * could not load them).
 *
 * @param code Bundle text.
 * @returns Sorted specifiers; empty for a self-contained bundle.
 *
 * @example
 * ```ts
 * import { foreignImports } from "./_artifact.ts";
 * const code = `import { x } from "node:fs";\nconst a = __require("os");\nawait import("left-pad");`;
 * if (foreignImports(code).join() !== "left-pad") throw new Error("wrong");
 * ```
 */
export function foreignImports(code: string): string[] {
  const builtins = new Set(builtinModules);
  const found = new Set<string>();
  // CommonJS `require` becomes `__require`, renamed when minified: find its name.
  const requires = new Set(["__require"]);
  for (const m of code.matchAll(/\b([\w$]+)\s*=\s*__deno_internal_createRequire\(/g)) {
    requires.add(m[1]!);
  }
  const names = [...requires].map((n) => n.replaceAll("$", "\\$")).join("|");
  const patterns = [
    /\bimport\(\s*"([^"]+)"\s*\)/g,
    /^\s*import\s[^;]*?\bfrom\s*"([^"]+)"/gm,
    /^\s*import\s*"([^"]+)"/gm,
    /^\s*export\s[^;]*?\bfrom\s*"([^"]+)"/gm,
    new RegExp(`(?<![\\w$.])(?:${names})\\(\\s*"([^"]+)"\\s*\\)`, "g"),
  ];
  for (const re of patterns) {
    for (const m of code.matchAll(re)) {
      const spec = m[1]!;
      if (spec.startsWith("node:") || builtins.has(spec)) continue;
      found.add(spec);
    }
  }
  return [...found].sort();
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** Names of the npm packages the project's lockfile holds (direct and transitive). */
async function installedPackages(root: URL): Promise<Set<string>> {
  const names = new Set<string>();
  const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", root))) as {
    npm?: Record<string, unknown>;
  };
  for (const key of Object.keys(lock.npm ?? {})) {
    // `name@1.2.3`, `@scope/name@1.2.3`, `@scope/name@1.2.3_peer@4.5.6`
    const at = key.indexOf("@", 1);
    if (at > 0) names.add(key.slice(0, at));
  }
  return names;
}

/** The module that stands in for a left-out SDK's `deps/` module: loading it fails. */
function leftOutSdk(pkg: string, kinds: readonly string[]): string {
  const message = `Cannot load "${pkg}": this bundle holds only the providers its profile uses (${
    kinds.join(", ")
  }); bundle again with a profile that uses it`;
  return [
    "// Generated by mlflow-secrets-auth: a provider SDK left out of this bundle.",
    `throw new Error(${JSON.stringify(message)});`,
    "",
  ].join("\n");
}

function descriptorsOf(root: URL, kinds: readonly string[]): { imports: string; list: string } {
  const lines: string[] = [];
  const names: string[] = [];
  for (const kind of kinds) {
    const m = PROVIDER_MODULES[kind];
    if (m === undefined) {
      throw new UsageError(
        `Cannot build: provider kind "${kind}" has no module in this version; use a kind the schema lists`,
      );
    }
    lines.push(`import { ${m.descriptor} } from ${JSON.stringify(new URL(m.module, root).href)};`);
    names.push(m.descriptor);
  }
  return { imports: lines.join("\n"), list: names.join(", ") };
}

/** The module that replaces `providers/registry.ts` inside the bundle: the same exports. */
function generatedRegistry(root: URL, kinds: readonly string[]): string {
  const { imports, list } = descriptorsOf(root, kinds);
  const types = (file: string) => JSON.stringify(new URL(file, root).href);
  return [
    "// Generated by mlflow-secrets-auth: providers/registry.ts for one profile's provider kinds.",
    `import type { ProviderDescriptor } from ${types("providers/descriptor.ts")};`,
    `import type { ProviderFactory } from ${types("providers/types.ts")};`,
    imports,
    `const DESCRIPTORS: readonly ProviderDescriptor[] = [${list}];`,
    "export const PROVIDER_DESCRIPTORS: ReadonlyMap<string, ProviderDescriptor> = new Map(",
    "  DESCRIPTORS.map((d) => [d.factory.kind, d]),",
    ");",
    "export const PROVIDERS: ReadonlyMap<string, ProviderFactory> = new Map(",
    "  DESCRIPTORS.map((d) => [d.factory.kind, d.factory]),",
    ");",
    "export const PROVIDER_KINDS: readonly string[] = DESCRIPTORS.map((d) => d.factory.kind);",
    "",
  ].join("\n");
}

/** The entry module: `main` with the embedded profile and the provider factories. */
function generatedEntry(
  root: URL,
  kinds: readonly string[],
  embedded: { text: string; source: string },
): string {
  const { imports, list } = descriptorsOf(root, kinds);
  return [
    "// Generated by mlflow-secrets-auth: the command line with an embedded profile.",
    `import { main } from ${JSON.stringify(new URL("cli.ts", root).href)};`,
    imports,
    `const providers = new Map([${list}].map((d) => [d.factory.kind, d.factory]));`,
    `const embeddedProfile = ${JSON.stringify(embedded)};`,
    "Deno.exit(await main(Deno.args, undefined, { embeddedProfile, providers }));",
    "",
  ].join("\n");
}

/**
 * A byte count for people: `812 B`, `41.3 KiB`, `2.48 MiB`.
 *
 * @param bytes A size.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./_artifact.ts";
 * if (formatBytes(2_600_000) !== "2.48 MiB") throw new Error(formatBytes(2_600_000));
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}
