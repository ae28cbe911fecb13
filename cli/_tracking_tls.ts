/**
 * MLflow's own TLS variables, honoured where the Python client would use them: for the tracking
 * server (`exec`'s and `proxy`'s upstream, `doctor`'s `MLFLOW_TRACKING_URI`).
 *
 * - `MLFLOW_TRACKING_SERVER_CERT_PATH`: the CA bundle the Python client passes to `requests` as
 *   `verify`. Here it becomes the rule's `tls.ca_cert` (trusted besides the system's roots;
 *   `requests` trusts that bundle alone).
 * - `MLFLOW_TRACKING_CLIENT_CERT_PATH`: the client certificate the Python client passes as
 *   `requests`' `cert`, one PEM file holding the certificate and its key. Here it becomes both
 *   `tls.client_cert` and `tls.client_key`.
 *
 * The profile wins, setting by setting: a rule that sets `tls.ca_cert` keeps it and the variable
 * is not used for it (a log line says so); likewise for the client certificate. Toward a
 * plain-http tracking server the variables do nothing, as in the Python client.
 * `MLFLOW_TRACKING_INSECURE_TLS` is never honoured: the certificate is always verified.
 *
 * @module
 */

import { matchRule, type Plan, type PlanRule, type RuleTls } from "../profile/plan.ts";

/** The variables read here, which describe the tracking server, not `exec`'s proxy. */
export const TRACKING_TLS_VARS: readonly string[] = [
  "MLFLOW_TRACKING_SERVER_CERT_PATH",
  "MLFLOW_TRACKING_CLIENT_CERT_PATH",
];

/** A line to log about what was done with the variables. */
export interface TrackingTlsNote {
  readonly level: "info" | "warn";
  readonly message: string;
}

/**
 * The plan with MLflow's TLS variables applied to the tracking server's rule.
 *
 * @param plan The plan.
 * @param tracking The tracking server's URL (undefined: nothing to apply to).
 * @param env Environment lookup.
 * @returns The plan (the same object when nothing applies) and what to log.
 *
 * @example
 * ```ts
 * import { parseProfile } from "../profile/profile.ts";
 * import { createPlan } from "../profile/plan.ts";
 * import { withTrackingTlsFromEnv } from "./_tracking_tls.ts";
 * const plan = createPlan(parseProfile(`
 * version: 1
 * providers: { ci: { kind: env } }
 * hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]
 * `, { env: {} }));
 * const vars: Record<string, string> = { MLFLOW_TRACKING_SERVER_CERT_PATH: "/etc/ssl/corp.pem" };
 * const out = withTrackingTlsFromEnv(plan, "https://mlflow.example.com", (n) => vars[n]);
 * if (out.plan.rules[0]!.tls?.caCert?.path !== "/etc/ssl/corp.pem") throw new Error("not applied");
 * ```
 */
export function withTrackingTlsFromEnv(
  plan: Plan,
  tracking: string | undefined,
  env: (name: string) => string | undefined,
): { readonly plan: Plan; readonly notes: readonly TrackingTlsNote[] } {
  const notes: TrackingTlsNote[] = [];
  const get = (name: string): string | undefined => {
    const v = env(name)?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  if (/^(true|1|yes)$/i.test(get("MLFLOW_TRACKING_INSECURE_TLS") ?? "")) {
    notes.push({
      level: "warn",
      message:
        "MLFLOW_TRACKING_INSECURE_TLS is not honoured: the tracking server's certificate is always verified; give its CA with MLFLOW_TRACKING_SERVER_CERT_PATH or the rule's tls.ca_cert",
    });
  }
  const ca = get("MLFLOW_TRACKING_SERVER_CERT_PATH");
  const client = get("MLFLOW_TRACKING_CLIENT_CERT_PATH");
  if (ca === undefined && client === undefined) return { plan, notes };
  const names = [
    ...(ca !== undefined ? ["MLFLOW_TRACKING_SERVER_CERT_PATH"] : []),
    ...(client !== undefined ? ["MLFLOW_TRACKING_CLIENT_CERT_PATH"] : []),
  ].join(" and ");
  let url: URL | undefined;
  try {
    url = tracking === undefined ? undefined : new URL(tracking);
  } catch {
    url = undefined;
  }
  const rule = url === undefined || url.username !== "" || url.password !== ""
    ? undefined
    : matchRule(plan, url);
  if (url === undefined || rule === undefined) return { plan, notes };
  if (url.protocol !== "https:") {
    notes.push({
      level: "info",
      message: `${names} not used: the tracking server "${url.origin}" uses plain http`,
    });
    return { plan, notes };
  }
  const tls: { -readonly [K in keyof RuleTls]: RuleTls[K] } = { ...rule.tls };
  if (ca !== undefined) {
    if (tls.caCert !== undefined) {
      notes.push({
        level: "info",
        message:
          `MLFLOW_TRACKING_SERVER_CERT_PATH not used: rule ${rule.label} sets tls.ca_cert, and the profile wins`,
      });
    } else {
      tls.caCert = { path: ca, from: { variable: "MLFLOW_TRACKING_SERVER_CERT_PATH" } };
      notes.push({
        level: "info",
        message: `using MLFLOW_TRACKING_SERVER_CERT_PATH as tls.ca_cert of rule ${rule.label}`,
      });
    }
  }
  if (client !== undefined) {
    if (tls.clientCert !== undefined) {
      notes.push({
        level: "info",
        message:
          `MLFLOW_TRACKING_CLIENT_CERT_PATH not used: rule ${rule.label} sets tls.client_cert, and the profile wins`,
      });
    } else {
      const from = { variable: "MLFLOW_TRACKING_CLIENT_CERT_PATH" };
      tls.clientCert = { path: client, from };
      tls.clientKey = { path: client, from };
      notes.push({
        level: "info",
        message:
          `using MLFLOW_TRACKING_CLIENT_CERT_PATH (certificate and key in one file) as the client certificate of rule ${rule.label}`,
      });
    }
  }
  const changed: PlanRule = { ...rule, tls };
  return {
    plan: { ...plan, rules: plan.rules.map((r) => r === rule ? changed : r) },
    notes,
  };
}
