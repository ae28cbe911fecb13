import { REDACTION_FAILED, Redactor } from "../../core/redact.ts";
import { createLogger } from "../../core/log.ts";
import { assert, assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";

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

/** A PEM-like block of `bytes` random base64 lines, as a CA bundle would be. */
function pem(bytes: number): string {
  const raw = new Uint8Array(Math.ceil(bytes * 3 / 4));
  for (let at = 0; at < raw.length; at += 65_536) {
    crypto.getRandomValues(raw.subarray(at, at + 65_536));
  }
  let b64 = "";
  for (let at = 0; at < raw.length; at += 0x3000) {
    b64 += btoa(String.fromCharCode(...raw.subarray(at, at + 0x3000)));
  }
  const lines = b64.slice(0, bytes).match(/.{1,64}/g)!;
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

function utf8Base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let b64 = "";
  for (let at = 0; at < bytes.length; at += 0x3000) {
    b64 += btoa(String.fromCharCode(...bytes.subarray(at, at + 0x3000)));
  }
  return b64;
}

Deno.test("Redactor.redact() masks a JSON secret holding a 30 KB PEM, every form, without throwing", () => {
  const r = new Redactor();
  const secret = { token: CANARY, ca_bundle: pem(30 * 1024) };
  r.add(secret);
  r.add(CANARY);
  const json = JSON.stringify(secret);
  for (
    const text of [
      `line ${CANARY} end`,
      `body ${json} end`,
      `b64 ${utf8Base64(secret.ca_bundle)} end`,
      `url ${encodeURIComponent(secret.ca_bundle)} end`,
    ]
  ) {
    const out = r.redact(text);
    assertNoCanary(out, CANARY);
    assert(!out.includes(secret.ca_bundle.slice(30, 90)), "PEM body leaked");
    assert(out.length < 200, `not masked: ${out.length} characters left`);
  }
});

Deno.test("Redactor.redact() masks a 1 MiB secret in all four forms", () => {
  const r = new Redactor();
  const big = `${CANARY}:${pem(1024 * 1024)}`;
  assert(big.length > 1024 * 1024);
  r.add(big);
  const forms = [big, utf8Base64(big), encodeURIComponent(big), JSON.stringify(big).slice(1, -1)];
  for (const f of forms) {
    assertEquals(r.redact(`<${f}>`), "<***>");
  }
  // A line that holds only part of it is left alone, and cheaply.
  assertEquals(r.redact(`x ${big.slice(0, 100)} y`), `x ${big.slice(0, 100)} y`);
});

Deno.test("Redactor.redact() lets the longest form win and merges overlapping matches", () => {
  const r = new Redactor();
  r.add("token-abc");
  r.add("token-abcdef");
  assertEquals(r.redact("x token-abcdef y"), "x *** y");
  assertEquals(r.redact("x token-abc y"), "x *** y");
  const s = new Redactor();
  s.add("first-secret-overlap");
  s.add("overlap-second-secret");
  // Leftmost-first matching would leave "-second-secret" in clear.
  assertEquals(s.redact("a first-secret-overlap-second-secret b"), "a *** b");
  assertEquals(s.redact("first-secret-overlapoverlap-second-secret"), "******");
});

Deno.test("Redactor.add() registers a value that has no URL encoding (a lone surrogate)", () => {
  const r = new Redactor();
  const odd = `lone-\uD800-surrogate-${CANARY}`;
  r.add(odd);
  assertEquals(r.redact(`v=${odd}`), "v=***");
});

Deno.test("Redactor.redact() withholds the whole text when masking fails, and never throws", () => {
  const r = new Redactor();
  r.add(CANARY);
  const startsWith = String.prototype.startsWith;
  // Simulates a failure inside the search (no registered value can provoke one any more).
  String.prototype.startsWith = () => {
    throw new Error(`search failed on ${CANARY}`);
  };
  let out: string;
  let err: Error;
  try {
    out = r.redact(`token=${CANARY}`);
    err = r.redactError(new Error(`failed with ${CANARY}`));
  } finally {
    String.prototype.startsWith = startsWith;
  }
  assertEquals(out, REDACTION_FAILED);
  assertNoCanary(err, CANARY);
  assertEquals(err.message, REDACTION_FAILED);
});

Deno.test("createLogger() drops a line it cannot mask and writes a fixed notice instead", () => {
  const lines: string[] = [];
  const failing = {
    redact(text: string): string {
      throw new Error(`cannot mask ${text}`);
    },
  } as unknown as Redactor;
  const log = createLogger({ redactor: failing, level: "info", write: (l) => lines.push(l) });
  log.warn(`leaking ${CANARY}`, { header: CANARY });
  const r = new Redactor();
  r.add(CANARY);
  const json = createLogger({ redactor: r, format: "json", write: (l) => lines.push(l) });
  json.error(`with ${CANARY}`, { n: 1n });
  assertEquals(lines.length, 2);
  for (const l of lines) {
    assertNoCanary(l, CANARY);
    assertStringIncludes(l, REDACTION_FAILED);
  }
  assertEquals(JSON.parse(lines[1]!).msg, REDACTION_FAILED);
});

Deno.test("Redactor.search() finds the first registered form, with few forms and with many", () => {
  for (const extra of [0, 40]) {
    const r = new Redactor();
    r.add(CANARY);
    for (let i = 0; i < extra; i++) r.add(`other-secret-${i}-xyz`);
    assertEquals(r.search("nothing here"), -1);
    assertEquals(r.search(`ab ${btoa(CANARY)} ${CANARY}`), 3);
    assertEquals(
      r.search(`x other-secret-7-xyz ${encodeURIComponent(CANARY)}`),
      extra > 0 ? 2 : 21,
    );
  }
  assertEquals(new Redactor().search(CANARY), -1);
});

Deno.test("Redactor.remove() unregisters a value and its forms, and keeps a form another registered value still derives", () => {
  const r = new Redactor();
  r.add("keep-this-secret-1234");
  const kept = r.size;
  r.add("expired-token-abcdef0123");
  r.add({ nested: "expired-token-abcdef0123" });
  assert(r.size > kept);
  const b64 = btoa("expired-token-abcdef0123");
  r.remove("expired-token-abcdef0123");
  // Added twice (once in an object): still registered until removed twice.
  assertEquals(r.redact(`t=${b64}`), "t=***");
  r.remove({ nested: "expired-token-abcdef0123" });
  assertEquals(r.size, kept);
  assertEquals(r.redact(`t=expired-token-abcdef0123 ${b64}`), `t=expired-token-abcdef0123 ${b64}`);
  assertEquals(r.search("expired-token-abcdef0123"), -1);
  assertEquals(r.redact("a keep-this-secret-1234 b"), "a *** b");
  // Removing what was never added changes nothing.
  r.remove("never-added-value-999");
  assertEquals(r.size, kept);
});
