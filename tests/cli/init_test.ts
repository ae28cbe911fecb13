/**
 * `init`: a starter profile from flags or answers, validated before writing, with the `$schema`
 * line, never overwriting without `--force`.
 */

import { dirname, resolve } from "node:path";
import { main } from "../../cli.ts";
import { loadProfile } from "../../mod.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { fakeIo, tempDir } from "./_io.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function schemaLineResolves(path: string): Promise<void> {
  const first = (await Deno.readTextFile(path)).split("\n")[0]!;
  const m = /^# yaml-language-server: \$schema=(.+)$/.exec(first);
  assert(m !== null, `no $schema line: ${first}`);
  const schema = JSON.parse(await Deno.readTextFile(resolve(dirname(path), m[1]!)));
  assertEquals(schema.title, "mlflow-secrets-auth profile");
}

Deno.test("main() init writes a valid Vault profile from flags, with a working $schema line", async () => {
  const path = `${await tempDir()}/nested-ok.yaml`;
  const io = fakeIo();
  const code = await main([
    "init",
    "-p",
    path,
    "--provider",
    "vault",
    "--host",
    "https://mlflow.company.com/",
    "--address",
    "https://vault.company.com:8200",
    "--path",
    "mlflow/auth",
    "--mount",
    "kv",
    "--field",
    "token",
  ], io);
  assertEquals(code, 0, io.err());
  assertStringIncludes(io.out(), `Wrote ${path} (vault provider "vault", 1 host rule; valid)`);
  assertStringIncludes(io.out(), `Next: mlflow-secrets-auth validate --profile ${path}`);
  const profile = await loadProfile(path, { env: {} });
  assertEquals(profile.data.providers.vault, {
    kind: "vault",
    address: "https://vault.company.com:8200",
    auth: { method: "token" },
  });
  assertEquals(profile.data.hosts[0], {
    match: "https://mlflow.company.com",
    provider: "vault",
    secret: { path: "mlflow/auth", mount: "kv", field: "token" },
    auth: "bearer",
  });
  await schemaLineResolves(path);
  const v = fakeIo();
  assertEquals(await main(["validate", "-p", path], v), 0);
});

Deno.test("main() init writes every provider kind from flags", async () => {
  const dir = await tempDir();
  const cases: [string, string[], Record<string, unknown>][] = [
    ["env", ["--var", "MLFLOW_TOKEN"], { var: "MLFLOW_TOKEN" }],
    ["file", ["--path", "/run/secrets/mlflow.json", "--auth", "basic"], {
      path: "/run/secrets/mlflow.json",
    }],
    ["aws-secrets-manager", ["--secret-id", "mlflow/prod", "--region", "eu-west-1"], {
      id: "mlflow/prod",
    }],
    ["azure-key-vault", [
      "--vault-url",
      "https://ml.vault.azure.net",
      "--secret-name",
      "mlflow-token",
    ], { name: "mlflow-token" }],
    ["vault", [
      "--address",
      "https://vault.company.com",
      "--path",
      "a/b",
      "--vault-auth",
      "kubernetes",
      "--role",
      "mlflow",
    ], { path: "a/b" }],
  ];
  for (const [kind, flags, secret] of cases) {
    const path = `${dir}/${kind}.yaml`;
    const io = fakeIo();
    const code = await main(
      ["init", "-p", path, "--provider", kind, "--host", "https://m.company.com", ...flags],
      io,
    );
    assertEquals(code, 0, `${kind}: ${io.err()}`);
    const profile = await loadProfile(path, { env: {} });
    assertEquals(profile.data.hosts[0]!.secret, secret, kind);
    assertEquals(Object.values(profile.data.providers)[0]!.kind, kind);
  }
  const k = await loadProfile(`${dir}/vault.yaml`, { env: {} });
  assertEquals(k.data.providers.vault!.auth, { method: "kubernetes", role: "mlflow" });
  const f = await loadProfile(`${dir}/file.yaml`, { env: {} });
  assertEquals(f.data.hosts[0]!.auth, "basic");
});

Deno.test("main() init refuses to overwrite without --force, and overwrites with it", async () => {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  await Deno.writeTextFile(path, "keep me\n");
  const flags = ["--provider", "env", "--host", "https://m.company.com", "--var", "T"];
  const io = fakeIo();
  assertEquals(await main(["init", "-p", path, ...flags], io), 2);
  assertStringIncludes(io.err(), `Cannot write "${path}": the file exists; pass --force`);
  assertEquals(await Deno.readTextFile(path), "keep me\n");

  const forced = fakeIo();
  assertEquals(await main(["init", "-p", path, ...flags, "--force"], forced), 0);
  assertEquals((await loadProfile(path, { env: {} })).data.hosts[0]!.secret, { var: "T" });
});

Deno.test("main() init off a terminal names every missing flag and exits 2", async () => {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  const io = fakeIo();
  assertEquals(await main(["init", "-p", path, "--provider", "vault"], io), 2);
  assertStringIncludes(io.err(), "--host, --address, --path are required for provider vault");
  assertEquals(await exists(path), false);

  const noKind = fakeIo({ isTty: true }); // a terminal, but stdin is not one: no prompt
  assertEquals(await main(["init", "-p", path], noKind), 2);
  assertStringIncludes(noKind.err(), "--provider is required");
});

