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
 * and point IMDS at a closed loopback port (`azureEnv`); children get an explicit
 * environment. No test ever reaches 169.254.169.254.
 */

import type { KeyVaultSecret, SecretClient } from "../../deps/azure_keyvault_secrets.ts";
import {
  type AzureKeyVaultProviderOptions,
  createAzureKeyVaultProvider,
} from "../../providers/azure_key_vault/mod.ts";
import type {
  ProviderContext,
  SecretProvider,
  SecretRef,
  SecretValue,
} from "../../providers/types.ts";
import { parseProfile } from "../../mod.ts";
import { ProfileError, SecretResolutionError } from "../../core/errors.ts";
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
import { type RecordingContext, recordingContext } from "./_context.ts";
import { runProviderContract } from "./_contract.ts";
import { peerEnv } from "../_peers/_process.ts";

const once = (): { signal: AbortSignal } => ({ signal: new AbortController().signal });

/** The reference most tests read. */
const TOKEN_REF: SecretRef = { name: "mlflow-token" };

/** Resolves `ref` once and returns its value. */
async function read(provider: SecretProvider, ref: SecretRef = TOKEN_REF): Promise<SecretValue> {
  return (await provider.resolve(ref, once())).value;
}

/** Resolves `ref` once, expecting it to fail with a {@linkcode SecretResolutionError}. */
function failure(
  provider: SecretProvider,
  ref: SecretRef = TOKEN_REF,
): Promise<SecretResolutionError> {
  return assertRejects(() => provider.resolve(ref, once()), SecretResolutionError);
}

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
 * Sets only the given Azure variables (IMDS defaults to a closed loopback port) until the
 * returned handle is disposed, which restores the environment.
 */
