/**
 * The environment `exec` hands its child: what the profile names and every copy of the
 * credential removed, ambient cloud variables kept unless `--scrub-cloud-env`.
 */

import { runExec } from "../../cli/exec.ts";
import {
  credentialForms,
  holdsCredential,
  isCloudVariable,
  profileVariables,
} from "../../cli/_child_env.ts";
import { createPlan } from "../../profile/plan.ts";
import { parseProfile } from "../../mod.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { UsageError } from "../../cli/errors.ts";
import { startServer } from "../_servers.ts";
import { fakeIo, tempDir } from "./_io.ts";

/** Runs `exec` with a profile and an environment; returns the child's environment and stderr. */
async function childEnv(
  profile: string,
  environ: Record<string, string>,
  options: {
    upstream?: string;
    scrubCloudEnv?: boolean;
    envMode?: string;
    keepEnv?: string;
    logLevel?: string;
  } = {},
): Promise<{ env: Record<string, string>; err: string }> {
  await using up = await startServer(() => new Response("ok"));
  const dir = await tempDir();
  const path = `${dir}/mlflow-auth.yaml`;
  await Deno.writeTextFile(path, profile.replaceAll("UPSTREAM", up.origin));
  const out = `${dir}/env`;
  const io = fakeIo({ env: environ });
  const code = await runExec(
    ["sh", "-c", 'env -0 > "$1"', "sh", out],
    {
      profile: path,
      upstream: options.upstream ?? up.origin,
      scrubCloudEnv: options.scrubCloudEnv,
      envMode: options.envMode,
      keepEnv: options.keepEnv,
      logLevel: options.logLevel,
    },
    io,
    { environ: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...environ }, stdio: "null" },
  );
  assertEquals(code, 0, io.err());
  const env = Object.fromEntries(
    (await Deno.readTextFile(out)).split("\0").filter((l) => l !== "").map((l) => {
      const eq = l.indexOf("=");
      return [l.slice(0, eq), l.slice(eq + 1)];
    }),
  );
  return { env, err: io.err() };
}

/** Every kind of variable a profile can name; the upstream rule reads the env provider. */
const NAMING_PROFILE = `
version: 1
providers:
  ci: { kind: env }
  corp-vault:
    kind: vault
    address: "\${VAULT_ADDRESS_FOR_TEST}"
    auth: { method: approle, role_id_env: MY_ROLE_ID, secret_id_env: MY_SECRET_ID }
  token-vault:
    kind: vault
    address: http://127.0.0.1:8200
    auth: { method: token }
  aws:
    kind: aws-secrets-manager
    region: eu-west-1
    assume_role: { role_arn: "arn:aws:iam::123456789012:role/r", external_id_env: MY_EXTERNAL_ID }
  kv:
    kind: azure-key-vault
    vault_url: https://example.vault.azure.net
    credential: { type: client_secret, tenant_id: t, client_id: c, client_secret_env: MY_AZURE_SECRET }
hosts:
  - match: UPSTREAM
    provider: ci
    secret: { var: MLFLOW_TOKEN }
    auth: { type: header, name: X-Api-Key, value: "Key {{token}} \${TEMPLATE_PART}" }
    headers: { X-Team: "\${TEAM_KEY}" }
  - { match: "https://a.example.com", provider: corp-vault, secret: { path: p }, auth: bearer }
  - { match: "https://b.example.com", provider: token-vault, secret: { path: p }, auth: bearer }
  - { match: "https://c.example.com", provider: aws, secret: { id: s }, auth: bearer }
  - { match: "https://d.example.com", provider: kv, secret: { name: n }, auth: bearer }
`;

const NAMED = {
  MLFLOW_TOKEN: "the-mlflow-token-0123",
  VAULT_ADDRESS_FOR_TEST: "http://127.0.0.1:8201",
  MY_ROLE_ID: "role-id-value",
  MY_SECRET_ID: "secret-id-value",
  VAULT_TOKEN: "hvs.vault-token-value",
  MY_EXTERNAL_ID: "external-id-value",
  MY_AZURE_SECRET: "azure-client-secret",
  TEMPLATE_PART: "v2",
  TEAM_KEY: "team-key-value",
  MLFLOW_TRACKING_PASSWORD: "old-password",
};
const CLOUD = {
  AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "aws-secret-value",
  AZURE_CLIENT_ID: "azure-client-id",
  IDENTITY_HEADER: "identity-header-value",
};

