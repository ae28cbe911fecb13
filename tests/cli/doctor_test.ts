/**
 * `doctor` against real local servers: its verdict must match what really happens, in every
 * case (200, 401, 403, 404, 500, redirects, TLS, closed port, timeout, a login page).
 */

import { main, type MainOptions } from "../../cli.ts";
import type { DoctorReport, StepName, TargetResult } from "../../cli/doctor.ts";
import { parseProfile } from "../../mod.ts";
import { createAuthFetch } from "../../http/auth_fetch.ts";
import { envProvider } from "../../providers/env.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { closedPort, envProfile, type FakeIo, fakeIo, mlflowOk, serve, tempFile } from "./_io.ts";
import { issueTestCertificates } from "../_tls.ts";

const TOKEN = "doctor-token-7f3a91c2";

interface Run {
  readonly code: number;
  readonly io: FakeIo;
  readonly report: DoctorReport | undefined;
}

async function doctor(
  profile: string,
  options: {
    env?: Record<string, string>;
    args?: string[];
    json?: boolean;
    isTty?: boolean;
    main?: MainOptions;
  } = {},
): Promise<Run> {
  const path = await tempFile("mlflow-auth.yaml", profile);
  const io = fakeIo({
    env: options.env ?? { MLFLOW_TOKEN: TOKEN },
    ...(options.isTty !== undefined ? { isTty: options.isTty } : {}),
  });
  const json = options.json ?? true;
  const code = await main(
    ["doctor", "-p", path, ...(json ? ["--json"] : []), ...(options.args ?? [])],
    io,
    options.main,
  );
  assertNoCanary(io.out() + io.err(), TOKEN);
  let report: DoctorReport | undefined;
  if (json && io.out().trim().startsWith("{")) report = JSON.parse(io.out());
  return { code, io, report };
}

function step(target: TargetResult | undefined, name: StepName) {
  const s = target?.steps.find((x) => x.step === name);
  assert(s !== undefined, `no step ${name} in ${JSON.stringify(target)}`);
  return s;
}

function statuses(target: TargetResult | undefined): string {
  return (target?.steps ?? []).map((s) => `${s.step}:${s.status}`).join(" ");
}

