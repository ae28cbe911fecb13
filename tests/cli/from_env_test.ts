/**
 * `--from-env`: a profile from the Python plugin's environment variables, with the old plugin's
 * semantics (read from its 0.2.0 source) and a warning wherever the old behaviour was unsafe.
 */

import { parse } from "../../deps/yaml.ts";
import { main } from "../../cli.ts";
import { buildProfileFromEnv, globMatch } from "../../cli/from_env.ts";
import { UsageError } from "../../cli/errors.ts";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../_assert.ts";
import { closedPort, fakeIo } from "./_io.ts";
import { peerEnv } from "../_peers/_process.ts";

const VAULT_ENV = {
  MLFLOW_SECRETS_AUTH_ENABLE: "vault",
  VAULT_ADDR: "https://vault.company.com:8200",
  VAULT_TOKEN: "hvs.canary-token-5d2e",
  MLFLOW_VAULT_SECRET_PATH: "secret/data/mlflow/auth",
  MLFLOW_TRACKING_URI: "https://mlflow.company.com",
  MLFLOW_SECRETS_ALLOWED_HOSTS: "mlflow.company.com",
} as const;

function build(vars: Record<string, string>) {
  return buildProfileFromEnv((n) => Object.hasOwn(vars, n) ? vars[n] : undefined, {
    schemaRef: "schema.json",
  });
}

Deno.test("buildProfileFromEnv() maps a Vault token setup and copies no secret", () => {
  const r = build({ ...VAULT_ENV });
  assertEquals(r.warnings, []);
  assert(!r.yaml.includes("canary-token"), "the token was copied");
  assert(r.yaml.startsWith("# yaml-language-server: $schema=schema.json\n"), "no $schema line");
  assertEquals(parse(r.yaml), {
    version: 1,
    providers: {
      vault: {
        kind: "vault",
        address: "https://vault.company.com:8200",
        auth: { method: "token", token_env: "VAULT_TOKEN" },
      },
    },
    hosts: [{
      match: "https://mlflow.company.com",
      provider: "vault",
      secret: { mount: "secret", path: "mlflow/auth", kv: 2 },
      auth: "bearer",
    }],
  });
  assertEquals(r.profile.source, "<from-env>");
});

Deno.test("buildProfileFromEnv() reads the Vault path forms the way the plugin did", () => {
  const secretOf = (
    path: string,
  ) => (build({ ...VAULT_ENV, MLFLOW_VAULT_SECRET_PATH: path }).profile.data.hosts[0]!.secret);
  assertEquals(secretOf("secret/data/a/b"), { mount: "secret", path: "a/b", kv: 2 });
  assertEquals(secretOf("secret/a/b"), { mount: "secret", path: "a/b" });
  assertEquals(secretOf("/a/b"), { mount: "secret", path: "a/b" });
  const other = build({ ...VAULT_ENV, MLFLOW_VAULT_SECRET_PATH: "kv/mlflow" });
  assertEquals(other.profile.data.hosts[0]!.secret, { mount: "secret", path: "kv/mlflow" });
  assertStringIncludes(other.warnings.join("\n"), 'below the "secret" mount ("secret/kv/mlflow")');
});

Deno.test("buildProfileFromEnv() uses AppRole when there is no token, and names missing variables", () => {
  const { VAULT_TOKEN: _, ...noToken } = VAULT_ENV;
  const r = build({ ...noToken, VAULT_ROLE_ID: "role-1", VAULT_SECRET_ID: "sid-canary-77" });
  assert(!r.yaml.includes("sid-canary-77") && !r.yaml.includes("role-1"), "ids copied");
  assertEquals(r.profile.data.providers.vault!.auth, {
    method: "approle",
    role_id_env: "VAULT_ROLE_ID",
    secret_id_env: "VAULT_SECRET_ID",
  });
  const e = assertThrows(
    () => build({ MLFLOW_SECRETS_AUTH_ENABLE: "vault", MLFLOW_TRACKING_URI: "https://m.example" }),
    UsageError,
  );
  assertStringIncludes(e.message, '"VAULT_ADDR"');
  assertStringIncludes(e.message, "VAULT_TOKEN (or VAULT_ROLE_ID and VAULT_SECRET_ID)");
  assertStringIncludes(e.message, '"MLFLOW_VAULT_SECRET_PATH"');
});

