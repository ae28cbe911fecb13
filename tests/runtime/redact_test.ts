import { Redactor } from "../../runtime/redact.ts";
import { createLogger } from "../../runtime/log.ts";
import { assertEquals, assertNoCanary } from "../_assert.ts";

const CANARY = "canary-1b2c3d4e-secret/value+x";

Deno.test("Redactor.redact() masks a value and its derived forms", () => {
  const r = new Redactor();
  r.add(CANARY);
  const forms = [
    CANARY,
    `Bearer ${CANARY}`,
    btoa(CANARY),
    encodeURIComponent(CANARY),
    JSON.stringify(CANARY),
  ];
  for (const f of forms) assertNoCanary(r.redact(`x ${f} y`), CANARY);
  assertEquals(r.redact(`token=${CANARY}`), "token=***");
});

Deno.test("Redactor.add() registers every string leaf of an object secret", () => {
  const r = new Redactor();
  r.add({ username: "alice-user", password: CANARY, nested: { k: "nested-secret" } });
  assertEquals(r.redact(`alice-user ${CANARY} nested-secret`), "*** *** ***");
});

Deno.test("Redactor.redactError() masks message, stack and the whole cause chain, and drops objects", () => {
  const r = new Redactor();
  r.add(CANARY);
  const inner = Object.assign(new Error(`inner ${CANARY}`), {
    config: { headers: { "X-Vault-Token": CANARY } },
    code: `E_${CANARY}`,
  });
  const outer = new TypeError(`outer ${btoa(CANARY)}`, { cause: inner });
  const safe = r.redactError(outer);
  assertNoCanary(safe, CANARY);
  assertEquals(safe instanceof TypeError, true);
  assertEquals((safe.cause as Error).message, "inner ***");
  // The original is untouched.
  assertEquals(inner.message, `inner ${CANARY}`);
});

Deno.test("createLogger() masks secrets in text and JSON lines, fields included", () => {
  const r = new Redactor();
  r.add(CANARY);
  const lines: string[] = [];
  for (const format of ["text", "json"] as const) {
    const log = createLogger({ redactor: r, level: "debug", format, write: (l) => lines.push(l) });
    log.info(`resolved ${CANARY}`, { header: `Bearer ${CANARY}`, err: new Error(CANARY) });
  }
  assertEquals(lines.length, 2);
  for (const l of lines) assertNoCanary(l, CANARY);
  JSON.parse(lines[1]!);
});

Deno.test("createLogger() honours the level", () => {
  const lines: string[] = [];
  const log = createLogger({
    redactor: new Redactor(),
    level: "warn",
    write: (l) => lines.push(l),
  });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assertEquals(lines.length, 2);
});
