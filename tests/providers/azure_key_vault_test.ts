/**
 * The Azure Key Vault provider against a local Key Vault, Entra ID authority and managed identity
 * endpoint (tests/_peers/key_vault_double.ts: lowkey-vault is not served by this machine's Maven
 * Central), driven through the real `@azure/keyvault-secrets` and `@azure/identity` clients.
 *
 * In this process, the provider authenticates with client-secret credentials against the local
 * authority. Managed identity and DefaultAzureCredential run in a fresh child process per case
 * (tests/providers/_azure_child.ts): MSAL keeps the managed identity endpoint, read from the
 * environment on first use, and its tokens in static state for the life of a process.
 *
 * `@azure/identity` reads the process environment itself: in-process tests clear its variables
 * and point IMDS at a closed loopback port (`withAzureEnv`); children get an explicit
 * environment. No test ever reaches 169.254.169.254.
 */

import type { KeyVaultSecret, SecretClient } from "@azure/keyvault-secrets";
import {
  type AzureKeyVaultProviderOptions,
  createAzureKeyVaultProvider,
} from "../../providers/azure_key_vault.ts";
import type { ProviderContext, SecretProvider } from "../../providers/types.ts";
import { parseProfile } from "../../config/profile.ts";
import { ProfileError, SecretResolutionError } from "../../runtime/errors.ts";
import { createLogger } from "../../runtime/log.ts";
import { Redactor } from "../../runtime/redact.ts";
import {
  assert,
  assertEquals,
  assertNoCanary,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../_assert.ts";
import { type KeyVaultDouble, startKeyVaultDouble } from "../_peers/key_vault_double.ts";
import type { ChildOutcome } from "./_azure_child.ts";
import { runProviderContract } from "./_contract.ts";

const once = (): { signal: AbortSignal } => ({ signal: new AbortController().signal });

/** Variables `@azure/identity` reads; cleared around every test. */
const AZURE_VARIABLES = [
  "AZURE_CLIENT_ID",
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_CERTIFICATE_PATH",
  "AZURE_CLIENT_CERTIFICATE_PASSWORD",
  "AZURE_USERNAME",
  "AZURE_PASSWORD",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_AUTHORITY_HOST",
  "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
  "AZURE_TOKEN_CREDENTIALS",
  "AZURE_REGIONAL_AUTHORITY_NAME",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "IDENTITY_SERVER_THUMBPRINT",
  "IMDS_ENDPOINT",
  "MSI_ENDPOINT",
  "MSI_SECRET",
  "AZURE_POD_IDENTITY_AUTHORITY_HOST",
];

/** A loopback URL nothing listens on. */
function closedLoopback(scheme: "http" | "https"): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return `${scheme}://127.0.0.1:${port}`;
}

/**
 * Runs `fn` with only the given Azure variables set (IMDS defaults to a closed loopback port),
 * restoring the environment afterwards.
 */
