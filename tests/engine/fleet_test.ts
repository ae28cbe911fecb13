import { FLEET_SCENARIO, simulateFleet } from "../../bench/fleet_sim.ts";
import { assert } from "../_assert.ts";

Deno.test("SecretCache keeps a fleet's provider calls near the steady rate through an outage", async () => {
  // 1,500 jobs, each with its own real cache on one virtual clock (about 3 s of CPU).
  const result = await simulateFleet({ ...FLEET_SCENARIO, jobs: 1_500, durationMs: 24 * 60_000 });
  const { steady, outage, recovery } = result.phases as Record<string, number>;
  assert(steady! > 0 && result.failedRequests === 0, "every request had a credential");
  // A fixed 2 s failure memory made each failing cache retry every 2 s: 11x the steady rate.
  assert(
    outage! <= 1.25 * steady!,
    `outage ${outage!.toFixed(1)}/s vs steady ${steady!.toFixed(1)}/s`,
  );
  assert(
    recovery! <= 1.5 * steady!,
    `recovery ${recovery!.toFixed(1)}/s vs steady ${steady!.toFixed(1)}/s`,
  );
});
