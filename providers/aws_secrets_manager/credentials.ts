/**
 * How the `aws-secrets-manager` provider builds its SDK client: region, shared-config profile,
 * static credentials from the environment or the SDK's default chain, and an optional STS
 * AssumeRole on top. Every credential met is registered with the redactor.
 *
 * @module
 */

import type {
  DescribeSecretCommandOutput,
  GetSecretValueCommandOutput,
  SecretsManagerClient,
} from "../../deps/aws_secrets_manager.ts";
import type { fromNodeProviderChain } from "../../deps/aws_credential_providers.ts";
import { ProviderSetupError } from "../errors.ts";
import type { ProviderContext } from "../types.ts";
import type { AwsSecretsManagerProviderOptions } from "./options.ts";
import type { GetInput } from "./reads.ts";

type AwsCredentialIdentityProvider = ReturnType<typeof fromNodeProviderChain>;
type AwsCredentialIdentity = Awaited<ReturnType<AwsCredentialIdentityProvider>>;

const DEFAULT_SESSION_NAME = "mlflow-secrets-auth";
const DEFAULT_DURATION_SECONDS = 3_600;

/**
 * A ready client: the SDK's, its `GetSecretValue` and `DescribeSecret` calls, and the region it
 * resolved.
 */
export interface Client {
  readonly client: SecretsManagerClient;
  readonly send: (input: GetInput, signal: AbortSignal) => Promise<GetSecretValueCommandOutput>;
  readonly describe: (
    secretId: string,
    signal: AbortSignal,
  ) => Promise<DescribeSecretCommandOutput>;
  readonly region: string;
}

/** Marks a failure of the credential step (AssumeRole, or finding base credentials). */
export class CredentialStepError extends Error {
  constructor(readonly step: "assume-role" | "credentials", cause: unknown) {
    super(step, { cause });
    this.name = "CredentialStepError";
  }
}

/** Names the identity for messages: the role ARN or profile, never a key. */
export function describeIdentity(
  options: AwsSecretsManagerProviderOptions,
  context: ProviderContext,
): string {
  if (options.assume_role !== undefined) return `role "${options.assume_role.role_arn}"`;
  const profile = profileOf(options, context);
  if (profile !== undefined) return `profile "${profile}"`;
  if (credentialsFromEnv(options, context) !== undefined) {
    return "the credentials in AWS_ACCESS_KEY_ID";
  }
  return "the default credential chain";
}

function readEnv(context: ProviderContext, variable: string): string | undefined {
  try {
    const v = context.env(variable);
    return v === "" ? undefined : v;
  } catch {
    // Not permitted (a narrow --allow-env): as if unset; the SDK's chain may still find it.
    return undefined;
  }
}

/** The shared-config profile: the option, else AWS_PROFILE (read through the context). */
function profileOf(
  options: AwsSecretsManagerProviderOptions,
  context: ProviderContext,
): string | undefined {
  return options.profile ?? readEnv(context, "AWS_PROFILE");
}

export function regionFromEnv(context: ProviderContext): string | undefined {
  return readEnv(context, "AWS_REGION") ?? readEnv(context, "AWS_DEFAULT_REGION");
}

/** The SDK's `fromEnv` step, read through the context (skipped when a profile is chosen). */
function credentialsFromEnv(
  options: AwsSecretsManagerProviderOptions,
  context: ProviderContext,
): AwsCredentialIdentity | undefined {
  if (profileOf(options, context) !== undefined) return undefined;
  const accessKeyId = readEnv(context, "AWS_ACCESS_KEY_ID");
  const secretAccessKey = readEnv(context, "AWS_SECRET_ACCESS_KEY");
  if (accessKeyId === undefined || secretAccessKey === undefined) return undefined;
  const sessionToken = readEnv(context, "AWS_SESSION_TOKEN");
  const expiration = readEnv(context, "AWS_CREDENTIAL_EXPIRATION");
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken !== undefined ? { sessionToken } : {}),
    ...(expiration !== undefined ? { expiration: new Date(expiration) } : {}),
  };
}

function registerCredentials(context: ProviderContext, c: AwsCredentialIdentity): void {
  context.redactor.add(c.secretAccessKey);
  if (c.sessionToken !== undefined) context.redactor.add(c.sessionToken);
}