Deno.test("runExec() removes from the child every variable the profile names, and keeps cloud variables unless --scrub-cloud-env", async () => {
  const environ = { ...NAMED, ...CLOUD, KEEP_ME: "1" };
  const { env, err } = await childEnv(NAMING_PROFILE, environ);
  for (const name of Object.keys(NAMED)) assertEquals(env[name], undefined, `${name} kept`);
  assertEquals(env.KEEP_ME, "1");
  for (const [name, value] of Object.entries(CLOUD)) assertEquals(env[name], value, name);
  assertStringIncludes(err, "pass --scrub-cloud-env to remove them");
  assertStringIncludes(err, "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AZURE_CLIENT_ID");

  const scrubbed = await childEnv(NAMING_PROFILE, environ, { scrubCloudEnv: true });
  for (const name of [...Object.keys(NAMED), ...Object.keys(CLOUD)]) {
    assertEquals(scrubbed.env[name], undefined, `${name} kept`);
  }
  assertEquals(scrubbed.env.KEEP_ME, "1");
  assert(!scrubbed.err.includes("--scrub-cloud-env"), scrubbed.err);
  for (const value of Object.values({ ...NAMED, ...CLOUD })) {
    assert(!err.includes(value) && !scrubbed.err.includes(value), "a value was logged");
  }
});

Deno.test("runExec() --keep-env keeps named variables the job needs, never one holding the credential", async () => {
  const profile = `
version: 1
providers: { ci: { kind: env } }
hosts:
  - match: UPSTREAM
    provider: ci
    secret: { var: MLFLOW_TOKEN }
    auth: bearer
  - { match: "https://\${OTHER_HOST}", provider: ci, secret: { var: OTHER_TOKEN }, auth: bearer }
`;
  const environ = {
    MLFLOW_TOKEN: "tok-keep-0123456789",
    OTHER_HOST: "mlflow.example.com",
    AWS_REGION: "eu",
  };
  const { env, err } = await childEnv(profile, environ, {
    keepEnv: "OTHER_HOST, MLFLOW_TOKEN,AWS_REGION",
    scrubCloudEnv: true,
  });
  assertEquals(env.OTHER_HOST, "mlflow.example.com");
  assertEquals(env.AWS_REGION, "eu");
  assertEquals(env.MLFLOW_TOKEN, undefined, "--keep-env let the credential through");
  assertStringIncludes(err, `variables="MLFLOW_TOKEN,OTHER_HOST"`);
  assertStringIncludes(err, "variable=MLFLOW_TOKEN");
  assert(!err.includes("tok-keep-0123456789"), "a value was logged");
  await assertRejects(
    () => childEnv(profile, environ, { keepEnv: "MLFLOW_TRACKING_TOKEN" }),
    UsageError,
    "exec sets or removes the MLflow credential variables itself",
  );
  await assertRejects(
    () => childEnv(profile, environ, { keepEnv: "A B" }),
    UsageError,
    'Cannot use --keep-env "A B": not a variable name',
  );
});

Deno.test("runExec() with two env rules: the child sees neither variable, each removed by name, and a copy removed by value", async () => {
  // Two env rules, the upstream matching the first, then the second. The matched rule's
  // variable holds the credential, so the by-value scrub would remove it even if the by-name
  // scrub missed it: the log lines tell the two mechanisms apart. The other rule's variable is
  // never resolved, so only the by-name scrub can remove it; only the by-value scrub can remove
  // the copy under an unrelated name.
  const rules = {
    first: "{ match: UPSTREAM, provider: ci, secret: { var: FIRST_TOKEN }, auth: bearer }",
    second:
      '{ match: "https://other.example.com", provider: ci, secret: { var: SECOND_TOKEN }, auth: bearer }',
  };
  const environ = {
    FIRST_TOKEN: "first-token-0123456789",
    SECOND_TOKEN: "second-token-9876543210",
    KEEP_ME: "1",
  };
  for (
    const [order, matched] of [
      [[rules.first, rules.second], "FIRST_TOKEN"],
      [[
        rules.second.replace("SECOND_TOKEN", "FIRST_TOKEN"),
        rules.first.replace("FIRST_TOKEN", "SECOND_TOKEN"),
      ], "SECOND_TOKEN"],
    ] as const
  ) {
    const credential = environ[matched];
    const { env, err } = await childEnv(
      `
version: 1
providers: { ci: { kind: env } }
hosts:
  - ${order[0]}
  - ${order[1]}
`,
      { ...environ, COPY_OF_CREDENTIAL: `x=${credential}` },
      { logLevel: "info" },
    );
    assertEquals(env.FIRST_TOKEN, undefined, `FIRST_TOKEN reached the child (${matched} matched)`);
    assertEquals(
      env.SECOND_TOKEN,
      undefined,
      `SECOND_TOKEN reached the child (${matched} matched)`,
    );
    assertEquals(env.COPY_OF_CREDENTIAL, undefined, "the copy of the credential reached the child");
    assertEquals(env.KEEP_ME, "1");
    // By name: both rules' variables, whichever rule matched.
    assertStringIncludes(err, `variables="FIRST_TOKEN,SECOND_TOKEN"`);
    // By value: the copy, and not the matched rule's own variable (already gone by name).
    assertStringIncludes(err, "variable=COPY_OF_CREDENTIAL");
    assert(!err.includes(`variable=${matched}`), `${matched} was left to the by-value scrub`);
    assert(!err.includes(environ.FIRST_TOKEN) && !err.includes(environ.SECOND_TOKEN), "logged");
  }
});