async function withAzureEnv<T>(
  vars: Readonly<Record<string, string>>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = new Map(AZURE_VARIABLES.map((k) => [k, Deno.env.get(k)]));
  for (const k of AZURE_VARIABLES) Deno.env.delete(k);
  const all = { AZURE_POD_IDENTITY_AUTHORITY_HOST: closedLoopback("http"), ...vars };
  for (const [k, v] of Object.entries(all)) Deno.env.set(k, v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

/** A context with an explicit environment, a redactor and a log that keeps every line. */
function context(env: Readonly<Record<string, string>> = {}): ProviderContext & {
  readonly lines: string[];
} {
  const redactor = new Redactor();
  const lines: string[] = [];
  return {
    env: (name) => env[name],
    fetch,
    now: Date.now,
    logger: createLogger({ redactor, level: "debug", write: (l) => lines.push(l) }),
    redactor,
    lines,
  };
}

/** Provider options for the double: its URL, its CA, and no challenge resource check. */
function options(
  d: KeyVaultDouble,
  extra: Partial<AzureKeyVaultProviderOptions> = {},
): AzureKeyVaultProviderOptions {
  return {
    vault_url: d.vaultUrl,
    disable_challenge_resource_verification: true,
    tls: { ca_cert: d.caCertPath },
    ...extra,
  };
}

/** The real SecretClient, with a token allowed everything, for seeding. */
async function seeder(d: KeyVaultDouble): Promise<SecretClient> {
  const { SecretClient } = await import("@azure/keyvault-secrets");
  const { rootCertificates } = await import("node:tls");
  const credential = {
    getToken: () =>
      Promise.resolve({ token: d.adminToken(), expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
  return new SecretClient(d.vaultUrl, credential, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: [...rootCertificates, d.caCertPem] },
  });
}

function versionOf(s: KeyVaultSecret): string {
  const v = s.properties.version;
  assert(v !== undefined && v !== "", "no version");
  return v;
}

/** The app the in-process tests read with, and its credential block. */
const READER = "reader-app";

/** A double with an app allowed "get", and a provider reading with that app's client secret. */
async function clientSecretSetup(): Promise<{
  d: KeyVaultDouble;
  seed: SecretClient;
  ctx: ReturnType<typeof context>;
  provider: SecretProvider;
  credential: NonNullable<AzureKeyVaultProviderOptions["credential"]>;
  clientSecret: string;
}> {
  const d = await startKeyVaultDouble();
  const clientSecret = `client-secret-${crypto.randomUUID()}`;
  d.grant(d.addApp(d.tenantId, READER, clientSecret), ["get"]);
  const seed = await seeder(d);
  const ctx = context({ AZURE_READER_SECRET: clientSecret });
  const credential = {
    type: "client_secret" as const,
    tenant_id: d.tenantId,
    client_id: READER,
    client_secret_env: "AZURE_READER_SECRET",
    authority_host: d.authorityHost,
  };
  const provider = createAzureKeyVaultProvider("azure-ml", options(d, { credential }), ctx);
  return { d, seed, ctx, provider, credential, clientSecret };
}

/** What the provider needs, and what the README documents. */
const CHILD_PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-env", "--allow-read", "--allow-sys"];

/** Runs `_azure_child.ts` with exactly this environment (plus PATH, HOME, DENO_DIR). */
async function inChild(
  input: { options: AzureKeyVaultProviderOptions; ref: Record<string, unknown> },
  env: Readonly<Record<string, string>>,
  permissions: readonly string[] = CHILD_PERMISSIONS,
): Promise<ChildOutcome> {
  const keep = ["PATH", "HOME", "DENO_DIR"].flatMap((k) => {
    const v = Deno.env.get(k);
    return v === undefined ? [] : [[k, v] as const];
  });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissions,
      new URL("./_azure_child.ts", import.meta.url).pathname,
      JSON.stringify(input),
    ],
    cwd: new URL("../../", import.meta.url).pathname,
    clearEnv: true,
    env: { ...Object.fromEntries(keep), NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  assert(
    out.success && stdout !== "",
    `child failed: ${new TextDecoder().decode(out.stderr)}`,
  );
  return JSON.parse(stdout.split("\n").at(-1)!) as ChildOutcome;
}

Deno.test("createAzureKeyVaultProvider() passes the provider contract suite", async (t) => {
  const { d, seed, ctx, provider, credential } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      const canary = `canary-${crypto.randomUUID()}`;
      await seed.setSecret("mlflow-auth", JSON.stringify({ token: canary, user: "svc" }));
      d.addApp(d.tenantId, "app-without-get", "other-app-secret");
      d.hang("slow-secret");
      const denied = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, {
          credential: { ...credential, client_id: "app-without-get", client_secret_env: "OTHER" },
        }),
        context({ OTHER: "other-app-secret" }),
      );
      await runProviderContract(t, {
        provider,
        existing: { ref: { name: "mlflow-auth" }, value: { token: canary, user: "svc" } },
        missing: { name: "no-such-secret" },
        denied: { ref: { name: "mlflow-auth" }, provider: denied },
        hanging: { ref: { name: "slow-secret" } },
        canary,
      });
      assertNoCanary(ctx.lines, canary);
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() reads the latest version, or the pinned one", async () => {
  const { d, seed, provider } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      const v1 = versionOf(await seed.setSecret("mlflow-token", "token-one"));
      const v2 = versionOf(await seed.setSecret("mlflow-token", "token-two"));
      const latest = await provider.resolve({ name: "mlflow-token" }, once());
      assertEquals(latest, { value: "token-two", version: v2 });
      const pinned = await provider.resolve({ name: "mlflow-token", version: v1 }, once());
      assertEquals(pinned, { value: "token-one", version: v1 });
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() turns a JSON object value into an object, and nothing else", async () => {
  const { d, seed, provider } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      await seed.setSecret("as-object", '{"username":"svc","password":"p@ss:word"}');
      await seed.setSecret("as-array", '["a","b"]');
      await seed.setSecret("as-text", "plain-token");
      assertEquals((await provider.resolve({ name: "as-object" }, once())).value, {
        username: "svc",
        password: "p@ss:word",
      });
      assertEquals((await provider.resolve({ name: "as-array" }, once())).value, '["a","b"]');
      assertEquals((await provider.resolve({ name: "as-text" }, once())).value, "plain-token");
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() picks up a rotated secret on the next read", async () => {
  const { d, seed, provider } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      await seed.setSecret("mlflow-token", "before-rotation");
      assertEquals(
        (await provider.resolve({ name: "mlflow-token" }, once())).value,
        "before-rotation",
      );
      const v2 = versionOf(await seed.setSecret("mlflow-token", "after-rotation"));
      assertEquals(await provider.resolve({ name: "mlflow-token" }, once()), {
        value: "after-rotation",
        version: v2,
      });
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() maps a disabled secret to a non-transient 403 that says so", async () => {
  const { d, seed, provider } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      const v1 = versionOf(await seed.setSecret("mlflow-token", "old-enabled"));
      const v2 = versionOf(await seed.setSecret("mlflow-token", "new-disabled"));
      await seed.updateSecretProperties("mlflow-token", v2, { enabled: false });
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [403, false]);
      assertStringIncludes(err.message, 'secret "mlflow-token" is disabled');
      assertStringIncludes(err.message, d.vaultUrl);
      assertNoCanary(err, "new-disabled");
      assertEquals(
        (await provider.resolve({ name: "mlflow-token", version: v1 }, once())).value,
        "old-enabled",
      );
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() maps a missing secret or version to a non-transient 404", async () => {
  const { d, seed, provider } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      await seed.setSecret("mlflow-token", "value-one");
      const missing = await assertRejects(
        () => provider.resolve({ name: "not-there" }, once()),
        SecretResolutionError,
      );
      assertEquals([missing.status, missing.transient, missing.provider], [404, false, "azure-ml"]);
      assertStringIncludes(missing.message, `${d.vaultUrl}/secrets/not-there`);
      assertStringIncludes(missing.message, "SecretNotFound");
      const version = "0123456789abcdef0123456789abcdef";
      const noVersion = await assertRejects(
        () => provider.resolve({ name: "mlflow-token", version }, once()),
        SecretResolutionError,
      );
      assertEquals([noVersion.status, noVersion.transient], [404, false]);
      assertStringIncludes(noVersion.message, `version "${version}" of secret "mlflow-token"`);
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() maps a denied identity to a 403 naming vault, secret and credential type", async () => {
  const { d, seed, credential } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      await seed.setSecret("mlflow-token", "not-for-you");
      d.addApp(d.tenantId, "no-access-app", "no-access-secret");
      const ctx = context({ NO_ACCESS: "no-access-secret" });
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, {
          credential: { ...credential, client_id: "no-access-app", client_secret_env: "NO_ACCESS" },
        }),
        ctx,
      );
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [403, false]);
      assertStringIncludes(err.message, `${d.vaultUrl}/secrets/mlflow-token`);
      assertStringIncludes(err.message, 'credential type "client_secret"');
      assertStringIncludes(err.message, "does not have secrets get permission");
      for (const token of d.issuedTokens) assertNoCanary(err, token);
      assertNoCanary(err, "no-access-secret");
      assertNoCanary(ctx.lines, "no-access-secret");
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() gets a token with a client secret from a local Entra authority, and masks both", async () => {
  const { d, seed, ctx, provider, clientSecret } = await clientSecretSetup();
  try {
    await seed.setSecret("mlflow-token", "via-client-secret");
    await withAzureEnv({}, async () => {
      assertEquals(
        (await provider.resolve({ name: "mlflow-token" }, once())).value,
        "via-client-secret",
      );
    });
    assertEquals(
      d.requests.filter((r) => r.listener === "authority").map((r) => [r.method, r.status]),
      [["GET", 200], ["POST", 200]],
    );
    assertEquals(d.requests.filter((r) => r.status === 200).at(-1)?.principal, `app:${READER}`);
    assertEquals(ctx.redactor.redact(`x ${clientSecret} y`), "x *** y");
    assertEquals(d.issuedTokens.length, 1);
    assertEquals(ctx.redactor.redact(d.issuedTokens[0]!), "***");
    assertNoCanary(ctx.lines, clientSecret);
    assertNoCanary(ctx.lines, d.issuedTokens[0]!);
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() reads the client secret from a file", async () => {
  const { d, seed, credential, clientSecret } = await clientSecretSetup();
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, `${clientSecret}\n`);
    await seed.setSecret("mlflow-token", "via-secret-file");
    await withAzureEnv({}, async () => {
      const { client_secret_env: _, ...rest } = credential;
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, { credential: { ...rest, client_secret_file: file } }),
        context(),
      );
      assertEquals(
        (await provider.resolve({ name: "mlflow-token" }, once())).value,
        "via-secret-file",
      );
    });
  } finally {
    await Deno.remove(file);
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() reads a rotated client secret file again after a 401", async () => {
  const { d, seed, credential, clientSecret } = await clientSecretSetup();
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "an-expired-client-secret\n");
    await seed.setSecret("mlflow-token", "after-secret-rotation");
    await withAzureEnv({}, async () => {
      const { client_secret_env: _, ...rest } = credential;
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, { credential: { ...rest, client_secret_file: file } }),
        context(),
      );
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [401, false]);
      await Deno.writeTextFile(file, `${clientSecret}\n`);
      assertEquals(
        (await provider.resolve({ name: "mlflow-token" }, once())).value,
        "after-secret-rotation",
      );
    });
  } finally {
    await Deno.remove(file);
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() maps a rejected client secret to a non-transient 401 without the secret", async () => {
  const { d, credential } = await clientSecretSetup();
  try {
    const wrong = `wrong-secret-${crypto.randomUUID()}`;
    const ctx = context({ AZURE_READER_SECRET: wrong });
    await withAzureEnv({}, async () => {
      const provider = createAzureKeyVaultProvider("azure-ml", options(d, { credential }), ctx);
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [401, false]);
      assertStringIncludes(err.message, 'credential type "client_secret" could not get a token');
      assertStringIncludes(err.message, `${d.vaultUrl}/secrets/mlflow-token`);
      assertStringIncludes(err.message, "AADSTS7000215");
      assertNoCanary(err, wrong);
      assertNoCanary(ctx.lines, wrong);
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() needs additionally_allowed_tenants when the vault is in another tenant", async () => {
  const d = await startKeyVaultDouble({ tenantId: "vault-tenant" });
  try {
    d.addApp("home-tenant", "app-1", "app-secret-value");
    d.grant(d.addApp("vault-tenant", "app-1", "app-secret-value"), ["get"]);
    await (await seeder(d)).setSecret("mlflow-token", "cross-tenant");
    const credential = {
      type: "client_secret" as const,
      tenant_id: "home-tenant",
      client_id: "app-1",
      client_secret_env: "SECRET",
      authority_host: d.authorityHost,
    };
    await withAzureEnv({}, async () => {
      const strict = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, { credential }),
        context({ SECRET: "app-secret-value" }),
      );
      const err = await assertRejects(
        () => strict.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [401, false]);
      assertStringIncludes(err.message, "additionally_allowed_tenants");
      const allowed = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, {
          credential: { ...credential, additionally_allowed_tenants: ["vault-tenant"] },
        }),
        context({ SECRET: "app-secret-value" }),
      );
      assertEquals(
        (await allowed.resolve({ name: "mlflow-token" }, once())).value,
        "cross-tenant",
      );
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() classifies throttling and 5xx as transient, without SDK retries", async () => {
  const { d, seed, provider } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      await seed.setSecret("mlflow-token", "after-the-storm");
      await provider.resolve({ name: "mlflow-token" }, once());
      for (const status of [429, 500, 503]) {
        d.failNext(1, { status, retryAfterSeconds: 0 });
        const before = d.requests.length;
        const err = await assertRejects(
          () => provider.resolve({ name: "mlflow-token" }, once()),
          SecretResolutionError,
        );
        assertEquals([err.status, err.transient], [status, true]);
        assertEquals(d.requests.length - before, 1, "the SDK must not retry by itself");
      }
      assertEquals(
        (await provider.resolve({ name: "mlflow-token" }, once())).value,
        "after-the-storm",
      );
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() classifies a throttled or failing token endpoint as transient", async () => {
  const { d, credential, ctx } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      for (const status of [429, 503]) {
        const provider = createAzureKeyVaultProvider("azure-ml", options(d, { credential }), ctx);
        d.failNextTokens(1, status);
        const posts = (): number =>
          d.requests.filter((r) => r.listener === "authority" && r.method === "POST").length;
        const before = posts();
        const err = await assertRejects(
          () => provider.resolve({ name: "mlflow-token" }, once()),
          SecretResolutionError,
        );
        assertEquals([err.status, err.transient], [status, true]);
        assertStringIncludes(err.message, `its token endpoint answered ${status}`);
        // MSAL then holds requests back (Retry-After, else 60 s) without asking the endpoint.
        const held = await assertRejects(
          () => provider.resolve({ name: "mlflow-token" }, once()),
          SecretResolutionError,
        );
        assertEquals([held.status, held.transient], [429, true]);
        assertStringIncludes(held.message, "MSAL holds requests back");
        assertEquals(posts() - before, 1);
      }
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() classifies an unreachable token endpoint as transient", async () => {
  const { d, credential, clientSecret } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, { credential: { ...credential, authority_host: closedLoopback("https") } }),
        context({ AZURE_READER_SECRET: clientSecret }),
      );
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [undefined, true]);
      assertStringIncludes(err.message, "its token endpoint could not be reached");
      assertNoCanary(err, clientSecret);
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() classifies an unreachable vault as transient", async () => {
  const { d, credential } = await clientSecretSetup();
  try {
    await withAzureEnv({}, async () => {
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        { ...options(d, { credential }), vault_url: closedLoopback("https") },
        context({ AZURE_READER_SECRET: "unused" }),
      );
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [undefined, true]);
      assertStringIncludes(err.message, "could not be reached");
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() refuses a vault certificate from an untrusted CA", async () => {
  const { d, seed, credential, clientSecret } = await clientSecretSetup();
  try {
    await seed.setSecret("mlflow-token", "over-untrusted-tls");
    await withAzureEnv({}, async () => {
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        { ...options(d, { credential }), tls: {} },
        context({ AZURE_READER_SECRET: clientSecret }),
      );
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals(err.transient, false);
      assertStringIncludes(err.message, "not trusted");
      assertStringIncludes(err.message, "NODE_EXTRA_CA_CERTS");
      assertEquals(d.issuedTokens.length, 0);
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() verifies the challenge resource unless told not to", async () => {
  const { d, seed, credential, clientSecret } = await clientSecretSetup();
  try {
    await seed.setSecret("mlflow-token", "never-sent");
    await withAzureEnv({}, async () => {
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, { credential, disable_challenge_resource_verification: false }),
        context({ AZURE_READER_SECRET: clientSecret }),
      );
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertEquals([err.status, err.transient], [undefined, false]);
      assertStringIncludes(err.message, "disable_challenge_resource_verification");
      assertEquals(d.issuedTokens.length, 0, "no token may be requested for a foreign vault");
    });
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() gets a token for a user-assigned managed identity through IMDS", async () => {
  const d = await startKeyVaultDouble();
  try {
    d.grant(d.addManagedIdentity("user-assigned-1"), ["get"]);
    await (await seeder(d)).setSecret("mlflow-token", "via-user-assigned");
    const outcome = await inChild({
      options: options(d, {
        credential: { type: "managed_identity", client_id: "user-assigned-1" },
      }),
      ref: { name: "mlflow-token" },
    }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost });
    assert(outcome.ok, JSON.stringify(outcome));
    assertEquals(outcome.value, "via-user-assigned");
    assertEquals(
      d.requests.filter((r) => r.listener === "identity").map((r) => [r.path, r.status]),
      [["/metadata/identity/oauth2/token/", 200]],
    );
    assertEquals(d.requests.at(-1)?.principal, "mi:user-assigned-1");
    for (const token of d.issuedTokens) assertNoCanary(outcome.logs, token);
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() maps a managed identity the endpoint does not know to a non-transient 401", async () => {
  const d = await startKeyVaultDouble();
  try {
    const outcome = await inChild({
      options: options(d, { credential: { type: "managed_identity", client_id: "unknown-id" } }),
      ref: { name: "mlflow-token" },
    }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost });
    assert(!outcome.ok, "expected a failure");
    assertEquals([outcome.error.status, outcome.error.transient], [401, false]);
    assertStringIncludes(outcome.error.message, 'credential type "managed_identity"');
    assertStringIncludes(outcome.error.message, "Identity not found");
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() gets a token from DefaultAzureCredential through the App Service identity endpoint", async () => {
  const d = await startKeyVaultDouble();
  try {
    d.grant(d.addManagedIdentity(), ["get"]);
    await (await seeder(d)).setSecret("mlflow-token", "via-default-chain");
    const outcome = await inChild(
      { options: options(d), ref: { name: "mlflow-token" } },
      { IDENTITY_ENDPOINT: d.identityEndpoint, IDENTITY_HEADER: d.identityHeader },
    );
    assert(outcome.ok, JSON.stringify(outcome));
    assertEquals(outcome.value, "via-default-chain");
    assertEquals(
      d.requests.filter((r) => r.listener === "identity").map((r) => [r.path, r.status]),
      [["/msi/token", 200]],
    );
    assertEquals(d.requests.at(-1)?.principal, "mi:system");
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() lists the reasons of every credential in the default chain", async () => {
  const d = await startKeyVaultDouble();
  try {
    const outcome = await inChild(
      { options: options(d), ref: { name: "mlflow-token" } },
      // IMDS on a closed loopback port: the chain's managed identity fails at once, locally.
      { AZURE_POD_IDENTITY_AUTHORITY_HOST: closedLoopback("http") },
      [...CHILD_PERMISSIONS, "--allow-run=az,azd,pwsh"],
    );
    assert(!outcome.ok, "expected a failure");
    assertEquals([outcome.error.status, outcome.error.transient], [401, false]);
    assertStringIncludes(outcome.error.message, `${d.vaultUrl}/secrets/mlflow-token`);
    assertStringIncludes(outcome.error.message, 'credential type "default" could not get a token');
    for (const name of ["EnvironmentCredential", "ManagedIdentityCredential", "Azure CLI"]) {
      assertStringIncludes(outcome.error.message, name);
    }
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() gets a token with workload identity from a federated token file", async () => {
  const d = await startKeyVaultDouble();
  const tokenFile = await Deno.makeTempFile();
  try {
    const assertion = `eyJhbGciOiJSUzI1NiJ9.${
      btoa(JSON.stringify({ sub: "system:serviceaccount:ml:trainer" }))
    }.c2ln`;
    await Deno.writeTextFile(tokenFile, assertion);
    d.grant(d.addFederatedApp(d.tenantId, "workload-app", assertion), ["get"]);
    await (await seeder(d)).setSecret("mlflow-token", "via-workload-identity");
    const ctx = context();
    await withAzureEnv({ AZURE_FEDERATED_TOKEN_FILE: tokenFile }, async () => {
      const provider = createAzureKeyVaultProvider(
        "azure-ml",
        options(d, {
          credential: {
            type: "workload_identity",
            tenant_id: d.tenantId,
            client_id: "workload-app",
            authority_host: d.authorityHost,
          },
        }),
        ctx,
      );
      assertEquals(
        (await provider.resolve({ name: "mlflow-token" }, once())).value,
        "via-workload-identity",
      );
    });
    assertEquals(d.requests.at(-1)?.principal, "app:workload-app");
    assertNoCanary(ctx.lines, assertion);
  } finally {
    await Deno.remove(tokenFile);
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() maps a missing Azure CLI to a non-transient 401", async () => {
  const d = await startKeyVaultDouble();
  const emptyPath = await Deno.makeTempDir();
  try {
    const outcome = await inChild(
      { options: options(d, { credential: { type: "azure_cli" } }), ref: { name: "mlflow-token" } },
      { PATH: emptyPath },
      [...CHILD_PERMISSIONS, "--allow-run=az"],
    );
    assert(!outcome.ok, "expected a failure");
    assertEquals([outcome.error.status, outcome.error.transient], [401, false]);
    assertStringIncludes(outcome.error.message, 'credential type "azure_cli"');
    assertStringIncludes(outcome.error.message, "Azure CLI could not be found");
  } finally {
    await Deno.remove(emptyPath);
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() names a missing Deno permission", async () => {
  const d = await startKeyVaultDouble();
  try {
    d.grant(d.addManagedIdentity(), ["get"]);
    const outcome = await inChild(
      {
        options: options(d, { credential: { type: "managed_identity" } }),
        ref: { name: "mlflow-token" },
      },
      { AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost },
      ["--allow-net=127.0.0.1", "--allow-env", "--allow-read"],
    );
    assert(!outcome.ok, "expected a failure");
    assertEquals(outcome.error.transient, false);
    assertStringIncludes(outcome.error.message, "a Deno permission is missing");
    assertStringIncludes(outcome.error.message, "--allow-sys");
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() trusts a private CA through NODE_EXTRA_CA_CERTS", async () => {
  const d = await startKeyVaultDouble();
  try {
    d.grant(d.addManagedIdentity(), ["get"]);
    await (await seeder(d)).setSecret("mlflow-token", "over-node-extra-ca-certs");
    const { tls: _, ...withoutCa } = options(d, { credential: { type: "managed_identity" } });
    const outcome = await inChild({ options: withoutCa, ref: { name: "mlflow-token" } }, {
      NODE_EXTRA_CA_CERTS: d.caCertPath,
      AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost,
    });
    assert(outcome.ok, JSON.stringify(outcome));
    assertEquals(outcome.value, "over-node-extra-ca-certs");
  } finally {
    await d.close();
  }
});

Deno.test("createAzureKeyVaultProvider() reports credential settings that cannot work", async () => {
  await withAzureEnv({}, async () => {
    const vault_url = "https://ml-secrets.vault.azure.net";
    const cases: [AzureKeyVaultProviderOptions, string][] = [
      [
        {
          vault_url,
          credential: { type: "client_secret", client_id: "a", client_secret_env: "S" },
        },
        '"client_secret" needs "tenant_id"',
      ],
      [
        { vault_url, credential: { type: "client_secret", tenant_id: "t", client_id: "a" } },
        'exactly one of "client_secret_env" and "client_secret_file"',
      ],
      [
        {
          vault_url,
          credential: {
            type: "client_secret",
            tenant_id: "t",
            client_id: "a",
            client_secret_env: "S",
          },
        },
        'the client secret variable "S" is not set',
      ],
      [
        { vault_url, credential: { type: "managed_identity", client_secret_env: "S" } },
        'does not use "client_secret_env"',
      ],
    ];
    for (const [opts, expected] of cases) {
      const provider = createAzureKeyVaultProvider("azure-ml", opts, context());
      const err = await assertRejects(
        () => provider.resolve({ name: "mlflow-token" }, once()),
        SecretResolutionError,
      );
      assertStringIncludes(err.message, expected);
      assertEquals(err.transient, false);
    }
  });
});

Deno.test("azureKeyVaultProvider.check() reports, with line and column, settings that cannot work", () => {
  const err = assertThrows(
    () =>
      parseProfile(
        `version: 1
providers:
  azure-ml:
    kind: azure-key-vault
    vault_url: https://user:pw@ml-secrets.vault.azure.net
    credential:
      type: managed_identity
      tenant_id: 11111111-1111-1111-1111-111111111111
      authority_host: http://login.example
  azure-app:
    kind: azure-key-vault
    vault_url: https://ml-secrets.vault.azure.net
    credential: { type: client_secret, client_id: app }
hosts:
  - match: https://mlflow.company.com
    provider: azure-ml
    secret: { name: mlflow-token }
    auth: bearer
`,
        { source: "azure.yaml", env: {} },
      ),
    ProfileError,
  );
  const found = err.issues
    .filter((i) => i.rule === "provider-config")
    .map((i) => [i.pointer, i.line]);
  assertEquals(found, [
    ["/providers/azure-ml/vault_url", 5],
    ["/providers/azure-ml/credential/tenant_id", 8],
    ["/providers/azure-ml/credential/authority_host", 9],
    ["/providers/azure-ml/credential/authority_host", 9],
    ["/providers/azure-app/credential", 13],
    ["/providers/azure-app/credential", 13],
  ]);
  assertStringIncludes(err.message, 'does not use "tenant_id"');
  assertStringIncludes(err.message, 'needs "tenant_id"');
});

Deno.test("createAzureKeyVaultProvider() describes a reference by its secret URL, version and field", () => {
  const provider = createAzureKeyVaultProvider(
    "azure-ml",
    { vault_url: "https://ml-secrets.vault.azure.net/" },
    context(),
  );
  assertEquals(
    provider.describe({ name: "mlflow-token" }),
    "https://ml-secrets.vault.azure.net/secrets/mlflow-token",
  );
  assertEquals(
    provider.describe({ name: "mlflow-token", version: "0123abcd", field: "token" }),
    "https://ml-secrets.vault.azure.net/secrets/mlflow-token/0123abcd#token",
  );
});
