/**
 * What making `exec` non-dumpable costs: `exec -- true` from spawn to exit, with `--allow-ffi`
 * (dlopen of libc and two prctl calls before the profile is read) against `--allow-dumpable`
 * without FFI (the same run, unprotected), and the protection call alone, in-process.
 * Run: deno task bench
 */

import { protectProcess } from "../cli/_protect.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
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

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
