import { parseProfile } from "../../mod.ts";
import { SCHEMA_KINDS } from "../../profile/validate.ts";
import { PROVIDERS } from "../../providers/registry.ts";
import { foreignImports, PROVIDER_MODULES } from "../../cli/_artifact.ts";
import {
  artifactPermissions,
  CLI_ENV,
  DEFAULT_LISTEN,
  permissionFlags,
  shellQuote,
  variableNames,
} from "../../cli/permissions.ts";
import { DEFAULT_LISTEN as PROXY_DEFAULT_LISTEN } from "../../cli/proxy.ts";
import { assert, assertEquals } from "../_assert.ts";

function perms(text: string, env: Record<string, string> = {}, listen?: string) {
  const profile = parseProfile(text, { source: "p.yaml", env });
  return artifactPermissions(profile, { text, listen, home: "/home/u" });
}

Deno.test("artifactPermissions() grants the matched hosts, the listen address, the named variables and files", () => {
  const p = perms(`
version: 1
providers:
  ci: { kind: env }
  mounted: { kind: file }
  unused: { kind: file }
hosts:
  - { match: "https://mlflow.company.com", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }
  - { match: "https://*.staging.company.com:8443/mlflow", provider: mounted, secret: { path: /run/secrets/m.json }, auth: basic }
`);
  assertEquals(p.net, ["*.staging.company.com:8443", "127.0.0.1:5055", "mlflow.company.com:443"]);
  assertEquals(p.env, [...CLI_ENV, "MLFLOW_TOKEN"].sort());
  assertEquals(p.read, ["/run/secrets/m.json"]);
  assertEquals(p.sys, []);
  assertEquals(p.notes, []);
  assertEquals(permissionFlags(p), [
    "--allow-net=*.staging.company.com:8443,127.0.0.1:5055,mlflow.company.com:443",
    `--allow-env=${[...CLI_ENV, "MLFLOW_TOKEN"].sort().join(",")}`,
    "--allow-read=/run/secrets/m.json",
    "--allow-ffi",
  ]);
});

Deno.test("artifactPermissions() grants an oauth2 rule's token endpoint, as written or with a variable port", () => {
  const text = `
version: 1
providers: { ci: { kind: env } }
hosts:
  - match: "https://mlflow.company.com"
    provider: ci
    secret: { var: MLFLOW_OAUTH_CLIENT }
    auth: { type: oauth2_client_credentials, token_url: "https://idp.company.com/oauth2/token" }
  - match: "http://127.0.0.1:5000"
    provider: ci
    secret: { var: MLFLOW_OAUTH_CLIENT }
    auth: { type: oauth2_client_credentials, token_url: "http://127.0.0.1:\${IDP_PORT}/token" }
`;
  const p = perms(text, { IDP_PORT: "9000" });
  assertEquals(p.net, ["127.0.0.1", "idp.company.com:443", "mlflow.company.com:443"]);
  assert(p.notes.some((n) => n.includes("/hosts/1/auth/token_url takes its port from a variable")));
  assert(p.env !== "all" && p.env.includes("IDP_PORT"));
});

Deno.test("artifactPermissions() widens to every port of a host whose port is a variable, and says so", () => {
  const text = `
version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "http://127.0.0.1:\${TRACKING_PORT}", provider: ci, secret: { var: T }, auth: bearer }
  - { match: "http://localhost:\${OTHER_PORT:-5000}", provider: ci, secret: { var: T }, auth: bearer }
`;
  const p = perms(text, { TRACKING_PORT: "4000" }, "127.0.0.1:0");
  assertEquals(p.net, ["127.0.0.1", "localhost"]);
  assertEquals(p.notes.length, 2);
  assert(p.notes[0]!.includes("every port of 127.0.0.1"), p.notes[0]);
  assert(p.env !== "all" && p.env.includes("TRACKING_PORT") && p.env.includes("OTHER_PORT"));
});

Deno.test("artifactPermissions() grants every host when a host itself is a variable, and says so", () => {
  const text = `
version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "https://\${MLFLOW_HOST:-mlflow.company.com}", provider: ci, secret: { var: T }, auth: bearer }
`;
  const p = perms(text);
  assertEquals(p.net, "all");
  assertEquals(permissionFlags(p)[0], "--allow-net");
  assert(p.notes.some((n) => n.includes("/hosts/0/match takes its host from a variable")));
});

