import { resolveProfilePath } from "../../profile/profile.ts";
import { loadProfile, parseProfile } from "../../mod.ts";
import { PROFILE_SCHEMA, SCHEMA_KINDS } from "../../profile/validate.ts";
import { PROVIDERS } from "../../providers/registry.ts";
import { ProfileError } from "../../core/errors.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../_assert.ts";

const VALID = `version: 1
providers:
  ci:
    kind: env
hosts:
  - match: https://mlflow.example.com
    provider: ci
    secret: { var: MLFLOW_TOKEN }
    auth: bearer
`;

function issuesOf(text: string, env: Record<string, string> = {}) {
  const err = assertThrows(() => parseProfile(text, { source: "p.yaml", env }), ProfileError);
  return err.issues;
}

Deno.test("parseProfile() accepts a minimal valid profile", () => {
  const p = parseProfile(VALID, { env: {} });
  assertEquals(p.data.hosts[0]!.provider, "ci");
});

Deno.test("parseProfile() reports a YAML syntax error with line, column and a snippet", () => {
  const issues = issuesOf("version: 1\nproviders:\n  a: [\n");
  assert(issues.length >= 1);
  assert(issues[0]!.line !== undefined && issues[0]!.column !== undefined, "no position");
  assertStringIncludes(issues[0]!.message, "YAML syntax error");
});

Deno.test("parseProfile() rejects duplicate keys", () => {
  const issues = issuesOf(VALID + "version: 1\n");
  assertEquals(issues[0]!.rule, "yaml.DUPLICATE_KEY");
  assertEquals(issues[0]!.line, 10);
});

Deno.test("parseProfile() lists every issue at once, each with a pointer and line:column", () => {
  const text = `version: 2
providers:
  a: { kind: vaultx }
  b: { kind: env, extra: 1 }
hosts:
  - match: http://mlflow.example.com
    provider: nope
    secret: { var: X }
    auth: { type: header, name: X-K, value: "static" }
  - match: https://*.x.com
    provider: b
    secret: { path: 1 }
    auth: bearx
defaults: { cache: { ttl: 5 minutes } }
`;
  const err = assertThrows(() => parseProfile(text, { source: "bad.yaml", env: {} }), ProfileError);
  const byPointer = new Map(err.issues.map((i) => [i.pointer + " " + i.rule, i]));
  const expect = (key: string, line: number, part: string) => {
    const i = byPointer.get(key);
    assert(i !== undefined, `missing issue ${key}; got ${[...byPointer.keys()].join(", ")}`);
    assertEquals(i.line, line, key);
    assertStringIncludes(i.message, part);
  };
  expect("/version const", 1, "must be 1");
  expect("/providers/a/kind enum", 3, '"env"');
  expect("/providers/b additionalProperties", 4, 'unknown property "extra"');
  expect("/hosts/0/match insecure-http", 6, "plain http");
  expect("/hosts/0/provider provider-declared", 7, 'provider "nope" is not declared');
  expect("/hosts/0/auth/value header-template", 9, "no placeholder");
  expect("/hosts/1/secret required", 12, 'missing required property "var"');
  expect("/hosts/1/auth oneOf", 13, '"bearer", "basic"');
  expect("/defaults/cache/ttl oneOf", 14, "duration");
  assertStringIncludes(err.message, "bad.yaml:1:10 at /version");
});

Deno.test("parseProfile() rejects two rules with the same match, however written", () => {
  const text = VALID + `  - match: HTTPS://MLFLOW.example.com:443/
    provider: ci
    secret: { var: OTHER }
    auth: bearer
`;
  const issues = issuesOf(text);
  assertEquals(issues.map((i) => i.rule), ["unique-match"]);
  assertEquals(issues[0]!.line, 10);
});

Deno.test("parseProfile() refuses http rules for non-loopback hosts unless allowed", () => {
  const rule = (match: string, extra = "") =>
    `version: 1\nproviders: { ci: { kind: env } }\nhosts:\n  - { match: "${match}", provider: ci, secret: { var: T }, auth: bearer${extra} }\n`;
  assertEquals(issuesOf(rule("http://mlflow.example.com")).map((i) => i.rule), ["insecure-http"]);
  parseProfile(rule("http://mlflow.example.com", ", allow_insecure_http: true"), { env: {} });
  parseProfile(rule("http://127.0.0.1:5000"), { env: {} });
  parseProfile(rule("http://localhost:5000"), { env: {} });
  parseProfile(rule("http://[::1]:5000"), { env: {} });
});

Deno.test("parseProfile() treats localhost. (trailing dot, resolved by DNS) as not loopback", () => {
  const rule = (match: string) =>
    `version: 1\nproviders: { ci: { kind: env } }\nhosts:\n  - { match: "${match}", provider: ci, secret: { var: T }, auth: bearer }\n`;
  assertEquals(issuesOf(rule("http://localhost.:5000")).map((i) => i.rule), ["insecure-http"]);
  assertEquals(issuesOf(rule("http://LOCALHOST.")).map((i) => i.rule), ["insecure-http"]);
});

