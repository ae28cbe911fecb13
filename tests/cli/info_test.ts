/**
 * `info`: versions, the profile and how it was found, providers and their SDKs, cache, retry and
 * log settings; non-zero when the profile is invalid.
 */

import { main, VERSION } from "../../cli.ts";
import type { InfoReport } from "../../cli/info.ts";
import { envProvider } from "../../providers/env.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { envProfile, fakeIo, tempDir, tempFile, testdata } from "./_io.ts";

const VALID = testdata("valid.yaml");
const INVALID = testdata("invalid.yaml");

const CLOUD = `version: 1
providers:
  corp-vault: { kind: vault, address: "https://vault.company.com", auth: { method: token } }
  aws: { kind: aws-secrets-manager, region: eu-west-1 }
  azure: { kind: azure-key-vault, vault_url: "https://ml.vault.azure.net" }
hosts:
  - { match: "https://a.company.com", provider: corp-vault, secret: { path: mlflow/auth }, auth: bearer }
  - { match: "https://b.company.com", provider: aws, secret: { id: mlflow }, auth: bearer }
  - { match: "https://c.company.com", provider: azure, secret: { name: mlflow }, auth: bearer }
logging: { level: info, format: json }
`;

Deno.test("main() info prints versions, the profile, providers, cache, retry and logging", async () => {
  const io = fakeIo();
  assertEquals(await main(["info", "-p", VALID], io), 0);
  const out = io.out();
  assertStringIncludes(out, `mlflow-secrets-auth ${VERSION}\n`);
  assertStringIncludes(out, `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}`);
  assertStringIncludes(out, `Profile: ${VALID} (from --profile)`);
  assertStringIncludes(out, "valid: 2 host rule(s), 1 provider(s)");
  assertStringIncludes(out, "ci-env (env): built in, no SDK");
  assertStringIncludes(
    out,
    "hosts[0] https://mlflow.company.com (ci-env): cache ttl 5m, refresh ahead 1m, stale-if-error 5m; retry 3 attempt(s), 10s each, deadline 30s; refresh on 401",
  );
  assertStringIncludes(out, "Logging: level warn (default), format text (default)");
});

Deno.test("main() info --json has a stable shape and says how the profile was found", async () => {
  const viaEnv = fakeIo({ env: { MLFLOW_SECRETS_AUTH_PROFILE: VALID } });
  assertEquals(await main(["info", "--json"], viaEnv), 0);
  const r: InfoReport = JSON.parse(viaEnv.out());
  assertEquals(
    Object.keys(r).sort(),
    ["deno", "kinds", "logging", "profile", "providers", "rules", "version"],
  );
  assertEquals(r.version, VERSION);
  assertEquals(r.profile, { path: VALID, origin: "env", valid: true, issues: [] });
  assertEquals(r.providers, [{ name: "ci-env", kind: "env", available: true, sdks: [] }]);
  assertEquals(r.rules.map((x) => x.rule), ["hosts[0]", "hosts[1]"]);
  assertEquals(
    Object.keys(r.rules[0]!).sort(),
    ["cache", "canonical", "leak_guard", "provider", "refresh_on", "retry", "rule", "version"],
  );
  for (const kind of ["env", "file", "vault", "aws-secrets-manager", "azure-key-vault"]) {
    assert(r.kinds.includes(kind), `kind ${kind} missing from this build`);
  }
});

Deno.test("main() info exits 2 when the profile is invalid, and lists the issues", async () => {
  const io = fakeIo();
  assertEquals(await main(["info", "-p", INVALID], io), 2);
  assertStringIncludes(io.out(), "invalid: 5 issues");
  assertStringIncludes(io.out(), `${INVALID}:2:10 at /version`);
  assertStringIncludes(io.out(), `mlflow-secrets-auth ${VERSION}`);

  const json = fakeIo();
  assertEquals(await main(["info", "-p", INVALID, "--json"], json), 2);
  const r: InfoReport = JSON.parse(json.out());
  assertEquals(r.profile.valid, false);
  assertEquals(r.profile.issues.length, 5);
});

