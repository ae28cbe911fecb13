/**
 * A deadline for each network test: a test that has not finished after N seconds fails with a
 * message saying so, instead of hanging the whole run until someone kills it.
 */

/** What a test function receives and returns. */
type TestFn = (t: Deno.TestContext) => void | Promise<void>;

/**
 * Wraps a test function so that it fails after `seconds`.
 *
 * @param seconds The deadline.
 * @param fn The test.
 * @returns A test function that rejects with a clear message once the deadline passes.
 */
export function withDeadline(seconds: number, fn: TestFn): TestFn {
  return async (t) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new Error(
            `Test "${t.name}" did not finish within its deadline of ${seconds} s: it hangs (a client or a server waiting for the other?)`,
          ),
        );
      }, seconds * 1000);
    });
    try {
      await Promise.race([(async () => await fn(t))(), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** `Deno.test` with a deadline on every test it declares. */
export interface DeadlineTest {
  (name: string, fn: TestFn): void;
  (definition: Deno.TestDefinition): void;
}

/**
 * Returns a `Deno.test` whose tests each fail after `seconds` rather than hang.
 *
 * @param seconds The deadline of each test.
 * @returns The test declarer.
 */
export function deadlineTest(seconds: number): DeadlineTest {
  return ((nameOrDefinition: string | Deno.TestDefinition, fn?: TestFn): void => {
    if (typeof nameOrDefinition === "string") {
      Deno.test(nameOrDefinition, withDeadline(seconds, fn!));
    } else {
      Deno.test({ ...nameOrDefinition, fn: withDeadline(seconds, nameOrDefinition.fn) });
    }
  }) as DeadlineTest;
}