Deno.test("parseProfile() checks the secret reference against the provider's kind", () => {
  const text = `version: 1
providers: { f: { kind: file } }
hosts:
  - { match: "https://a.example.com", provider: f, secret: { var: T }, auth: bearer }
`;
  const issues = issuesOf(text);
  assert(issues.some((i) => i.pointer === "/hosts/0/secret" && i.message.includes('"path"')));
});

Deno.test("parseProfile() reports a provider's own configuration checks with their lines", () => {
  const text = `version: 1
providers:
  corp-vault:
    kind: vault
    address: http://vault.example.com:8200
    auth:
      method: kubernetes
hosts:
  - { match: "https://a.example.com", provider: corp-vault, secret: { path: mlflow/auth }, auth: bearer }
`;
  const issues = issuesOf(text).filter((i) => i.rule === "provider-config");
  const lines = issues.map((i) => `${i.pointer}:${i.line}`).sort();
  assertEquals(lines, ["/providers/corp-vault/address:5", "/providers/corp-vault/auth:7"]);
});

Deno.test("parseProfile() rejects CR/LF in static headers and forbidden header names", () => {
  const text = `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: https://a.example.com
    provider: ci
    secret: { var: T }
    auth: bearer
    headers: { X-Team: "a\\r\\nX-Evil: 1", Host: evil.com, authorization: x }
`;
  const rules = issuesOf(text).map((i) => i.rule).sort();
  assertEquals(rules, ["header-name", "header-name", "header-value"]);
});

Deno.test("parseProfile() interpolates ${VAR} and ${VAR:-default}, and names a missing variable and its field", () => {
  const text = `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: "https://\${MLFLOW_HOST}:\${PORT:-8443}"
    provider: ci
    secret: { var: "\${TOKEN_VAR}" }
    auth: bearer
    headers: { X-Price: "$$5" }
`;
  const p = parseProfile(text, { env: { MLFLOW_HOST: "mlflow.example.com", TOKEN_VAR: "T" } });
  assertEquals(p.data.hosts[0]!.match, "https://mlflow.example.com:8443");
  assertEquals(p.data.hosts[0]!.secret, { var: "T" });
  assertEquals(p.data.hosts[0]!.headers, { "X-Price": "$5" });
  const issues = issuesOf(text, { MLFLOW_HOST: "mlflow.example.com" });
  assertEquals(issues.length, 1);
  assertEquals(issues[0]!.pointer, "/hosts/0/secret/var");
  assertEquals(issues[0]!.line, 6);
  assertStringIncludes(issues[0]!.message, '"TOKEN_VAR" is not set');
});

Deno.test("parseProfile() reports a non-object document clearly", () => {
  const issues = issuesOf("just a string\n");
  assertEquals(issues[0]!.pointer, "");
  assertStringIncludes(issues[0]!.message, "object");
});

Deno.test("resolveProfilePath() prefers the flag, then the environment, then ./mlflow-auth.yaml", () => {
  const env = (v?: string) => (n: string) => n === "MLFLOW_SECRETS_AUTH_PROFILE" ? v : undefined;
  assertEquals(resolveProfilePath("a.yaml", env("b.yaml")), { path: "a.yaml", origin: "flag" });
  assertEquals(resolveProfilePath(undefined, env("b.yaml")), { path: "b.yaml", origin: "env" });
  assertEquals(resolveProfilePath(undefined, env()), {
    path: "./mlflow-auth.yaml",
    origin: "default",
  });
});

Deno.test("PROFILE_SCHEMA has a description on every field", () => {
  const missing: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (node === null || typeof node !== "object") return;
    const n = node as Record<string, unknown>;
    if (n.properties !== undefined) {
      for (
        const [k, v] of Object.entries(n.properties as Record<string, Record<string, unknown>>)
      ) {
        if (typeof v.description !== "string" || v.description === "") {
          missing.push(`${path}/properties/${k}`);
        }
      }
    }
    for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
  };
  walk(PROFILE_SCHEMA, "#");
  assertEquals(missing, []);
});

Deno.test("PROFILE_SCHEMA's provider kinds equal the registry's kinds", () => {
  assertEquals([...SCHEMA_KINDS].sort(), [...PROVIDERS.keys()].sort());
});

Deno.test("every example profile carries the $schema comment and validates", async () => {
  const files: string[] = [];
  for await (const e of Deno.readDir("examples")) {
    if (e.isFile && /\.ya?ml$/.test(e.name)) files.push(`examples/${e.name}`);
  }
  assert(files.length > 0, "no examples");
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    assertStringIncludes(text.split("\n")[0]!, "$schema=../schema/profile.schema.json", file);
    // Interpolated variables get placeholder values: the examples document, they do not run.
    parseProfile(text, { source: file, env: (name) => `placeholder-${name.toLowerCase()}` });
  }
});

