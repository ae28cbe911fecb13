/**
 * `validate`, `explain` and `schema` through `main()`: exit codes 0/1/2, `--json` shapes, every
 * issue with file:line:col.
 */

import { main } from "../../cli.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { fakeIo, tempFile, testdata } from "./_io.ts";

const VALID = testdata("valid.yaml");
const INVALID = testdata("invalid.yaml");
/** Written at test time: `deno fmt` would refuse a broken YAML file in the repository. */
const SYNTAX = await tempFile(
  "syntax_error.yaml",
  "version: 1\nproviders:\n  ci: { kind: env\nhosts: []\n",
);

Deno.test("main() validate exits 0 on a valid profile", async () => {
  const io = fakeIo();
  assertEquals(await main(["validate", "-p", VALID], io), 0);
  assertStringIncludes(io.out(), "valid (2 host rules, 1 provider(s))");
  assertEquals(io.err(), "");
});

Deno.test("main() validate lists every issue with file:line:col, pointer and rule, and exits 2", async () => {
  const io = fakeIo();
  assertEquals(await main(["validate", "-p", INVALID], io), 2);
  const err = io.err();
  assertStringIncludes(err, `${INVALID}: 5 issues`);
  for (
    const where of [
      `${INVALID}:2:10 at /version: must be 1 [const]`,
      `${INVALID}:6:5 at /providers/ci-env: unknown property "region"`,
      `${INVALID}:8:12 at /hosts/0/match:`,
      `${INVALID}:13:15 at /hosts/1/provider: provider "nowhere" is not declared`,
      `${INVALID}:15:11 at /hosts/1/auth:`,
    ]
  ) {
    assertStringIncludes(err, where);
  }
  assertEquals(io.out(), "");
});

Deno.test("main() validate --json prints { valid, file, issues } with positions", async () => {
  const ok = fakeIo();
  assertEquals(await main(["validate", "-p", VALID, "--json"], ok), 0);
  assertEquals(JSON.parse(ok.out()), { valid: true, file: VALID, issues: [] });

  const bad = fakeIo();
  assertEquals(await main(["validate", "-p", INVALID, "--json"], bad), 2);
  const out = JSON.parse(bad.out());
  assertEquals(Object.keys(out).sort(), ["file", "issues", "valid"]);
  assertEquals(out.valid, false);
  assertEquals(out.issues.length, 5);
  for (const issue of out.issues) {
    assert(typeof issue.pointer === "string", "pointer");
    assert(typeof issue.line === "number" && typeof issue.column === "number", "position");
    assert(typeof issue.rule === "string" && typeof issue.message === "string", "rule/message");
  }
  assertEquals(
    out.issues.map((i: { pointer: string }) => i.pointer),
    ["/version", "/providers/ci-env", "/hosts/0/match", "/hosts/1/provider", "/hosts/1/auth"],
  );
});

Deno.test("main() validate reports a YAML syntax error with its line and a snippet", async () => {
  const io = fakeIo();
  assertEquals(await main(["validate", "-p", SYNTAX], io), 2);
  assertStringIncludes(io.err(), `${SYNTAX}:4:1: YAML syntax error`);
  assertStringIncludes(io.err(), "ci: { kind: env");
});

Deno.test("main() validate exits 2 when the profile file does not exist, naming init", async () => {
  const io = fakeIo();
  assertEquals(await main(["validate", "-p", "/nonexistent/mlflow-auth.yaml"], io), 2);
  assertStringIncludes(io.err(), "does not exist");
  assertStringIncludes(io.err(), "mlflow-secrets-auth init");
});

Deno.test("main() validate finds the profile through MLFLOW_SECRETS_AUTH_PROFILE", async () => {
  const io = fakeIo({ env: { MLFLOW_SECRETS_AUTH_PROFILE: VALID } });
  assertEquals(await main(["validate", "--json"], io), 0);
  assertEquals(JSON.parse(io.out()).file, VALID);
});

