/**
 * Settings shared by the property-based tests: a fixed seed in CI, a random one on demand.
 *
 * `PROPERTY_SEED=random deno task test` (or any integer) changes the seed; `PROPERTY_RUNS`
 * changes the number of runs. A failure prints the seed and the shrunk counterexample, so it can
 * be replayed.
 */

import fc from "../deps/fast_check.ts";

export { fc };

function seed(): number {
  const raw = Deno.env.get("PROPERTY_SEED");
  if (raw === undefined || raw === "") return 20261201;
  if (raw === "random") {
    const s = crypto.getRandomValues(new Uint32Array(1))[0]!;
    console.log(`PROPERTY_SEED=${s}`);
    return s;
  }
  return Number(raw);
}

const SEED = seed();
const RUNS = Number(Deno.env.get("PROPERTY_RUNS") ?? "300");

/**
 * Runs a property with the suite's seed and number of runs.
 *
 * @param property A fast-check property.
 * @param runs Overrides the number of runs (for expensive properties).
 */
export function check<T>(
  property: fc.IPropertyWithHooks<T> | fc.IRawProperty<T>,
  runs?: number,
): void {
  fc.assert(property as fc.IRawProperty<T>, { seed: SEED, numRuns: runs ?? RUNS });
}

/** Same as {@linkcode check}, for async properties. */
export async function checkAsync<T>(
  property: fc.IAsyncPropertyWithHooks<T>,
  runs?: number,
): Promise<void> {
  await fc.assert(property, { seed: SEED, numRuns: runs ?? RUNS });
}
