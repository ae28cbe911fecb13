/**
 * The flags of `init`, from the registry: `--provider` takes a kind, and each kind's template
 * adds the flags of its questions (a flag two kinds share, like `--path`, is listed once, with
 * both meanings). Loads no profile parser, so the command line can be defined cheaply.
 *
 * @module
 */

import type { ProviderDescriptor } from "../providers/descriptor.ts";
import { PROVIDER_DESCRIPTORS } from "../providers/registry.ts";

/** One `init` flag of a provider kind's template. */
export interface InitFlag {
  /** Flag and argument, e.g. `--secret-id <id>`. */
  readonly flags: string;
  /** Help text: each kind that uses it, and what it gives, e.g. `aws-secrets-manager: region`. */
  readonly description: string;
  /** The allowed values, when the question has a closed list. */
  readonly choices?: readonly string[];
}

/**
 * The `init` flags of every kind, in the registry's order.
 *
 * @param descriptors Provider descriptors by kind. Default the registry's.
 * @returns The flags.
 *
 * @example
 * ```ts
 * import { initFlags } from "./_init_flags.ts";
 * const path = initFlags().find((f) => f.flags === "--path <path>");
 * if (path?.description !== "file: the secret file; vault: the secret path") throw new Error();
 * ```
 */
export function initFlags(
  descriptors: ReadonlyMap<string, ProviderDescriptor> = PROVIDER_DESCRIPTORS,
): InitFlag[] {
  const byFlag = new Map<string, { flags: string; uses: string[]; choices?: readonly string[] }>();
  for (const [kind, descriptor] of descriptors) {
    for (const q of descriptor.init.questions) {
      const flag = byFlag.get(q.flag) ?? { flags: `${q.flag} <${q.argument}>`, uses: [] };
      flag.uses.push(`${kind}: ${q.help}`);
      if (q.choices !== undefined) flag.choices = q.choices.values;
      byFlag.set(q.flag, flag);
    }
  }
  return [...byFlag.values()].map(({ flags, uses, choices }) => ({
    flags,
    description: uses.join("; "),
    ...(choices !== undefined ? { choices } : {}),
  }));
}
