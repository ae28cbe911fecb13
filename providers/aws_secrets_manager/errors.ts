/**
 * What an `aws-secrets-manager` failure means: anything the SDK, STS or the credential chain
 * throws becomes a `SecretResolutionError`, with 404 for a missing secret or version, 403 for
 * denied or invalid credentials (not transient), transient for throttling, 5xx and network
 * errors, and a message that names the region and identity, never a key or a value.
 *
 * @module
 */

import { SecretResolutionError } from "../../core/errors.ts";
import { isTransientStatus, TRANSIENT_NETWORK_CODES } from "../../core/retry.ts";
import { ProviderSetupError } from "../errors.ts";
import type { ProviderContext } from "../types.ts";
import { CredentialStepError } from "./credentials.ts";
import type { GetInput } from "./reads.ts";

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

/** What a failure is about, for its message. */
export interface ClassifyInfo {
  readonly provider: string;
  readonly reference: string;
  readonly region: string;
  readonly identity: string;
  readonly input: GetInput;
  readonly context: ProviderContext;
  /** The call that failed, for the permission to grant. Default `GetSecretValue`. */
  readonly action?: "GetSecretValue" | "DescribeSecret";
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
export function classify(error: unknown, info: ClassifyInfo): SecretResolutionError {
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

  if (error instanceof ProviderSetupError) {
    return make(error.message, {
      ...(error.status !== undefined ? { status: error.status } : {}),
      ...(error.transient ? { transient: true } : {}),
    });
  }
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
      : `grant secretsmanager:${info.action ?? "GetSecretValue"} on the secret to this identity`;
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
  if (typeof e.code === "string" && TRANSIENT_NETWORK_CODES.has(e.code)) return true;
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
