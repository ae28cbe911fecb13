/**
 * A host rule's `tls:` block (a CA, a client certificate and its key): validated like the Vault
 * provider's, every issue at its line, column and JSON pointer, and carried into the plan with
 * where each setting was written.
 */

import { parseProfile } from "../../profile/profile.ts";
import { createPlan } from "../../profile/plan.ts";
import { ProfileError } from "../../core/errors.ts";
import { assertEquals, assertStringIncludes, assertThrows } from "../_assert.ts";

const profile = (rule: string) =>
  `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: ${rule}
    provider: ci
    secret: { var: T }
    auth: bearer
`;

function issues(text: string) {
  return assertThrows(() => parseProfile(text, { source: "p.yaml", env: {} }), ProfileError)
    .issues.map((i) => ({
      pointer: i.pointer,
      line: i.line,
      column: i.column,
      rule: i.rule,
      message: i.message,
    }));
}

Deno.test("parseProfile() accepts a rule's tls block and createPlan() keeps where each file was set", () => {
  const text = profile(`https://mlflow.example.com
    tls:
      ca_cert: /etc/ssl/corp-ca.pem
      client_cert: ~/.mlflow/client.pem
      client_key: ~/.mlflow/client.pem`);
  const plan = createPlan(parseProfile(text, { source: "p.yaml", env: {} }));
  const tls = plan.rules[0]!.tls!;
  assertEquals(tls.caCert, {
    path: "/etc/ssl/corp-ca.pem",
    from: { pointer: "/hosts/0/tls/ca_cert", line: 6, column: 16 },
  });
  assertEquals(tls.clientCert?.path, "~/.mlflow/client.pem");
  assertEquals(tls.clientKey?.from, { pointer: "/hosts/0/tls/client_key", line: 8, column: 19 });
  const without = createPlan(parseProfile(profile("https://a.example.com"), { env: {} }));
  assertEquals(without.rules[0]!.tls, undefined);
});

Deno.test("parseProfile() refuses a client key without its certificate, and the reverse", () => {
  const keyOnly = issues(profile(`https://mlflow.example.com
    tls: { client_key: /k.pem }`));
  assertEquals(keyOnly.map((i) => [i.pointer, i.line, i.rule]), [["/hosts/0/tls", 5, "tls-pair"]]);
  assertStringIncludes(keyOnly[0]!.message, "tls.client_key is set without tls.client_cert");
  const certOnly = issues(profile(`https://mlflow.example.com
    tls: { ca_cert: /ca.pem, client_cert: /c.pem }`));
  assertEquals(certOnly.map((i) => i.rule), ["tls-pair"]);
  assertStringIncludes(certOnly[0]!.message, "tls.client_cert is set without tls.client_key");
});

Deno.test("parseProfile() refuses tls settings on an http:// match", () => {
  const found = issues(profile(`http://127.0.0.1:5000
    tls: { ca_cert: /ca.pem }`));
  assertEquals(found.map((i) => [i.pointer, i.rule]), [["/hosts/0/tls", "tls-https"]]);
  assertStringIncludes(found[0]!.message, 'need an https:// match, not "http://127.0.0.1:5000"');
});

Deno.test("parseProfile() checks the tls block's keys and types against the schema", () => {
  const found = issues(profile(`https://mlflow.example.com
    tls: { ca_certs: /ca.pem, client_cert: 3, client_key: "" }`));
  const byPointer = Object.fromEntries(found.map((i) => [i.pointer, i.message]));
  assertStringIncludes(byPointer["/hosts/0/tls"]!, 'unknown property "ca_certs"');
  assertStringIncludes(byPointer["/hosts/0/tls/client_cert"]!, "must be a string");
  assertEquals(found.every((i) => i.line !== undefined && i.column !== undefined), true);
  assertEquals(found.some((i) => i.pointer === "/hosts/0/tls/client_key"), true);
});