Deno.test("buildProfileFromEnv() enables providers by list or by per-provider toggle, first one wins", () => {
  const aws = {
    AWS_REGION: "eu-west-1",
    MLFLOW_AWS_SECRET_ID: "mlflow/prod",
    MLFLOW_TRACKING_URI: "https://mlflow.company.com",
    MLFLOW_SECRETS_ALLOWED_HOSTS: "mlflow.company.com",
  };
  for (const v of ["true", "1", "yes", "on", "TRUE", " On "]) {
    const r = build({ ...aws, MLFLOW_SECRETS_AUTH_ENABLE_AWS_SECRETS_MANAGER: v });
    assertEquals(r.profile.data.providers.aws, {
      kind: "aws-secrets-manager",
      region: "eu-west-1",
    });
    assertEquals(r.profile.data.hosts[0]!.secret, { id: "mlflow/prod" });
  }
  assertThrows(
    () => build({ ...aws, MLFLOW_SECRETS_AUTH_ENABLE_AWS_SECRETS_MANAGER: "false" }),
    UsageError,
    "no provider is enabled",
  );
  const both = build({
    ...VAULT_ENV,
    ...aws,
    MLFLOW_SECRETS_AUTH_ENABLE: " AWS-Secrets-Manager , vault, nope",
  });
  assertEquals(Object.keys(both.profile.data.providers), ["vault"]);
  const w = both.warnings.join("\n");
  assertStringIncludes(w, 'used only the first, "vault"');
  assertStringIncludes(w, '"nope", which the Python plugin did not know');
});

Deno.test("buildProfileFromEnv() requires what the old providers required", () => {
  assertThrows(
    () =>
      build({
        MLFLOW_SECRETS_AUTH_ENABLE: "aws-secrets-manager",
        MLFLOW_AWS_SECRET_ID: "x",
        MLFLOW_TRACKING_URI: "https://m.example.com",
      }),
    UsageError,
    '"AWS_REGION" is not set',
  );
  assertThrows(
    () =>
      build({
        MLFLOW_SECRETS_AUTH_ENABLE: "azure-key-vault",
        AZURE_KEY_VAULT_URL: "http://kv.example.com",
        MLFLOW_AZURE_SECRET_NAME: "mlflow",
        MLFLOW_TRACKING_URI: "https://m.example.com",
      }),
    UsageError,
    "not an https:// URL",
  );
  const azure = build({
    MLFLOW_SECRETS_AUTH_ENABLE_AZURE_KEY_VAULT: "true",
    AZURE_KEY_VAULT_URL: " https://ml.vault.azure.net ",
    MLFLOW_AZURE_SECRET_NAME: "mlflow-token",
    MLFLOW_TRACKING_URI: "https://m.example.com",
    MLFLOW_SECRETS_ALLOWED_HOSTS: "m.example.com",
  });
  assertEquals(azure.profile.data.providers.azure, {
    kind: "azure-key-vault",
    vault_url: "https://ml.vault.azure.net",
    credential: { type: "default" },
  });
  assertEquals(azure.profile.data.hosts[0]!.secret, { name: "mlflow-token" });
});

Deno.test("buildProfileFromEnv() warns that no allowlist meant every host got the secret", () => {
  const { MLFLOW_SECRETS_ALLOWED_HOSTS: _, ...noList } = VAULT_ENV;
  const r = build(noList);
  assertStringIncludes(
    r.warnings.join("\n"),
    'sent the secret to every host MLflow talked to; this profile sends it only to "https://mlflow.company.com"',
  );
  assertEquals(r.profile.data.hosts.length, 1);
});

Deno.test("buildProfileFromEnv() turns allowlist entries into rules and refuses dot-crossing globs", () => {
  const r = build({
    ...VAULT_ENV,
    MLFLOW_SECRETS_ALLOWED_HOSTS:
      "MLflow.company.com, *.corp.example.com,mlflow.*.com,api-*,127.0.0.1",
  });
  assertEquals(r.profile.data.hosts.map((h) => h.match), [
    "https://mlflow.company.com",
    "https://*.corp.example.com",
    "https://127.0.0.1",
  ]);
  const w = r.warnings.join("\n");
  assertStringIncludes(w, '"mlflow.*.com" is not carried over');
  assertStringIncludes(w, 'dots included (e.g. "mlflow.attacker.example.com")');
  assertStringIncludes(w, '"api-*" is not carried over');
  assertStringIncludes(w, "any scheme and port");
});

