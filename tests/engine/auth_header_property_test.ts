import { buildAuthHeader } from "../../engine/auth_header.ts";
import { compileAuthSpec } from "../../profile/auth_spec.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { assert } from "../_assert.ts";
import { check, fc } from "../_property.ts";

const CTX = { rule: "hosts[0] (https://m.example.com)", provider: "p", reference: "ref" };

// Any code point, with control characters, line breaks and NUL over-represented.
const nasty = fc.constantFrom(
  "\r",
  "\n",
  "\r\n",
  "\0",
  "\u2028",
  "\u0085",
  "\x7f",
  "é",
  "€",
  "😀",
  ":",
  " ",
);
const secretText = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 8 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
    { weight: 2, arbitrary: nasty },
  ),
  { maxLength: 8 },
).map((parts) => parts.join(""));

const spec = fc.oneof(
  fc.constant("bearer"),
  fc.constant("basic"),
  fc.record({
    type: fc.constant("header"),
    name: fc.constant("X-Api-Key"),
    value: fc.constantFrom("Key {{token}}", "{{token}}", "{{user}}:{{token}}"),
  }),
);

Deno.test("buildAuthHeader() never puts CR, LF, NUL or a non-Latin-1 character on the wire, whatever the secret", () => {
  const secret = fc.oneof(
    secretText,
    fc.record({ token: secretText, user: secretText, username: secretText, password: secretText }),
  );
  check(
    fc.property(spec, secret, (s, value) => {
      let header: [string, string];
      try {
        header = buildAuthHeader(
          compileAuthSpec(s as Parameters<typeof compileAuthSpec>[0]),
          value,
          CTX,
        );
      } catch (error) {
        assert(error instanceof SecretResolutionError, `unexpected ${String(error)}`);
        // The refusal names the rule and the field, never the value.
        const parts = typeof value === "string" ? [value] : Object.values(value);
        for (const p of parts) {
          if (p.length >= 4) assert(!error.message.includes(p), "the secret is in the message");
        }
        return;
      }
      assert(
        /^[\t\x20-\x7e\x80-\xff]*$/.test(header[1]),
        `unsafe header value ${JSON.stringify(header[1])}`,
      );
      assert(!/[\r\n\0]/.test(header[0] + header[1]));
    }),
    2_000,
  );
});
