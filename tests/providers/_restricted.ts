import { SecretResolutionError } from "../../core/errors.ts";
import type { SecretProvider, SecretRef } from "../../providers/types.ts";
import { peerEnv } from "../_peers/_process.ts";

/**
 * A provider whose `resolve` runs the real provider of `kind` in a child Deno process started
 * with only `permissions`, and rethrows the child's error as a SecretResolutionError.
 */
export function restrictedProvider(kind: string, permissions: readonly string[]): SecretProvider {
  return {
    name: "restricted",
    kind,
    describe: (ref) => JSON.stringify(ref),
    async resolve(ref: SecretRef) {
      const child = new URL("./_restricted_child.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", ...permissions, child, kind, JSON.stringify(ref)],
        env: peerEnv(),
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      if (!out.success || text === "") {
        throw new Error(`child failed: ${new TextDecoder().decode(out.stderr)}`);
      }
      const r = JSON.parse(text);
      if (r.ok) return { value: "(value stays in the child)" };
      if (!r.isResolutionError) throw new Error(`child threw ${r.name}: ${r.message}`);
      throw new SecretResolutionError(r.message, {
        provider: "restricted",
        reference: JSON.stringify(ref),
        ...(r.status !== undefined ? { status: r.status } : {}),
        transient: r.transient,
      });
    },
  };
}
