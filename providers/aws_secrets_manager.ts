/**
 * The `aws-secrets-manager` provider: a secret is a version of an AWS Secrets Manager secret.
 *
 * ```yaml
 * providers:
 *   aws-prod:
 *     kind: aws-secrets-manager
 *     region: eu-west-1                 # else AWS_REGION / AWS_DEFAULT_REGION / the shared config profile
 *     profile: ml                       # optional shared-config profile
 *     endpoint: ${AWS_SM_ENDPOINT}      # optional: VPC endpoint or an emulator
 *     assume_role:                      # optional
 *       role_arn: arn:aws:iam::123456789012:role/mlflow-reader
 *       external_id_env: MLFLOW_EXTERNAL_ID
 *       session_name: mlflow-secrets-auth
 *       duration: 1h
 *       endpoint: ${AWS_STS_ENDPOINT}   # optional: STS endpoint override
 * hosts:
 *   - match: https://mlflow.company.com
 *     provider: aws-prod
 *     secret: { id: mlflow/prod/auth, version_stage: AWSCURRENT, field: token }   # or version_id
 *     auth: bearer
 * ```
 *
 * Reads with `GetSecretValue` from `@aws-sdk/client-secrets-manager`, loaded on the first
 * resolution only. Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
 * `AWS_SESSION_TOKEN` (read through the context's `env`, unless `profile` or `AWS_PROFILE` is
 * set), else from the SDK's default chain (shared config and credentials files, SSO, web identity,
 * container and instance metadata) for that profile. With `assume_role`, those credentials call
 * STS `AssumeRole` and the read uses the role's temporary credentials; the SDK caches them and
 * assumes the role again when they are within five minutes of expiry.
 *
 * A `SecretString` that parses as a JSON object is used as an object, any other as a string. A
 * `SecretBinary` is decoded as UTF-8 once (the SDK already undid the wire's base64), then the
 * same rule applies. The SDK's own retries are off (`maxAttempts: 1`): the runtime retries
 * transient failures (throttling, 5xx, network errors) with its one policy, and nothing else.
 *
 * @module
 */

import type {
  GetSecretValueCommandOutput,
  SecretsManagerClient,
} from "../deps/aws_secrets_manager.ts";
import type { fromNodeProviderChain } from "../deps/aws_credential_providers.ts";
import { SecretResolutionError } from "../core/errors.ts";
import { isTransientStatus, raceAbort } from "../core/retry.ts";
import { secretFromText } from "./_json_value.ts";
import type {
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
} from "./types.ts";

/** The `assume_role` block of an `aws-secrets-manager` provider. */
export interface AwsAssumeRoleOptions {
  /** ARN of the role to assume. */
  readonly role_arn: string;
  /** Name of the environment variable that holds the external id, if the role requires one. */
  readonly external_id_env?: string;
  /** Role session name. Default `mlflow-secrets-auth`. */
  readonly session_name?: string;
  /** Session duration: seconds, or a string such as `"1h"`. Default one hour. */
  readonly duration?: number | string;
  /** STS endpoint override (an emulator, a VPC endpoint). Default: the SDK's STS endpoint. */
  readonly endpoint?: string;
}

/** Options of the `aws-secrets-manager` provider (its block in the profile). */
export interface AwsSecretsManagerProviderOptions {
  /** Always `aws-secrets-manager`. */
  readonly kind?: "aws-secrets-manager";
  /** AWS region. Else `AWS_REGION`, `AWS_DEFAULT_REGION`, then the shared config profile. */
  readonly region?: string;
  /** Shared config and credentials profile. */
  readonly profile?: string;
  /** Secrets Manager endpoint override: a VPC endpoint or an emulator. */
  readonly endpoint?: string;
  /** Assume this role with STS and read with its temporary credentials. */
  readonly assume_role?: AwsAssumeRoleOptions;
}

type AwsCredentialIdentityProvider = ReturnType<typeof fromNodeProviderChain>;
type AwsCredentialIdentity = Awaited<ReturnType<AwsCredentialIdentityProvider>>;