Deno.test("main() init off a terminal says --token-url is what oauth2_client_credentials needs, with an example that has it", async () => {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  const io = fakeIo();
  const flags = ["--provider", "env", "--host", "https://m.company.com"];
  assertEquals(
    await main(["init", "-p", path, ...flags, "--auth", "oauth2_client_credentials"], io),
    2,
  );
  assertStringIncludes(
    io.err(),
    "--token-url is required for --auth oauth2_client_credentials when not on a terminal",
  );
  const example = io.err().split("e.g. ")[1] ?? "";
  assertStringIncludes(example, "--auth oauth2_client_credentials --token-url https://");
  assertEquals(await exists(path), false);
  // The example itself writes a valid profile.
  const args = example.trim().split(" ").slice(1); // "init", then its flags
  assertEquals(await main([...args, "-p", path], fakeIo()), 0);
  const rule = (await loadProfile(path, { env: {} })).data.hosts[0]!;
  assertEquals(typeof rule.auth === "object" && rule.auth.type, "oauth2_client_credentials");
});

Deno.test("main() init asks on a terminal for what the flags did not give", async () => {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  const asked: string[] = [];
  const answers: Record<string, string> = {
    "Provider kind": "aws-secrets-manager",
    "Tracking server URL": "https://mlflow.company.com",
    "Secret name or ARN": "mlflow/prod",
    "AWS region": "",
    "Auth type": "basic",
  };
  const io = fakeIo({
    isTty: true,
    env: { AWS_REGION: "eu-central-1" },
    prompt: (message, defaultValue) => {
      asked.push(`${message} [${defaultValue ?? ""}]`);
      const key = Object.keys(answers).find((k) => message.startsWith(k));
      assert(key !== undefined, `unexpected question ${message}`);
      return answers[key]!;
    },
  });
  assertEquals(await main(["init", "-p", path], io), 0, io.err());
  assertEquals(asked, [
    "Provider kind (env, file, vault, aws-secrets-manager, azure-key-vault) [vault]",
    "Tracking server URL (e.g. https://mlflow.company.com) []",
    "Secret name or ARN []",
    "AWS region [eu-central-1]",
    "Auth type (bearer, basic, oauth2_client_credentials) [bearer]",
  ]);
  const profile = await loadProfile(path, { env: {} });
  assertEquals(profile.data.providers.aws, { kind: "aws-secrets-manager", region: "eu-central-1" });
  assertEquals(profile.data.hosts[0]!.auth, "basic");
});

Deno.test("main() init stops when the terminal input ends, writing nothing", async () => {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  const io = fakeIo({ isTty: true, prompt: () => null });
  assertEquals(await main(["init", "-p", path], io), 2);
  assertStringIncludes(io.err(), "init was cancelled");
  assertEquals(await exists(path), false);
});

Deno.test("main() init validates before writing: an insecure host is refused", async () => {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  const io = fakeIo();
  const code = await main([
    "init",
    "-p",
    path,
    "--provider",
    "env",
    "--host",
    "http://mlflow.company.com",
  ], io);
  assertEquals(code, 2);
  assertStringIncludes(io.err(), "plain http to a non-loopback host");
  assertStringIncludes(io.err(), `${path}:`);
  assertEquals(await exists(path), false);
});

Deno.test("main() init --stdout prints the profile and writes nothing; $ stays literal", async () => {
  const dir = await tempDir();
  const io = fakeIo();
  const code = await main([
    "init",
    "-p",
    `${dir}/x.yaml`,
    "--stdout",
    "--provider",
    "file",
    "--host",
    "http://127.0.0.1:5000",
    "--path",
    "/run/secrets/${not-a-var}",
  ], io);
  assertEquals(code, 0, io.err());
  assertEquals(await exists(`${dir}/x.yaml`), false);
  assert(io.out().startsWith("# yaml-language-server: $schema="), "no $schema line");
  const p = await loadProfile(await writeAndReturn(`${dir}/y.yaml`, io.out()), { env: {} });
  assertEquals(p.data.hosts[0]!.secret, { path: "/run/secrets/${not-a-var}" });
});

async function writeAndReturn(path: string, text: string): Promise<string> {
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test("main() init --from-env writes the migrated profile and prints the warnings", async () => {
  const path = `${await tempDir()}/mlflow-auth.yaml`;
  const io = fakeIo({
    env: {
      MLFLOW_SECRETS_AUTH_ENABLE: "vault",
      VAULT_ADDR: "https://vault.company.com",
      VAULT_TOKEN: "hvs.init-canary-1",
      MLFLOW_VAULT_SECRET_PATH: "secret/mlflow",
      MLFLOW_TRACKING_URI: "https://mlflow.company.com",
    },
  });
  assertEquals(await main(["init", "-p", path, "--from-env"], io), 0, io.err());
  assertStringIncludes(io.err(), "warning: MLFLOW_SECRETS_ALLOWED_HOSTS is not set");
  const text = await Deno.readTextFile(path);
  assert(!text.includes("init-canary"), "token written");
  await schemaLineResolves(path);
  assertEquals(
    (await loadProfile(path, { env: {} })).data.hosts[0]!.match,
    "https://mlflow.company.com",
  );
});

Deno.test("main() init rejects an unknown provider kind with exit 2", async () => {
  const io = fakeIo();
  assertEquals(await main(["init", "--provider", "keychain"], io), 2);
  assertStringIncludes(io.err(), "Allowed choices are env, file, vault");
});
