/**
 * The canary sweep: every command on every failure path we can provoke, once with a 64-byte
 * canary token and once with a 100 KB JSON secret holding that token (`field: token`), from the
 * env and the file provider. Nothing of the secret reaches stdout, stderr, access logs, responses
 * the proxy writes itself, or the `cause` chain of an error; the proxy keeps serving after every
 * failure.
 */

import { main } from "../../cli.ts";
import { runDoctor } from "../../cli/doctor.ts";
import { runExec } from "../../cli/exec.ts";
import { runProxy } from "../../cli/proxy.ts";
import { assert, assertEquals, assertNoCanary } from "../_assert.ts";
import { peerEnv } from "../_peers/_process.ts";
import { closedPort, type FakeIo, fakeIo, serve, tempDir } from "./_io.ts";

/** 64 bytes. */
const CANARY = `cnry-${crypto.randomUUID()}${crypto.randomUUID()}`.slice(0, 64);

/** A 100 KB JSON secret whose `token` field is the canary. */
function bigSecret(): string {
  const filler = new Uint8Array(75 * 1024);
  for (let at = 0; at < filler.length; at += 65_536) {
    crypto.getRandomValues(filler.subarray(at, at + 65_536));
  }
  let blob = "";
  for (let at = 0; at < filler.length; at += 0x3000) {
    blob += btoa(String.fromCharCode(...filler.subarray(at, at + 0x3000)));
  }
  const text = JSON.stringify({ token: CANARY, ca_bundle: blob, note: `held ${CANARY}` });
  assert(text.length >= 100 * 1024, "the big secret is not 100 KB");
  return text;
}
const BIG = bigSecret();
/** Pieces of the big secret besides the canary. */
const PIECES = [BIG.slice(2_000, 2_060), BIG.slice(60_000, 60_060)];

interface Shape {
  readonly name: string;
  /** Variables for the env provider. */
  readonly env: Record<string, string>;
  /** The provider block and the secret reference of the rule. */
  readonly provider: string;
  readonly secret: string;
}

async function shapes(): Promise<Shape[]> {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/big.json`, BIG);
  return [
    {
      name: "64-byte token",
      env: { TOKEN: CANARY },
      provider: "{ kind: env }",
      secret: "{ var: TOKEN }",
    },
    {
      name: "100 KB JSON secret (env)",
      env: { TOKEN: BIG },
      provider: "{ kind: env }",
      secret: "{ var: TOKEN, field: token }",
    },
    {
      name: "100 KB JSON secret (file)",
      env: {},
      provider: "{ kind: file }",
      secret: `{ path: "${dir}/big.json", field: token }`,
    },
  ];
}

function profile(shape: Shape, url: string, extra = ""): string {
  return [
    "version: 1",
    `providers: { p: ${shape.provider} }`,
    "hosts:",
    `  - { match: "${url}", provider: p, secret: ${shape.secret}, auth: bearer }`,
    `  - { match: "${url}/hdr", provider: p, secret: ${shape.secret}, auth: { type: header, name: X-Api-Key, value: "k={{token}}" } }`,
    extra,
    "",
  ].join("\n");
}

function clean(label: string, value: unknown): void {
  try {
    assertNoCanary(value, CANARY);
    const text = typeof value === "string" ? value : Deno.inspect(value, { depth: 10 });
    for (const piece of PIECES) assert(!text.includes(piece), "a piece of the JSON secret leaked");
    assert(!text.includes("Invalid regular expression"), "the redactor failed");
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}`);
  }
}

/** Runs `main()` and checks what it wrote. */
async function command(label: string, args: string[], env: Record<string, string>) {
  const io = fakeIo({ env: { ...env, MLFLOW_SECRETS_AUTH_LOG_LEVEL: "debug" } });
  let code: number;
  try {
    code = await main(args, io);
  } catch (error) {
    clean(`${label} (thrown)`, error);
    throw error;
  }
  clean(label, io.out() + io.err());
  return code;
}

/** Runs a command function that may throw: its output and any error (cause chain) are clean. */
async function thrown(label: string, io: FakeIo, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    clean(`${label} (error)`, error);
  }
  clean(label, io.out() + io.err());
}

/** An upstream that echoes every credential it gets and refuses it, or misbehaves by path. */
function hostileUpstream(redirectTo: string) {
  return serve((req) => {
    const u = new URL(req.url);
    const creds = `${req.headers.get("authorization")} ${req.headers.get("x-api-key")}`;
    if (u.pathname.includes("/redirect")) {
      return new Response(null, {
        status: 302,
        headers: { location: `${redirectTo}/elsewhere?t=${encodeURIComponent(creds)}` },
      });
    }
    if (u.pathname.includes("/experiments/search")) {
      return Response.json({ experiments: [] });
    }
    if (u.pathname.includes("/garbage")) {
      return new Response(`<html>${creds}</html>`, { status: 200 });
    }
    return new Response(`you sent ${creds}`, {
      status: 401,
      headers: { "www-authenticate": `Bearer error="${creds}"`, "x-echo": creds },
    });
  });
}