const KIND = "aws-secrets-manager";
const DEFAULT_SESSION_NAME = "mlflow-secrets-auth";
const DEFAULT_DURATION_SECONDS = 3_600;
const MAX_AWS_MESSAGE = 300;

const NOT_FOUND = new Set(["ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException"]);
const DENIED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredToken",
  "ExpiredTokenException",
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
  "IncompleteSignature",
  "MissingAuthenticationToken",
  "MissingAuthenticationTokenException",
  "InvalidAccessKeyId",
  "AuthFailure",
  "NotAuthorized",
  "RegionDisabledException",
]);
const THROTTLED = new Set([
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "ThrottledException",
  "SlowDown",
  "LimitExceededException",
  "PriorRequestNotComplete",
]);
const TRANSIENT_NAMES = new Set([
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalServiceError",
  "InternalFailure",
  "ServiceUnavailable",
  "ServiceUnavailableException",
]);
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
]);

interface Client {
  readonly client: SecretsManagerClient;
  readonly send: (input: GetInput, signal: AbortSignal) => Promise<GetSecretValueCommandOutput>;
  readonly region: string;
}

interface GetInput {
  readonly SecretId: string;
  readonly VersionStage?: string;
  readonly VersionId?: string;
}

/** Marks a failure of the credential step (AssumeRole, or finding base credentials). */
class CredentialStepError extends Error {
  constructor(readonly step: "assume-role" | "credentials", cause: unknown) {
    super(step, { cause });
    this.name = "CredentialStepError";
  }
}

/**
 * Creates an AWS Secrets Manager provider. Nothing is loaded and no request is made until the
 * first `resolve`; the SDK client is then created once and reused until `close()`.
 *
 * A reference is `{ id, version_stage?, version_id?, field? }`; `field` is applied by the
 * runtime and only shows in `describe()`.
 *
 * @param name Instance name from the profile.
 * @param options The provider block: region, profile, endpoint, assume_role.
 * @param context Supplies `env` (region, static credentials, the external id), the logger and
 * the redactor (every credential the provider handles is registered with it).
 * @returns The provider.
 * @throws {SecretResolutionError} From `resolve`: status 404 for a missing secret or version,
 * 403 for denied or invalid credentials (not transient), transient for throttling, 5xx and
 * network errors.
 *
 * @example
 * ```ts
 * import { createAwsSecretsManagerProvider } from "./aws_secrets_manager.ts";
 * import { Redactor } from "../core/redact.ts";
 * import { silentLogger } from "../core/log.ts";
 * const p = createAwsSecretsManagerProvider("aws-prod", { region: "eu-west-1" }, {
 *   env: () => undefined, fetch, now: Date.now, logger: silentLogger, redactor: new Redactor(),
 * });
 * const d = p.describe({ id: "mlflow/prod/auth", version_stage: "AWSCURRENT", field: "token" });
 * if (d !== "aws-sm:mlflow/prod/auth@AWSCURRENT#token") throw new Error(d);
 * ```
 */
export function createAwsSecretsManagerProvider(
  name: string,
  options: AwsSecretsManagerProviderOptions,
  context: ProviderContext,
): SecretProvider {
  let pending: Promise<Client> | undefined;
  let ready: Client | undefined;
  let generation = 0;

  const client = (): Promise<Client> => {
    if (pending === undefined) {
      const mine = generation;
      pending = createClient(options, context).then((c) => {
        if (mine !== generation) {
          // close() ran while the client was being built: release it at once.
          c.client.destroy();
          throw new ConfigProblem("the provider was closed; create it again to use it");
        }
        ready = c;
        context.logger.debug("AWS Secrets Manager client ready", {
          provider: name,
          region: c.region,
          ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
          identity: describeIdentity(options, context),
        });
        return c;
      });
      pending.catch(() => {
        pending = undefined;
      });
    }
    return pending;
  };

  return {
    name,
    kind: KIND,
    describe: describeRef,
    async resolve(ref: SecretRef, { signal }): Promise<ResolvedSecret> {
      signal.throwIfAborted();
      const reference = describeRef(ref);
      const input = readRef(ref, name, reference);
      let region = options.region ?? regionFromEnv(context) ?? "(from shared config)";
      try {
        const c = await raceAbort(client(), signal);
        region = c.region;
        const out = await raceAbort(c.send(input, signal), signal);
        return toResolved(out, name, reference);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof SecretResolutionError) throw error;
        const identity = describeIdentity(options, context);
        throw classify(error, { provider: name, reference, region, identity, input, context });
      }
    },
    close(): void {
      generation++;
      ready?.client.destroy();
      ready = undefined;
      pending = undefined;
    },
  };
}

