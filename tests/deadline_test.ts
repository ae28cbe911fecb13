import { assert, assertEquals, assertRejects, assertStringIncludes } from "./_assert.ts";
import { withDeadline } from "./_deadline.ts";

const context = { name: "a hanging test" } as Deno.TestContext;

Deno.test("withDeadline() fails a test that hangs, with a message naming it and the deadline", async () => {
  const started = performance.now();
  // A test waiting on a server that never answers: a promise that never settles.
  const hang = withDeadline(0.2, () => new Promise<void>(() => {}));
  const error = await assertRejects(() => Promise.resolve(hang(context)), Error);
  assertStringIncludes(error.message, '"a hanging test"');
  assertStringIncludes(error.message, "deadline of 0.2 s");
  assert(performance.now() - started < 10_000, "the deadline did not end the wait");
});

Deno.test("withDeadline() passes a test's result and failure through, and leaves no timer", async () => {
  let ran = 0;
  await withDeadline(5, async () => {
    await Promise.resolve();
    ran++;
  })(context);
  assertEquals(ran, 1);
  await assertRejects(
    () =>
      Promise.resolve(
        withDeadline(5, () => {
          throw new Error("the test's own failure");
        })(context),
      ),
    Error,
    "the test's own failure",
  );
});