Deno.test("buildProfileFromEnv() warns when the tracking host was not on the old allowlist", () => {
  const r = build({ ...VAULT_ENV, MLFLOW_SECRETS_ALLOWED_HOSTS: "other.company.com" });
  assertStringIncludes(
    r.warnings.join("\n"),
    'host "mlflow.company.com" is not in MLFLOW_SECRETS_ALLOWED_HOSTS, so the Python plugin never sent it the secret',
  );
  const glob = build({ ...VAULT_ENV, MLFLOW_SECRETS_ALLOWED_HOSTS: "*.company.com" });
  assert(!glob.warnings.join("\n").includes("never sent it"), "a glob match was not seen");
});

Deno.test("buildProfileFromEnv() keeps the tracking URI's port and path, drops its userinfo", () => {
  const r = build({
    ...VAULT_ENV,
    MLFLOW_TRACKING_URI: "https://bob:pw-canary-3@mlflow.company.com:8443/mlflow/?x=1",
  });
  assertEquals(r.profile.data.hosts[0]!.match, "https://mlflow.company.com:8443/mlflow");
  assert(!r.yaml.includes("pw-canary-3") && !r.yaml.includes("bob"), "userinfo copied");
  assertStringIncludes(r.warnings.join("\n"), "carries credentials");
});

Deno.test("buildProfileFromEnv() keeps plain http working but warns, except on loopback", () => {
  const remote = build({
    ...VAULT_ENV,
    MLFLOW_TRACKING_URI: "http://mlflow.company.com:5000",
    VAULT_ADDR: "http://vault.company.com:8200",
  });
  assertEquals(remote.profile.data.hosts[0]!.allow_insecure_http, true);
  assertEquals(remote.profile.data.providers.vault!.allow_insecure_http, true);
  const w = remote.warnings.join("\n");
  assertStringIncludes(w, "MLFLOW_TRACKING_URI is plain http");
  assertStringIncludes(w, "VAULT_ADDR is plain http");
  const local = build({
    ...VAULT_ENV,
    MLFLOW_TRACKING_URI: "http://127.0.0.1:5000",
    MLFLOW_SECRETS_ALLOWED_HOSTS: "127.0.0.1",
    VAULT_ADDR: "http://127.0.0.1:8200",
  });
  assertEquals(local.warnings, []);
  assertEquals(local.profile.data.hosts[0]!.allow_insecure_http, undefined);
});

Deno.test("buildProfileFromEnv() needs a host: a non-http tracking URI and no allowlist is an error", () => {
  const { MLFLOW_SECRETS_ALLOWED_HOSTS: _, ...noList } = VAULT_ENV;
  assertThrows(
    () => build({ ...noList, MLFLOW_TRACKING_URI: "databricks" }),
    UsageError,
    "no host to send the secret to",
  );
  const fromList = build({ ...VAULT_ENV, MLFLOW_TRACKING_URI: "sqlite:///mlflow.db" });
  assertEquals(fromList.profile.data.hosts.map((h) => h.match), ["https://mlflow.company.com"]);
  assertStringIncludes(fromList.warnings.join("\n"), 'not an http(s) URL (scheme "sqlite")');
});

Deno.test("buildProfileFromEnv() converts TTLs as the plugin validated them", () => {
  const ttl = (v: string) => {
    const r = build({ ...VAULT_ENV, MLFLOW_VAULT_TTL_SEC: v });
    return { ttl: r.profile.data.defaults?.cache?.ttl, warned: r.warnings.length > 0 };
  };
  assertEquals(ttl("900"), { ttl: 900, warned: false });
  assertEquals(ttl(" 1_200 "), { ttl: 1200, warned: false });
  assertEquals(ttl("300"), { ttl: undefined, warned: false });
  assertEquals(ttl("abc"), { ttl: undefined, warned: true });
  assertEquals(ttl("0"), { ttl: undefined, warned: true });
  assertEquals(ttl("-5"), { ttl: undefined, warned: true });
  assertEquals(ttl("100000"), { ttl: 86400, warned: true });
});