/** Registry entry. */
export const awsSecretsManagerProvider: ProviderFactory = {
  kind: KIND,
  create: (name, config, context) =>
    createAwsSecretsManagerProvider(name, config as AwsSecretsManagerProviderOptions, context),
};

/** `aws-sm:<id>[@<stage>|@<version id>][#<field>]`. */
function describeRef(ref: SecretRef): string {
  const version = [ref.version_stage, ref.version_id].filter((v) => typeof v === "string");
  const field = typeof ref.field === "string" ? `#${ref.field}` : "";
  return `aws-sm:${String(ref.id)}${version.length > 0 ? `@${version.join(",")}` : ""}${field}`;
}

function readRef(ref: SecretRef, provider: string, reference: string): GetInput {
  const bad = (what: string): never => {
    throw new SecretResolutionError(`${what}; fix the secret block of the host rule`, {
      provider,
      reference,
    });
  };
  if (typeof ref.id !== "string" || ref.id === "") bad(`"id" must be a non-empty string`);
  for (const key of ["version_stage", "version_id"] as const) {
    if (ref[key] !== undefined && typeof ref[key] !== "string") bad(`"${key}" must be a string`);
  }
  return {
    SecretId: ref.id as string,
    ...(typeof ref.version_stage === "string" ? { VersionStage: ref.version_stage } : {}),
    ...(typeof ref.version_id === "string" ? { VersionId: ref.version_id } : {}),
  };
}

