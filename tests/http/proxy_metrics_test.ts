import { formatPrometheus, ProxyCounters } from "../../http/proxy_metrics.ts";
import { SecretResolver } from "../../engine/resolver.ts";
import { createPlan } from "../../profile/plan.ts";
import { parseProfile } from "../../mod.ts";
import { assert, assertEquals } from "../_assert.ts";

/** The label values of one sample line, unescaped as the exposition format says. */
function labels(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const body = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}"));
  for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => c === "n" ? "\n" : c);
  }
  return out;
}

Deno.test("formatPrometheus(): a store-controlled version id cannot add lines or labels to the exposition, nor grow it without bound", async () => {
  const resolver = new SecretResolver(
    createPlan(parseProfile(
      `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "https://m.example.com", provider: e, secret: { var: T }, auth: bearer }
`,
      { env: {} },
    )),
  );
  try {
    const hostile = [
      `v1"} 1\nmlflow_secrets_auth_injected{a="b`,
      `back\\slash\\"quote`,
      "cr\rlf\r\nnel\u0085ls\u2028end",
      "x".repeat(100_000),
    ];
    for (const version of hostile) {
      const counters = new ProxyCounters();
      counters.noteVersion("hosts[0]", "e", version);
      const text = formatPrometheus(counters.snapshot(undefined, resolver));
      assert(
        !text.split("\n").some((l) => l.startsWith("mlflow_secrets_auth_injected")),
        "a line was injected",
      );
      assert(!/[\r\u0085\u2028]/.test(text), "a control character reached the exposition");
      const samples = text.split("\n").filter((l) =>
        l.startsWith("mlflow_secrets_auth_secret_version_info")
      );
      assertEquals(samples.length, 1, text);
      const got = labels(samples[0]!);
      assertEquals(Object.keys(got), ["rule", "provider", "version"]);
      assert(got.version!.length <= 128, `version label of ${got.version!.length} characters`);
      // deno-lint-ignore no-control-regex
      if (version.length < 128 && !/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(version)) {
        assertEquals(got.version, version);
      }
      assert(samples[0]!.endsWith("} 1"));
    }
  } finally {
    await resolver.close();
  }
});
