/**
 * What the `aws-secrets-manager` provider reads: the secret reference (`id`, `version_stage` or
 * `version_id`) turned into a `GetSecretValue` input, and the answer turned into a value (a
 * `SecretString`, or a `SecretBinary` decoded as UTF-8 once; a JSON object is used as an object).
 *
 * @module
 */

import type { GetSecretValueCommandOutput } from "../../deps/aws_secrets_manager.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { secretFromText } from "../_json_value.ts";
import type { ResolvedSecret, SecretRef } from "../types.ts";

/** The `GetSecretValue` input of one reference. */
export interface GetInput {
  readonly SecretId: string;
  readonly VersionStage?: string;
  readonly VersionId?: string;
}

/** `aws-sm:<id>[@<stage>|@<version id>][#<field>]`. */
export function describeRef(ref: SecretRef): string {
  const version = [ref.version_stage, ref.version_id].filter((v) => typeof v === "string");
  const field = typeof ref.field === "string" ? `#${ref.field}` : "";
  return `aws-sm:${String(ref.id)}${version.length > 0 ? `@${version.join(",")}` : ""}${field}`;
}

/**
 * Checks a reference and turns it into a `GetSecretValue` input.
 *
 * @throws {SecretResolutionError} when `id` is missing or a version is not a string.
 */
export function readRef(ref: SecretRef, provider: string, reference: string): GetInput {
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

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The version of a `GetSecretValue` answer as shown in logs and metrics: its `VersionId` and the
 * stages it carries, e.g. `3f2a…(AWSCURRENT)` or `9b1c…(AWSPREVIOUS,CANARY)`.
 */
export function versionText(out: Pick<GetSecretValueCommandOutput, "VersionId" | "VersionStages">):
  | string
  | undefined {
  if (out.VersionId === undefined || out.VersionId === "") return undefined;
  const stages = (out.VersionStages ?? []).filter((s) => typeof s === "string" && s !== "");
  return stages.length > 0 ? `${out.VersionId}(${stages.join(",")})` : out.VersionId;
}

/** The value and version of a `GetSecretValue` answer. */
export function toResolved(
  out: GetSecretValueCommandOutput,
  provider: string,
  reference: string,
): ResolvedSecret {
  const text = versionText(out);
  const version = text !== undefined ? { version: text } : {};
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
