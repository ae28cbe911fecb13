/**
 * The end-to-end rotation scenario every provider's `*_e2e_test.ts` runs: a local tracking server
 * that accepts exactly the current bearer token, `createAuthFetch` over the provider's profile,
 * one request with {@linkcode TOKEN_BEFORE}, a rotation of the secret to {@linkcode TOKEN_AFTER}
 * done by the provider's test, and one more request that must go through after exactly one 401.
 */

import { type AuthFetch, createAuthFetch, parseProfile } from "../../mod.ts";
import { assertEquals } from "../_assert.ts";
import { startServer, type TestServer } from "../_servers.ts";

/** The token the secret holds when the scenario starts. */
export const TOKEN_BEFORE = "tok-before-rotation";
/** The token the secret holds after `rotate()`. */
export const TOKEN_AFTER = "tok-after-rotation";

/** What a provider's end-to-end test hands to {@linkcode runRotationScenario}. */
export interface RotationFixture {
  /** The profile's text: one bearer rule for `trackingOrigin`, reading the rotated token. */
  profile(trackingOrigin: string): string;
  /** The profile's file name, for messages. */
  readonly source: string;
  /** The variables the profile and its providers read. */
  readonly env: Readonly<Record<string, string>>;
  /** Changes the secret from {@linkcode TOKEN_BEFORE} to {@linkcode TOKEN_AFTER}. */
  rotate(): Promise<unknown> | void;
}

/** The scenario's server and auth fetch, still open for more checks until disposed. */
export interface RotationRun extends AsyncDisposable {
  readonly tracking: TestServer;
  readonly authFetch: AuthFetch;
  /** Every line the auth fetch logged. */
  readonly logs: readonly string[];
}

/**
 * Runs the scenario and asserts that the tracking server saw the old token twice (the request,
 * then the 401 that triggered the refresh) and the new token once.
 *
 * @param fixture The provider's profile, environment and rotation.
 * @returns The open server and auth fetch; dispose them.
 */
export async function runRotationScenario(fixture: RotationFixture): Promise<RotationRun> {
  await using stack = new AsyncDisposableStack();
  let accepted = TOKEN_BEFORE;
  const tracking = stack.use(
    await startServer((req) =>
      req.headers.get("authorization") === `Bearer ${accepted}`
        ? Response.json({ experiments: [] })
        : new Response("unauthorized", { status: 401 })
    ),
  );
  const profile = parseProfile(fixture.profile(tracking.origin), {
    source: fixture.source,
    env: fixture.env,
  });
  const logs: string[] = [];
  const authFetch = stack.use(createAuthFetch(profile, {
    env: (n) => fixture.env[n],
    logWrite: (l) => logs.push(l),
  }));
  const url = `${tracking.origin}/api/2.0/mlflow/experiments/search`;

  const first = await authFetch(url);
  assertEquals(first.status, 200);
  await first.body?.cancel();

  await fixture.rotate();
  accepted = TOKEN_AFTER;

  const second = await authFetch(url);
  assertEquals(second.status, 200);
  await second.body?.cancel();

  assertEquals(
    tracking.received.map((r) => r.headers.get("authorization")),
    [`Bearer ${TOKEN_BEFORE}`, `Bearer ${TOKEN_BEFORE}`, `Bearer ${TOKEN_AFTER}`],
  );
  const owned = stack.move();
  return { tracking, authFetch, logs, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}
