import { parseProfile } from "../../mod.ts";
import { createPlan, matchRule } from "../../profile/plan.ts";
import { assertEquals } from "../_assert.ts";

function planOf(matches: readonly string[]) {
  const hosts = matches.map((m, i) =>
    `  - { match: "${m}", provider: ci, secret: { var: V${i} }, auth: bearer }`
  );
  return createPlan(
    parseProfile(`version: 1\nproviders: { ci: { kind: env } }\nhosts:\n${hosts.join("\n")}\n`, {
      env: {},
    }),
  );
}

Deno.test("matchRule() picks the most specific rule whatever the declaration order", () => {
  const matches = [
    "https://*.company.com",
    "https://mlflow.company.com",
    "https://mlflow.company.com/team-a",
    "https://*.mlflow.company.com",
  ];
  const cases: readonly [url: string, expected: string | undefined][] = [
    [
      "https://mlflow.company.com/team-a/api/2.0/mlflow/runs/get",
      "https://mlflow.company.com/team-a",
    ],
    ["https://mlflow.company.com/team-b/x", "https://mlflow.company.com"],
    ["https://eu.mlflow.company.com/x", "https://*.mlflow.company.com"],
    ["https://other.company.com/x", "https://*.company.com"],
    ["https://company.com/x", undefined],
  ];
  // Every rotation of the declaration order gives the same answers.
  for (let shift = 0; shift < matches.length; shift++) {
    const order = [...matches.slice(shift), ...matches.slice(0, shift)];
    const plan = planOf(order);
    for (const [url, expected] of cases) {
      assertEquals(matchRule(plan, new URL(url))?.match, expected, `${url} (order ${shift})`);
    }
  }
});

Deno.test("createPlan() keeps declaration order between rules of equal specificity", () => {
  const plan = planOf(["https://a.company.com", "https://b.company.com", "https://c.company.com"]);
  assertEquals(plan.rules.map((r) => r.index), [0, 1, 2]);
});