Deno.test("main() explain lists every rule, most specific first, without secrets", async () => {
  const io = fakeIo({ env: { MLFLOW_TOKEN: "never-read-by-explain" } });
  assertEquals(await main(["explain", "-p", VALID], io), 0);
  const out = io.out();
  assertStringIncludes(out, "2 rule(s), most specific first");
  assertStringIncludes(out, "Authorization: Bearer <redacted: secret>");
  assertStringIncludes(out, "X-Api-Key: <redacted: token>");
  assert(!out.includes("never-read-by-explain"), "explain read a secret");
});

Deno.test("main() explain --url exits 0 on a match and 1 when a URL matches nothing", async () => {
  const hit = fakeIo();
  assertEquals(
    await main(["explain", "-p", VALID, "--url", "https://mlflow.company.com/api/2.0/x"], hit),
    0,
  );
  assertStringIncludes(hit.out(), "matched hosts[0]  https://mlflow.company.com");

  const miss = fakeIo();
  assertEquals(
    await main([
      "explain",
      "-p",
      VALID,
      "--url",
      "https://mlflow.company.com/",
      "https://evil.example.com/",
    ], miss),
    1,
  );
  assertStringIncludes(miss.out(), "no rule matches: sent untouched");
});

Deno.test("main() explain --json gives rules, or per-URL results", async () => {
  const io = fakeIo();
  assertEquals(await main(["explain", "-p", VALID, "--json"], io), 0);
  const out = JSON.parse(io.out());
  assertEquals(Object.keys(out).sort(), ["file", "rules"]);
  assertEquals(out.rules.length, 2);
  assertEquals(
    Object.keys(out.rules[0]).sort(),
    [
      "cache",
      "canonical",
      "headers",
      "index",
      "kind",
      "leak_guard",
      "match",
      "provider",
      "refresh_on",
      "retry",
      "rule",
      "secret",
      "version",
    ],
  );
  assertEquals(out.rules[0].cache.bounded_by, ["a JWT's exp in the value"]);

  const urls = fakeIo();
  assertEquals(
    await main(["explain", "-p", VALID, "--json", "--url", "http://127.0.0.1:5000/x"], urls),
    0,
  );
  const r = JSON.parse(urls.out());
  assertEquals(r.results[0].rule.rule, "hosts[1]");
  assertEquals(r.results[0].rule.leak_guard, "block");
  assertEquals(r.results[0].url, "http://127.0.0.1:5000/x");
});

Deno.test("main() explain exits 2 for a URL that is not a URL and for an invalid profile", async () => {
  const a = fakeIo();
  assertEquals(await main(["explain", "-p", VALID, "--url", "not a url"], a), 2);
  assertStringIncludes(a.err(), "not an absolute URL");
  const b = fakeIo();
  assertEquals(await main(["explain", "-p", INVALID], b), 2);
  assertStringIncludes(b.err(), `${INVALID}:2:10`);
});

Deno.test("main() explain prints a URL with userinfo redacted and never matches it", async () => {
  const io = fakeIo();
  assertEquals(
    await main(["explain", "-p", VALID, "--url", "https://u:pw-1234@mlflow.company.com/"], io),
    1,
  );
  assert(!io.out().includes("pw-1234"), "password printed");
  assertStringIncludes(io.out(), "userinfo");
});