/** Names the identity for messages: the role ARN or profile, never a key. */
function describeIdentity(
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

function regionFromEnv(context: ProviderContext): string | undefined {
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

async function createClient(
  options: AwsSecretsManagerProviderOptions,
  context: ProviderContext,
): Promise<Client> {
  const [sm, providers] = await Promise.all([
    import("../deps/aws_secrets_manager.ts"),
    import("../deps/aws_credential_providers.ts"),
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
        throw new ConfigProblem(
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
    throw new ConfigProblem(
      `no AWS region is configured${unreadable}; set region in the provider block, or AWS_REGION, or a region in the shared config profile`,
      cause,
    );
  }
  return {
    client,
    region: resolvedRegion,
    send: (input, signal) =>
      client.send(new sm.GetSecretValueCommand(input), { abortSignal: signal }),
  };
}

/** A problem with the provider block or the environment: not transient, no HTTP status. */
class ConfigProblem extends Error {
  constructor(readonly reason: string, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause });
    this.name = "ConfigProblem";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function toResolved(
  out: GetSecretValueCommandOutput,
  provider: string,
  reference: string,
): ResolvedSecret {
  const version = out.VersionId !== undefined ? { version: out.VersionId } : {};
  if (typeof out.SecretString === "string") {
    return { value: secretFromText(out.SecretString), ...version };
  }
  if (out.SecretBinary instanceof Uint8Array) {
    let text: string;
    try {
      text = utf8.decode(out.SecretBinary);
    } catch {
      throw new SecretResolutionError(
        "SecretBinary is not UTF-8 text; store the credential as text or as a JSON object",
        { provider, reference },
      );
    }
    return { value: secretFromText(text), ...version };
  }
  throw new SecretResolutionError(
    "the secret version has neither SecretString nor SecretBinary; put a value in the secret",
    { provider, reference, status: 404 },
  );
}

interface ClassifyInfo {
  readonly provider: string;
  readonly reference: string;
  readonly region: string;
  readonly identity: string;
  readonly input: GetInput;
  readonly context: ProviderContext;
}

interface SdkErrorShape {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly $fault?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: { readonly throttling?: boolean };
  readonly $responseBodyText?: string;
}

/** The SDK could not parse the answer (an XML or HTML error page, a proxy's answer). */
function isDeserialization(e: SdkErrorShape | undefined): boolean {
  return e?.name === "SyntaxError" ||
    (typeof e?.message === "string" && e.message.includes("Deserialization error"));
}

/** The `x-amzn-errortype` header of the answer, if any (`Code:meta` → `Code`). */
function errorTypeHeader(e: SdkErrorShape | undefined): string | undefined {
  const headers = (e as { $response?: { headers?: Record<string, unknown> } } | undefined)
    ?.$response?.headers;
  const v = headers?.["x-amzn-errortype"];
  return typeof v === "string" && /^[A-Za-z0-9.:#_-]{1,100}$/.test(v)
    ? v.split(":")[0]!.split("#").pop()
    : undefined;
}

/** Code and message of an error answer in AWS XML or JSON form. */
function errorFromBody(body: string | undefined): { code?: string; message?: string } | undefined {
  if (typeof body !== "string") return undefined;
  const xml = (tag: string) => new RegExp(`<${tag}>([^<]{1,300})</${tag}>`).exec(body)?.[1];
  const code = xml("Code");
  if (code !== undefined) {
    const message = xml("Message");
    return { code, ...(message !== undefined ? { message } : {}) };
  }
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    const type = json.__type ?? json.code;
    const message = json.message ?? json.Message;
    if (typeof type === "string") {
      return {
        code: type.split("#").pop()!,
        ...(typeof message === "string" ? { message } : {}),
      };
    }
  } catch {
    // Neither: no code.
  }
  return undefined;
}

/** Turns anything the SDK throws into a {@linkcode SecretResolutionError}. */
function classify(error: unknown, info: ClassifyInfo): SecretResolutionError {
  const { provider, reference, region, identity, context } = info;
  const step = error instanceof CredentialStepError ? error.step : undefined;
  const inner = (step !== undefined ? (error as CredentialStepError).cause : error) as
    | SdkErrorShape
    | undefined;
  const status = inner?.$metadata?.httpStatusCode;
  const unreadable = isDeserialization(inner);
  const fromBody = unreadable && status !== undefined && status >= 300
    ? errorFromBody(inner?.$responseBodyText)
    : undefined;
  // A body that could not be parsed may be a garbled secret: it never reaches a message or cause.
  const cause = unreadable
    ? new Error(`Unreadable answer ${status ?? ""} (body withheld)`.trim())
    : context.redactor.redactError(error);
  const make = (reason: string, extra: { status?: number; transient?: boolean } = {}) =>
    new SecretResolutionError(context.redactor.redact(reason), {
      provider,
      reference,
      ...extra,
      cause,
    });

  if (error instanceof ConfigProblem) return make(error.reason);
  const denied = permissionProblem(error);
  if (denied !== undefined) {
    return make(
      `a Deno permission is missing: ${denied}; the AWS SDK needs --allow-net to the endpoints, --allow-env, --allow-sys (osRelease alone is enough for an http:// endpoint) and --allow-read of ~/.aws for shared config (see docs/providers/aws_secrets_manager.md)`,
    );
  }

  const errName = unreadable
    ? fromBody?.code ?? errorTypeHeader(inner) ?? "with a body that is not AWS JSON"
    : typeof inner?.name === "string"
    ? inner.name
    : "Error";
  const said = unreadable ? awsMessage({ message: fromBody?.message ?? "" }) : awsMessage(inner);
  const answered = `${status !== undefined ? `${status} ` : ""}${errName}${said}`;
  const withStatus = status !== undefined ? { status } : {};

  if (step === "credentials" && status === undefined && !isNetwork(inner)) {
    return make(
      `no AWS credentials for ${identity} in region "${region}": ${errName}${said}; set AWS_PROFILE or profile, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where the SDK's default chain finds credentials`,
    );
  }

  const who = step === "assume-role"
    ? `STS AssumeRole of ${identity} (region "${region}")`
    : `Secrets Manager (region "${region}", ${identity})`;

  if (isTransient(inner, errName, status)) {
    const throttled = THROTTLED.has(errName) || inner?.$retryable?.throttling === true ||
      status === 429;
    const reason = status === undefined && isNetwork(inner)
      ? `${who} could not be reached: ${
        networkCode(inner) ?? errName
      }${said}; check the endpoint, the proxy and the network`
      : throttled
      ? `${who} answered ${answered}; requests are throttled, retry later or raise the cache TTL`
      : `${who} answered ${answered}; a temporary AWS failure, retry later`;
    return make(reason, {
      ...withStatus,
      ...(throttled && status === undefined ? { status: 429 } : {}),
      transient: true,
    });
  }
  if (NOT_FOUND.has(errName) || status === 404) {
    const version = info.input.VersionId !== undefined
      ? ` version id "${info.input.VersionId}"`
      : info.input.VersionStage !== undefined
      ? ` version stage "${info.input.VersionStage}"`
      : "";
    return make(
      `${who} answered ${answered}; check that secret "${info.input.SecretId}"${version} exists in region "${region}" and the id, version and region are right`,
      { status: 404 },
    );
  }
  if (DENIED.has(errName) || status === 401 || status === 403) {
    const hint = step === "assume-role"
      ? "check the role's trust policy, the external id and the caller's sts:AssumeRole permission"
      : errName.startsWith("Expired")
      ? "the credentials have expired; refresh them (aws sso login, new session token)"
      : errName === "UnrecognizedClientException" || errName === "InvalidClientTokenId" ||
          errName === "InvalidSignatureException" || errName === "SignatureDoesNotMatch"
      ? "the credentials are not valid for this account and region; check the access key, the secret key and the clock"
      : "grant secretsmanager:GetSecretValue on the secret to this identity";
    return make(`${who} answered ${answered}; ${hint}`, { status: 403 });
  }
  if (errName === "DecryptionFailure") {
    return make(
      `${who} answered ${answered}: the secret cannot be decrypted with its KMS key; grant kms:Decrypt on the secret's KMS key to this identity and check the key is enabled`,
      withStatus,
    );
  }
  if (errName === "InvalidRequestException" || errName === "InvalidParameterException") {
    return make(
      `${who} answered ${answered}; check the secret id, version and that the secret is not scheduled for deletion`,
      withStatus,
    );
  }
  if (unreadable) {
    return make(
      `${who} answered ${answered}; check that the endpoint is Secrets Manager and not a proxy or portal`,
      withStatus,
    );
  }
  return make(`${who} failed: ${answered}`, withStatus);
}

/** The message of a Deno permission error anywhere in the cause chain. */
function permissionProblem(error: unknown): string | undefined {
  for (let c: unknown = error, depth = 0; c !== undefined && c !== null && depth < 6; depth++) {
    if (c instanceof Deno.errors.NotCapable || c instanceof Deno.errors.PermissionDenied) {
      return c.message;
    }
    const e = c as SdkErrorShape;
    if (e.code === "EPERM" && typeof e.message === "string") return e.message;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

function networkCode(e: SdkErrorShape | undefined): string | undefined {
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; depth++) {
    const code = (c as SdkErrorShape).code;
    if (typeof code === "string") return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

function isNetwork(e: SdkErrorShape | undefined): boolean {
  if (e === undefined || e === null) return false;
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return true;
  if (e instanceof TypeError) return true;
  const cause = (e as { cause?: unknown }).cause as SdkErrorShape | undefined;
  return cause !== undefined && cause !== e && isNetwork(cause);
}

function isTransient(e: SdkErrorShape | undefined, name: string, status?: number): boolean {
  if (name === "AbortError") return false;
  if (status !== undefined && isTransientStatus(status)) return true;
  if (THROTTLED.has(name) || TRANSIENT_NAMES.has(name)) return true;
  if (e?.$retryable !== undefined) return true;
  if (e?.$fault === "server" && status === undefined) return true;
  return status === undefined && isNetwork(e);
}

function awsMessage(e: SdkErrorShape | undefined): string {
  const m = typeof e?.message === "string" ? e.message.trim() : "";
  if (m === "" || m === "UnknownError") return "";
  const short = m.length > MAX_AWS_MESSAGE ? `${m.slice(0, MAX_AWS_MESSAGE)}…` : m;
  return ` "${short}"`;
}
