/**
 * Runs one provider resolution in a process with narrow Deno permissions, so that tests can
 * provoke real permission denials (the tests themselves run with -A, and root bypasses file
 * modes). Prints the outcome as JSON. Not a test file: spawned by tests.
 */

import { PROVIDERS } from "../../providers/registry.ts";
import { Redactor } from "../../core/redact.ts";
import { silentLogger } from "../../core/log.ts";
import { SecretResolutionError } from "../../core/errors.ts";

const [kind, refJson] = Deno.args;
const provider = PROVIDERS.get(kind!)!.create("restricted", { kind: kind! }, {
  env: (name) => Deno.env.get(name),
  fetch,
  now: Date.now,
  logger: silentLogger,
  redactor: new Redactor(),
});
try {
  await provider.resolve(JSON.parse(refJson!), { signal: new AbortController().signal });
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  const err = e as SecretResolutionError;
  console.log(JSON.stringify({
    ok: false,
    name: err.name,
    isResolutionError: e instanceof SecretResolutionError,
    status: err.status,
    transient: err.transient,
    message: err.message,
  }));
}
