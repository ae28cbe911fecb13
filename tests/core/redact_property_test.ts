import { Redactor } from "../../core/redact.ts";
import { assert } from "../_assert.ts";
import { check, fc } from "../_property.ts";

/** The forms a secret travels in that the redactor promises to mask. */
function forms(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1), btoa(bin)];
}

// Secrets without "*" (the mask itself) and at least 3 characters (shorter ones are never
// registered), of any other content.
const secret = fc.string({ unit: "binary", minLength: 3, maxLength: 64 }).filter((s) =>
  !s.includes("*")
);
const filler = fc.string({ unit: "grapheme-ascii", maxLength: 40 }).filter((s) => !s.includes("*"));

Deno.test("Redactor.redact() leaves no registered secret in any derived form, whatever its bytes", () => {
  check(fc.property(
    fc.array(secret, { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(filler, fc.nat()), { minLength: 1, maxLength: 6 }),
    (secrets, pieces) => {
      const r = new Redactor();
      for (const s of secrets) r.add(s);
      const all = secrets.flatMap(forms);
      const text = pieces.map(([f, i]) => f + all[i % all.length]).join("");
      const out = r.redact(text);
      for (const s of secrets) {
        for (const f of forms(s)) {
          if (f.length >= 3) {
            assert(!out.includes(f), `form ${JSON.stringify(f)} left in the output`);
          }
        }
      }
    },
  ));
});

Deno.test("Redactor.redact() masks large secrets inside long lines", () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.stringMatching(/^[A-Za-z0-9+/=_-]{8,16}$/),
      (kib, seed) => {
        const big = seed.repeat(Math.ceil((kib * 1024) / seed.length)).slice(0, kib * 1024);
        const r = new Redactor();
        r.add({ token: "tok-" + seed, ca_bundle: big });
        const out = r.redact(`start ${big} middle ${btoa(big)} end tok-${seed}`);
        assert(!out.includes(big) && !out.includes(btoa(big)) && !out.includes(`tok-${seed}`));
        assert(out.startsWith("start ") && out.endsWith(" end ***"), out.slice(0, 80));
      },
    ),
    30,
  );
});