Deno.test("every command, on every failure path, with a 64-byte canary and a 100 KB JSON secret, leaks nothing", async (t) => {
  const elsewhere = serve(() => new Response("elsewhere"));
  const up = hostileUpstream(elsewhere.url);
  try {
    for (const shape of await shapes()) {
      await t.step(shape.name, async () => {
        const dir = await tempDir();
        const write = async (name: string, text: string) => {
          await Deno.writeTextFile(`${dir}/${name}`, text);
          return `${dir}/${name}`;
        };
        const p = await write("p.yaml", profile(shape, up.url));
        const closed = await write(
          "closed.yaml",
          profile(shape, `http://127.0.0.1:${closedPort()}`),
        );
        const bad = await write("bad.yaml", `version: 1\nproviders: {}\nhosts: [${CANARY}]\n`);
        const missing = await write(
          "missing.yaml",
          profile(
            { ...shape, provider: "{ kind: file }", secret: `{ path: "${dir}/nope.json" }` },
            up.url,
          ),
        );
        const noField = await write(
          "nofield.yaml",
          profile(
            { ...shape, secret: shape.secret.replace("field: token", "field: absent") },
            up.url,
          ),
        );
        const env = shape.env;
        const runs: [string, string[]][] = [
          ["validate", ["validate", "-p", p]],
          ["validate --json", ["validate", "-p", p, "--json"]],
          ["validate, invalid profile", ["validate", "-p", bad, "--json"]],
          ["explain", ["explain", "-p", p, "--json"]],
          ["explain --url", ["explain", "-p", p, "--url", `${up.url}/x?token=${CANARY}`]],
          ["info", ["info", "-p", p, "--json"]],
          ["doctor 401", ["doctor", "-p", p]],
          ["doctor --json", ["doctor", "-p", p, "--json"]],
          ["doctor --url redirect", ["doctor", "-p", p, "--url", `${up.url}/redirect`]],
          ["doctor --url header rule", ["doctor", "-p", p, "--url", `${up.url}/hdr/x`]],
          ["doctor --url not MLflow", ["doctor", "-p", p, "--url", `${up.url}/garbage`]],
          ["doctor closed port", ["doctor", "-p", closed, "--json"]],
          ["doctor missing secret file", ["doctor", "-p", missing]],
          ["doctor missing field", ["doctor", "-p", noField, "--json"]],
          ["doctor invalid profile", ["doctor", "-p", bad]],
          ["proxy, no upstream", ["proxy", "-p", p]],
          ["proxy, remote without token", [
            "proxy",
            "-p",
            p,
            "--upstream",
            up.url,
            "--listen",
            "0.0.0.0:0",
          ]],
          ["exec, bad upstream", [
            "exec",
            "-p",
            p,
            "--upstream",
            `ftp://u:${CANARY}@x`,
            "--",
            "true",
          ]],
          ["exec, missing secret", ["exec", "-p", missing, "--upstream", up.url, "--", "true"]],
          ["exec, missing field", ["exec", "-p", noField, "--upstream", up.url, "--", "true"]],
          ["exec, direct mode, header rule", [
            "exec",
            "-p",
            p,
            "--upstream",
            `${up.url}/hdr`,
            "--env-mode",
            "direct",
            "--",
            "true",
          ]],
        ];
        for (const [label, args] of runs) await command(label, args, env);
        const doctorIo = fakeIo({ env });
        await thrown(
          "runDoctor, closed port",
          doctorIo,
          () => runDoctor({ profile: closed }, doctorIo),
        );
        const execIo = fakeIo({ env });
        await thrown(
          "runExec, missing secret",
          execIo,
          () =>
            runExec(["true"], { profile: missing, upstream: up.url }, execIo, { stdio: "null" }),
        );
        assert(
          up.seen.some((s) => s.authorization === `Bearer ${CANARY}`),
          "the credential never reached the upstream (the sweep would be vacuous)",
        );
      });

      await t.step(
        `${shape.name}: proxy failure paths, access log, and still serving`,
        async () => {
          const dir = await tempDir();
          const p = `${dir}/p.yaml`;
          await Deno.writeTextFile(p, profile(shape, up.url));
          const client = `client-${CANARY}`;
          const io = fakeIo({ env: { ...shape.env, CLIENT: client } });
          const stop = new AbortController();
          const running = runProxy({
            profile: p,
            upstream: up.url,
            listen: "127.0.0.1:0",
            clientTokenEnv: "CLIENT",
            logLevel: "debug",
            signal: stop.signal,
          }, io);
          let url = "";
          try {
            url = await listening(io);
            const own: string[] = [];
            const hit = async (path: string, init?: RequestInit, token = client) => {
              const res = await fetch(`${url}${path}`, {
                ...init,
                headers: { authorization: `Bearer ${token}` },
                redirect: "manual",
              });
              const body = await res.text();
              // Only what the proxy writes itself: pass-through bodies and headers (this upstream
              // echoes the credential in them) are the upstream's.
              if (res.status >= 500 || res.headers.get("content-type")?.includes("json")) {
                own.push(body);
              }
              return res.status;
            };
            assertEquals(await hit("/api/2.0/mlflow/runs/get"), 401);
            assertEquals(await hit(`/api/2.0/mlflow/runs/get?token=${CANARY}`), 401);
            assertEquals(await hit("/api/2.0/mlflow/redirect"), 302);
            // A write whose body holds the secret: refused by the leak guard, never sent.
            assertEquals(
              await hit("/api/2.0/mlflow/runs/log", { method: "POST", body: CANARY }),
              400,
            );
            assertEquals(await hit(`/api/2.0/mlflow/${CANARY}/x`), 401);
            assertEquals(
              await hit("/api/2.0/mlflow/runs/get", {}, `wrong-${CANARY.slice(0, 20)}`),
              401,
            );
            assertEquals(await hit("/api/2.0/mlflow/runs/get", {}, ""), 401);
            assertEquals(await hit("/api/2.0/mlflow/experiments/search"), 200);
            for (const o of own) clean("proxy response", o);
          } finally {
            stop.abort();
          }
          assertEquals(await running, 0);
          clean("proxy stderr", io.err());
          assert(io.err().includes("proxy request"), "no access line");
        },
      );

      await t.step(`${shape.name}: proxy with an upstream that is down, then back`, async () => {
        const port = closedPort();
        const dir = await tempDir();
        const p = `${dir}/p.yaml`;
        await Deno.writeTextFile(p, profile(shape, `http://127.0.0.1:${port}`));
        const io = fakeIo({ env: shape.env });
        const stop = new AbortController();
        const running = runProxy({
          profile: p,
          upstream: `http://127.0.0.1:${port}`,
          listen: "127.0.0.1:0",
          logLevel: "debug",
          signal: stop.signal,
        }, io);
        try {
          const url = await listening(io);
          const down = await fetch(`${url}/api/2.0/mlflow/runs/get?t=${CANARY}`);
          const body = await down.text();
          assertEquals(down.status, 502);
          clean("502 body", body);
          const back = Deno.serve(
            { hostname: "127.0.0.1", port, onListen() {} },
            () => Response.json({ experiments: [] }),
          );
          try {
            const ok = await fetch(`${url}/api/2.0/mlflow/experiments/search`);
            await ok.body?.cancel();
            assertEquals(ok.status, 200, "the proxy did not serve after the upstream came back");
          } finally {
            await back.shutdown();
          }
        } finally {
          stop.abort();
        }
        assertEquals(await running, 0);
        clean("proxy stderr (upstream down)", io.err());
      });

      await t.step(`${shape.name}: exec --access-log, the job's failures included`, async () => {
        const dir = await tempDir();
        const p = `${dir}/p.yaml`;
        await Deno.writeTextFile(p, profile(shape, up.url));
        const job = `
const base = Deno.env.get("MLFLOW_TRACKING_URI");
const auth = { authorization: "Bearer " + Deno.env.get("MLFLOW_TRACKING_TOKEN") };
for (const path of ["/api/2.0/mlflow/runs/get", "/api/2.0/mlflow/redirect", "/api/2.0/mlflow/experiments/search"]) {
  const res = await fetch(base + path, { headers: auth, redirect: "manual" });
  await res.body?.cancel();
  console.error(path, res.status);
}
const wrong = await fetch(base + "/api/2.0/mlflow/runs/get", { headers: { authorization: "Bearer wrong" } });
await wrong.body?.cancel();
Deno.exit(wrong.status === 401 ? 3 : 4);`;
        const io = fakeIo({ env: shape.env });
        const code = await runExec(
          [Deno.execPath(), "eval", job],
          { profile: p, upstream: up.url, accessLog: true, logLevel: "debug" },
          io,
          { environ: peerEnv(shape.env), stdio: "null" },
        );
        assertEquals(code, 3, "the job did not run as expected");
        clean("exec stderr", io.err());
        assert(io.err().includes("proxy request"), "no access line");
      });
    }
  } finally {
    await up.close();
    await elsewhere.close();
  }
});

async function listening(io: FakeIo): Promise<string> {
  for (let i = 0; i < 1000; i++) {
    const m = /listening on (http:\/\/\S+)/.exec(io.err());
    if (m !== null) return m[1]!;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the proxy did not start");
}
