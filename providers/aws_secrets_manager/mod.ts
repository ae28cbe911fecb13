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
 *     rotation_schedule: true           # default: the next scheduled rotation bounds the cache
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
 * For a reference that follows a stage a rotation moves (no `version_id`; no stage, `AWSCURRENT`,
 * `AWSPREVIOUS` or `AWSPENDING`), `DescribeSecret` runs beside `GetSecretValue` and its
 * `NextRotationDate` becomes the resolved secret's `rotatesAt`: the cache reads the secret again
 * by then (a soft bound, not an expiry). It never fails the read and holds it up by half a second
 * at most: denied (remembered for the provider, said once at info level), failed or later than
 * that, the rule's ttl applies. `rotation_schedule: false` never asks.
 *
 * This folder: `options.ts` (the block's types), `credentials.ts` (the SDK client and its
 * credential chain), `reads.ts` (the reference, the call and the value), `rotation.ts` (the
 * rotation schedule), `errors.ts` (what a failure means and says).
 *
 * @module
 */

import { SecretResolutionError } from "../../core/errors.ts";
import { raceAbort } from "../../core/retry.ts";
import { ProviderSetupError } from "../errors.ts";
import type {
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
} from "../types.ts";
import type { AwsSecretsManagerProviderOptions } from "./options.ts";
import { type Client, createClient, describeIdentity, regionFromEnv } from "./credentials.ts";
import { describeRef, readRef, toResolved } from "./reads.ts";
import { classify } from "./errors.ts";
import { type RotationLookup, RotationSchedule } from "./rotation.ts";

export type { AwsAssumeRoleOptions, AwsSecretsManagerProviderOptions } from "./options.ts";

const KIND = "aws-secrets-manager";

/**
 * Creates an AWS Secrets Manager provider. Nothing is loaded and no request is made until the
 * first `resolve`; the SDK client is then created once and reused until `close()`.
 *
 * A reference is `{ id, version_stage?, version_id?, field? }`; `field` is applied by the
 * runtime and only shows in `describe()`.
 *
 * @param name Instance name from the profile.
 * @param options The provider block: region, profile, endpoint, assume_role, rotation_schedule.
 * @param context Supplies `env` (region, static credentials, the external id), the logger and
 * the redactor (every credential the provider handles is registered with it).
 * @returns The provider.
 * @throws {SecretResolutionError} From `resolve`: status 404 for a missing secret or version,
 * 403 for denied or invalid credentials (not transient), transient for throttling, 5xx and
 * network errors.
 *
 * @example
 * ```ts
 * import { createAwsSecretsManagerProvider } from "./mod.ts";
 * import { Redactor } from "../../core/redact.ts";
 * import { silentLogger } from "../../core/log.ts";
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
  const schedule = new RotationSchedule({
    provider: name,
    enabled: options.rotation_schedule !== false,
    logger: context.logger,
  });

  const client = (): Promise<Client> => {
    if (pending === undefined) {
      const mine = generation;
      pending = createClient(options, context).then((c) => {
        if (mine !== generation) {
          // close() ran while the client was being built: release it at once.
          c.client.destroy();
          throw new ProviderSetupError("the provider was closed; create it again to use it");
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
      const why = (
        error: unknown,
        action?: "DescribeSecret",
      ): SecretResolutionError =>
        classify(error, {
          provider: name,
          reference,
          region,
          identity: describeIdentity(options, context),
          input,
          context,
          ...(action !== undefined ? { action } : {}),
        });
      let lookup: RotationLookup | undefined;
      try {
        const c = await raceAbort(client(), signal);
        region = c.region;
        lookup = schedule.start(c, input, {
          signal,
          reference,
          classify: (e) => why(e, "DescribeSecret"),
        });
        const out = await raceAbort(c.send(input, signal), signal);
        const resolved = toResolved(out, name, reference);
        const rotation = lookup;
        lookup = undefined;
        const rotatesAt = await rotation?.settle();
        return rotatesAt === undefined ? resolved : { ...resolved, rotatesAt };
      } catch (error) {
        lookup?.cancel();
        if (signal.aborted) throw signal.reason;
        if (error instanceof SecretResolutionError) throw error;
        throw why(error);
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