Deno.test("buildProfileFromEnv() maps auth mode and header name", () => {
  const auth = (vars: Record<string, string>) => {
    const r = build({ ...VAULT_ENV, ...vars });
    return { auth: r.profile.data.hosts[0]!.auth, warnings: r.warnings.join("\n") };
  };
  assertEquals(auth({}).auth, "bearer");
  assertEquals(auth({ MLFLOW_VAULT_AUTH_MODE: "BASIC" }).auth, "basic");
  assertEquals(auth({ MLFLOW_AUTH_HEADER_NAME: "authorization" }).auth, "bearer");
  assertEquals(auth({ MLFLOW_AUTH_HEADER_NAME: "X-Api-Key" }).auth, {
    type: "header",
    name: "X-Api-Key",
    value: "{{token}}",
  });
  const basicCustom = auth({ MLFLOW_VAULT_AUTH_MODE: "basic", MLFLOW_AUTH_HEADER_NAME: "X-Auth" });
  assertEquals(basicCustom.auth, "basic");
  assertStringIncludes(basicCustom.warnings, 'MLFLOW_AUTH_HEADER_NAME="X-Auth" with basic auth');
  const odd = auth({ MLFLOW_VAULT_AUTH_MODE: "digest" });
  assertEquals(odd.auth, "bearer");
  assertStringIncludes(odd.warnings, '"digest" is neither bearer nor basic');
});

Deno.test("buildProfileFromEnv() maps the log level", () => {
  const level = (v: string) =>
    build({ ...VAULT_ENV, MLFLOW_SECRETS_LOG_LEVEL: v }).profile.data.logging?.level;
  assertEquals(level("DEBUG"), "debug");
  assertEquals(level("info"), "info");
  assertEquals(level("WARNING"), "warn");
  assertEquals(level("CRITICAL"), "error");
  assertEquals(level("chatty"), "info");
  assertEquals(build({ ...VAULT_ENV }).profile.data.logging, undefined);
});

Deno.test("buildProfileFromEnv() keeps a literal $ in values", () => {
  const r = build({ ...VAULT_ENV, MLFLOW_VAULT_SECRET_PATH: "secret/data/ml$flow/${X}" });
  assertEquals(r.profile.data.hosts[0]!.secret.path, "ml$flow/${X}");
});

Deno.test("globMatch() agrees with Python's fnmatch on host names", async () => {
  const cases: [string, string][] = [
    ["*.corp.com", "a.corp.com"],
    ["*.corp.com", "a.b.corp.com"],
    ["*.corp.com", "corp.com"],
    ["*.corp.com", "evilcorp.com"],
    ["mlflow.*.com", "mlflow.evil.attacker.com"],
    ["*example.com", "evilexample.com"],
    ["api-?", "api-1"],
    ["api-?", "api-12"],
    ["api-[0-9]", "api-7"],
    ["api-[!0-9]", "api-7"],
    ["api-[!0-9]", "api-x"],
    ["mlflow.company.com", "mlflow.company.com"],
    ["mlflow.company.com", "mlflowxcompany.com"],
    ["[abc", "[abc"],
  ];
  const python = new URL("../../.venv/bin/python", import.meta.url).pathname;
  const out = await new Deno.Command(python, {
    args: [
      "-c",
      "import fnmatch, json, sys\nprint(json.dumps([fnmatch.fnmatch(h, p) for p, h in json.loads(sys.argv[1])]))",
      JSON.stringify(cases),
    ],
    env: peerEnv(),
    clearEnv: true,
    stdout: "piped",
  }).output();
  assert(out.success, "python failed");
  const expected: boolean[] = JSON.parse(new TextDecoder().decode(out.stdout));
  assertEquals(cases.map(([p, h]) => globMatch(p, h)), expected);
});

Deno.test("main() explain --from-env prints the YAML, then the explanation; warnings on stderr", async () => {
  const { MLFLOW_SECRETS_ALLOWED_HOSTS: _, ...noList } = VAULT_ENV;
  const io = fakeIo({ env: noList });
  assertEquals(await main(["explain", "--from-env"], io), 0);
  const out = io.out();
  assert(out.startsWith("# yaml-language-server: $schema="), "YAML first");
  assertStringIncludes(out, "<from-env>: 1 rule(s)");
  assertStringIncludes(io.err(), "warning: MLFLOW_SECRETS_ALLOWED_HOSTS is not set");
  assert(!(out + io.err()).includes("canary-token"), "token printed");

  const json = fakeIo({ env: noList });
  assertEquals(await main(["explain", "--from-env", "--json"], json), 0);
  assertEquals(JSON.parse(json.out()).file, "<from-env>");
});

