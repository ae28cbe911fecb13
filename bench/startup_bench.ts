/**
 * Start-up time of the command line, one fresh process per iteration, against a bare
 * `deno eval` started the same way in the same run (the baseline). Modules are compiled and
 * cached by the warm-up iterations; "no code cache" runs also skip V8's code cache, the
 * coldest start a user sees after the first run.
 * Run: deno task bench:startup
 */

const DENO = Deno.execPath();
const ROOT = new URL("../", import.meta.url);
const CLI = new URL("cli.ts", ROOT).pathname;
const PROFILE = new URL("examples/basic.yaml", ROOT).pathname;
const PERMISSIONS = ["--allow-read", "--allow-env"];

async function spawn(args: readonly string[]): Promise<void> {
  const out = await new Deno.Command(DENO, {
    args: [...args],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

const cases: { name: string; args: readonly string[] }[] = [
  { name: "deno eval (baseline)", args: ["eval", "0"] },
  { name: "cli.ts --help", args: ["run", "--no-prompt", CLI, "--help"] },
  {
    name: "cli.ts validate",
    args: ["run", "--no-prompt", ...PERMISSIONS, CLI, "validate", "-p", PROFILE],
  },
];

for (const codeCache of [true, false]) {
  const group = codeCache ? "start-up" : "start-up, no code cache";
  for (const { name, args } of cases) {
    // `deno eval` has no code cache to skip.
    const flags = codeCache || args[0] === "eval"
      ? args
      : [args[0]!, "--no-code-cache", ...args.slice(1)];
    Deno.bench(name, { group, baseline: name.includes("baseline"), n: 30, warmup: 3 }, async () => {
      await spawn(flags);
    });
  }
}
