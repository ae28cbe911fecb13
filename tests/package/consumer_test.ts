/**
 * The module as another project uses it: a consumer in a temporary directory, with a
 * `deno.json` of its own (strict) and none of ours, imports `mod.ts` by file URL and by http URL
 * (the checkout served on loopback, as a code host would), type-checks, and authenticates a
 * request to a local server.
 */

import { DENO_DIR } from "../_deno_dir.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { startServer } from "../_servers.ts";

const ROOT = new URL("../../", import.meta.url);
const DENO = Deno.execPath();
const TOKEN = "consumer-canary-3f9a1c";

const TYPES: Readonly<Record<string, string>> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
};

/** Serves the checkout's files read-only over http on 127.0.0.1, as a code host would. */
function serveCheckout(): Promise<Awaited<ReturnType<typeof startServer>>> {
  return startServer(async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const ext = path.slice(path.lastIndexOf("."));
    const type = TYPES[ext];
    if (path.includes("..") || type === undefined) {
      return new Response("not found", { status: 404 });
    }
    try {
      const body = await Deno.readFile(new URL(`.${path}`, ROOT));
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

/** A tracking endpoint that says whether the request carried the consumer's token. */
function startTracking(): Promise<Awaited<ReturnType<typeof startServer>>> {
  return startServer((req) =>
    new Response(
      req.headers.get("authorization") === `Bearer ${TOKEN}` ? "authorized" : "anonymous",
    )
  );
}

const SCRIPT = (modUrl: string) =>
  `import { createAuthFetch, parseProfile, type Profile } from ${JSON.stringify(modUrl)};

const origin: string = Deno.args[0] ?? "";
const profile: Profile = parseProfile(\`version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "\${origin}", provider: ci, secret: { var: CONSUMER_TOKEN }, auth: bearer }]
\`);
const authFetch = createAuthFetch(profile);
const res = await authFetch(\`\${origin}/api/2.0/mlflow/experiments/search\`);
console.log(res.status, await res.text());
await authFetch.close();
`;

async function deno(
  dir: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DENO, {
    args: [...args],
    cwd: dir,
    env: { NO_COLOR: "1", HOME: dir, DENO_DIR, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** A consumer project: its own strict `deno.json`, and `main.ts` importing `modUrl`. */
async function consumer(modUrl: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "msa-consumer-" });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({ compilerOptions: { strict: true, noImplicitOverride: true } }),
  );
  await Deno.writeTextFile(`${dir}/main.ts`, SCRIPT(modUrl));
  return dir;
}

async function checkAndRun(modUrl: string, flags: string[]): Promise<void> {
  const dir = await consumer(modUrl);
  await using tracking = await startTracking();
  try {
    const check = await deno(dir, ["check", ...flags, "main.ts"]);
    assertEquals(check.code, 0, check.stderr);
    const run = await deno(dir, [
      "run",
      "--no-prompt",
      ...flags,
      "--allow-net=127.0.0.1",
      "--allow-env",
      "main.ts",
      tracking.origin,
    ], { CONSUMER_TOKEN: TOKEN });
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.stdout.trim(), "200 authorized");
    assertEquals(tracking.received.length, 1);
    assert(!run.stderr.includes(TOKEN), "the token reached stderr");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("mod.ts imported by file URL from another project type-checks and authenticates a request", async () => {
  // --cached-only: the npm packages come from Deno's cache as pinned, no registry is asked.
  await checkAndRun(new URL("mod.ts", ROOT).href, ["--cached-only"]);
});

Deno.test("mod.ts imported by http URL from another project type-checks and authenticates a request", async () => {
  await using host = await serveCheckout();
  await checkAndRun(`${host.origin}/mod.ts`, [`--allow-import=127.0.0.1:${host.port}`]);
  assert(host.received.some((r) => r.url.endsWith("/profile/yaml_source.ts")), "not served");
});

Deno.test("cli.ts run by http URL from another directory prints help and validates a profile", async () => {
  await using host = await serveCheckout();
  const dir = await Deno.makeTempDir({ prefix: "msa-consumer-" });
  try {
    const allow = `--allow-import=127.0.0.1:${host.port}`;
    const help = await deno(dir, ["run", "--no-prompt", allow, `${host.origin}/cli.ts`, "--help"]);
    assertEquals(help.code, 0, help.stderr);
    assertStringIncludes(help.stdout, "Usage: mlflow-secrets-auth");
    await Deno.writeTextFile(
      `${dir}/mlflow-auth.yaml`,
      `version: 1\nproviders: { ci: { kind: env } }\nhosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]\n`,
    );
    const validate = await deno(dir, [
      "run",
      "--no-prompt",
      allow,
      `--allow-read=${dir}`,
      "--allow-env",
      `${host.origin}/cli.ts`,
      "validate",
    ]);
    assertEquals(validate.code, 0, validate.stderr);
    assertStringIncludes(validate.stdout, "mlflow-auth.yaml: valid (1 host rule");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
