/**
 * Holds the Key Vault double (tests/_peers/key_vault_double.ts) to a second client written by
 * others: the official Azure SDK for Python (`azure-keyvault-secrets`, `azure-identity`, from the
 * project's `.venv`). Latest and pinned versions, a JSON value, a disabled and a missing secret,
 * an access-policy denial, the challenge-based auth flow (including a challenge naming another
 * tenant), the token endpoint and both managed identity endpoints are read through the Python SDK
 * (tests/_peers/azure_sdk_check.py), and must agree with what the double serves on the wire and
 * with what the JavaScript SDK (`@azure/keyvault-secrets`, `@azure/identity`) reads.
 */

import type { KeyVaultSecret, SecretClient } from "../../deps/azure_keyvault_secrets.ts";
import { assert, assertEquals } from "../_assert.ts";
import { PYTHON } from "../_peers/mlflow.ts";
import { peerEnv } from "../_peers/_process.ts";
import { type KeyVaultDouble, startKeyVaultDouble } from "../_peers/key_vault_double.ts";

const CHECK = new URL("../_peers/azure_sdk_check.py", import.meta.url).pathname;

/** What the Python SDK saw for one read. */
type Observation =
  | {
    readonly value: string;
    readonly version: string;
    readonly content_type: string | null;
    readonly enabled: boolean;
    readonly error?: undefined;
  }
  | {
    readonly error: {
      readonly type: string;
      readonly status?: number;
      readonly code?: string | null;
      readonly inner?: string | null;
      readonly message?: string;
    };
  };

interface PythonReport {
  readonly sdk: Readonly<Record<string, string>>;
  readonly token: { readonly sha256: string; readonly expires_in: number };
  readonly reads: Readonly<Record<string, Observation>>;
  readonly denied: Observation;
  readonly other_tenant: Observation;
  readonly app_service: Observation;
  readonly imds: Observation;
}

/** The same read, in the same shape, through the JavaScript SDK. */
async function jsObserve(client: SecretClient, name: string, version?: string) {
  try {
    const s: KeyVaultSecret = await client.getSecret(name, version ? { version } : {});
    return {
      value: s.value,
      version: s.properties.version,
      content_type: s.properties.contentType ?? null,
      enabled: s.properties.enabled,
    };
  } catch (e) {
    const err = e as { statusCode?: number; code?: string; details?: unknown };
    // The JavaScript SDK's error model names it innerError.
    const inner = (err.details as { error?: { innerError?: { code?: string } } } | undefined)
      ?.error?.innerError?.code ?? null;
    return { error: { status: err.statusCode, code: err.code ?? null, inner } };
  }
}

