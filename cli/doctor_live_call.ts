/**
 * `doctor`'s live call: the request to the tracking server through the same middleware MLflow
 * requests take, and what its answer means.
 *
 * @module
 */

import { causeMessages } from "../core/_cause_chain.ts";

import { formatIssueLocation, ProfileError, SecretResolutionError } from "../core/errors.ts";
import {
  clientCertificateAnswer,
  describeTlsFailure,
  MAX_PAGE_BYTES,
  mayBeClientCertificateAnswer,
  type TlsFailure,
  tlsFailure,
} from "../core/_tls_failure.ts";
import type { Redactor } from "../core/redact.ts";
import type { PlanRule } from "../profile/plan.ts";
import type { createAuthFetch } from "../http/auth_fetch.ts";
import { elapsed, plural, type StepResult, type StepStatus } from "./doctor_report.ts";
import { redactUrl } from "./explain.ts";

/** The MLflow call that proves the credential works: a cheap read every user may make. */
const API_PATH = "/api/2.0/mlflow/experiments/search?max_results=1";

/** What the live call needs. */
export interface LiveCallContext {
  /** The middleware, over the transport the call goes through. */
  readonly authFetch: ReturnType<typeof createAuthFetch>;
  /** Time allowed for the call. */
  readonly timeoutMs: number;
  /** The clock (milliseconds). */
  readonly now: () => number;
  /** Removes secret values from what is reported. */
  readonly redactor: Redactor;
}