Deno.test("profileVariables() derives the names from the profile: ${VAR}, *_env settings, env vars, provider defaults", () => {
  const profile = parseProfile(NAMING_PROFILE.replaceAll("UPSTREAM", "http://127.0.0.1:9"), {
    env: NAMED,
  });
  const names = profileVariables(profile, createPlan(profile));
  assertEquals([...names.keys()].sort(), [
    "MLFLOW_TOKEN",
    "MY_AZURE_SECRET",
    "MY_EXTERNAL_ID",
    "MY_ROLE_ID",
    "MY_SECRET_ID",
    "TEAM_KEY",
    "TEMPLATE_PART",
    "VAULT_ADDRESS_FOR_TEST",
    "VAULT_TOKEN",
  ]);
  assertEquals(names.get("MY_ROLE_ID"), "/providers/corp-vault/auth/role_id_env");
  assertEquals(names.get("VAULT_TOKEN"), 'read by default by vault provider "corp-vault"');
});

Deno.test("runExec() removes copies of the credential: the bare token of a header template, a short credential, a static header's value", async () => {
  const token = "tok-1234567890abcdef";
  const { env, err } = await childEnv(
    `
version: 1
providers: { ci: { kind: env } }
hosts:
  - match: UPSTREAM
    provider: ci
    secret: { var: MLFLOW_TOKEN }
    auth: { type: header, name: X-Api-Key, value: "Key {{token}}" }
    headers: { X-Team: "\${TEAM_KEY}" }
`,
    {
      MLFLOW_TOKEN: token,
      BARE_COPY: token,
      EMBEDDED_COPY: `url=https://x.example.com/?k=${token}&a=1`,
      TEAM_KEY: "team-key-9876",
      TEAM_KEY_COPY: "team-key-9876",
      KEEP_ME: "1",
    },
  );
  for (const name of ["MLFLOW_TOKEN", "BARE_COPY", "EMBEDDED_COPY", "TEAM_KEY", "TEAM_KEY_COPY"]) {
    assertEquals(env[name], undefined, `${name} reached the child`);
  }
  assertEquals(env.KEEP_ME, "1");
  for (const name of ["BARE_COPY", "EMBEDDED_COPY", "TEAM_KEY_COPY"]) {
    assertStringIncludes(err, `variable=${name}`);
  }
  assert(!err.includes(token) && !err.includes("team-key-9876"), "a value was logged");

  // Five characters: a variable equal to it goes, whitespace around it or not; a longer value
  // that merely contains it stays (see SUBSTRING_MIN).
  const short = await childEnv(
    `
version: 1
providers: { ci: { kind: env } }
hosts: [{ match: UPSTREAM, provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }]
`,
    { MLFLOW_TOKEN: "k3Y9z", SHORT_COPY: "k3Y9z", PADDED_COPY: " k3Y9z\n", LONGER: "xxk3Y9zxx" },
  );
  assertEquals(short.env.SHORT_COPY, undefined);
  assertEquals(short.env.PADDED_COPY, undefined);
  assertEquals(short.env.LONGER, "xxk3Y9zxx");
  assertStringIncludes(short.err, "variable=SHORT_COPY");
  assert(!short.err.includes("k3Y9z"), "a value was logged");
});

