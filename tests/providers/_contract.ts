/**
 * The provider contract suite: every provider passes it. A provider resolves a value, maps
 * not-found and access-denied to non-transient {@linkcode SecretResolutionError}s with status 404
 * and 403, honours an `AbortSignal`, and never puts the value in an error.
 */

import { SecretResolutionError } from "../../core/errors.ts";
import type { SecretProvider, SecretRef, SecretValue } from "../../providers/types.ts";
import { assert, assertEquals, assertNoCanary } from "../_assert.ts";

/** What a provider's test hands to the suite. */
export interface ContractFixture {
  /** The provider under test. */
  readonly provider: SecretProvider;
  /** A reference that exists, and the value expected for it. The value contains `canary`. */
  readonly existing: { readonly ref: SecretRef; readonly value: SecretValue };
  /** A reference that does not exist. */
  readonly missing: SecretRef;
  /** A reference the provider's identity may not read, or a provider set up to be denied. */
  readonly denied: { readonly ref: SecretRef; readonly provider?: SecretProvider };
  /** A unique string inside the existing value. */
  readonly canary: string;
  /** Optional: a reference whose read hangs until aborted (to prove mid-flight abort). */
  readonly hanging?: { readonly ref: SecretRef; readonly provider?: SecretProvider };
}

/**
 * Runs the contract as steps of the current test.
 *
 * @param t The test context.
 * @param fixture The provider and its references.
 */
export async function runProviderContract(
  t: Deno.TestContext,
  fixture: ContractFixture,
): Promise<void> {
  const { provider, canary } = fixture;
  const signal = () => new AbortController().signal;

  await t.step("resolves an existing secret", async () => {
    const r = await provider.resolve(fixture.existing.ref, { signal: signal() });
    assertEquals(r.value, fixture.existing.value);
    assert(JSON.stringify(r.value).includes(canary), "fixture value must contain the canary");
  });

  await t.step("describe() names the reference without the value", () => {
    const d = provider.describe(fixture.existing.ref);
    assert(d.length > 0, "empty description");
    assertNoCanary(d, canary);
  });

  await t.step("maps a missing secret to a non-transient 404 error", async () => {
    const err = await rejection(provider.resolve(fixture.missing, { signal: signal() }));
    assert(err instanceof SecretResolutionError, `expected SecretResolutionError, got ${err}`);
    assertEquals(err.status, 404);
    assertEquals(err.transient, false);
    assertEquals(err.provider, provider.name);
    assertNoCanary(err, canary);
  });

  await t.step("maps access denied to a non-transient 403 error", async () => {
    const p = fixture.denied.provider ?? provider;
    const err = await rejection(p.resolve(fixture.denied.ref, { signal: signal() }));
    assert(err instanceof SecretResolutionError, `expected SecretResolutionError, got ${err}`);
    assertEquals(err.status, 403);
    assertEquals(err.transient, false);
    assertNoCanary(err, canary);
  });

  await t.step("rejects at once on an aborted signal", async () => {
    const c = new AbortController();
    c.abort(new DOMException("stop", "AbortError"));
    const err = await rejection(provider.resolve(fixture.existing.ref, { signal: c.signal }));
    assert(err instanceof Error, "expected an error");
    assertNoCanary(err, canary);
  });

  if (fixture.hanging !== undefined) {
    const hanging = fixture.hanging;
    await t.step("aborts a read in flight", async () => {
      const p = hanging.provider ?? provider;
      const c = new AbortController();
      const pending = rejection(p.resolve(hanging.ref, { signal: c.signal }));
      setTimeout(() => c.abort(new DOMException("stop", "AbortError")), 50);
      const err = await pending;
      assert(err instanceof Error, "expected an error");
      assertNoCanary(err, canary);
    });
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection, got a value");
}
