import { createPlan, parseProfile, ProfileError, SecretResolver } from "../mod.ts";
import { parseProfile as parseProfileWith } from "../profile/profile.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { envProvider } from "../providers/env.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";

// A vault block whose only problem is one the vault provider's own check finds (the schema
// cannot): Kubernetes auth without a role.
const NEEDS_PROVIDER_CHECK = `version: 1
providers:
  corp-vault:
    kind: vault
    address: https://vault.example.com:8200
    auth: { method: kubernetes }
hosts:
  - { match: "https://a.example.com", provider: corp-vault, secret: { path: mlflow/auth }, auth: bearer }
`;

const ENV_PROFILE = `version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]
`;

Deno.test("parseProfile() of mod.ts validates against the built-in providers and keeps them", () => {
  const error = assertThrows(() => parseProfile(NEEDS_PROVIDER_CHECK, { env: {} }), ProfileError);
  assert(error.issues.some((i) => i.rule === "provider-config"), error.message);
  const profile = parseProfile(ENV_PROFILE, { env: {} });
  assertEquals([...profile.factories.keys()], [...PROVIDERS.keys()]);
});

Deno.test("parseProfile() of the profile layer uses only the providers it is given", () => {
  // Without providers: the schema's checks only, and nothing to create providers from.
  const bare = parseProfileWith(NEEDS_PROVIDER_CHECK, { env: {} });
  assertEquals(bare.factories.size, 0);
  assertThrows(
    () => parseProfileWith(NEEDS_PROVIDER_CHECK, { env: {}, providers: PROVIDERS }),
    ProfileError,
  );
  const envOnly = parseProfileWith(ENV_PROFILE, {
    env: {},
    providers: new Map([[envProvider.kind, envProvider]]),
  });
  assertEquals([...envOnly.factories.keys()], ["env"]);
});

Deno.test("SecretResolver creates providers from the factories its profile was validated against", async () => {
  const env = (name: string) => name === "T" ? "tok-1" : undefined;
  const plan = createPlan(parseProfile(ENV_PROFILE, { env: {} }));
  const resolver = new SecretResolver(plan, { env });
  const { headers } = await resolver.headersFor(plan.rules[0]!);
  assertEquals(headers[0], ["Authorization", "Bearer tok-1"]);
  await resolver.close();

  const bare = createPlan(parseProfileWith(ENV_PROFILE, { env: {} }));
  const none = new SecretResolver(bare, { env });
  await assertRejects(
    () => none.headersFor(bare.rules[0]!),
    Error,
    'provider kind "env" is not available in this build',
  );
  await none.close();
});