/** The tracking base URL for the live call, or undefined for a wildcard rule with no URL. */
export function liveBase(rule: PlanRule, url: URL | undefined): string | undefined {
  if (url !== undefined) {
    const cut = url.pathname.search(/\/(ajax-)?api\/2\.0\//);
    const path = (cut === -1 ? url.pathname : url.pathname.slice(0, cut)).replace(/\/+$/, "");
    return `${url.origin}${path}`;
  }
  if (rule.pattern.wildcard) return undefined;
  return rule.pattern.canonical;
}

/**
 * Calls `GET <base>/api/2.0/mlflow/experiments/search?max_results=1` through the middleware and
 * judges the answer. Only a 200 with an MLflow JSON object passes: 401 and 403 fail (the
 * credential was refused, even after the middleware fetched the secret again), as do redirects
 * (a cross-origin one would drop the credentials), other statuses, timeouts, TLS and network
 * errors, each with a cause and a hint. Nothing secret is in the result: the URL is redacted,
 * the body is never shown.
 *
 * @param ctx The middleware and the limits.
 * @param base The tracking server's base URL.
 * @param rule The rule the call is for (its `tls:` settings, named in hints).
 * @returns The `server` step's result.
 */
export async function liveCall(
  ctx: LiveCallContext,
  base: string,
  rule: PlanRule,
): Promise<StepResult> {
  const { now } = ctx;
  const t0 = now();
  const url = new URL(`${base}${API_PATH}`);
  const shown = `${redactUrl(new URL(base)).replace(/\/$/, "")}${API_PATH}`;
  const result = (
    status: StepStatus,
    detail: string,
    cause?: string,
    hint?: string,
  ): StepResult => ({
    step: "server",
    status,
    ms: elapsed(t0, now),
    detail: ctx.redactor.redact(`GET ${shown}: ${detail}`),
    ...(cause !== undefined ? { cause: ctx.redactor.redact(cause) } : {}),
    ...(hint !== undefined ? { hint } : {}),
  });
  const signal = AbortSignal.timeout(ctx.timeoutMs);
  let response: Response;
  try {
    response = await ctx.authFetch(url, {
      method: "GET",
      redirect: "manual",
      signal,
      headers: { accept: "application/json" },
    });
  } catch (error) {
    return networkFailure(error, signal, ctx, result, rule);
  }
  const statusText = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  const s = response.status;
  if (s === 200) {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      return networkFailure(error, signal, ctx, result, rule);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      const type = response.headers.get("content-type") ?? "none";
      return result(
        "fail",
        `${statusText}, not MLflow JSON`,
        `the server answered 200 with a body that is not MLflow's JSON (content-type "${
          type.split(";")[0]
        }")`,
        "a login page or another service answered instead of MLflow: check the URL, and that any proxy in front accepts this header",
      );
    }
    const experiments = (body as { experiments?: unknown }).experiments;
    const count = Array.isArray(experiments) ? experiments.length : 0;
    return result("pass", `${statusText}, MLflow answered (${plural(count, "experiment")} listed)`);
  }
  if (mayBeClientCertificateAnswer(response)) {
    const page = await response.text().catch(() => "");
    const refusal = clientCertificateAnswer(s, page.slice(0, MAX_PAGE_BYTES));
    if (refusal !== undefined) {
      return result(
        "fail",
        `${statusText}, TLS client certificate`,
        `the server (or a proxy in front of it) refused the request: ${
          describeTlsFailure(refusal)
        }`,
        tlsHint(refusal, rule),
      );
    }
  }
  await response.body?.cancel().catch(() => {});
  if (s >= 300 && s < 400) {
    const location = response.headers.get("location");
    let next: URL | undefined;
    try {
      next = location === null ? undefined : new URL(location, url);
    } catch {
      next = undefined;
    }
    if (next === undefined) {
      return result(
        "fail",
        statusText,
        `the server redirected (${s}) without a usable Location`,
        "call the final URL directly: fix MLFLOW_TRACKING_URI and the rule's match",
      );
    }
    if (next.origin !== url.origin) {
      return result(
        "fail",
        `${statusText}, redirect to another origin`,
        `the server redirected (${s}) to another origin, "${next.origin}": credentials are not sent across origins, so MLflow's calls would arrive there without them`,
        `point MLFLOW_TRACKING_URI and the rule's match at the final server${
          next.protocol === "https:" && url.protocol === "http:" ? " (use https://)" : ""
        }, or fix the redirect on the server or proxy`,
      );
    }
    return result(
      "fail",
      `${statusText}, redirect on the same origin`,
      `the server redirected (${s}) to "${redactUrl(next)}"`,
      "MLflow clients do not expect a redirect here: put the final path prefix in MLFLOW_TRACKING_URI and the rule's match",
    );
  }
  if (s === 401) {
    return result(
      "fail",
      statusText,
      "the tracking server rejected the credentials (401), also after the secret was fetched again",
      "check that the secret holds a valid credential for this server, and that the auth type (bearer, basic, header) and header name are what it expects",
    );
  }
  if (s === 403) {
    return result(
      "fail",
      statusText,
      "the tracking server refused access (403)",
      "the credential was accepted but may not list experiments, or a proxy refused it: check the user's permissions and the proxy",
    );
  }
  if (s === 404) {
    return result(
      "fail",
      statusText,
      "there is no MLflow API at this URL (404)",
      "check the host and the path prefix in the rule's match (and MLFLOW_TRACKING_URI)",
    );
  }
  if (s === 429) {
    return result("fail", statusText, "the tracking server is rate limiting (429)", "retry later");
  }
  if (s >= 500) {
    return result(
      "fail",
      statusText,
      s === 502 || s === 503 || s === 504
        ? `a gateway in front of MLflow could not get an answer from it (${s})`
        : `the tracking server failed (${s})`,
      "look at the tracking server's (and any proxy's) logs; the credentials were not the problem",
    );
  }
  return result(
    "fail",
    statusText,
    `the tracking server answered ${s} instead of 200`,
    "check the URL and the server's logs",
  );
}

