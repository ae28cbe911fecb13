/**
 * Resolves one AWS Secrets Manager reference and prints `{ value }` or `{ error, status }` as
 * JSON. Run by tests as a subprocess with narrow permissions and a clean environment, so that
 * the shared config files, AWS_PROFILE and the permission set are those the test chose.
 *
 * Usage: deno run <permissions> aws_resolve_once.ts '<provider options JSON>' '<reference JSON>'
 */

import { createAwsSecretsManagerProvider } from "../../providers/aws_secrets_manager/mod.ts";
import { SecretResolutionError } from "../../core/errors.ts";
import { silentLogger } from "../../core/log.ts";
import { Redactor } from "../../core/redact.ts";

const provider = createAwsSecretsManagerProvider("aws-sub", JSON.parse(Deno.args[0]!), {
  env: (name) => Deno.env.get(name),
  fetch,
  now: Date.now,
  logger: silentLogger,
  redactor: new Redactor(),
});
try {
  const r = await provider.resolve(JSON.parse(Deno.args[1]!), {
    signal: AbortSignal.timeout(20_000),
  });
  console.log(JSON.stringify({ value: r.value }));
} catch (e) {
  console.log(JSON.stringify({
    error: e instanceof Error ? e.message : String(e),
    status: e instanceof SecretResolutionError ? e.status : undefined,
  }));
} finally {
  await provider.close?.();
}
