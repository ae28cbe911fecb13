/**
 * Leak test: every command, on success and on every failure path we can provoke, with a canary
 * secret in the environment; the canary (and its derived forms) never reaches stdout or stderr.
 */

import { main } from "../../cli.ts";
import { assert, assertNoCanary } from "../_assert.ts";
import { closedPort, fakeIo, serve, tempFile } from "./_io.ts";

const CANARY = `canary-${crypto.randomUUID()}`;
const BASIC = btoa(`alice:${CANARY}`);

function profile(url: string, extra = ""): string {
  return [
    "version: 1",
    "providers: { ci: { kind: env } }",
    "hosts:",
    `  - { match: "${url}", provider: ci, secret: { var: TOKEN }, auth: bearer }`,
    `  - { match: "${url}/basic", provider: ci, secret: { var: CRED }, auth: basic }`,
    `  - { match: "${url}/hdr", provider: ci, secret: { var: TOKEN }, auth: { type: header, name: X-Api-Key, value: "k={{token}}" } }`,
    extra,
    "",
  ].join("\n");
}

async function check(
  label: string,
  args: string[],
  env: Record<string, string>,
  isTty = false,
): Promise<number> {
  const io = fakeIo({ env, isTty });
  const code = await main(args, io);
  const text = io.out() + io.err();
  try {
    assertNoCanary(text, CANARY);
    assert(!text.includes(BASIC), "basic credentials leaked");
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}`);
  }
  return code;
}

Deno.test("main() never prints the canary secret, whatever the command and outcome", async () => {
  // A server that echoes every credential it gets, in its body and headers, and refuses them.
  const echo = serve((req) => {
    const creds = `${req.headers.get("authorization")} ${req.headers.get("x-api-key")}`;
    const status = new URL(req.url).pathname.includes("/basic") ? 200 : 401;
    return new Response(`you sent ${creds}`, {
      status,
      headers: { "www-authenticate": `Bearer error="${creds}"`, "x-echo": creds },
    });
  });
  const redirect = serve(() =>
    new Response(null, { status: 302, headers: { location: `${echo.url}/?t=${CANARY}` } })
  );
  try {
    const base = {
      TOKEN: CANARY,
      CRED: JSON.stringify({ username: "alice", password: CANARY }),
      MLFLOW_SECRETS_AUTH_LOG_LEVEL: "debug",
    };
    const p = await tempFile("mlflow-auth.yaml", profile(echo.url));
    const r = await tempFile("redirect.yaml", profile(redirect.url));
    const closed = await tempFile("closed.yaml", profile(`http://127.0.0.1:${closedPort()}`));
    const bad = await tempFile("bad.yaml", `version: 1\nproviders: {}\nhosts: [${CANARY}]\n`);
    const runs: [string, string[], Record<string, string>, boolean?][] = [
      ["validate", ["validate", "-p", p], base],
      ["validate --json", ["validate", "-p", p, "--json"], base],
      ["explain", ["explain", "-p", p], base],
      ["explain --url --json", ["explain", "-p", p, "--json", "--url", `${echo.url}/x`], base],
      ["schema", ["schema"], base],
      ["info", ["info", "-p", p], base],
      ["info --json", ["info", "-p", p, "--json"], base],
      ["doctor 401/200", ["doctor", "-p", p], base],
      ["doctor on a terminal", ["doctor", "-p", p], base, true],
      ["doctor --json", ["doctor", "-p", p, "--json"], base],
      [
        "doctor --url",
        ["doctor", "-p", p, "--url", `${echo.url}/basic/x`, `${echo.url}/hdr`],
        base,
      ],
      ["doctor redirect", ["doctor", "-p", r, "--json"], base],
      ["doctor closed port", ["doctor", "-p", closed], base],
      [
        "doctor, secret with CR/LF",
        ["doctor", "-p", p],
        { ...base, TOKEN: `${CANARY}\r\nX-Evil: 1` },
      ],
      [
        "doctor, missing field",
        ["doctor", "-p", p, "--json"],
        { ...base, CRED: JSON.stringify({ user: "alice", secret: CANARY }) },
      ],
      [
        "doctor, empty token field",
        ["doctor", "-p", p],
        { ...base, TOKEN: JSON.stringify({ token: "", other: CANARY }) },
      ],
      ["doctor, invalid profile", ["doctor", "-p", bad], base],
      ["validate, invalid profile", ["validate", "-p", bad, "--json"], base],
      ["init --stdout", [
        "init",
        "--stdout",
        "--provider",
        "env",
        "--host",
        echo.url,
        "--var",
        "TOKEN",
      ], base],
      ["completions", ["completions", "bash"], base],
      ["--help", ["--help"], base],
    ];
    const oldPlugin = {
      ...base,
      MLFLOW_SECRETS_AUTH_ENABLE: "vault",
      VAULT_ADDR: `http://127.0.0.1:${closedPort()}`,
      VAULT_TOKEN: CANARY,
      VAULT_ROLE_ID: CANARY,
      VAULT_SECRET_ID: CANARY,
      MLFLOW_VAULT_SECRET_PATH: "secret/data/mlflow",
      MLFLOW_TRACKING_URI: `http://alice:${CANARY}@127.0.0.1:${echo.port}/?token=${CANARY}`,
    };
    for (const cmd of ["explain", "validate", "info", "doctor"]) {
      runs.push([`${cmd} --from-env`, [cmd, "--from-env"], oldPlugin]);
      runs.push([`${cmd} --from-env --json`, [cmd, "--from-env", "--json"], oldPlugin]);
    }
    runs.push(["init --from-env --stdout", ["init", "--from-env", "--stdout"], oldPlugin]);
    for (const [label, args, env, tty] of runs) await check(label, args, env, tty ?? false);
    // The secret really was sent where it belonged (the test is not vacuous).
    assert(echo.seen.some((s) => s.authorization === `Bearer ${CANARY}`), "bearer never sent");
    assert(echo.seen.some((s) => s.authorization === `Basic ${BASIC}`), "basic never sent");
    assert(echo.seen.some((s) => s.apiKey === `k=${CANARY}`), "api key never sent");
  } finally {
    await echo.close();
    await redirect.close();
  }
});
