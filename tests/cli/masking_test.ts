/**
 * What the CLI promises to mask stays masked: a `${VAR}` inside an auth-header template in
 * `explain`, and the password of a URL's userinfo wherever a command quotes a URL back (messages
 * and their `cause`).
 */

import { main } from "../../cli.ts";
import { runDoctor } from "../../cli/doctor.ts";
import { runExec } from "../../cli/exec.ts";
import { runExplain } from "../../cli/explain.ts";
import { runInit } from "../../cli/init.ts";
import { UsageError } from "../../cli/errors.ts";
import {
  assert,
  assertEquals,
  assertNoCanary,
  assertRejects,
  assertStringIncludes,
} from "../_assert.ts";
import { fakeIo, tempFile } from "./_io.ts";

const CANARY = `pw-canary-${crypto.randomUUID()}`;

Deno.test("main() explain masks a ${VAR} inside an auth-header template, as in a static header", async () => {
  const path = await tempFile(
    "template.yaml",
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - match: "https://mlflow.example.com"
    provider: ci
    secret: { var: T }
    auth: { type: header, name: X-Api-Key, value: "\${ORG_KEY}:{{token}}" }
    headers: { X-Org: "\${ORG_KEY}" }
  - match: "https://plain.example.com"
    provider: ci
    secret: { var: T }
    auth: { type: header, name: X-Api-Key, value: "org-1:{{token}}" }
`,
  );
  for (const args of [[], ["--json"], ["--url", "https://mlflow.example.com/x"]]) {
    const io = fakeIo({ env: { ORG_KEY: CANARY } });
    assertEquals(await main(["explain", "-p", path, ...args], io), 0, io.err());
    assertNoCanary(io.out() + io.err(), CANARY);
    assertStringIncludes(io.out(), "X-Api-Key");
  }
  // A template written in the profile itself is still shown.
  const io = fakeIo({ env: { ORG_KEY: CANARY } });
  assertEquals(await main(["explain", "-p", path], io), 0);
  assertStringIncludes(io.out(), "X-Api-Key: org-1:<redacted: token>");
});

Deno.test("main() validate never prints the password of a match pattern's userinfo", async () => {
  for (const match of [`https://alice:${CANARY}@mlflow.example.com`, `ftp://alice:${CANARY}@x`]) {
    const path = await tempFile(
      "userinfo.yaml",
      `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "${match}", provider: ci, secret: { var: T }, auth: bearer }
`,
    );
    for (const args of [[], ["--json"]]) {
      const io = fakeIo();
      assertEquals(await main(["validate", "-p", path, ...args], io), 2);
      assertNoCanary(io.out() + io.err(), CANARY);
      assertStringIncludes(io.out() + io.err(), "***@");
    }
    for (const cmd of ["explain", "doctor", "info"]) {
      const io = fakeIo();
      await main([cmd, "-p", path], io);
      assertNoCanary(io.out() + io.err(), CANARY);
    }
  }
});

Deno.test("exec, explain, doctor and init never quote a URL's password back, in messages or causes", async () => {
  const path = await tempFile(
    "ok.yaml",
    `version: 1
providers: { ci: { kind: env } }
hosts:
  - { match: "http://127.0.0.1:5000", provider: ci, secret: { var: T }, auth: bearer }
`,
  );
  const env = { T: "token-value-0123456789" };
  const bad = [`ftp://bob:${CANARY}@x`, `http://bob:${CANARY}@[::1`, `bob:${CANARY}@host`];
  for (const url of bad) {
    for (const mode of ["proxy", "direct"] as const) {
      const io = fakeIo({ env });
      const err = await assertRejects(
        () => runExec(["true"], { profile: path, upstream: url, envMode: mode }, io),
        UsageError,
      );
      assertNoCanary(err, CANARY);
      assertNoCanary(io.out() + io.err(), CANARY);
      const viaMain = fakeIo({ env });
      assertEquals(
        await main(
          ["exec", "-p", path, "--upstream", url, "--env-mode", mode, "--", "true"],
          viaMain,
        ),
        2,
      );
      assertNoCanary(viaMain.out() + viaMain.err(), CANARY);
    }
    const io = fakeIo({ env });
    const runs: (() => Promise<unknown>)[] = [
      () => runExplain({ profile: path, url: [url] }, io),
      () => runDoctor({ profile: path, url: [url] }, io),
      () => runInit({ provider: "env", host: url, var: "T", stdout: true }, io),
    ];
    let thrown = 0;
    for (const run of runs) {
      try {
        await run();
      } catch (e) {
        thrown++;
        assertNoCanary(e, CANARY);
      }
    }
    assert(thrown >= 2, "the bad URLs were not refused");
    assertNoCanary(io.out() + io.err(), CANARY);
    for (const args of [["explain", "--url"], ["doctor", "--url"]]) {
      const io = fakeIo({ env });
      await main([args[0]!, "-p", path, args[1]!, url], io);
      assertNoCanary(io.out() + io.err(), CANARY);
    }
  }
});
