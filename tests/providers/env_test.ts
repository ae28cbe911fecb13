import { createEnvProvider } from "../../providers/env.ts";
import { Redactor } from "../../core/redact.ts";
import { silentLogger } from "../../core/log.ts";
import { runProviderContract } from "./_contract.ts";
import { restrictedProvider } from "./_restricted.ts";
import { assertEquals } from "../_assert.ts";

const CANARY = `canary-${crypto.randomUUID()}`;

function provider(vars: Record<string, string>) {
  return createEnvProvider("ci", {}, {
    env: (n) => vars[n],
    fetch,
    now: Date.now,
    logger: silentLogger,
    redactor: new Redactor(),
  });
}

Deno.test("createEnvProvider() passes the provider contract", async (t) => {
  await runProviderContract(t, {
    provider: provider({ MLFLOW_TOKEN: CANARY }),
    existing: { ref: { var: "MLFLOW_TOKEN" }, value: CANARY },
    missing: { var: "NOT_SET_ANYWHERE" },
    // A real permission denial: a child process without --allow-env for the variable.
    denied: {
      ref: { var: "MLFLOW_DENIED_VAR" },
      provider: restrictedProvider("env", ["--allow-env=SOMETHING_ELSE"]),
    },
    canary: CANARY,
  });
});

Deno.test("createEnvProvider() uses a JSON-object value as an object, anything else as a string", async () => {
  const p = provider({ OBJ: '{"username":"u","password":"p"}', ARR: "[1,2]", BAD: "{not json" });
  const signal = new AbortController().signal;
  assertEquals((await p.resolve({ var: "OBJ" }, { signal })).value, {
    username: "u",
    password: "p",
  });
  assertEquals((await p.resolve({ var: "ARR" }, { signal })).value, "[1,2]");
  assertEquals((await p.resolve({ var: "BAD" }, { signal })).value, "{not json");
});