/** What to do about a TLS failure toward the tracking server, in terms of the rule. */
function tlsHint(failure: TlsFailure, rule: PlanRule): string {
  const where = `rule ${rule.label}`;
  switch (failure.kind) {
    case "untrusted":
      return rule.tls?.caCert === undefined
        ? `set tls.ca_cert on ${where} to the CA that signed the server's certificate, or export MLFLOW_TRACKING_SERVER_CERT_PATH`
        : `tls.ca_cert of ${where} is not the CA that signed the server's certificate: point it at that CA`;
    case "client-certificate-required":
      return rule.tls?.clientCert === undefined
        ? `set tls.client_cert and tls.client_key on ${where}, or export MLFLOW_TRACKING_CLIENT_CERT_PATH`
        : `the client certificate of ${where} was not sent: check tls.client_cert and tls.client_key`;
    case "client-certificate-refused":
      return `the server does not accept the client certificate of ${where}: check that it is issued by a CA the server trusts, and not expired`;
    case "wrong-name":
      return "the server's certificate does not name this host: use the host name it was issued for, or fix the certificate";
    case "expired":
      return "renew the server's certificate, or check this machine's clock";
    case "handshake":
      return "check the server's TLS configuration and the rule's tls settings";
  }
}

function networkFailure(
  error: unknown,
  signal: AbortSignal,
  ctx: LiveCallContext,
  result: (status: StepStatus, detail: string, cause?: string, hint?: string) => StepResult,
  rule: PlanRule,
): StepResult {
  if (signal.aborted || (error instanceof DOMException && error.name === "TimeoutError")) {
    return result(
      "fail",
      "timed out",
      `no answer within ${formatMs(ctx.timeoutMs)}`,
      "check that the server is up and reachable from here (proxy settings, firewall), or raise --timeout",
    );
  }
  if (error instanceof SecretResolutionError) {
    return result("fail", "secret failed", error.message, "see the secret step above");
  }
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return result(
      "fail",
      "not permitted",
      "network access to this host is not permitted",
      "run with --allow-net (or add the host to it)",
    );
  }
  if (error instanceof ProfileError) {
    // The rule's TLS files: missing or unusable, so nothing was sent.
    return result(
      "fail",
      "TLS settings unusable",
      error.issues.map((i) =>
        i.pointer === "" ? i.message : `${formatIssueLocation(error.file, i)}: ${i.message}`
      ).join("\n"),
      "fix the rule's tls files (or the MLflow variable named); nothing was sent",
    );
  }
  const tls = tlsFailure(error);
  if (tls !== undefined) {
    const who = tls.kind === "client-certificate-required" ||
        tls.kind === "client-certificate-refused"
      ? "TLS client certificate"
      : "TLS server certificate";
    return result(
      "fail",
      who,
      `the TLS handshake failed: ${describeTlsFailure(tls)}`,
      tlsHint(tls, rule),
    );
  }
  const detail = networkDetail(error);
  const lower = detail.toLowerCase();
  if (lower.includes("connection refused")) {
    return result(
      "fail",
      "connection refused",
      `the connection was refused: ${detail}`,
      "nothing listens there: check that the tracking server runs, and the host and port in the rule",
    );
  }
  if (
    lower.includes("dns error") || lower.includes("lookup address") ||
    lower.includes("name or service")
  ) {
    return result(
      "fail",
      "host not found",
      `the host name does not resolve: ${detail}`,
      "check the host name in the rule, and DNS",
    );
  }
  return result(
    "fail",
    "network error",
    `the request failed: ${detail}`,
    "check the network path to the server (proxy settings, firewall)",
  );
}

/** The innermost useful message of a fetch error, without the URL Deno puts in it. */
function networkDetail(error: unknown): string {
  const messages = causeMessages(error, 6);
  const last = messages.filter((m) => m !== "" && m !== "fetch failed").pop() ??
    messages[0] ?? "unknown error";
  return last.replace(/^error sending request for url \([^)]*\):\s*/, "")
    .replace(/https?:\/\/\S+/g, (u) => {
      try {
        return redactUrl(new URL(u));
      } catch {
        return "<url>";
      }
    });
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
