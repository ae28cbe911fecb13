/**
 * `exec` start-up.
 *
 * 1. How long `exec` takes to start its child: from spawning `exec -- date +%s%N` to the child's
 *    first instruction (the wall-clock time `date` prints), median of 15 runs, the variants
 *    interleaved, next to two baselines in the same run: the same `date` spawned directly, and
 *    a bare `deno eval` (spawn to its first statement). Variants: an `env` secret (read before
 *    the child starts), a Vault secret (a local Vault double in this process) with the default
 *    preflight, and the same with `--no-preflight` (the child starts while the secret resolves).
 *    `EXEC_BENCH_CLI=<path to cli.ts>` measures another checkout (a variant it does not support
 *    is reported as such).
 * 2. What making `exec` non-dumpable costs: `exec -- true` from spawn to exit, with `--allow-ffi`
 *    (dlopen of libc and two prctl calls before the profile is read) against `--allow-dumpable`
 *    without FFI (the same run, unprotected), and the protection call alone, in-process.
 *
 * Run: deno task bench
 */

import { protectProcess } from "../cli/_protect.ts";
import { VaultDouble } from "../tests/_peers/vault_double.ts";

const CLI = Deno.env.get("EXEC_BENCH_CLI") ?? new URL("../cli.ts", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "msa-bench-" });
const profile = `${dir}/mlflow-auth.yaml`;
await Deno.writeTextFile(
  profile,
  `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "http://127.0.0.1:9", provider: e, secret: { var: T }, auth: bearer }
`,
);
const base = ["run", "--allow-read", "--allow-env", "--allow-net", "--allow-sys", "--allow-run"];
const tail = [CLI, "exec", "--profile", profile, "--upstream", "http://127.0.0.1:9"];

/** One `exec -- true`, spawn to exit, in milliseconds. */
async function exec(flags: string[], extra: string[]): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...base, ...flags, ...tail, ...extra, "--", "true"],
    env: { T: "bench-token-0123456789", NO_COLOR: "1" },
    stdout: "null",
    stderr: "null",
  }).output();
  if (out.code !== 0) throw new Error(`exec exited ${out.code}`);
  return performance.now() - started;
}

// Process start-up is long and noisy next to Deno.bench's sampling: the two variants alternate,
// and the medians are printed.
Deno.bench({
  name:
    "exec -- true, 12 runs each: non-dumpable (--allow-ffi) vs --allow-dumpable (prints medians)",
  n: 1,
  warmup: 0,
  async fn() {
    const plain: number[] = [];
    const sealed: number[] = [];
    for (let i = 0; i < 12; i++) {
      plain.push(await exec([], ["--allow-dumpable"]));
      sealed.push(await exec(["--allow-ffi"], []));
    }
    const median = (x: number[]) => x.sort((p, q) => p - q)[x.length >> 1]!;
    console.log(
      `exec -- true, spawn to exit, median of 12: unprotected ${
        median(plain).toFixed(1)
      } ms, non-dumpable ${median(sealed).toFixed(1)} ms (x${
        (median(sealed) / median(plain)).toFixed(3)
      })`,
    );
  },
});

Deno.bench({
  name: "protectProcess() alone (dlopen libc.so.6, prctl set and get, close)",
  fn: () => {
    if (!protectProcess().protected) throw new Error("not protected");
  },
});

/** Wall-clock milliseconds, sub-millisecond resolution. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Spawns a command that prints a wall-clock time; returns (printed time − spawn time) in ms. */
async function toFirstInstruction(
  args: string[],
  env: Record<string, string>,
  parse: (out: string) => number,
): Promise<number | undefined> {
  const started = wallMs();
  const out = await new Deno.Command(args[0]!, {
    args: args.slice(1),
    env: { ...passThrough(), NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).output();
  if (out.code !== 0) return undefined;
  return parse(new TextDecoder().decode(out.stdout)) - started;
}

/** PATH, and where Deno keeps its caches (its V8 code cache among them), as a user has them. */
function passThrough(): Record<string, string> {
  const names = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"];
  return Object.fromEntries(
    names.flatMap((n) => Deno.env.get(n) === undefined ? [] : [[n, Deno.env.get(n)!]]),
  );
}

const fromDate = (out: string): number => Number(BigInt(out.trim()) / 1000n) / 1000;

let firstInstructionMeasured = false;

Deno.bench({
  name: "exec start to the child's first instruction, 15 runs each (prints medians)",
  n: 1,
  warmup: 0,
  async fn() {
    // Deno.bench calls an async fn more than once even with n: 1; one sample set is enough.
    if (firstInstructionMeasured) return;
    firstInstructionMeasured = true;
    await using vault = await VaultDouble.start();
    vault.mountKv("secret", 2);
    vault.writeKv("secret", "mlflow/auth", { token: "bench-vault-token-0123456789" });
    vault.writePolicy("reader", { "secret/data/mlflow/*": ["read"] });
    const vaultToken = vault.createToken({ policies: ["reader"] });
    const vaultProfile = `${dir}/vault.yaml`;
    await Deno.writeTextFile(
      vaultProfile,
      `version: 1
providers: { v: { kind: vault, address: "${vault.address}", auth: { method: token } } }
hosts:
  - match: "http://127.0.0.1:9"
    provider: v
    secret: { path: mlflow/auth, mount: secret, kv: 2, field: token }
    auth: bearer
`,
    );
    const deno = Deno.execPath();
    const run = [deno, ...base, "--allow-ffi", CLI, "exec", "--upstream", "http://127.0.0.1:9"];
    const variants: [string, () => Promise<number | undefined>][] = [
      ["date, spawned directly", () => toFirstInstruction(["date", "+%s%N"], {}, fromDate)],
      [
        "bare deno eval",
        () =>
          toFirstInstruction(
            [deno, "eval", "console.log(performance.timeOrigin + performance.now())"],
            {},
            Number,
          ),
      ],
      [
        "exec, env secret",
        () =>
          toFirstInstruction(
            [...run, "--profile", profile, "--", "date", "+%s%N"],
            { T: "bench-token-0123456789" },
            fromDate,
          ),
      ],
      [
        "exec, Vault secret (preflight)",
        () =>
          toFirstInstruction(
            [...run, "--profile", vaultProfile, "--", "date", "+%s%N"],
            { VAULT_TOKEN: vaultToken },
            fromDate,
          ),
      ],
      [
        "exec, Vault secret, --no-preflight",
        () =>
          toFirstInstruction(
            [...run, "--profile", vaultProfile, "--no-preflight", "--", "date", "+%s%N"],
            { VAULT_TOKEN: vaultToken },
            fromDate,
          ),
      ],
    ];
    const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
    const unsupported = new Set<string>();
    for (let i = 0; i < 15; i++) {
      for (const [name, measure] of variants) {
        const ms = await measure();
        if (ms === undefined) unsupported.add(name);
        else samples.get(name)!.push(ms);
      }
    }
    const median = (x: number[]) => x.sort((p, q) => p - q)[x.length >> 1]!;
    const deno0 = median(samples.get("bare deno eval")!);
    console.log(`exec start to the child's first instruction (${CLI}), median of 15:`);
    for (const [name] of variants) {
      if (unsupported.has(name)) {
        console.log(`  ${name.padEnd(36)} not supported by this checkout`);
        continue;
      }
      const m = median(samples.get(name)!);
      console.log(
        `  ${name.padEnd(36)} ${m.toFixed(1).padStart(7)} ms  (x${
          (m / deno0).toFixed(2)
        } bare deno eval)`,
      );
    }
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