Deno.test("main() info exits 2 when the default profile is missing, naming the default", async () => {
  const dir = await tempDir();
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  try {
    const io = fakeIo();
    assertEquals(await main(["info", "--json"], io), 2);
    const r: InfoReport = JSON.parse(io.out());
    assertEquals(r.profile.origin, "default");
    assertEquals(r.profile.path, "./mlflow-auth.yaml");
    assertStringIncludes(r.profile.issues[0]!.message, "does not exist");
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("main() info loads each provider's SDK and times it", async () => {
  const path = await tempFile("cloud.yaml", CLOUD);
  const io = fakeIo();
  assertEquals(await main(["info", "-p", path, "--json"], io), 0, io.out());
  const r: InfoReport = JSON.parse(io.out());
  assertEquals(r.providers.map((p) => [p.name, p.sdks.map((s) => s.package)]), [
    ["corp-vault", ["node-vault"]],
    ["aws", ["@aws-sdk/client-secrets-manager", "@aws-sdk/credential-providers"]],
    ["azure", ["@azure/identity", "@azure/keyvault-secrets"]],
  ]);
  for (const p of r.providers) {
    for (const s of p.sdks) {
      assert(s.loaded, `${s.package} did not load: ${s.error}`);
      assert(Number.isInteger(s.ms) && s.ms >= 0, "ms");
    }
  }
  assertEquals(r.logging, {
    level: "info",
    level_from: "profile",
    format: "json",
    format_from: "profile",
  });
});

Deno.test("main() info exits 1 when a provider kind is not in this build", async () => {
  const path = await tempFile("cloud.yaml", CLOUD);
  const io = fakeIo();
  assertEquals(
    await main(["info", "-p", path], io, { providers: new Map([["env", envProvider]]) }),
    1,
  );
  assertStringIncludes(io.out(), "Provider kinds in this build: env\n");
  assertStringIncludes(io.out(), "corp-vault (vault): NOT AVAILABLE in this build");
});

Deno.test("main() info shows environment overrides of the log settings", async () => {
  const io = fakeIo({
    env: { MLFLOW_SECRETS_AUTH_LOG_LEVEL: "DEBUG", MLFLOW_SECRETS_AUTH_LOG_FORMAT: "json" },
  });
  assertEquals(await main(["info", "-p", VALID], io), 0);
  assertStringIncludes(
    io.out(),
    "Logging: level debug ($MLFLOW_SECRETS_AUTH_LOG_LEVEL), format json ($MLFLOW_SECRETS_AUTH_LOG_FORMAT)",
  );
});

Deno.test("main() info reports an embedded profile", async () => {
  const io = fakeIo();
  const code = await main(["info", "--json"], io, {
    embeddedProfile: { text: envProfile("https://mlflow.company.com"), source: "embedded:x.yaml" },
  });
  assertEquals(code, 0);
  const r: InfoReport = JSON.parse(io.out());
  assertEquals(r.profile.origin, "embedded");
  assertEquals(r.profile.path, "embedded:x.yaml");
});

Deno.test("main() info states what can end each rule's cache before the ttl, the version it reports and its leak guard", async () => {
  const path = await tempFile("cloud.yaml", CLOUD);
  const io = fakeIo();
  await main(["info", "-p", path, "--json"], io);
  const r: InfoReport = JSON.parse(io.out());
  assertEquals(r.rules.map((x) => [x.rule, x.cache.bounded_by, x.version, x.leak_guard]), [
    [
      "hosts[0]",
      [
        "a KV v1 lease_duration (on a KV v1 mount)",
        "the Vault token's remaining TTL",
        "a JWT's exp in the value",
      ],
      "the KV v2 version number (none on a KV v1 mount)",
      "block",
    ],
    [
      "hosts[1]",
      [
        "the next scheduled rotation (DescribeSecret; a refresh point, not an expiry)",
        "a JWT's exp in the value",
      ],
      "the VersionId and its stages",
      "block",
    ],
    [
      "hosts[2]",
      ["the secret's expires attribute", "a JWT's exp in the value"],
      "the secret version id",
      "block",
    ],
  ]);
  const text = fakeIo();
  await main(["info", "-p", path], text);
  assertStringIncludes(
    text.out(),
    "refresh on 401; leak guard block\n    cache ends sooner than the ttl at (whichever comes first): the secret's expires attribute, a JWT's exp in the value\n    version reported (access log, metrics, doctor): the secret version id\n",
  );
});
