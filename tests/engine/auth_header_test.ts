import { buildAuthHeader } from "../../engine/auth_header.ts";
import { compileAuthSpec } from "../../profile/auth_spec.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { assertEquals, assertNoCanary, assertStringIncludes, assertThrows } from "../_assert.ts";

const CTX = { rule: "hosts[0] (https://a.example.com)", provider: "p", reference: "env:T" };
const CANARY = "canary-7f3a9c1e-secret";

Deno.test("buildAuthHeader() makes a bearer header from a string or the token field", () => {
  assertEquals(buildAuthHeader(compileAuthSpec("bearer"), "abc", CTX), [
    "Authorization",
    "Bearer abc",
  ]);
  assertEquals(buildAuthHeader(compileAuthSpec("bearer"), { token: "t1" }, CTX), [
    "Authorization",
    "Bearer t1",
  ]);
  assertEquals(
    buildAuthHeader(compileAuthSpec({ type: "bearer", token_field: "access_token" }), {
      access_token: "t2",
    }, CTX),
    ["Authorization", "Bearer t2"],
  );
});

Deno.test("buildAuthHeader() makes basic auth from fields or user:pass split at the first colon, UTF-8 base64", () => {
  const spec = compileAuthSpec({ type: "basic", username_field: "user", password_field: "pass" });
  assertEquals(
    buildAuthHeader(spec, { user: "ann", pass: "pä:ss" }, CTX)[1],
    "Basic YW5uOnDDpDpzcw==",
  );
  assertEquals(
    buildAuthHeader(compileAuthSpec("basic"), "ann:pä:ss", CTX)[1],
    "Basic YW5uOnDDpDpzcw==",
  );
});

Deno.test("buildAuthHeader() fills a header template from the token and object fields", () => {
  const spec = compileAuthSpec({
    type: "header",
    name: "X-Api-Key",
    value: "{{ tenant }}/{{token}}",
  });
  assertEquals(buildAuthHeader(spec, { token: "k", tenant: "t" }, CTX), ["X-Api-Key", "t/k"]);
  const plain = compileAuthSpec({ type: "header", name: "X-Api-Key", value: "Key {{token}}" });
  assertEquals(buildAuthHeader(plain, "k2", CTX), ["X-Api-Key", "Key k2"]);
});

Deno.test("buildAuthHeader() names the rule, reference and field of a missing field, and lists keys, never values", () => {
  const err = assertThrows(
    () => buildAuthHeader(compileAuthSpec("bearer"), { access: CANARY, other: CANARY }, CTX),
    SecretResolutionError,
  );
  assertStringIncludes(err.message, 'no field "token"');
  assertStringIncludes(err.message, '"access", "other"');
  assertStringIncludes(err.message, "hosts[0]");
  assertStringIncludes(err.message, "env:T");
  assertEquals(err.field, "token");
  assertNoCanary(err, CANARY);
});

Deno.test("buildAuthHeader() rejects empty values and CR/LF/NUL without echoing them", () => {
  const cases: [unknown, unknown][] = [
    ["bearer", ""],
    ["bearer", { token: "  " }],
    ["bearer", `${CANARY}\r\nX-Evil: 1`],
    ["bearer", { token: `${CANARY}\n` }],
    ["basic", `${CANARY}`],
    ["basic", { username: "a:b", password: CANARY }],
    [{ type: "header", name: "X-K", value: "{{token}}" }, `${CANARY}\r`],
    [{ type: "header", name: "X-K", value: "{{tenant}}" }, CANARY],
    ["bearer", { token: 42 }],
    ["bearer", { token: { nested: CANARY } }],
  ];
  for (const [auth, secret] of cases) {
    const spec = compileAuthSpec(auth);
    if (
      secret !== null && typeof secret === "object" && (secret as { token?: unknown }).token === 42
    ) {
      assertEquals(buildAuthHeader(spec, secret as Record<string, unknown>, CTX)[1], "Bearer 42");
      continue;
    }
    const err = assertThrows(
      () => buildAuthHeader(spec, secret as string, CTX),
      SecretResolutionError,
    );
    assertNoCanary(err, CANARY);
  }
});
