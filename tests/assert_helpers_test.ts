import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./_assert.ts";

function fails(fn: () => void, what: string): void {
  let threw = false;
  try {
    fn();
  } catch {
    threw = true;
  }
  if (!threw) throw new Error(`the helper accepted ${what}`);
}

Deno.test("assertEquals() tells apart what canonical JSON conflates", () => {
  fails(() => assertEquals(new Map([["a", 1]]), new Map()), "two different Maps");
  fails(() => assertEquals(new Set([1]), new Set([2])), "two different Sets");
  fails(() => assertEquals({ a: undefined }, {}), "an undefined-valued property");
  fails(() => assertEquals(new Date(0), new Date(1)), "two different Dates");
  fails(() => assertEquals(new Uint8Array([1]), new Uint8Array([2])), "different bytes");
  fails(() => assertEquals(new Uint8Array([1]), [1]), "bytes and an array");
  fails(() => assertEquals(NaN, 0), "NaN and 0");
  fails(() => assertEquals(1, "1"), "a number and a string");
  fails(() => assertEquals(() => 1, () => 1), "two functions");
  class Point {
    constructor(readonly x: number) {}
  }
  fails(() => assertEquals(new Point(1), { x: 1 }), "a class instance and a plain object");
  fails(() => assertEquals([1, 2], [2, 1]), "arrays in another order");
});

Deno.test("assertEquals() accepts deeply equal values, key order aside", () => {
  assertEquals(new Map([["a", { b: [1, 2] }]]), new Map([["a", { b: [1, 2] }]]));
  assertEquals({ a: 1, b: 2 }, { b: 2, a: 1 });
  assertEquals(new Uint8Array([1, 2]), new Uint8Array([1, 2]));
  assertEquals(NaN, NaN);
});

Deno.test("assert(), assertStringIncludes(), assertThrows() and assertRejects() fail when they should", async () => {
  fails(() => assert(false), "false");
  fails(() => assert(0), "0");
  fails(() => assertStringIncludes("abc", "d"), "a missing part");
  fails(() => assertThrows(() => 1), "a function that returns");
  fails(() =>
    assertThrows(() => {
      throw new Error("x");
    }, TypeError), "the wrong class");
  fails(() =>
    assertThrows(
      () => {
        throw new Error("x");
      },
      Error,
      "y",
    ), "the wrong message");
  let rejected = false;
  await assertRejects(() => Promise.resolve(1)).catch(() => rejected = true);
  assert(rejected, "assertRejects() accepted a resolved promise");
  const e = await assertRejects(() => Promise.reject(new RangeError("out")), RangeError, "out");
  assertEquals(e.name, "RangeError");
});