Deno.test("main() doctor passes every step against a server answering 200 with MLflow JSON", async () => {
  const server = serve((req) =>
    req.headers.get("authorization") === `Bearer ${TOKEN}`
      ? mlflowOk()
      : new Response("no", { status: 401 })
  );
  try {
    const { code, report } = await doctor(envProfile(server.url));
    assertEquals(code, 0);
    assert(report?.ok === true, "report not ok");
    assertEquals(
      statuses(report.targets[0]),
      "rule:pass provider:pass secret:pass header:pass server:pass",
    );
    assertEquals(report.summary, { passed: 1, failed: 0, warned: 0 });
    // It really went through the middleware, with the header, to the MLflow endpoint.
    assertEquals(server.seen.length, 1);
    assertEquals(server.seen[0]!.path, "/api/2.0/mlflow/experiments/search?max_results=1");
    assertEquals(server.seen[0]!.authorization, `Bearer ${TOKEN}`);
    assertStringIncludes(
      step(report.targets[0], "header").detail,
      `Authorization: bearer, ${`Bearer ${TOKEN}`.length} chars`,
    );
    assertStringIncludes(step(report.targets[0], "server").detail, "1 experiment listed");
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails on 401, and passes once the token is the one the server wants", async () => {
  const server = serve((req) =>
    req.headers.get("authorization") === `Bearer ${TOKEN}`
      ? mlflowOk()
      : new Response("bad token", { status: 401 })
  );
  try {
    const bad = await doctor(envProfile(server.url), { env: { MLFLOW_TOKEN: "wrong-token-1" } });
    assertEquals(bad.code, 1);
    const s = step(bad.report?.targets[0], "server");
    assertEquals(s.status, "fail");
    assertStringIncludes(s.cause ?? "", "rejected the credentials (401)");
    assertStringIncludes(s.hint ?? "", "auth type");
    // The middleware refreshed the secret and retried once, as it does for MLflow's requests.
    assertEquals(server.seen.length, 2);

    const good = await doctor(envProfile(server.url));
    assertEquals(good.code, 0);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails on 403 with a permissions hint", async () => {
  const server = serve(() => new Response("forbidden", { status: 403 }));
  try {
    const { code, report } = await doctor(envProfile(server.url));
    assertEquals(code, 1);
    const s = step(report?.targets[0], "server");
    assertEquals(s.status, "fail");
    assertStringIncludes(s.cause ?? "", "refused access (403)");
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails on 500 and says the server failed, not the credentials", async () => {
  const server = serve(() => new Response("boom", { status: 500 }));
  try {
    const { code, report, io } = await doctor(envProfile(server.url), { json: false });
    assertEquals(code, 1);
    assertEquals(report, undefined);
    assertStringIncludes(io.out(), "[FAIL] live call to the tracking server");
    assertStringIncludes(io.out(), "500 Internal Server Error");
    assertStringIncludes(io.out(), "the tracking server failed (500)");
    assertStringIncludes(io.out(), "hint: look at the tracking server's");
    assert(!io.out().includes("boom"), "a response body was printed");
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails on 404: no MLflow API under that path", async () => {
  const server = serve(() => new Response("not here", { status: 404 }));
  try {
    const { code, report } = await doctor(envProfile(server.url));
    assertEquals(code, 1);
    assertStringIncludes(step(report?.targets[0], "server").cause ?? "", "no MLflow API");
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails on a cross-origin redirect, where credentials would not follow", async () => {
  const other = serve(() => mlflowOk());
  const server = serve(() =>
    new Response(null, {
      status: 302,
      headers: { location: `${other.url}/api/2.0/mlflow/experiments/search?max_results=1` },
    })
  );
  try {
    const { code, report } = await doctor(envProfile(server.url));
    assertEquals(code, 1);
    const s = step(report?.targets[0], "server");
    assertEquals(s.status, "fail");
    assertStringIncludes(s.cause ?? "", `another origin, "${other.url}"`);
    assertEquals(other.seen.length, 0);

    // Reality: following that redirect, the other origin gets the request without credentials.
    const profile = parseProfile(envProfile(server.url), { env: {} });
    const authFetch = createAuthFetch(profile, { env: () => TOKEN });
    const res = await authFetch(`${server.url}/api/2.0/mlflow/experiments/search?max_results=1`);
    await res.body?.cancel();
    await authFetch.close();
    assertEquals(other.seen.length, 1);
    assertEquals(other.seen[0]!.authorization, null);
  } finally {
    await server.close();
    await other.close();
  }
});

Deno.test("main() doctor fails on a same-origin redirect and names the path to use", async () => {
  const server = serve((req) =>
    new URL(req.url).pathname.startsWith("/mlflow/") ? mlflowOk() : new Response(null, {
      status: 308,
      headers: { location: `/mlflow${new URL(req.url).pathname}` },
    })
  );
  try {
    const { code, report } = await doctor(envProfile(server.url));
    assertEquals(code, 1);
    const s = step(report?.targets[0], "server");
    assertStringIncludes(s.cause ?? "", `redirected (308) to "${server.url}/mlflow/api/2.0/`);
    const fixed = await doctor(envProfile(`${server.url}/mlflow`));
    assertEquals(fixed.code, 0);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails on a TLS error, and passes when the CA is trusted", async () => {
  const tls = await issueTestCertificates();
  const server = serve(() => mlflowOk(), { cert: tls.cert, key: tls.key });
  const caFile = await tempFile("ca.pem", tls.ca);
  try {
    const { code, report } = await doctor(envProfile(server.url));
    assertEquals(code, 1);
    const s = step(report?.targets[0], "server");
    assertEquals(s.detail.endsWith("TLS server certificate"), true, s.detail);
    assertStringIncludes(s.cause ?? "", "TLS handshake failed");
    assertStringIncludes(s.cause ?? "", "signed by a CA not trusted here");
    assertStringIncludes(s.cause ?? "", "UnknownIssuer");
    assertStringIncludes(s.hint ?? "", "set tls.ca_cert on rule hosts[0]");
    assertEquals(server.seen.length, 0);

    // The rule's tls.ca_cert: the live call goes through the rule's own client.
    const trusted = await doctor(
      `${envProfile(server.url).trimEnd().replace(/ \}$/, `, tls: { ca_cert: "${caFile}" } }`)}\n`,
    );
    assertEquals(trusted.code, 0, JSON.stringify(trusted.report));
    assertEquals(server.seen.length, 1);

    // Reality: the same server, reached by a client that trusts the CA, works.
    const client = Deno.createHttpClient({ caCerts: [tls.ca] });
    try {
      const { runDoctor } = await import("../../cli/doctor.ts");
      const io = fakeIo({ env: { MLFLOW_TOKEN: TOKEN } });
      const code2 = await runDoctor({
        loaded: parseProfile(envProfile(server.url), { env: {} }),
        json: true,
        fetch: (input, init) => fetch(input, { ...init, client }),
      }, io);
      assertEquals(code2, 0, io.out());
    } finally {
      client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails on a closed port: connection refused", async () => {
  const port = closedPort();
  const { code, report, io } = await doctor(envProfile(`http://127.0.0.1:${port}`), {
    json: false,
  });
  assertEquals(code, 1);
  assertEquals(report, undefined);
  assertStringIncludes(io.out(), "connection refused");
  assertStringIncludes(io.out(), "hint: nothing listens there");
  // Reality: nothing answers there.
  let failed = false;
  try {
    await fetch(`http://127.0.0.1:${port}/`);
  } catch {
    failed = true;
  }
  assert(failed, "something listens on the closed port");
});

Deno.test("main() doctor fails when the server does not answer within --timeout", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const server = serve(async () => {
    await gate;
    return mlflowOk();
  });
  try {
    const { code, report } = await doctor(envProfile(server.url), { args: ["--timeout", "200ms"] });
    assertEquals(code, 1);
    const s = step(report?.targets[0], "server");
    assertStringIncludes(s.cause ?? "", "no answer within 200 ms");
    assertStringIncludes(s.hint ?? "", "--timeout");
  } finally {
    release();
    await server.close();
  }
});

Deno.test("main() doctor fails on a 200 that is not MLflow JSON (a login page)", async () => {
  const server = serve(() =>
    new Response("<html>Sign in</html>", { headers: { "content-type": "text/html" } })
  );
  try {
    const { code, report } = await doctor(envProfile(server.url));
    assertEquals(code, 1);
    assertStringIncludes(
      step(report?.targets[0], "server").cause ?? "",
      'content-type "text/html"',
    );
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor skips the live call of a wildcard rule with a warning, and makes it with --url", async () => {
  const server = serve(() => mlflowOk());
  const profile = [
    "version: 1",
    "providers: { ci: { kind: env } }",
    "hosts:",
    `  - match: "http://*.example.test:${server.port}"`,
    "    provider: ci",
    "    secret: { var: MLFLOW_TOKEN }",
    "    auth: bearer",
    "    allow_insecure_http: true",
    "",
  ].join("\n");
  // *.example.test does not resolve: the inner fetch sends it to the local server instead.
  const toLocal: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    url.hostname = "127.0.0.1";
    return fetch(url, init);
  };
  try {
    const skipped = await doctor(profile);
    assertEquals(skipped.code, 1);
    assertEquals(skipped.report?.targets[0]?.status, "warn");
    const s = step(skipped.report?.targets[0], "server");
    assertEquals(s.status, "warn");
    assertStringIncludes(s.cause ?? "", "wildcard rule");
    assertStringIncludes(s.hint ?? "", `--url http://mlflow.example.test:${server.port}`);
    assertEquals(skipped.report?.summary, { passed: 0, failed: 0, warned: 1 });
    assertEquals(server.seen.length, 0);

    const { runDoctor } = await import("../../cli/doctor.ts");
    const io = fakeIo({ env: { MLFLOW_TOKEN: TOKEN } });
    const code = await runDoctor({
      loaded: parseProfile(profile, { env: {} }),
      url: [`http://mlflow.example.test:${server.port}/`],
      json: true,
      fetch: toLocal,
    }, io);
    assertEquals(code, 0, io.out());
    assertEquals(server.seen[0]?.authorization, `Bearer ${TOKEN}`);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor --url that no rule matches fails at the rule step", async () => {
  const { code, report } = await doctor(envProfile("https://mlflow.company.com"), {
    args: ["--url", "https://other.company.com/"],
  });
  assertEquals(code, 1);
  const t = report?.targets[0];
  assertEquals(t?.rule, null);
  assertEquals(statuses(t), "rule:fail");
  assertStringIncludes(step(t, "rule").cause ?? "", "no host rule matches");
});

Deno.test("main() doctor --url with userinfo fails and prints the URL redacted", async () => {
  const { code, io } = await doctor(envProfile("https://mlflow.company.com"), {
    args: ["--url", "https://user:pw-secret-1@mlflow.company.com/"],
    json: false,
  });
  assertEquals(code, 1);
  assert(!io.out().includes("pw-secret-1"), "userinfo printed");
  assertStringIncludes(io.out(), "userinfo");
});

Deno.test("main() doctor rejects a --url that is not a URL, and a bad --timeout, with exit 2", async () => {
  const a = await doctor(envProfile("https://mlflow.company.com"), { args: ["--url", "nope"] });
  assertEquals(a.code, 2);
  assertStringIncludes(a.io.err(), 'Cannot check "nope"');
  const b = await doctor(envProfile("https://mlflow.company.com"), { args: ["--timeout", "soon"] });
  assertEquals(b.code, 2);
  assertStringIncludes(b.io.err(), "--timeout");
});

Deno.test("main() doctor exits 2 on an invalid profile and lists the issues with line:col", async () => {
  const { code, io } = await doctor(
    "version: 2\nproviders: { ci: { kind: env } }\nhosts: []\n",
    { json: false },
  );
  assertEquals(code, 2);
  assertStringIncludes(io.out(), "[FAIL] profile valid");
  assertStringIncludes(io.out(), "mlflow-auth.yaml:1:10 at /version");
  assertStringIncludes(io.out(), "mlflow-auth.yaml:3:8 at /hosts");
});

Deno.test("main() doctor --json on an invalid profile prints the issues", async () => {
  const { code, io } = await doctor("version: 1\nproviders: {}\nhosts: []\n");
  assertEquals(code, 2);
  const out = JSON.parse(io.out());
  assertEquals(out.ok, false);
  assertEquals(out.profile.status, "fail");
  assert(out.issues.length >= 2, "issues missing");
});

Deno.test("main() doctor fails at the secret step when the variable is unset, and sends nothing", async () => {
  const server = serve(() => mlflowOk());
  try {
    const { code, report } = await doctor(envProfile(server.url), { env: {} });
    assertEquals(code, 1);
    const t = report?.targets[0];
    assertEquals(statuses(t), "rule:pass provider:pass secret:fail header:skip server:skip");
    assertStringIncludes(step(t, "secret").cause ?? "", '"MLFLOW_TOKEN" is not set');
    assertEquals(server.seen.length, 0);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails at the secret step when the variable is set but empty, with an env hint", async () => {
  const server = serve(() => mlflowOk());
  try {
    for (const value of ["", "  "]) {
      const { code, report } = await doctor(envProfile(server.url), {
        env: { MLFLOW_TOKEN: value },
      });
      assertEquals(code, 1);
      const t = report?.targets[0];
      assertEquals(statuses(t), "rule:pass provider:pass secret:fail header:skip server:skip");
      assertStringIncludes(step(t, "secret").cause ?? "", "the secret is empty");
      const hint = step(t, "secret").hint ?? "";
      assertStringIncludes(hint, 'the variable "MLFLOW_TOKEN" is set but empty');
      assert(!hint.includes("field"), `a JSON-field hint for the env provider: ${hint}`);
    }
    assertEquals(server.seen.length, 0);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails at the secret step when a field the auth needs is missing", async () => {
  const server = serve(() => mlflowOk());
  try {
    const { code, report } = await doctor(envProfile(server.url, "CRED", "basic"), {
      env: { CRED: JSON.stringify({ username: "alice", pass: TOKEN }) },
    });
    assertEquals(code, 1);
    const t = report?.targets[0];
    assertEquals(statuses(t), "rule:pass provider:pass secret:fail header:skip server:skip");
    assertStringIncludes(step(t, "secret").cause ?? "", 'no usable "password" field');
    assertStringIncludes(step(t, "secret").cause ?? "", '"username", "pass"');
    assertEquals(server.seen.length, 0);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor fails at the provider step when the kind is not in this build", async () => {
  const { code, report } = await doctor(envProfile("https://mlflow.company.com"), {
    main: { providers: new Map() },
  });
  assertEquals(code, 1);
  const t = report?.targets[0];
  assertEquals(statuses(t), "rule:pass provider:fail secret:skip header:skip server:skip");
  assertStringIncludes(step(t, "provider").cause ?? "", "not available in this build");
});

Deno.test("main() doctor checks every rule in profile order and reports each", async () => {
  const a = serve(() => mlflowOk());
  const b = serve(() => new Response("no", { status: 401 }));
  const profile = [
    "version: 1",
    "providers: { ci: { kind: env } }",
    "hosts:",
    `  - { match: "${a.url}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: bearer }`,
    `  - { match: "${b.url}", provider: ci, secret: { var: MLFLOW_TOKEN }, auth: { type: header, name: X-Api-Key, value: "{{token}}" } }`,
    "",
  ].join("\n");
  try {
    const { code, report } = await doctor(profile);
    assertEquals(code, 1);
    assertEquals(report?.targets.map((t) => [t.target, t.status]), [
      ["hosts[0]", "pass"],
      ["hosts[1]", "fail"],
    ]);
    assertEquals(b.seen[0]?.apiKey, TOKEN);
    assertStringIncludes(step(report?.targets[1], "header").detail, "X-Api-Key: header");
    assertEquals(report?.summary, { passed: 1, failed: 1, warned: 0 });
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("main() doctor shows a spinner and colour on a terminal, plain lines with NO_COLOR", async () => {
  const server = serve(() => mlflowOk());
  try {
    const tty = await doctor(envProfile(server.url), { json: false, isTty: true });
    assertEquals(tty.code, 0);
    assertStringIncludes(tty.io.out(), "\r\x1b[2K");
    assertStringIncludes(tty.io.out(), "\x1b[32m✔\x1b[39m");
    assert(!tty.io.out().includes("[ok]"), "plain marks on a terminal");

    const plain = await doctor(envProfile(server.url), {
      json: false,
      isTty: true,
      env: { MLFLOW_TOKEN: TOKEN, NO_COLOR: "1" },
    });
    assertEquals(plain.code, 0);
    assert(!plain.io.out().includes("\x1b["), "ANSI codes with NO_COLOR");
    assertStringIncludes(plain.io.out(), "[ok]   live call to the tracking server");

    const piped = await doctor(envProfile(server.url), { json: false, isTty: false });
    assert(!piped.io.out().includes("\x1b["), "ANSI codes when not a terminal");
    assertStringIncludes(piped.io.out(), "1 of 1 rule passed");
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor --json has a stable shape", async () => {
  const server = serve(() => mlflowOk());
  try {
    const { report } = await doctor(envProfile(server.url));
    assert(report !== undefined, "no report");
    assertEquals(Object.keys(report).sort(), ["file", "ok", "profile", "summary", "targets"]);
    const t = report.targets[0]!;
    assertEquals(Object.keys(t).sort(), ["rule", "status", "steps", "target"]);
    for (const s of t.steps) {
      assert(typeof s.ms === "number" && s.ms >= 0, "ms");
      assert(typeof s.detail === "string", "detail");
    }
    assertEquals(t.steps.map((s) => s.step), ["rule", "provider", "secret", "header", "server"]);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor accepts a provider registry from MainOptions", async () => {
  const server = serve(() => mlflowOk());
  try {
    const { code } = await doctor(envProfile(server.url), {
      main: { providers: new Map([["env", envProvider]]) },
    });
    assertEquals(code, 0);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor reports the version the secret resolved to (a file's mtime and inode), never the value", async () => {
  const server = serve((req) =>
    req.headers.get("authorization") === `Bearer ${TOKEN}`
      ? mlflowOk()
      : new Response("no", { status: 401 })
  );
  try {
    const secretPath = await tempFile("token", `${TOKEN}\n`);
    await Deno.utime(secretPath, 1_000, new Date("2026-05-01T09:30:00Z"));
    const ino = (await Deno.stat(secretPath)).ino;
    const profile = [
      "version: 1",
      "providers: { mounted: { kind: file } }",
      "hosts:",
      `  - match: ${server.url}`,
      "    provider: mounted",
      `    secret: { path: ${JSON.stringify(secretPath)} }`,
      "    auth: bearer",
    ].join("\n");
    const { code, report } = await doctor(profile, { env: {} });
    assertEquals(code, 0);
    assertStringIncludes(
      step(report?.targets[0], "secret").detail,
      `version "mtime:2026-05-01T09:30:00.000Z,ino:${ino}"`,
    );
    assertStringIncludes(
      step(report?.targets[0], "secret").detail,
      "the provider's own limit (the file is checked every second, and read again only when it changed), not the ttl 5m (rule)",
    );
    // The env provider has no versions, and says so.
    const env = await doctor(envProfile(server.url));
    assertStringIncludes(step(env.report?.targets[0], "secret").detail, "no version reported");
  } finally {
    await server.close();
  }
});

function b64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

Deno.test("main() doctor says when a JWT's exp, not the rule's ttl, bounds the cache", async () => {
  const exp = Math.floor(Date.now() / 1000) + 120;
  const token = `${b64url('{"alg":"RS256"}')}.${b64url(JSON.stringify({ exp }))}.${
    b64url("sig-canary-0e41")
  }`;
  const server = serve((req) =>
    req.headers.get("authorization") === `Bearer ${token}`
      ? mlflowOk()
      : new Response("no", { status: 401 })
  );
  try {
    const { code, io, report } = await doctor(envProfile(server.url), {
      env: { MLFLOW_TOKEN: token },
    });
    assertEquals(code, 0);
    assertStringIncludes(
      step(report?.targets[0], "secret").detail,
      `cached until shortly before the secret's expiry at ${
        new Date(exp * 1000).toISOString()
      }, not the ttl 5m (rule)`,
    );
    assertNoCanary(io.out() + io.err(), token);
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor shows each rule's leak guard mode, loudly when it is off", async () => {
  const server = serve(() => mlflowOk());
  try {
    for (
      const [setting, shown] of [
        ["", "leak guard block"],
        [
          "leak_guard: warn\n",
          "leak guard warn (a write carrying a managed secret is sent, with a warning)",
        ],
        ["leak_guard: off\n", "leak guard OFF (writes are not checked for managed secrets)"],
      ]
    ) {
      const { code, report } = await doctor(envProfile(server.url) + setting!);
      assertEquals(code, 0);
      assertStringIncludes(step(report?.targets[0], "rule").detail, `(env); ${shown}`);
    }
  } finally {
    await server.close();
  }
});

Deno.test("main() doctor warns when the secret's own expiry has passed, and still makes the live call", async () => {
  const exp = Math.floor(Date.now() / 1000) - 60;
  const token = `${b64url('{"alg":"RS256"}')}.${b64url(JSON.stringify({ exp }))}.${
    b64url("sig-canary-77c2")
  }`;
  const server = serve(() => new Response("expired", { status: 401 }));
  try {
    const { code, io, report } = await doctor(envProfile(server.url), {
      env: { MLFLOW_TOKEN: token },
    });
    assertEquals(code, 1);
    const secret = step(report?.targets[0], "secret");
    assertEquals(secret.status, "warn");
    assertStringIncludes(secret.detail, `EXPIRED at ${new Date(exp * 1000).toISOString()}`);
    assertStringIncludes(secret.cause!, "its own expiry, and it has passed");
    assertEquals(step(report?.targets[0], "server").status, "fail");
    assertNoCanary(io.out() + io.err(), token);
  } finally {
    await server.close();
  }
});