Deno.test("main() validate --from-env exits 0, and 2 when the variables are unusable", async () => {
  const ok = fakeIo({ env: { ...VAULT_ENV } });
  assertEquals(await main(["validate", "--from-env", "--json"], ok), 0);
  assertEquals(JSON.parse(ok.out()), { valid: true, file: "<from-env>", issues: [] });
  const bad = fakeIo({ env: { MLFLOW_TRACKING_URI: "https://x.example.com" } });
  assertEquals(await main(["validate", "--from-env"], bad), 2);
  assertStringIncludes(bad.err(), "no provider is enabled");
});

Deno.test("main() info --from-env says where the profile came from", async () => {
  const io = fakeIo({ env: { ...VAULT_ENV } });
  assertEquals(await main(["info", "--from-env", "--json"], io), 0);
  const r = JSON.parse(io.out());
  assertEquals(r.profile.origin, "from-env");
  assertEquals(r.providers[0].kind, "vault");
});

Deno.test("main() doctor --from-env fails at the provider when Vault is unreachable", async () => {
  const port = closedPort();
  const io = fakeIo({
    env: {
      ...VAULT_ENV,
      VAULT_ADDR: `http://127.0.0.1:${port}`,
      MLFLOW_TRACKING_URI: "http://127.0.0.1:1",
      MLFLOW_SECRETS_ALLOWED_HOSTS: "127.0.0.1",
    },
  });
  assertEquals(await main(["doctor", "--from-env", "--json"], io), 1);
  const report = JSON.parse(io.out());
  const steps = report.targets[0].steps.map((s: { step: string; status: string }) =>
    `${s.step}:${s.status}`
  ).join(" ");
  assertEquals(steps, "rule:pass provider:fail secret:skip header:skip server:skip");
  assert(!(io.out() + io.err()).includes("canary-token"), "token printed");
});

Deno.test("buildProfileFromEnv() writes MLflow's TLS variables as the tracking rule's tls block", () => {
  const r = build({
    ...VAULT_ENV,
    MLFLOW_SECRETS_ALLOWED_HOSTS: "mlflow.company.com,*.ml.company.com",
    MLFLOW_TRACKING_SERVER_CERT_PATH: "/etc/ssl/corp-ca.pem",
    MLFLOW_TRACKING_CLIENT_CERT_PATH: "/home/ml/.mlflow/client.pem",
  });
  const hosts = r.profile.data.hosts;
  assertEquals(hosts[0]!.match, "https://mlflow.company.com");
  // requests' `cert` is one file holding certificate and key: it is both settings.
  assertEquals(hosts[0]!.tls, {
    ca_cert: "/etc/ssl/corp-ca.pem",
    client_cert: "/home/ml/.mlflow/client.pem",
    client_key: "/home/ml/.mlflow/client.pem",
  });
  assertEquals(hosts[1]!.tls, undefined, "the variables are for the tracking server only");
  const caOnly = build({ ...VAULT_ENV, MLFLOW_TRACKING_SERVER_CERT_PATH: "/ca.pem" });
  assertEquals(caOnly.profile.data.hosts[0]!.tls, { ca_cert: "/ca.pem" });
  assertEquals(build({ ...VAULT_ENV }).profile.data.hosts[0]!.tls, undefined);
});

Deno.test("buildProfileFromEnv() writes no tls block for plain http, and says MLFLOW_TRACKING_INSECURE_TLS is not carried over", () => {
  const http = build({
    ...VAULT_ENV,
    MLFLOW_TRACKING_URI: "http://127.0.0.1:5000",
    MLFLOW_SECRETS_ALLOWED_HOSTS: "127.0.0.1",
    MLFLOW_TRACKING_SERVER_CERT_PATH: "/ca.pem",
  });
  assertEquals(http.profile.data.hosts[0]!.tls, undefined);
  assert(http.warnings.some((w) => w.includes("do nothing for a plain-http tracking server")));
  const insecure = build({ ...VAULT_ENV, MLFLOW_TRACKING_INSECURE_TLS: "true" });
  assert(insecure.warnings.some((w) => w.includes("profiles always verify it")));
});
