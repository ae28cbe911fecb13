/**
 * The environment of `exec`'s child: the parent's, minus everything that leads to the
 * credential.
 *
 * Removed by name, derived from the profile (no value needed): every variable the profile
 * refers to with `${NAME}`, every provider or secret setting ending in `_env`
 * (`token_env`, `role_id_env`, `secret_id_env`, `client_secret_env`, `external_id_env`, …),
 * the `env` provider's `var`, the variables a provider kind reads by default (`VAULT_TOKEN`
 * for `vault`), and the MLflow credential variables.
 *
 * Removed by value: every variable whose value equals one of the credential's forms (the
 * resolved secret, each field a header is built from, the header value, for basic auth the
 * password, `user:password` and its base64, the static header values taken from the
 * environment), whatever its length, and every variable containing one of the forms that is at
 * least {@linkcode SUBSTRING_MIN} characters long.
 *
 * Ambient cloud credentials (`AWS_*`, `AZURE_*` and the managed identity variables) stay unless
 * asked to go: the job may need them for its artifact store.
 *
 * @module
 */

import { templateFields } from "../profile/auth_spec.ts";
import type { Plan, PlanRule } from "../profile/plan.ts";
import type { Profile } from "../profile/profile.ts";
import { escapePointer } from "../profile/yaml_source.ts";
import type { SecretValue } from "../providers/types.ts";
import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";

/**
 * Variables removed from every child environment: MLflow's own credentials, and
 * `MLFLOW_TRACKING_AUTH`, which makes the client load a request-auth plugin (the Python plugin this
 * tool replaces, say) that would fetch the real credential itself, inside the child.
 */
export const MLFLOW_CREDENTIAL_VARS: readonly string[] = [
  "MLFLOW_TRACKING_USERNAME",
  "MLFLOW_TRACKING_PASSWORD",
  "MLFLOW_TRACKING_TOKEN",
  "MLFLOW_TRACKING_AUTH",
];

/** Azure managed identity variables besides `AZURE_*` (read by `@azure/identity`). */
const CLOUD_NAMES: ReadonlySet<string> = new Set([
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "IDENTITY_SERVER_THUMBPRINT",
  "IMDS_ENDPOINT",
  "MSI_ENDPOINT",
  "MSI_SECRET",
]);

/**
 * Shortest credential form searched for inside other values. At six characters a random
 * credential has about 2^36 values, so an unrelated variable holds it by chance too rarely to
 * matter; each character fewer makes that 64 times likelier, and a false hit removes a variable
 * the job needs (`PATH`). Shorter forms are removed only where a whole value equals them.
 */
export const SUBSTRING_MIN = 6;

/**
 * The variables a profile names, each with why (for the log line), derived from the profile.
 *
 * @param profile The profile (its `${NAME}` references and provider blocks).
 * @param plan Its plan (the rules' secret references).
 * @returns Variable name → where the profile names it.
 */
export function profileVariables(profile: Profile, plan: Plan): Map<string, string> {
  const names = new Map<string, string>();
  const add = (name: unknown, why: string) => {
    if (typeof name === "string" && name !== "" && !names.has(name)) names.set(name, why);
  };
  for (const name of profile.variables) add(name, `\${${name}} in the profile`);
  for (const [provider, block] of Object.entries(plan.providers)) {
    for (const [pointer, name] of envSettings(block, `/providers/${escapePointer(provider)}`)) {
      add(name, pointer);
    }
    // Variables the kind reads without the profile naming them (its descriptor lists them).
    for (const name of PROVIDER_DESCRIPTORS.get(block.kind)?.exec?.defaultEnv ?? []) {
      add(name, `read by default by ${block.kind} provider "${provider}"`);
    }
  }
  for (const rule of plan.rules) {
    const at = `/hosts/${rule.index}/secret`;
    const variable = PROVIDER_DESCRIPTORS.get(rule.providerKind)?.exec?.secretVariable;
    if (variable !== undefined) add(rule.secret[variable], `${at}/${variable}`);
    for (const [pointer, name] of envSettings(rule.secret, at)) add(name, pointer);
  }
  return names;
}

/** Every `*_env` setting in a block, at any depth: `[pointer, variable name]`. */
function envSettings(block: unknown, at: string): [string, string][] {
  const out: [string, string][] = [];
  const walk = (node: unknown, pointer: string) => {
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key.endsWith("_env") && typeof value === "string") {
        out.push([`${pointer}/${escapePointer(key)}`, value]);
      } else walk(value, `${pointer}/${escapePointer(key)}`);
    }
  };
  walk(block, at);
  return out;
}

/**
 * Whether a variable is an ambient cloud credential or setting (`AWS_*`, `AZURE_*`, Azure
 * managed identity), kept for the job unless `--scrub-cloud-env`.
 *
 * @param name Variable name.
 * @returns Whether it is one.
 */
export function isCloudVariable(name: string): boolean {
  return name.startsWith("AWS_") || name.startsWith("AZURE_") || CLOUD_NAMES.has(name);
}

/**
 * The forms of a resolved credential that must not reach the child.
 *
 * @param rule The rule the credential is for.
 * @param secret The resolved secret, its `field` selected.
 * @param headers The headers built from it: the auth header, then the static headers.
 * @returns Distinct non-blank forms.
 */
export function credentialForms(
  rule: PlanRule,
  secret: SecretValue,
  headers: readonly (readonly [string, string])[],
): string[] {
  const forms = new Set<string>();
  const add = (v: unknown) => {
    const s = typeof v === "number" || typeof v === "bigint" ? String(v) : v;
    if (typeof s === "string" && s.trim() !== "") forms.add(s);
  };
  const fieldOf = (name: string): unknown => typeof secret === "string" ? secret : secret[name];
  add(headers[0]?.[1]);
  const auth = rule.auth;
  if (auth.type === "bearer") add(fieldOf(auth.tokenField));
  // The access token is in the header; the client secret must not reach the child either.
  if (auth.type === "oauth2_client_credentials") add(fieldOf(auth.clientSecretField));
  if (auth.type === "header") {
    for (const name of templateFields(auth.template)) add(fieldOf(name));
  }
  if (auth.type === "basic") {
    add(typeof secret === "string" ? secret : undefined);
    const encoded = (headers[0]?.[1] ?? "").replace(/^Basic /, "");
    add(encoded);
    const decoded = decodeBasic(encoded);
    if (decoded !== undefined) {
      add(`${decoded.username}:${decoded.password}`);
      add(decoded.password);
      add(encodeURIComponent(decoded.password));
    }
  }
  for (const name of rule.sensitiveHeaders) add(rule.headers[name]);
  return [...forms];
}

/**
 * Whether a variable's value carries a credential form: equal to one (surrounding whitespace
 * ignored), or containing one of at least {@linkcode SUBSTRING_MIN} characters.
 *
 * @param value The variable's value.
 * @param forms The credential forms.
 * @returns Whether the variable must go.
 */
export function holdsCredential(value: string, forms: readonly string[]): boolean {
  const trimmed = value.trim();
  return forms.some((f) =>
    trimmed === f.trim() || (f.length >= SUBSTRING_MIN && value.includes(f))
  );
}

/**
 * Decodes a Basic credential (`user:password` in base64, UTF-8).
 *
 * @param encoded The base64 part of the header value.
 * @returns The user name and password, or undefined when it is not one.
 */
export function decodeBasic(encoded: string): { username: string; password: string } | undefined {
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
