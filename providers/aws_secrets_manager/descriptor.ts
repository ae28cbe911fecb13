/**
 * What the command line and the bundler know about the `aws-secrets-manager` kind: its SDK
 * packages, the permissions a provider block needs, its `init` template and its `--from-env`
 * mapping.
 *
 * @module
 */

import { type ProviderDescriptor, setting } from "../descriptor.ts";
import { awsSecretsManagerProvider } from "./mod.ts";
import { rotationScheduleApplies } from "./rotation.ts";

/** The `aws-secrets-manager` kind's descriptor. */
export const awsSecretsManagerDescriptor: ProviderDescriptor = {
  factory: awsSecretsManagerProvider,
  exported: { module: import.meta.url, name: "awsSecretsManagerDescriptor" },
  sdks: [
    {
      package: "@aws-sdk/client-secrets-manager",
      module: new URL("../../deps/aws_secrets_manager.ts", import.meta.url).href,
      load: () => import("../../deps/aws_secrets_manager.ts"),
    },
    {
      package: "@aws-sdk/credential-providers",
      module: new URL("../../deps/aws_credential_providers.ts", import.meta.url).href,
      load: () => import("../../deps/aws_credential_providers.ts"),
    },
  ],
  permissions(settings, grant) {
    const name = grant.provider;
    // Measured with moto in a namespace: the SDK reads AWS_*, the home-directory variables (for
    // ~/.aws) and the Lambda trace id, and fails on any of them it may not read.
    for (
      const v of ["AWS_*", "_X_AMZN_TRACE_ID", "HOME", "USERPROFILE", "HOMEPATH", "HOMEDRIVE"]
    ) {
      grant.env(v);
    }
    const region = setting(settings.region);
    const endpoint = setting(settings.endpoint);
    if (endpoint !== undefined) {
      grant.url("/endpoint", endpoint);
    } else {
      grant.net(
        region === undefined ? "*.amazonaws.com:443" : `secretsmanager.${region}.amazonaws.com:443`,
      );
    }
    const role = settings.assume_role as Record<string, unknown> | undefined;
    if (role !== undefined) {
      const sts = setting(role.endpoint);
      if (sts !== undefined) grant.url("/assume_role/endpoint", sts);
      else {grant.net(
          region === undefined ? "*.amazonaws.com:443" : `sts.${region}.amazonaws.com:443`,
        );}
      const externalId = setting(role.external_id_env);
      if (externalId !== undefined) grant.env(externalId);
    }
    // The SDK reads ~/.aws/config and ~/.aws/credentials (shared config, profiles); a read it may
    // not do counts as a missing file.
    grant.read(`${grant.home}/.aws`);
    grant.note(
      `aws-secrets-manager provider "${name}": --allow-read names ${grant.home}/.aws (shared config and credentials); use the home directory of the host that runs it`,
    );
    // Not a Deno permission, but one the operator grants by hand: the AWS identity's.
    grant.note(
      settings.rotation_schedule === false
        ? `aws-secrets-manager provider "${name}": the AWS identity needs secretsmanager:GetSecretValue on the secrets (rotation_schedule: false, so no DescribeSecret)`
        : `aws-secrets-manager provider "${name}": the AWS identity needs secretsmanager:GetSecretValue on the secrets; secretsmanager:DescribeSecret is optional: with it, a secret's next scheduled rotation bounds its cache (without it, or with rotation_schedule: false, the rule's ttl does)`,
    );
    // The SDK's user agent reads the OS release; HTTPS through node:https needs the rest.
    grant.sys("osRelease");
    const urls = role === undefined ? [endpoint] : [endpoint, setting(role.endpoint)];
    if (urls.some((e) => e === undefined || e.startsWith("https:"))) grant.allSys();
    if (setting(settings.profile) === undefined && region === undefined) {
      grant.note(
        `aws-secrets-manager provider "${name}" has no region: --allow-net names *.amazonaws.com; set region for a narrower grant`,
      );
    }
  },
  init: {
    name: "aws",
    questions: [
      {
        key: "secretId",
        flag: "--secret-id",
        argument: "id",
        help: "secret name or ARN",
        question: "Secret name or ARN",
      },
      {
        key: "region",
        flag: "--region",
        argument: "region",
        help: "region",
        question: "AWS region",
        ask: "terminal",
        fallback: (env) => env("AWS_REGION") || "us-east-1",
      },
    ],
    render: (a, scalar) => ({
      provider: [
        a.region !== undefined
          ? `    region: ${scalar(a.region)}`
          : "    # region: eu-west-1        # else AWS_REGION / AWS_DEFAULT_REGION",
      ],
      secret: [["id", a.secretId]],
    }),
  },
  fromEnv: {
    name: "aws",
    prefix: "MLFLOW_AWS",
    build: (env) => ({
      provider: { region: env.need("AWS_REGION") },
      secret: { id: env.need("MLFLOW_AWS_SECRET_ID") },
    }),
  },
  exec: { ambientCloud: true },
  secretFacts: {
    // A refresh point rather than an expiry (see rotation.ts): listed because it ends the entry's
    // freshness before the ttl.
    expiry: (config, ref) =>
      rotationScheduleApplies(config, ref)
        ? ["the next scheduled rotation (DescribeSecret; a refresh point, not an expiry)"]
        : [],
    version: (_config, ref) =>
      typeof ref.version_id === "string"
        ? "the pinned VersionId and its stages"
        : "the VersionId and its stages",
  },
};