Deno.test("runExec() removes copies of a basic credential: password, user:password, base64, percent-encoded in a URL", async () => {
  const secret = JSON.stringify({ username: "alice", password: "p@ss word/42" });
  const { env, err } = await childEnv(
    `
version: 1
providers: { ci: { kind: env } }
hosts: [{ match: UPSTREAM, provider: ci, secret: { var: MLFLOW_CRED }, auth: basic }]
`,
    {
      MLFLOW_CRED: secret,
      PW: "p@ss word/42",
      PAIR: "alice:p@ss word/42",
      B64: btoa("alice:p@ss word/42"),
      URL_WITH_USERINFO: `https://alice:${encodeURIComponent("p@ss word/42")}@db.example.com/x`,
      USER: "alice",
    },
  );
  for (const name of ["MLFLOW_CRED", "PW", "PAIR", "B64", "URL_WITH_USERINFO"]) {
    assertEquals(env[name], undefined, `${name} reached the child`);
  }
  assertEquals(env.USER, "alice", "a user name is not a secret");
  assert(!err.includes("p@ss word/42"), "a value was logged");
});

Deno.test("runExec() --env-mode direct removes the named variables and copies too, then exports the credential", async () => {
  const { env } = await childEnv(
    `
version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }]
`,
    { MLFLOW_TOKEN: "abcd", COPY: "abcd" },
    { upstream: "https://mlflow.example.com", envMode: "direct" },
  );
  assertEquals(env.MLFLOW_TOKEN, undefined);
  assertEquals(env.COPY, undefined);
  assertEquals(env.MLFLOW_TRACKING_TOKEN, "abcd");
});

Deno.test("credentialForms() and holdsCredential(): every derived form, exact below six characters", () => {
  const profile = parseProfile(
    `
version: 1
providers: { ci: { kind: env } }
hosts:
  - match: https://mlflow.example.com
    provider: ci
    secret: { var: T }
    auth: { type: header, name: X-Auth, value: "{{user}}/{{key}}" }
`,
    { env: {} },
  );
  const rule = createPlan(profile).rules[0]!;
  const forms = credentialForms(rule, { user: "bob", key: "k-123456789", other: "unused" }, [
    ["X-Auth", "bob/k-123456789"],
  ]);
  assertEquals(forms.sort(), ["bob", "bob/k-123456789", "k-123456789"]);
  assert(holdsCredential("bob", forms));
  assert(!holdsCredential("bobby", forms), "a 3-character form is matched whole only");
  assert(holdsCredential("x k-123456789 y", forms));
  assert(!holdsCredential("unused", forms));
});

Deno.test("every variable a provider reads by name is removed from the child, a cloud variable, or no credential", async () => {
  // Not credentials: where the home directory is, which extra CA certificates to trust.
  const notCredentials = new Set(["HOME", "NODE_EXTRA_CA_CERTS"]);
  const profile = parseProfile(NAMING_PROFILE.replaceAll("UPSTREAM", "http://127.0.0.1:9"), {
    env: NAMED,
  });
  const removed = profileVariables(profile, createPlan(profile));
  const lookup = /(?:env\(|readEnv\([^,()]*,\s*|\?\?\s*)"([A-Z][A-Z0-9_]+)"/g;
  const seen: string[] = [];
  const folders = ["providers/"];
  for (let folder = folders.shift(); folder !== undefined; folder = folders.shift()) {
    for await (const entry of Deno.readDir(new URL(`../../${folder}`, import.meta.url))) {
      if (entry.isDirectory) folders.push(`${folder}${entry.name}/`);
      // A kind's descriptor runs in init and --from-env, never in the provider.
      if (!entry.name.endsWith(".ts") || entry.name === "descriptor.ts") continue;
      const file = `${folder}${entry.name}`;
      const text = await Deno.readTextFile(new URL(`../../${file}`, import.meta.url));
      for (const [, name] of text.matchAll(lookup)) {
        seen.push(name!);
        assert(
          removed.has(name!) || isCloudVariable(name!) || notCredentials.has(name!),
          `${file} reads ${name} by name: remove it from exec's child (cli/_child_env.ts) or list why it is no credential`,
        );
      }
    }
  }
  assert(seen.includes("VAULT_TOKEN") && seen.includes("AWS_SECRET_ACCESS_KEY"), seen.join());
});

Deno.test("runExec() removes MLFLOW_TRACKING_AUTH, so no request-auth plugin fetches the credential inside the child", async () => {
  const { env } = await childEnv(NAMING_PROFILE, {
    ...NAMED,
    MLFLOW_TRACKING_AUTH: "mlflow_secrets_auth",
    MLFLOW_EXPERIMENT_NAME: "kept",
  });
  assertEquals(env.MLFLOW_TRACKING_AUTH, undefined);
  assertEquals(env.MLFLOW_EXPERIMENT_NAME, "kept");
  assert(env.MLFLOW_TRACKING_URI?.startsWith("http://127.0.0.1:"), "the child talks to the proxy");
});
