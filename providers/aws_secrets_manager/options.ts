/**
 * The `aws-secrets-manager` provider block: its types, as the profile's schema defines them.
 *
 * @module
 */

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
  /**
   * Whether the next scheduled rotation (`DescribeSecret`'s `NextRotationDate`) bounds how long a
   * secret that follows a stage stays cached. Default true; false saves the `DescribeSecret` call.
   */
  readonly rotation_schedule?: boolean;
}