Deno.test("main() schema prints the JSON Schema and exits 0", async () => {
  const io = fakeIo();
  assertEquals(await main(["schema"], io), 0);
  const schema = JSON.parse(io.out());
  assertEquals(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assertEquals(schema.required, ["version", "providers", "hosts"]);
});

Deno.test("main() exits 2 on an unknown command or option, and 0 on --help and --version", async () => {
  const unknown = fakeIo();
  assertEquals(await main(["frobnicate"], unknown), 2);
  assertStringIncludes(unknown.err(), "unknown command");
  const badOption = fakeIo();
  assertEquals(await main(["validate", "--nope"], badOption), 2);
  assertStringIncludes(badOption.err(), "unknown option");
  const help = fakeIo();
  assertEquals(await main(["--help"], help), 0);
  for (const cmd of ["validate", "explain", "schema", "doctor", "info", "init", "completions"]) {
    assertStringIncludes(help.out(), cmd);
  }
  const version = fakeIo();
  assertEquals(await main(["--version"], version), 0);
  assert(/^\d+\.\d+\.\d+\n$/.test(version.out()), version.out());
});

Deno.test("main() <command> --help shows examples for every command", async () => {
  for (
    const cmd of ["validate", "explain", "schema", "doctor", "info", "init", "completions"]
  ) {
    const io = fakeIo();
    assertEquals(await main([cmd, "--help"], io), 0, cmd);
    assertStringIncludes(io.out(), "Examples:", cmd);
    assertStringIncludes(io.out(), `mlflow-secrets-auth ${cmd}`, cmd);
    assert(!io.out().includes("\x1b["), `colour in ${cmd} --help`);
  }
});

Deno.test("main() explain takes URLs as arguments too, like --url", async () => {
  const io = fakeIo();
  assertEquals(
    await main(["explain", "-p", VALID, "https://mlflow.company.com/api/2.0/x"], io),
    0,
    io.err(),
  );
  assertStringIncludes(io.out(), "https://mlflow.company.com/api/2.0/x\n  matched hosts[0]");
  assert(!io.out().includes("rule(s), most specific first"), "listed every rule instead");
  const both = fakeIo();
  assertEquals(
    await main([
      "explain",
      "-p",
      VALID,
      "--url",
      "https://mlflow.company.com/a",
      "http://nowhere.example/",
    ], both),
    1,
  );
  assertStringIncludes(both.out(), "https://mlflow.company.com/a\n  matched");
  assertStringIncludes(both.out(), "http://nowhere.example/\n  no rule matches");
});

Deno.test("main() validate names the flag as typed, the absolute path, and no pointer or count, for a missing profile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "msa-missing-" });
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  try {
    const cases: [string[], Record<string, string>, string[]][] = [
      [["-p", "nope.yaml"], {}, [`"${dir}/nope.yaml" given with -p`, "init -p nope.yaml`"]],
      [["--profile", "sub/../nope.yaml"], {}, [`"${dir}/nope.yaml" given with --profile`]],
      [["--profile=nope.yaml"], {}, ["given with --profile:"]],
      [[], { MLFLOW_SECRETS_AUTH_PROFILE: "env.yaml" }, [
        `"${dir}/env.yaml" named by MLFLOW_SECRETS_AUTH_PROFILE`,
        "correct or unset the variable",
      ]],
      [[], {}, [
        `"${dir}/mlflow-auth.yaml"`,
        "neither -p/--profile nor MLFLOW_SECRETS_AUTH_PROFILE is set",
        "init`",
      ]],
    ];
    for (const [args, env, expected] of cases) {
      const io = fakeIo({ env });
      assertEquals(await main(["validate", ...args], io), 2);
      const err = io.err();
      for (const text of expected) assertStringIncludes(err, text);
      assertStringIncludes(err, "does not exist");
      for (const noise of [" at /", "issue(s)", "1 issue"]) {
        assert(!err.includes(noise), `"${noise}" in: ${err}`);
      }
      assertEquals(err.trim().split("\n").length, 1, err);
    }
    const explain = fakeIo();
    assertEquals(await main(["explain", "-p", "nope.yaml"], explain), 2);
    assertEquals(
      explain.err().trim(),
      `Cannot read the profile "${dir}/nope.yaml" given with -p: the file does not exist; check the path, or create it with \`mlflow-secrets-auth init -p nope.yaml\``,
    );
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() explain shows a rule's tls files (paths only), in text and JSON", async () => {
  const path = await tempFile(
    "tls.yaml",
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: https://mlflow.example.com
    provider: ci
    secret: { var: T }
    auth: bearer
    tls: { ca_cert: /etc/ssl/corp-ca.pem, client_cert: /c.pem, client_key: /c.pem }
`,
  );
  const text = fakeIo();
  assertEquals(await main(["explain", "-p", path], text), 0);
  assertStringIncludes(
    text.out(),
    '    tls ca_cert "/etc/ssl/corp-ca.pem", client_cert "/c.pem", client_key "/c.pem"',
  );
  const json = fakeIo();
  assertEquals(await main(["explain", "-p", path, "--json"], json), 0);
  assertEquals(JSON.parse(json.out()).rules[0].tls, {
    ca_cert: "/etc/ssl/corp-ca.pem",
    client_cert: "/c.pem",
    client_key: "/c.pem",
  });
});

/** One rule per kind and KV shape, for what each rule's secret carries about itself. */
const EVERY_KIND = `version: 1
providers:
  v: { kind: vault, address: "https://vault.company.com", auth: { method: token } }
  aws: { kind: aws-secrets-manager, region: eu-west-1 }
  aws-fixed: { kind: aws-secrets-manager, region: eu-west-1, rotation_schedule: false }
  az: { kind: azure-key-vault, vault_url: "https://ml.vault.azure.net" }
  f: { kind: file }
  e: { kind: env }
hosts:
  - { match: "https://kv-auto.company.com", provider: v, secret: { path: mlflow/auth }, auth: bearer }
  - { match: "https://kv1.company.com", provider: v, secret: { path: mlflow/auth, kv: 1 }, auth: bearer }
  - { match: "https://kv2.company.com", provider: v, secret: { path: mlflow/auth, kv: 2, version: 4 }, auth: bearer }
  - { match: "https://aws.company.com", provider: aws, secret: { id: mlflow }, auth: bearer }
  - { match: "https://aws-pinned.company.com", provider: aws, secret: { id: mlflow, version_id: v1 }, auth: bearer }
  - { match: "https://aws-canary.company.com", provider: aws, secret: { id: mlflow, version_stage: CANARY }, auth: bearer }
  - { match: "https://aws-off.company.com", provider: aws-fixed, secret: { id: mlflow }, auth: bearer }
  - { match: "https://az.company.com", provider: az, secret: { name: mlflow }, auth: bearer }
  - { match: "https://file.company.com", provider: f, secret: { path: /run/secrets/t }, auth: bearer }
  - { match: "https://env.company.com", provider: e, secret: { var: T }, auth: bearer }
`;

Deno.test("main() explain states, per rule, what can end the cache before the ttl and which version is reported", async () => {
  const path = await tempFile("every_kind.yaml", EVERY_KIND);
  const io = fakeIo();
  assertEquals(await main(["explain", "-p", path, "--json"], io), 0);
  const rules: { canonical: string; cache: { bounded_by: string[] }; version: string | null }[] =
    JSON.parse(io.out()).rules;
  const by = (host: string) => {
    const r = rules.find((x) => x.canonical === `https://${host}.company.com`);
    assert(r !== undefined, host);
    return { bounded_by: r.cache.bounded_by, version: r.version };
  };
  const jwt = "a JWT's exp in the value";
  assertEquals(by("kv-auto"), {
    bounded_by: [
      "a KV v1 lease_duration (on a KV v1 mount)",
      "the Vault token's remaining TTL",
      jwt,
    ],
    version: "the KV v2 version number (none on a KV v1 mount)",
  });
  assertEquals(by("kv1"), {
    bounded_by: ["a KV v1 lease_duration", "the Vault token's remaining TTL", jwt],
    version: null,
  });
  assertEquals(by("kv2"), {
    bounded_by: ["the Vault token's remaining TTL", jwt],
    version: "KV v2 version 4 (pinned)",
  });
  assertEquals(by("az"), {
    bounded_by: ["the secret's expires attribute", jwt],
    version: "the secret version id",
  });
  assertEquals(by("aws"), {
    bounded_by: [
      "the next scheduled rotation (DescribeSecret; a refresh point, not an expiry)",
      jwt,
    ],
    version: "the VersionId and its stages",
  });
  // A pinned version and a custom stage are not moved by a rotation; rotation_schedule: false.
  assertEquals(by("aws-pinned").bounded_by, [jwt]);
  assertEquals(by("aws-canary").bounded_by, [jwt]);
  assertEquals(by("aws-off").bounded_by, [jwt]);
  assertEquals(by("file"), {
    bounded_by: ["a check of the file every second (read again only when it changed)", jwt],
    version: "the file's mtime and inode (never its content)",
  });
  assertEquals(by("env"), { bounded_by: [jwt], version: null });

  const text = fakeIo();
  assertEquals(await main(["explain", "-p", path, "https://az.company.com/"], text), 0);
  assertStringIncludes(
    text.out(),
    "cache ends sooner than the ttl at (whichever comes first): the secret's expires attribute, a JWT's exp in the value\n    version reported: the secret version id\n",
  );
});
