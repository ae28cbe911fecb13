import { bearerTokenMatches, timingSafeEqual } from "../../http/_client_token.ts";
import { assert } from "../_assert.ts";

const TOKEN = "client-token-0123456789abcdef";

Deno.test("timingSafeEqual() compares whole byte strings whatever their lengths", () => {
  const e = new TextEncoder();
  assert(timingSafeEqual(e.encode(TOKEN), e.encode(TOKEN)));
  assert(!timingSafeEqual(e.encode(""), e.encode(TOKEN)));
  assert(!timingSafeEqual(e.encode(TOKEN.slice(0, 10)), e.encode(TOKEN)));
  assert(!timingSafeEqual(e.encode(TOKEN + "a"), e.encode(TOKEN)));
  assert(!timingSafeEqual(e.encode("X" + TOKEN.slice(1)), e.encode(TOKEN)));
  // A presented value padded with NUL bytes to the right length is not the token.
  const padded = new Uint8Array(TOKEN.length);
  padded.set(e.encode(TOKEN.slice(0, 5)));
  assert(!timingSafeEqual(padded, e.encode(TOKEN)));
});

Deno.test("bearerTokenMatches() takes the token of a Bearer header only, whatever the scheme's case", () => {
  const expected = new TextEncoder().encode(TOKEN);
  assert(bearerTokenMatches(`Bearer ${TOKEN}`, expected));
  assert(bearerTokenMatches(`bearer\t${TOKEN} `, expected));
  assert(!bearerTokenMatches(null, expected));
  assert(!bearerTokenMatches(TOKEN, expected));
  assert(!bearerTokenMatches(`Basic ${TOKEN}`, expected));
  assert(!bearerTokenMatches(`Bearer ${TOKEN} extra`, expected));
  assert(!bearerTokenMatches(`Bearer ${TOKEN}x`, expected));
});
