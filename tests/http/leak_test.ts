/**
 * Leak test: a unique canary secret must not appear in anything written to stderr or stdout,
 * in any error message or `cause`, across every failure path we can provoke.
 */

import { createAuthFetch } from "../../http/auth_fetch.ts";
import { parseProfile } from "../../mod.ts";
import { createLogger } from "../../core/log.ts";
import { assert, assertNoCanary } from "../_assert.ts";
import { startServer } from "../_servers.ts";
import type { ProviderFactory } from "../../providers/types.ts";

const CANARY = `canary-${crypto.randomUUID()}`;

interface Case {
  readonly name: string;
  readonly secret: string;
  readonly rule: string;
  readonly status?: number;
}

Deno.test("createAuthFetch() never leaks a canary secret in errors, causes or logs", async (t) => {
  const lines: string[] = [];
  let status = 200;
  await using server = await startServer(() => new Response(`echo`, { status }));
  const dir = await Deno.makeTempDir();
  try {
    const cases: Case[] = [
      { name: "CR/LF in the value", secret: `${CANARY}\r\nX-Injected: 1`, rule: "auth: bearer" },
      {
        name: "missing template field",
        secret: JSON.stringify({ token: CANARY }),
        rule: 'auth: { type: header, name: X-K, value: "{{other}}" }',
      },
      {
        name: "missing field in reference",
        secret: JSON.stringify({ token: CANARY }),
        rule: "auth: bearer",
      },
      { name: "field on a string secret", secret: CANARY, rule: "auth: bearer" },
      { name: "basic auth without a colon", secret: CANARY, rule: "auth: basic" },
      {
        name: "invalid JSON that looks like an object",
        secret: `{"token": "${CANARY}"`,
        rule: "auth: { type: header, name: X-K, value: '{{user}}' }",
      },
      { name: "server answers 401 twice", secret: CANARY, rule: "auth: bearer", status: 401 },
      { name: "server answers 500", secret: CANARY, rule: "auth: bearer", status: 500 },
    ];
    for (const [i, c] of cases.entries()) {
      await t.step(c.name, async () => {
        status = c.status ?? 200;
        const path = `${dir}/secret-${i}`;
        await Deno.writeTextFile(path, c.secret);
        const field = c.name.startsWith("missing field")
          ? ", field: nope"
          : c.name.startsWith("field on")
          ? ", field: token"
          : "";
        const profile = parseProfile(
          `version: 1
providers: { f: { kind: file }, e: { kind: env } }
hosts:
  - { match: "${server.origin}", provider: f, secret: { path: "${path}"${field} }, ${c.rule} }
`,
          { env: {} },
        );
        const f = createAuthFetch(profile, {
          logWrite: (l) => lines.push(l),
          env: () => undefined,
        });
        // Debug level: the chattiest logs must be clean too.
        const debug = createAuthFetch(profile, {
          logger: createLogger({
            redactor: f.resolver.redactor,
            level: "debug",
            write: (l) => lines.push(l),
          }),
          resolver: f.resolver,
        });
        try {
          const res = await debug(`${server.origin}/api/2.0/mlflow/runs/get?run_id=1`, {
            method: "POST",
            body: "{}",
          });
          lines.push(`${res.status} ${await res.text()}`);
        } catch (error) {
          assertNoCanary(error, CANARY);
          lines.push(String(error));
        } finally {
          await f.close();
        }
      });
    }
    await t.step("provider that throws an error quoting the secret", async () => {
      const leaky: ProviderFactory = {
        kind: "env",
        create: (name, _c, ctx) => ({
          name,
          kind: "env",
          describe: () => "leaky:secret",
          resolve: () => {
            ctx.redactor.add(CANARY); // a well-behaved provider registers what it handles
            const cause = Object.assign(new Error(`upstream said ${CANARY}`), {
              headers: { token: CANARY },
            });
            return Promise.reject(
              new TypeError(`socket closed while sending ${btoa(CANARY)}`, { cause }),
            );
          },
        }),
      };
      const profile = parseProfile(
        `version: 1\nproviders: { e: { kind: env } }\nhosts:\n  - { match: "${server.origin}", provider: e, secret: { var: X }, auth: bearer, retry: { attempts: 2, base_delay: 1ms } }\n`,
        { env: {} },
      );
      await using f = createAuthFetch(profile, {
        providers: new Map([["env", leaky]]),
        logger: undefined,
        logWrite: (l) => lines.push(l),
        env: () => "debug",
      });
      try {
        await f(`${server.origin}/x`);
        throw new Error("expected a rejection");
      } catch (error) {
        assertNoCanary(error, CANARY);
        lines.push(String(error));
      }
    });
    assert(lines.length > 0, "nothing was logged: the test would prove nothing");
    for (const line of lines) assertNoCanary(line, CANARY);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