/** The raw answer of the double, with a token allowed everything. */
async function wire(
  d: KeyVaultDouble,
  client: Deno.HttpClient,
  name: string,
  version?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(
    `${d.vaultUrl}/secrets/${name}${version ? `/${version}` : ""}?api-version=7.5`,
    { headers: { authorization: `Bearer ${d.adminToken()}` }, client },
  );
  return { status: res.status, body: await res.json() };
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("the Key Vault double answers the Azure SDK for Python as it answers the JavaScript SDK", async () => {
  await using d = await startKeyVaultDouble();
  const httpClient = Deno.createHttpClient({ caCerts: [d.caCertPem] });
  try {
    const reader = { tenant_id: d.tenantId, client_id: "py-reader", client_secret: rnd("r") };
    const denied = { tenant_id: d.tenantId, client_id: "py-denied", client_secret: rnd("d") };
    // An app whose credential names its home tenant; the vault's challenge names d.tenantId.
    const home = crypto.randomUUID();
    const cross = { tenant_id: home, client_id: "py-cross", client_secret: rnd("c") };
    d.grant(d.addApp(d.tenantId, reader.client_id, reader.client_secret), ["get"]);
    d.addApp(d.tenantId, denied.client_id, denied.client_secret);
    d.grant(d.addApp(d.tenantId, cross.client_id, cross.client_secret), ["get"]);
    d.grant(d.addManagedIdentity(), ["get"]);

    // Seeded through the real JavaScript SecretClient.
    const { SecretClient } = await import("../../deps/azure_keyvault_secrets.ts");
    const { ClientSecretCredential } = await import("../../deps/azure_identity.ts");
    const { rootCertificates } = await import("node:tls");
    const tlsOptions = { ca: [...rootCertificates, d.caCertPem] };
    const admin = new SecretClient(d.vaultUrl, {
      getToken: () =>
        Promise.resolve({ token: d.adminToken(), expiresOnTimestamp: Date.now() + 3_600_000 }),
    }, { disableChallengeResourceVerification: true, tlsOptions });
    const v1 = (await admin.setSecret("mlflow-token", "tok-v1-canary-5e1d")).properties.version!;
    const v2 = (await admin.setSecret("mlflow-token", "tok-v2-canary-5e1d")).properties.version!;
    await admin.setSecret("mlflow-json", JSON.stringify({ token: "json-canary", user: "ml" }), {
      contentType: "application/json",
    });
    const off = await admin.setSecret("mlflow-disabled", "never-read-canary");
    await admin.updateSecretProperties("mlflow-disabled", off.properties.version!, {
      enabled: false,
    });
    const reads: Record<string, { name: string; version?: string }> = {
      latest: { name: "mlflow-token" },
      pinned: { name: "mlflow-token", version: v1 },
      json: { name: "mlflow-json" },
      disabled: { name: "mlflow-disabled" },
      missing: { name: "mlflow-missing" },
      missing_version: { name: "mlflow-token", version: "0".repeat(32) },
    };

    const seenBefore = d.requests.length;
    const out = await new Deno.Command(PYTHON, {
      args: [CHECK],
      clearEnv: true,
      env: peerEnv({
        REQUESTS_CA_BUNDLE: d.caCertPath,
        PYTHONDONTWRITEBYTECODE: "1",
        NO_PROXY: "127.0.0.1",
      }),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = out.stdin.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify({
      vault_url: d.vaultUrl,
      authority_host: d.authorityHost,
      identity_endpoint: d.identityEndpoint,
      identity_header: d.identityHeader,
      imds_host: d.imdsHost,
      reader,
      denied,
      other_tenant: { tenant_id: d.tenantId, app: cross },
      reads,
    })));
    await w.close();
    const done = await out.output();
    const stderr = new TextDecoder().decode(done.stderr);
    assertEquals(done.code, 0, stderr.slice(-3000));
    const py = JSON.parse(new TextDecoder().decode(done.stdout)) as PythonReport;
    console.log(`Azure SDK for Python: ${JSON.stringify(py.sdk)}`);
    const pyRequests = d.requests.slice(seenBefore);

    // The JavaScript SDK, with a real client-secret credential, reads the same secrets.
    const js = new SecretClient(
      d.vaultUrl,
      new ClientSecretCredential(reader.tenant_id, reader.client_id, reader.client_secret, {
        authorityHost: d.authorityHost,
        disableInstanceDiscovery: true,
        tlsOptions,
      }),
      { disableChallengeResourceVerification: true, tlsOptions },
    );

    for (const [key, spec] of Object.entries(reads)) {
      const p = py.reads[key]!;
      const j = await jsObserve(js, spec.name, spec.version);
      const raw = await wire(d, httpClient, spec.name, spec.version);
      if (raw.status === 200) {
        const id = String(raw.body.id);
        const attributes = raw.body.attributes as { enabled: boolean };
        const expected = {
          value: raw.body.value,
          version: id.slice(id.lastIndexOf("/") + 1),
          content_type: (raw.body.contentType as string | undefined) ?? null,
          enabled: attributes.enabled,
        };
        assertEquals(p, expected, `${key}: Python SDK vs the wire`);
        assertEquals(j, expected, `${key}: JavaScript SDK vs the wire`);
      } else {
        const error = raw.body.error as { code: string; innererror?: { code: string } };
        assertEquals(p.error?.status, raw.status, `${key}: Python status`);
        assertEquals(p.error?.code, error.code, `${key}: Python error code`);
        assertEquals(p.error?.inner ?? null, error.innererror?.code ?? null, `${key}: inner`);
        assertEquals(j, {
          error: { status: raw.status, code: error.code, inner: error.innererror?.code ?? null },
        }, `${key}: JavaScript SDK vs the wire`);
      }
    }
    // What each case is, in the double's own terms.
    assertEquals((py.reads.latest as { value: string }).value, "tok-v2-canary-5e1d");
    assertEquals((py.reads.latest as { version: string }).version, v2);
    assertEquals((py.reads.pinned as { value: string }).value, "tok-v1-canary-5e1d");
    assertEquals(JSON.parse((py.reads.json as { value: string }).value), {
      token: "json-canary",
      user: "ml",
    });
    assertEquals(py.reads.disabled!.error, {
      type: "HttpResponseError",
      status: 403,
      code: "Forbidden",
      inner: "SecretDisabled",
    });
    assertEquals(py.reads.missing!.error?.type, "ResourceNotFoundError");
    assertEquals(py.reads.missing!.error?.code, "SecretNotFound");
    assertEquals(py.reads.missing_version!.error?.status, 404);
    assertEquals(py.denied.error?.status, 403);
    assertEquals(py.denied.error?.inner, "AccessDenied");

    // The token endpoint: the Python credential got a token the double issued, for an hour.
    const issued = await Promise.all(d.issuedTokens.map(sha256));
    assert(issued.includes(py.token.sha256), "the Python token was not issued by the double");
    assert(Math.abs(py.token.expires_in - 3600) <= 60, `expires_in ${py.token.expires_in}`);

    // The challenge flow: the first vault request goes without a token and gets the 401
    // challenge; the token is then asked from the tenant the challenge names, even by an app
    // whose credential names another tenant.
    const vault = pyRequests.filter((r) => r.listener === "vault");
    assertEquals(vault[0]?.status, 401);
    assertEquals(vault[0]?.principal, undefined);
    assertEquals(vault[1]?.principal, `app:${reader.client_id}`);
    assertEquals((py.other_tenant as { value: string }).value, "tok-v2-canary-5e1d");
    const tokenCalls = pyRequests.filter((r) =>
      r.listener === "authority" && r.method === "POST" && r.status === 200
    ).map((r) => r.path);
    assert(
      tokenCalls.includes(`/${d.tenantId}/oauth2/v2.0/token`),
      `token calls: ${tokenCalls.join(", ")}`,
    );
    assert(!tokenCalls.includes(`/${home}/oauth2/v2.0/token`), "asked the home tenant");

    // Managed identity through both endpoints.
    assertEquals((py.app_service as { value: string }).value, "tok-v2-canary-5e1d");
    assertEquals((py.imds as { value: string }).value, "tok-v2-canary-5e1d");
    const identityPaths = pyRequests.filter((r) => r.listener === "identity" && r.status === 200)
      .map((r) => r.path);
    assert(identityPaths.includes("/msi/token"), identityPaths.join(", "));
    assert(identityPaths.includes("/metadata/identity/oauth2/token"), identityPaths.join(", "));

    assert(!stderr.includes("canary"), "a secret value reached stderr");
  } finally {
    httpClient.close();
  }
});

function rnd(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}
