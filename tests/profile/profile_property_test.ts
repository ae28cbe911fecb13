import { stringify } from "../../deps/yaml.ts";
import { parseProfile } from "../../mod.ts";
import { ProfileError } from "../../core/errors.ts";
import { assert } from "../_assert.ts";
import { check, fc } from "../_property.ts";

const VALID = `version: 1
providers:
  corp-vault:
    kind: vault
    address: https://vault.example.com
    auth: { method: token, token_env: VAULT_TOKEN }
  ci: { kind: env }
hosts:
  - match: https://mlflow.example.com
    provider: corp-vault
    secret: { path: secret/mlflow/auth, field: token }
    auth: bearer
    headers: { X-Team: "\${TEAM:-a}" }
  - { match: "https://*.example.com/mlflow", provider: ci, secret: { var: T }, auth: basic }
`;

/** Random edits of a text: the typos and paste accidents a profile meets. */
const edits = fc.array(
  fc.record({
    at: fc.nat(),
    remove: fc.nat({ max: 6 }),
    insert: fc.constantFrom(
      "",
      ":",
      "- ",
      "  ",
      "\n",
      "\t",
      "{",
      "}",
      "[",
      '"',
      "'",
      "#",
      "*",
      "&a",
      "!!str ",
      "${",
      "x",
    ),
  }),
  { maxLength: 6 },
);

function applyEdits(
  text: string,
  list: readonly { at: number; remove: number; insert: string }[],
): string {
  let out = text;
  for (const e of list) {
    const at = e.at % (out.length + 1);
    out = out.slice(0, at) + e.insert + out.slice(at + e.remove);
  }
  return out;
}

function assertLocated(error: unknown, source: string, text: string): void {
  assert(
    error instanceof ProfileError,
    `not a ProfileError: ${String(error)}\n--- profile ---\n${text}`,
  );
  const lines = text.split("\n").length;
  for (const issue of error.issues) {
    assert(
      issue.line !== undefined && issue.line >= 1 && issue.line <= lines + 1,
      `issue without a line: ${JSON.stringify(issue)}\n--- profile ---\n${text}`,
    );
    assert(
      issue.column !== undefined && issue.column >= 1,
      `issue without a column: ${JSON.stringify(issue)}`,
    );
    assert(
      error.message.includes(`${source}:${issue.line}:${issue.column}`),
      "location not in the message",
    );
  }
}

Deno.test("parseProfile() never crashes on an edited profile, and every issue has file:line:col", () => {
  check(
    fc.property(edits, (list) => {
      const text = applyEdits(VALID, list);
      try {
        parseProfile(text, { source: "p.yaml", env: {} });
      } catch (error) {
        assertLocated(error, "p.yaml", text);
      }
    }),
    1_000,
  );
});

Deno.test("parseProfile() never crashes on random YAML documents, and every issue has file:line:col", () => {
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.string({ maxLength: 12 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("node"), { maxLength: 3 }),
      fc.dictionary(
        fc.constantFrom(
          "version",
          "providers",
          "hosts",
          "kind",
          "match",
          "provider",
          "secret",
          "auth",
          "headers",
          "x",
        ),
        tie("node"),
        { maxKeys: 4 },
      ),
    ),
  })).node;
  check(
    fc.property(value, edits, (doc, list) => {
      const text = applyEdits(stringify(doc), list);
      try {
        parseProfile(text, { source: "r.yaml", env: {} });
      } catch (error) {
        assertLocated(error, "r.yaml", text);
      }
    }),
    1_000,
  );
});