Deno.test("createPlan() treats static headers taken from the environment as secret", async () => {
  const { createPlan } = await import("../../profile/plan.ts");
  const { createAuthFetch } = await import("../../http/auth_fetch.ts");
  const canary = `canary-${crypto.randomUUID()}`;
  const profile = parseProfile(
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: https://mlflow.example.com
    provider: ci
    secret: { var: T }
    auth: bearer
    headers: { CF-Access-Client-Secret: "\${CF_SECRET}", X-Team: a }
`,
    { env: { CF_SECRET: canary } },
  );
  const plan = createPlan(profile);
  assertEquals([...plan.rules[0]!.sensitiveHeaders], ["CF-Access-Client-Secret"]);
  const lines: string[] = [];
  await using f = createAuthFetch(profile, {
    env: () => "tok",
    logWrite: (l) => lines.push(l),
    fetch: () => Promise.resolve(new Response("ok")),
  });
  await f("https://mlflow.example.com/x");
  assertEquals(f.resolver.redactor.redact(`x ${canary} y`), "x *** y");
});

Deno.test("parseProfile() hints at indentation when a key lands beside an empty one instead of inside it", () => {
  const err = assertThrows(
    () =>
      parseProfile(
        "version: 1\nproviders:\n  ci:\n  kind: env\nhosts:\n  - { match: https://m.example.com, provider: ci, secret: { var: T }, auth: bearer }\n",
        { env: {} },
      ),
    ProfileError,
  );
  const kind = err.issues.find((i) => i.pointer === "/providers/kind");
  assertStringIncludes(kind?.message ?? "", '"kind" on line 4 is indented like "ci" on line 3');
  assertStringIncludes(kind?.message ?? "", 'indent it more if it belongs to "ci"');
  const ci = err.issues.find((i) => i.pointer === "/providers/ci");
  assertStringIncludes(ci?.message ?? "", '"ci" is empty: the lines after it are not indented');

  // An unknown key at the root after an empty block gets the hint too (additionalProperties).
  const root = assertThrows(
    () => parseProfile(`${VALID}defaults:\ncache: { ttl: 5m }\n`, { env: {} }),
    ProfileError,
  );
  const cache = root.issues.find((i) => i.rule === "additionalProperties");
  assertStringIncludes(cache?.message ?? "", '"cache" on line');
  assertStringIncludes(cache?.message ?? "", 'belongs to "defaults"');
});

Deno.test("parseProfile() runs a provider's own checks only on a provider block the schema accepts", () => {
  const err = assertThrows(
    () =>
      parseProfile(
        "version: 1\nproviders:\n  v:\n    kind: vault\n    address: https://vault.example.com:8200\n    auth:\n    method: token\nhosts:\n  - { match: https://m.example.com, provider: v, secret: { path: a/b }, auth: bearer }\n",
        { env: {} },
      ),
    ProfileError,
  );
  assertStringIncludes(
    err.issues.find((i) => i.rule === "additionalProperties")?.message ?? "",
    'indent it more if it belongs to "auth"',
  );
});

Deno.test("parseProfile() points YAML indentation errors at the offending column, not column 1", () => {
  const err = assertThrows(
    () =>
      parseProfile(
        "version: 1\nproviders:\n  ci: { kind: env }\nhosts:\n  - match: https://m.example.com\n    provider: ci\n   secret: { var: T }\n    auth: bearer\n",
        { env: {} },
      ),
    ProfileError,
  );
  const first = err.issues[0]!;
  assertEquals([first.line, first.column], [7, 4]);
  // The snippet's caret is under that column.
  const lines = first.message.split("\n");
  assertEquals(lines.at(-1), "   ^");
  assertEquals(lines.at(-2), "   secret: { var: T }");
});

Deno.test("loadProfile() refuses a FIFO, a device, a directory and a file over 1 MiB, saying what and where", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = `${dir}/fifo.yaml`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert(made.success, "mkfifo failed");
    // Today's reader blocks on the FIFO: unblock it after a while so the test fails, not hangs.
    let settled = false;
    const unblock = setTimeout(async () => {
      if (!settled) (await Deno.open(fifo, { write: true })).close();
    }, 5_000);
    const loading = loadProfile(fifo, { env: {} });
    const err = await assertRejects(() => loading, ProfileError).finally(() => {
      settled = true;
      clearTimeout(unblock);
    });
    assertStringIncludes(err.message, `"${fifo}"`);
    assertStringIncludes(err.message, "a FIFO (named pipe), not a regular file");
    assertStringIncludes(err.message, "give the path of the profile's YAML file");

    const dev = await assertRejects(() => loadProfile("/dev/zero", { env: {} }), ProfileError);
    assertStringIncludes(dev.message, "a character device, not a regular file");
    const folder = await assertRejects(() => loadProfile(dir, { env: {} }), ProfileError);
    assertStringIncludes(folder.message, "a directory, not a regular file");

    const big = `${dir}/big.yaml`;
    await Deno.writeTextFile(big, VALID);
    await Deno.truncate(big, 2 * 1024 * 1024);
    const large = await assertRejects(() => loadProfile(big, { env: {} }), ProfileError);
    assertStringIncludes(large.message, "it is 2 MiB, over the 1 MiB limit");
    assertEquals(large.issues[0]!.rule, "read");

    const ok = `${dir}/ok.yaml`;
    await Deno.writeTextFile(ok, VALID);
    assertEquals((await loadProfile(ok, { env: {} })).data.hosts[0]!.provider, "ci");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
