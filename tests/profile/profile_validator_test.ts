/**
 * The profile validators compiled ahead of time: the committed module is what the generator
 * makes from the schema today, and it is the one the validator runs.
 */

import { generateValidator, VALIDATOR_FILES } from "../../scripts/gen_validator.ts";
import { assert, assertEquals } from "../_assert.ts";

Deno.test("profile/_profile_validator.js is up to date with schema/profile.schema.json (else: deno task gen:validator)", async () => {
  const { js, dts } = generateValidator();
  const hint = "out of date with the schema: run deno task gen:validator";
  assert(await Deno.readTextFile(VALIDATOR_FILES.js) === js, `_profile_validator.js ${hint}`);
  assertEquals(
    await Deno.readTextFile(VALIDATOR_FILES.dts),
    dts,
    `_profile_validator.d.ts ${hint}`,
  );
});

Deno.test("generateValidator() output changes with the schema, so the check above can fail", async () => {
  const schema = JSON.parse(
    await Deno.readTextFile(new URL("../../schema/profile.schema.json", import.meta.url)),
  );
  schema.properties.version.const = 2;
  const { js } = generateValidator(schema);
  assert(js !== await Deno.readTextFile(VALIDATOR_FILES.js), "a schema change left the code as is");
  assert(js.includes('"const":2'), "the changed rule is not in the generated code");
});