Deno.test("artifactPermissions() asks only osRelease of --allow-sys for AWS over plain http, everything for https", () => {
  const http = perms(`
version: 1
providers: { aws: { kind: aws-secrets-manager, region: eu-west-1, endpoint: "http://127.0.0.1:4566" } }
hosts: [{ match: "https://mlflow.company.com", provider: aws, secret: { id: x }, auth: bearer }]
`);
  assertEquals(http.sys, ["osRelease"]);
  assert(http.net !== "all" && http.net.includes("127.0.0.1:4566"));
  assert(http.env !== "all" && http.env.includes("AWS_*"));
  assertEquals(http.read, ["/home/u/.aws"]);
  const real = perms(`
version: 1
providers: { aws: { kind: aws-secrets-manager, region: eu-west-1 } }
hosts: [{ match: "https://mlflow.company.com", provider: aws, secret: { id: x }, auth: bearer }]
`);
  assertEquals(real.sys, "all");
  assert(real.net !== "all" && real.net.includes("secretsmanager.eu-west-1.amazonaws.com:443"));
  // The IAM side: DescribeSecret is optional (the rotation schedule), unless switched off.
  const iam = (p: { notes: readonly string[] }) =>
    p.notes.find((n) => n.includes("secretsmanager:"));
  assert(iam(real)?.includes("secretsmanager:DescribeSecret is optional"), iam(real));
  const off = perms(`
version: 1
providers: { aws: { kind: aws-secrets-manager, region: eu-west-1, rotation_schedule: false } }
hosts: [{ match: "https://mlflow.company.com", provider: aws, secret: { id: x }, auth: bearer }]
`);
  assert(iam(off)?.includes("no DescribeSecret"), iam(off));
});

Deno.test("artifactPermissions() names Vault's address and token file, and explains the unlisted --allow-env", () => {
  const p = perms(`
version: 1
providers:
  v: { kind: vault, address: "https://vault.company.com:8200", auth: { method: token_file }, tls: { ca_cert: /etc/ca.pem } }
hosts: [{ match: "https://mlflow.company.com", provider: v, secret: { path: mlflow/auth }, auth: bearer }]
`);
  assert(p.net !== "all" && p.net.includes("vault.company.com:8200"));
  assertEquals(p.read, ["/etc/ca.pem", "/home/u/.vault-token"]);
  assertEquals(p.env, "all");
  assert(p.notes.some((n) => n.includes("node-vault")));
});

Deno.test("shellQuote() quotes only what a shell would expand", () => {
  assertEquals(
    shellQuote(["deno", "--allow-env=AWS_*,HOME", "--allow-net=a:1", "it's"]),
    `deno '--allow-env=AWS_*,HOME' --allow-net=a:1 'it'\\''s'`,
  );
});

Deno.test("variableNames() lists interpolated variables, not escaped dollars", () => {
  assertEquals(variableNames("a: ${B}\nc: $${D}\ne: ${F:-x:y}\n"), ["B", "F"]);
});

Deno.test("PROVIDER_MODULES names every kind of the schema, and the registry's factories exactly", async () => {
  assertEquals(Object.keys(PROVIDER_MODULES).sort(), [...SCHEMA_KINDS].sort());
  for (const [kind, factory] of PROVIDERS) {
    const m = PROVIDER_MODULES[kind];
    assert(m !== undefined, `no module for ${kind}`);
    const mod = await import(new URL(`../../${m.module}`, import.meta.url).href);
    assert(
      mod[m.descriptor]?.factory === factory,
      `${m.module} does not export the registry's ${kind}`,
    );
    for (const [pkg, path] of Object.entries(m.sdkModules)) {
      assert(
        (await Deno.stat(new URL(`../../${path}`, import.meta.url))).isFile,
        `${kind}: no module ${path} pins ${pkg}`,
      );
    }
  }
});

Deno.test("foreignImports() finds package imports and lets Node built-ins through", () => {
  const code = [
    `import { createRequire } from "node:module";`,
    `var x = __require("fs"); var y = __require("left-pad");`,
    `const m = await import("@azure/identity");`,
    `import "side-effect";`,
    `const s = "see import('x') in the docs";`,
  ].join("\n");
  assertEquals(foreignImports(code), ["@azure/identity", "left-pad", "side-effect"]);
});

Deno.test("artifactPermissions() takes the proxy's default listen address, else the profile's proxy.listen", () => {
  assertEquals(DEFAULT_LISTEN, PROXY_DEFAULT_LISTEN);
  const p = perms(`
version: 1
proxy: { listen: "127.0.0.1:6000" }
providers: { ci: { kind: env } }
hosts: [{ match: "https://mlflow.company.com", provider: ci, secret: { var: T }, auth: bearer }]
`);
  assertEquals(p.net, ["127.0.0.1:6000", "mlflow.company.com:443"]);
});

Deno.test("artifactPermissions() grants reading a rule's tls files and MLflow's TLS variables", () => {
  const text = `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: https://mlflow.example.com
    provider: ci
    secret: { var: MLFLOW_TOKEN }
    auth: bearer
    tls: { ca_cert: /etc/ssl/corp-ca.pem, client_cert: ~/.mlflow/c.pem, client_key: ~/.mlflow/c.pem }
`;
  const p = artifactPermissions(parseProfile(text, { env: {} }), { text, home: "/home/ml" });
  assertEquals(p.read, ["/etc/ssl/corp-ca.pem", "/home/ml/.mlflow/c.pem"]);
  for (
    const name of ["HOME", "MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_CLIENT_CERT_PATH"]
  ) {
    assert((p.env as string[]).includes(name), name);
  }
});