/** Seconds from a number of seconds or a `"500ms"` / `"30s"` / `"5m"` / `"1h"` string. */
function durationSeconds(value: number | string | undefined): number {
  if (value === undefined) return DEFAULT_DURATION_SECONDS;
  if (typeof value === "number") return Math.round(value);
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(value);
  if (m === null) return DEFAULT_DURATION_SECONDS;
  const unit = { ms: 0.001, s: 1, m: 60, h: 3_600 }[m[2] as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}

/**
 * Builds the SDK client and its credential chain; loads the SDK on first call.
 *
 * @throws {ProviderSetupError} when no region is configured or the external id is unset.
 */
export async function createClient(
  options: AwsSecretsManagerProviderOptions,
  context: ProviderContext,
): Promise<Client> {
  const [sm, providers] = await Promise.all([
    import("../../deps/aws_secrets_manager.ts"),
    import("../../deps/aws_credential_providers.ts"),
  ]);
  const region = options.region ?? regionFromEnv(context);
  const profile = profileOf(options, context);

  const fromEnv = credentialsFromEnv(options, context);
  if (fromEnv !== undefined) registerCredentials(context, fromEnv);
  const chain = providers.fromNodeProviderChain(
    profile !== undefined ? { profile } : {},
  );
  const base: AwsCredentialIdentityProvider = fromEnv !== undefined
    ? () => Promise.resolve(fromEnv)
    : async (props) => {
      try {
        const c = await chain(props);
        registerCredentials(context, c);
        return c;
      } catch (cause) {
        throw new CredentialStepError("credentials", cause);
      }
    };

  let credentials: AwsCredentialIdentityProvider = base;
  const role = options.assume_role;
  if (role !== undefined) {
    let externalId: string | undefined;
    if (role.external_id_env !== undefined) {
      externalId = readEnv(context, role.external_id_env);
      if (externalId === undefined) {
        throw new ProviderSetupError(
          `environment variable "${role.external_id_env}" (assume_role.external_id_env) is not set; export the external id the role's trust policy requires`,
        );
      }
      context.redactor.add(externalId);
    }
    const assume = providers.fromTemporaryCredentials({
      masterCredentials: base,
      params: {
        RoleArn: role.role_arn,
        RoleSessionName: role.session_name ?? DEFAULT_SESSION_NAME,
        DurationSeconds: durationSeconds(role.duration),
        ...(externalId !== undefined ? { ExternalId: externalId } : {}),
      },
      clientConfig: {
        maxAttempts: 1,
        ...(region !== undefined ? { region } : {}),
        ...(role.endpoint !== undefined ? { endpoint: role.endpoint } : {}),
      },
    });
    // The SDK client memoizes this provider and calls it again when the credentials are within
    // five minutes of their expiration (@smithy/core memoizeIdentityProvider).
    credentials = async (props) => {
      try {
        const c = await assume(props);
        registerCredentials(context, c);
        return c;
      } catch (cause) {
        if (cause instanceof CredentialStepError) throw cause;
        throw new CredentialStepError("assume-role", cause);
      }
    };
  }

  const client = new sm.SecretsManagerClient({
    ...(region !== undefined ? { region } : {}),
    ...(profile !== undefined ? { profile } : {}),
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    credentials,
    maxAttempts: 1,
  });
  let resolvedRegion: string;
  try {
    resolvedRegion = await client.config.region();
  } catch (cause) {
    client.destroy();
    let unreadable = "";
    try {
      context.env("AWS_REGION");
    } catch {
      unreadable = " (AWS_REGION cannot be read: run with --allow-env)";
    }
    throw new ProviderSetupError(
      `no AWS region is configured${unreadable}; set region in the provider block, or AWS_REGION, or a region in the shared config profile`,
      { cause },
    );
  }
  return {
    client,
    region: resolvedRegion,
    send: (input, signal) =>
      client.send(new sm.GetSecretValueCommand(input), { abortSignal: signal }),
    describe: (secretId, signal) =>
      client.send(new sm.DescribeSecretCommand({ SecretId: secretId }), { abortSignal: signal }),
  };
}