function azureEnv(vars: Readonly<Record<string, string>>): Disposable {
  const saved = new Map(AZURE_VARIABLES.map((k) => [k, Deno.env.get(k)]));
  for (const k of AZURE_VARIABLES) Deno.env.delete(k);
  const all = { AZURE_POD_IDENTITY_AUTHORITY_HOST: closedLoopback("http"), ...vars };
  for (const [k, v] of Object.entries(all)) Deno.env.set(k, v);
  return {
    [Symbol.dispose]() {
      for (const [k, v] of saved) {
        if (v === undefined) Deno.env.delete(k);
        else Deno.env.set(k, v);
      }
    },
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

/** A provider named "azure-ml" for the double, with {@linkcode options} and `extra`. */
function providerFor(
  d: KeyVaultDouble,
  extra: Partial<AzureKeyVaultProviderOptions>,
  ctx: ProviderContext = recordingContext(),
): SecretProvider {
  return createAzureKeyVaultProvider("azure-ml", options(d, extra), ctx);
}

/** The real SecretClient, with a token allowed everything, for seeding. */
async function seeder(d: KeyVaultDouble): Promise<SecretClient> {
  const { SecretClient } = await import("../../deps/azure_keyvault_secrets.ts");
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

/** What {@linkcode clientSecretSetup} makes. Disposing it closes the double, restores the env. */
interface ClientSecretSetup extends AsyncDisposable {
  readonly d: KeyVaultDouble;
  readonly seed: SecretClient;
  readonly ctx: RecordingContext;
  readonly provider: SecretProvider;
  readonly credential: NonNullable<AzureKeyVaultProviderOptions["credential"]>;
  readonly clientSecret: string;
}

/**
 * Clears the Azure variables (`azureEnv({})`), then starts a double with an app allowed "get",
 * and a provider reading with that app's client secret.
 */
async function clientSecretSetup(): Promise<ClientSecretSetup> {
  await using stack = new AsyncDisposableStack();
  stack.use(azureEnv({}));
  const d = stack.use(await startKeyVaultDouble());
  const clientSecret = `client-secret-${crypto.randomUUID()}`;
  d.grant(d.addApp(d.tenantId, READER, clientSecret), ["get"]);
  const seed = await seeder(d);
  const ctx = recordingContext({ AZURE_READER_SECRET: clientSecret });
  const credential = {
    type: "client_secret" as const,
    tenant_id: d.tenantId,
    client_id: READER,
    client_secret_env: "AZURE_READER_SECRET",
    authority_host: d.authorityHost,
  };
  const provider = providerFor(d, { credential }, ctx);
  const owned = stack.move();
  return {
    d,
    seed,
    ctx,
    provider,
    credential,
    clientSecret,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

/** What the provider needs, and what the README documents. */
const CHILD_PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-env", "--allow-read", "--allow-sys"];

/** Runs `_azure_child.ts` with exactly this environment (plus PATH, HOME, DENO_DIR). */
async function inChild(
  input: { options: AzureKeyVaultProviderOptions; ref: Record<string, unknown> },
  env: Readonly<Record<string, string>>,
  permissions: readonly string[] = CHILD_PERMISSIONS,
): Promise<ChildOutcome> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissions,
      new URL("./_azure_child.ts", import.meta.url).pathname,
      JSON.stringify(input),
    ],
    cwd: new URL("../../", import.meta.url).pathname,
    clearEnv: true,
    env: peerEnv({ NO_COLOR: "1", ...env }),
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

/** The error of a child's outcome that must be a failure. */
function childError(outcome: ChildOutcome): Extract<ChildOutcome, { ok: false }>["error"] {
  assert(!outcome.ok, "expected a failure");
  return outcome.error;
}

Deno.test("createAzureKeyVaultProvider() passes the provider contract suite", async (t) => {
  await using s = await clientSecretSetup();
  const canary = `canary-${crypto.randomUUID()}`;
  await s.seed.setSecret("mlflow-auth", JSON.stringify({ token: canary, user: "svc" }));
  s.d.addApp(s.d.tenantId, "app-without-get", "other-app-secret");
  s.d.hang("slow-secret");
  const denied = providerFor(
    s.d,
    { credential: { ...s.credential, client_id: "app-without-get", client_secret_env: "OTHER" } },
    recordingContext({ OTHER: "other-app-secret" }),
  );
  await runProviderContract(t, {
    provider: s.provider,
    existing: { ref: { name: "mlflow-auth" }, value: { token: canary, user: "svc" } },
    missing: { name: "no-such-secret" },
    denied: { ref: { name: "mlflow-auth" }, provider: denied },
    hanging: { ref: { name: "slow-secret" } },
    canary,
  });
  assertNoCanary(s.ctx.lines, canary);
});

Deno.test("createAzureKeyVaultProvider() reads the latest version, or the pinned one", async () => {
  await using s = await clientSecretSetup();
  const v1 = versionOf(await s.seed.setSecret("mlflow-token", "token-one"));
  const v2 = versionOf(await s.seed.setSecret("mlflow-token", "token-two"));
  const latest = await s.provider.resolve({ name: "mlflow-token" }, once());
  assertEquals(latest, { value: "token-two", version: v2 });
  const pinned = await s.provider.resolve({ name: "mlflow-token", version: v1 }, once());
  assertEquals(pinned, { value: "token-one", version: v1 });
});

Deno.test("createAzureKeyVaultProvider() reports the secret's expires attribute as its expiry", async () => {
  await using s = await clientSecretSetup();
  const expiresOn = new Date("2031-02-03T04:05:06Z");
  const v1 = versionOf(await s.seed.setSecret("expiring", "short-lived", { expiresOn }));
  assertEquals(await s.provider.resolve({ name: "expiring" }, once()), {
    value: "short-lived",
    version: v1,
    expiresAt: expiresOn.getTime(),
  });
});

Deno.test("createAzureKeyVaultProvider() turns a JSON object value into an object, and nothing else", async () => {
  await using s = await clientSecretSetup();
  await s.seed.setSecret("as-object", '{"username":"svc","password":"p@ss:word"}');
  await s.seed.setSecret("as-array", '["a","b"]');
  await s.seed.setSecret("as-text", "plain-token");
  assertEquals(await read(s.provider, { name: "as-object" }), {
    username: "svc",
    password: "p@ss:word",
  });
  assertEquals(await read(s.provider, { name: "as-array" }), '["a","b"]');
  assertEquals(await read(s.provider, { name: "as-text" }), "plain-token");
});

Deno.test("createAzureKeyVaultProvider() picks up a rotated secret on the next read", async () => {
  await using s = await clientSecretSetup();
  await s.seed.setSecret("mlflow-token", "before-rotation");
  assertEquals(await read(s.provider), "before-rotation");
  const v2 = versionOf(await s.seed.setSecret("mlflow-token", "after-rotation"));
  assertEquals(await s.provider.resolve({ name: "mlflow-token" }, once()), {
    value: "after-rotation",
    version: v2,
  });
});

Deno.test("createAzureKeyVaultProvider() maps a disabled secret to a non-transient 403 that says so", async () => {
  await using s = await clientSecretSetup();
  const v1 = versionOf(await s.seed.setSecret("mlflow-token", "old-enabled"));
  const v2 = versionOf(await s.seed.setSecret("mlflow-token", "new-disabled"));
  await s.seed.updateSecretProperties("mlflow-token", v2, { enabled: false });
  const err = await failure(s.provider);
  assertEquals([err.status, err.transient], [403, false]);
  assertStringIncludes(err.message, 'secret "mlflow-token" is disabled');
  assertStringIncludes(err.message, s.d.vaultUrl);
  assertNoCanary(err, "new-disabled");
  assertEquals(await read(s.provider, { name: "mlflow-token", version: v1 }), "old-enabled");
});

Deno.test("createAzureKeyVaultProvider() maps a missing secret or version to a non-transient 404", async () => {
  await using s = await clientSecretSetup();
  await s.seed.setSecret("mlflow-token", "value-one");
  const missing = await failure(s.provider, { name: "not-there" });
  assertEquals([missing.status, missing.transient, missing.provider], [404, false, "azure-ml"]);
  assertStringIncludes(missing.message, `${s.d.vaultUrl}/secrets/not-there`);
  assertStringIncludes(missing.message, "SecretNotFound");
  const version = "0123456789abcdef0123456789abcdef";
  const noVersion = await failure(s.provider, { name: "mlflow-token", version });
  assertEquals([noVersion.status, noVersion.transient], [404, false]);
  assertStringIncludes(noVersion.message, `version "${version}" of secret "mlflow-token"`);
});

Deno.test("createAzureKeyVaultProvider() maps a denied identity to a 403 naming vault, secret and credential type", async () => {
  await using s = await clientSecretSetup();
  await s.seed.setSecret("mlflow-token", "not-for-you");
  s.d.addApp(s.d.tenantId, "no-access-app", "no-access-secret");
  const ctx = recordingContext({ NO_ACCESS: "no-access-secret" });
  const provider = providerFor(
    s.d,
    { credential: { ...s.credential, client_id: "no-access-app", client_secret_env: "NO_ACCESS" } },
    ctx,
  );
  const err = await failure(provider);
  assertEquals([err.status, err.transient], [403, false]);
  assertStringIncludes(err.message, `${s.d.vaultUrl}/secrets/mlflow-token`);
  assertStringIncludes(err.message, 'credential type "client_secret"');
  assertStringIncludes(err.message, "does not have secrets get permission");
  for (const token of s.d.issuedTokens) assertNoCanary(err, token);
  assertNoCanary(err, "no-access-secret");
  assertNoCanary(ctx.lines, "no-access-secret");
});

Deno.test("createAzureKeyVaultProvider() gets a token with a client secret from a local Entra authority, and masks both", async () => {
  await using s = await clientSecretSetup();
  const { d, ctx, clientSecret } = s;
  await s.seed.setSecret("mlflow-token", "via-client-secret");
  assertEquals(await read(s.provider), "via-client-secret");
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
});

/** A provider reading with the setup's app, its client secret taken from `file`. */
function secretFileProvider(s: ClientSecretSetup, file: string): SecretProvider {
  const { client_secret_env: _, ...rest } = s.credential;
  return providerFor(s.d, { credential: { ...rest, client_secret_file: file } });
}

Deno.test("createAzureKeyVaultProvider() reads the client secret from a file", async () => {
  await using s = await clientSecretSetup();
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, `${s.clientSecret}\n`);
    await s.seed.setSecret("mlflow-token", "via-secret-file");
    assertEquals(await read(secretFileProvider(s, file)), "via-secret-file");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("createAzureKeyVaultProvider() reads a rotated client secret file again after a 401", async () => {
  await using s = await clientSecretSetup();
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "an-expired-client-secret\n");
    await s.seed.setSecret("mlflow-token", "after-secret-rotation");
    const provider = secretFileProvider(s, file);
    const err = await failure(provider);
    assertEquals([err.status, err.transient], [401, false]);
    await Deno.writeTextFile(file, `${s.clientSecret}\n`);
    assertEquals(await read(provider), "after-secret-rotation");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("createAzureKeyVaultProvider() maps a rejected client secret to a non-transient 401 without the secret", async () => {
  await using s = await clientSecretSetup();
  const wrong = `wrong-secret-${crypto.randomUUID()}`;
  const ctx = recordingContext({ AZURE_READER_SECRET: wrong });
  const err = await failure(providerFor(s.d, { credential: s.credential }, ctx));
  assertEquals([err.status, err.transient], [401, false]);
  assertStringIncludes(err.message, 'credential type "client_secret" could not get a token');
  assertStringIncludes(err.message, `${s.d.vaultUrl}/secrets/mlflow-token`);
  assertStringIncludes(err.message, "AADSTS7000215");
  assertNoCanary(err, wrong);
  assertNoCanary(ctx.lines, wrong);
});

Deno.test("createAzureKeyVaultProvider() needs additionally_allowed_tenants when the vault is in another tenant", async () => {
  await using d = await startKeyVaultDouble({ tenantId: "vault-tenant" });
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
  using _env = azureEnv({});
  const strict = providerFor(d, { credential }, recordingContext({ SECRET: "app-secret-value" }));
  const err = await failure(strict);
  assertEquals([err.status, err.transient], [401, false]);
  assertStringIncludes(err.message, "additionally_allowed_tenants");
  const allowed = providerFor(
    d,
    { credential: { ...credential, additionally_allowed_tenants: ["vault-tenant"] } },
    recordingContext({ SECRET: "app-secret-value" }),
  );
  assertEquals(await read(allowed), "cross-tenant");
});

Deno.test("createAzureKeyVaultProvider() classifies throttling and 5xx as transient, without SDK retries", async () => {
  await using s = await clientSecretSetup();
  await s.seed.setSecret("mlflow-token", "after-the-storm");
  await read(s.provider);
  for (const status of [429, 500, 503]) {
    s.d.failNext(1, { status, retryAfterSeconds: 0 });
    const before = s.d.requests.length;
    const err = await failure(s.provider);
    assertEquals([err.status, err.transient], [status, true]);
    assertEquals(s.d.requests.length - before, 1, "the SDK must not retry by itself");
  }
  assertEquals(await read(s.provider), "after-the-storm");
});

Deno.test("createAzureKeyVaultProvider() classifies a throttled or failing token endpoint as transient", async () => {
  await using s = await clientSecretSetup();
  const { d } = s;
  for (const status of [429, 503]) {
    const provider = providerFor(d, { credential: s.credential }, s.ctx);
    d.failNextTokens(1, status);
    const posts = (): number =>
      d.requests.filter((r) => r.listener === "authority" && r.method === "POST").length;
    const before = posts();
    const err = await failure(provider);
    assertEquals([err.status, err.transient], [status, true]);
    assertStringIncludes(err.message, `its token endpoint answered ${status}`);
    // MSAL then holds requests back (Retry-After, else 60 s) without asking the endpoint.
    const held = await failure(provider);
    assertEquals([held.status, held.transient], [429, true]);
    assertStringIncludes(held.message, "MSAL holds requests back");
    assertEquals(posts() - before, 1);
  }
});

Deno.test("createAzureKeyVaultProvider() classifies an unreachable token endpoint as transient", async () => {
  await using s = await clientSecretSetup();
  const provider = providerFor(
    s.d,
    { credential: { ...s.credential, authority_host: closedLoopback("https") } },
    recordingContext({ AZURE_READER_SECRET: s.clientSecret }),
  );
  const err = await failure(provider);
  assertEquals([err.status, err.transient], [undefined, true]);
  assertStringIncludes(err.message, "its token endpoint could not be reached");
  assertNoCanary(err, s.clientSecret);
});

Deno.test("createAzureKeyVaultProvider() classifies an unreachable vault as transient", async () => {
  await using s = await clientSecretSetup();
  const provider = providerFor(
    s.d,
    { credential: s.credential, vault_url: closedLoopback("https") },
    recordingContext({ AZURE_READER_SECRET: "unused" }),
  );
  const err = await failure(provider);
  assertEquals([err.status, err.transient], [undefined, true]);
  assertStringIncludes(err.message, "could not be reached");
});

Deno.test("createAzureKeyVaultProvider() refuses a vault certificate from an untrusted CA", async () => {
  await using s = await clientSecretSetup();
  await s.seed.setSecret("mlflow-token", "over-untrusted-tls");
  const provider = providerFor(
    s.d,
    { credential: s.credential, tls: {} },
    recordingContext({ AZURE_READER_SECRET: s.clientSecret }),
  );
  const err = await failure(provider);
  assertEquals(err.transient, false);
  assertStringIncludes(err.message, "not trusted");
  assertStringIncludes(err.message, "NODE_EXTRA_CA_CERTS");
  assertEquals(s.d.issuedTokens.length, 0);
});

Deno.test("createAzureKeyVaultProvider() verifies the challenge resource unless told not to", async () => {
  await using s = await clientSecretSetup();
  await s.seed.setSecret("mlflow-token", "never-sent");
  const provider = providerFor(
    s.d,
    { credential: s.credential, disable_challenge_resource_verification: false },
    recordingContext({ AZURE_READER_SECRET: s.clientSecret }),
  );
  const err = await failure(provider);
  assertEquals([err.status, err.transient], [undefined, false]);
  assertStringIncludes(err.message, "disable_challenge_resource_verification");
  assertEquals(s.d.issuedTokens.length, 0, "no token may be requested for a foreign vault");
});

Deno.test("createAzureKeyVaultProvider() gets a token for a user-assigned managed identity through IMDS", async () => {
  await using d = await startKeyVaultDouble();
  d.grant(d.addManagedIdentity("user-assigned-1"), ["get"]);
  await (await seeder(d)).setSecret("mlflow-token", "via-user-assigned");
  const outcome = await inChild({
    options: options(d, {
      credential: { type: "managed_identity", client_id: "user-assigned-1" },
    }),
    ref: TOKEN_REF,
  }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost });
  assert(outcome.ok, JSON.stringify(outcome));
  assertEquals(outcome.value, "via-user-assigned");
  assertEquals(
    d.requests.filter((r) => r.listener === "identity").map((r) => [r.path, r.status]),
    [["/metadata/identity/oauth2/token/", 200]],
  );
  assertEquals(d.requests.at(-1)?.principal, "mi:user-assigned-1");
  for (const token of d.issuedTokens) assertNoCanary(outcome.logs, token);
});

Deno.test("createAzureKeyVaultProvider() maps a managed identity the endpoint does not know to a non-transient 401", async () => {
  await using d = await startKeyVaultDouble();
  const error = childError(
    await inChild({
      options: options(d, { credential: { type: "managed_identity", client_id: "unknown-id" } }),
      ref: TOKEN_REF,
    }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost }),
  );
  assertEquals([error.status, error.transient], [401, false]);
  assertStringIncludes(error.message, 'credential type "managed_identity"');
  assertStringIncludes(error.message, "Identity not found");
});

Deno.test("createAzureKeyVaultProvider() gets a token from DefaultAzureCredential through the App Service identity endpoint", async () => {
  await using d = await startKeyVaultDouble();
  d.grant(d.addManagedIdentity(), ["get"]);
  await (await seeder(d)).setSecret("mlflow-token", "via-default-chain");
  const outcome = await inChild(
    { options: options(d), ref: TOKEN_REF },
    { IDENTITY_ENDPOINT: d.identityEndpoint, IDENTITY_HEADER: d.identityHeader },
  );
  assert(outcome.ok, JSON.stringify(outcome));
  assertEquals(outcome.value, "via-default-chain");
  assertEquals(
    d.requests.filter((r) => r.listener === "identity").map((r) => [r.path, r.status]),
    [["/msi/token", 200]],
  );
  assertEquals(d.requests.at(-1)?.principal, "mi:system");
});

Deno.test("createAzureKeyVaultProvider() lists the reasons of every credential in the default chain", async () => {
  await using d = await startKeyVaultDouble();
  const error = childError(
    await inChild(
      { options: options(d), ref: TOKEN_REF },
      // IMDS on a closed loopback port: the chain's managed identity fails at once, locally.
      { AZURE_POD_IDENTITY_AUTHORITY_HOST: closedLoopback("http") },
      [...CHILD_PERMISSIONS, "--allow-run=az,azd,pwsh"],
    ),
  );
  assertEquals([error.status, error.transient], [401, false]);
  assertStringIncludes(error.message, `${d.vaultUrl}/secrets/mlflow-token`);
  assertStringIncludes(error.message, 'credential type "default" could not get a token');
  for (const name of ["EnvironmentCredential", "ManagedIdentityCredential", "Azure CLI"]) {
    assertStringIncludes(error.message, name);
  }
});

Deno.test("createAzureKeyVaultProvider() gets a token with workload identity from a federated token file", async () => {
  await using d = await startKeyVaultDouble();
  const tokenFile = await Deno.makeTempFile();
  try {
    const assertion = `eyJhbGciOiJSUzI1NiJ9.${
      btoa(JSON.stringify({ sub: "system:serviceaccount:ml:trainer" }))
    }.c2ln`;
    await Deno.writeTextFile(tokenFile, assertion);
    d.grant(d.addFederatedApp(d.tenantId, "workload-app", assertion), ["get"]);
    await (await seeder(d)).setSecret("mlflow-token", "via-workload-identity");
    const ctx = recordingContext();
    {
      using _env = azureEnv({ AZURE_FEDERATED_TOKEN_FILE: tokenFile });
      const provider = providerFor(d, {
        credential: {
          type: "workload_identity",
          tenant_id: d.tenantId,
          client_id: "workload-app",
          authority_host: d.authorityHost,
        },
      }, ctx);
      assertEquals(await read(provider), "via-workload-identity");
    }
    assertEquals(d.requests.at(-1)?.principal, "app:workload-app");
    assertNoCanary(ctx.lines, assertion);
  } finally {
    await Deno.remove(tokenFile);
  }
});

Deno.test("createAzureKeyVaultProvider() maps a missing Azure CLI to a non-transient 401", async () => {
  await using d = await startKeyVaultDouble();
  const emptyPath = await Deno.makeTempDir();
  try {
    const error = childError(
      await inChild(
        { options: options(d, { credential: { type: "azure_cli" } }), ref: TOKEN_REF },
        { PATH: emptyPath },
        [...CHILD_PERMISSIONS, "--allow-run=az"],
      ),
    );
    assertEquals([error.status, error.transient], [401, false]);
    assertStringIncludes(error.message, 'credential type "azure_cli"');
    assertStringIncludes(error.message, "Azure CLI could not be found");
  } finally {
    await Deno.remove(emptyPath);
  }
});

Deno.test("createAzureKeyVaultProvider() names a missing Deno permission", async () => {
  await using d = await startKeyVaultDouble();
  d.grant(d.addManagedIdentity(), ["get"]);
  const error = childError(
    await inChild(
      { options: options(d, { credential: { type: "managed_identity" } }), ref: TOKEN_REF },
      { AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost },
      ["--allow-net=127.0.0.1", "--allow-env", "--allow-read"],
    ),
  );
  assertEquals(error.transient, false);
  assertStringIncludes(error.message, "a Deno permission is missing");
  assertStringIncludes(error.message, "--allow-sys");
});

Deno.test("createAzureKeyVaultProvider() trusts a private CA through NODE_EXTRA_CA_CERTS", async () => {
  await using d = await startKeyVaultDouble();
  d.grant(d.addManagedIdentity(), ["get"]);
  await (await seeder(d)).setSecret("mlflow-token", "over-node-extra-ca-certs");
  const { tls: _, ...withoutCa } = options(d, { credential: { type: "managed_identity" } });
  const outcome = await inChild({ options: withoutCa, ref: TOKEN_REF }, {
    NODE_EXTRA_CA_CERTS: d.caCertPath,
    AZURE_POD_IDENTITY_AUTHORITY_HOST: d.imdsHost,
  });
  assert(outcome.ok, JSON.stringify(outcome));
  assertEquals(outcome.value, "over-node-extra-ca-certs");
});

Deno.test("createAzureKeyVaultProvider() reports credential settings that cannot work", async () => {
  using _env = azureEnv({});
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
    const provider = createAzureKeyVaultProvider("azure-ml", opts, recordingContext());
    const err = await failure(provider);
    assertStringIncludes(err.message, expected);
    assertEquals(err.transient, false);
  }
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
    recordingContext(),
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
