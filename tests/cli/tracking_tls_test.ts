/**
 * MLflow's TLS variables applied to the tracking server's rule for `exec`, `proxy` and `doctor`:
 * they fill what the rule leaves unset, the profile wins setting by setting, and they do nothing
 * toward plain http or for other rules.
 */

import { parseProfile } from "../../profile/profile.ts";
import { createPlan } from "../../profile/plan.ts";
import { withTrackingTlsFromEnv } from "../../cli/_tracking_tls.ts";
import { assert, assertEquals } from "../_assert.ts";

const plan = createPlan(parseProfile(
  `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }
  - match: https://pinned.example.com
    provider: ci
    secret: { var: T }
    auth: bearer
    tls: { ca_cert: /etc/ssl/pinned-ca.pem }
  - { match: "http://127.0.0.1:5000", provider: ci, secret: { var: T }, auth: bearer }
`,
  { source: "p.yaml", env: {} },
));

const VARS: Record<string, string> = {
  MLFLOW_TRACKING_SERVER_CERT_PATH: "/etc/ssl/corp-ca.pem",
  MLFLOW_TRACKING_CLIENT_CERT_PATH: "/home/ml/client.pem",
};
const env = (vars: Record<string, string>) => (n: string) => vars[n];
const ruleOf = (p: typeof plan, match: string) => p.rules.find((r) => r.match === match)!;

Deno.test("withTrackingTlsFromEnv() fills the tracking rule's tls from MLflow's variables", () => {
  const out = withTrackingTlsFromEnv(plan, "https://mlflow.example.com/", env(VARS));
  const tls = ruleOf(out.plan, "https://mlflow.example.com").tls!;
  assertEquals(tls.caCert, {
    path: "/etc/ssl/corp-ca.pem",
    from: { variable: "MLFLOW_TRACKING_SERVER_CERT_PATH" },
  });
  assertEquals(tls.clientCert?.path, "/home/ml/client.pem");
  assertEquals(tls.clientKey?.path, "/home/ml/client.pem");
  assertEquals(
    ruleOf(plan, "https://mlflow.example.com").tls,
    undefined,
    "the plan is not changed",
  );
  assertEquals(
    ruleOf(out.plan, "https://pinned.example.com"),
    ruleOf(plan, "https://pinned.example.com"),
  );
  assertEquals(out.notes.length, 2);
});

Deno.test("withTrackingTlsFromEnv() lets the profile win setting by setting", () => {
  const out = withTrackingTlsFromEnv(plan, "https://pinned.example.com", env(VARS));
  const tls = ruleOf(out.plan, "https://pinned.example.com").tls!;
  assertEquals(tls.caCert?.path, "/etc/ssl/pinned-ca.pem");
  assert("pointer" in tls.caCert!.from);
  assertEquals(tls.clientCert?.path, "/home/ml/client.pem", "unset in the profile: filled");
  assert(out.notes.some((n) => n.message.includes("sets tls.ca_cert, and the profile wins")));
});

Deno.test("withTrackingTlsFromEnv() does nothing toward plain http, without a rule or without the variables", () => {
  const http = withTrackingTlsFromEnv(plan, "http://127.0.0.1:5000", env(VARS));
  assertEquals(http.plan, plan);
  assert(http.notes[0]!.message.includes("uses plain http"));
  assertEquals(withTrackingTlsFromEnv(plan, "https://other.example.com", env(VARS)).plan, plan);
  assertEquals(withTrackingTlsFromEnv(plan, undefined, env(VARS)).plan, plan);
  assertEquals(withTrackingTlsFromEnv(plan, "https://mlflow.example.com", env({})).plan, plan);
  const insecure = withTrackingTlsFromEnv(
    plan,
    "https://mlflow.example.com",
    env({ MLFLOW_TRACKING_INSECURE_TLS: "true" }),
  );
  assertEquals(insecure.notes.map((n) => n.level), ["warn"]);
});
