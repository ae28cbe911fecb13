/**
 * The command line as a newcomer gets it: from a fresh clone with no set-up step, through
 * `deno task cli`, and installed on PATH with `deno task install-cli` (the README's install line)
 * into a temporary install root.
 */

import { dirname } from "node:path";
import { DENO_DIR } from "../_deno_dir.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { VERSION } from "../../cli.ts";

const ROOT = new URL("../../", import.meta.url);
const DENO = Deno.execPath();

const PROFILE = `version: 1
providers: { ci: { kind: env } }
hosts: [{ match: "https://mlflow.example.com", provider: ci, secret: { var: T }, auth: bearer }]
`;

async function run(
  cmd: string,
  args: readonly string[],
  cwd: string,
  path: readonly string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args: [...args],
    cwd,
    clearEnv: true,
    env: {
      NO_COLOR: "1",
      HOME: cwd,
      DENO_DIR,
      PATH: [...path, dirname(DENO), "/usr/bin", "/bin"].join(":"),
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** The files a clone of this checkout holds (tracked and new, not ignored), copied elsewhere. */
async function freshClone(): Promise<string> {
  const ls = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT.pathname,
    stdout: "piped",
  }).output();
  assert(ls.success, "git ls-files failed");
  const dir = await Deno.makeTempDir({ prefix: "msa-clone-" });
  for (const file of new TextDecoder().decode(ls.stdout).split("\0").filter(Boolean)) {
    const from = new URL(file, ROOT);
    if (!(await Deno.stat(from).then((s) => s.isFile, () => false))) continue; // deleted
    await Deno.mkdir(dirname(`${dir}/${file}`), { recursive: true });
    await Deno.copyFile(from, `${dir}/${file}`);
  }
  return dir;
}

Deno.test("cli.ts --help and validate work on a fresh clone with no set-up step, also as deno task cli", async () => {
  const clone = await freshClone();
  try {
    assert(!(await Deno.stat(`${clone}/node_modules`).then(() => true, () => false)));
    await Deno.writeTextFile(`${clone}/mlflow-auth.yaml`, PROFILE);
    const help = await run(DENO, ["run", "-A", "cli.ts", "--help"], clone);
    assertEquals(help.code, 0, help.stderr);
    assertStringIncludes(help.stdout, "Usage: mlflow-secrets-auth");
    // Not installed: a hint shows the command as run here.
    const missing = await run(DENO, ["run", "-A", "cli.ts", "validate", "-p", "nope.yaml"], clone);
    assertEquals(missing.code, 2);
    assertStringIncludes(missing.stderr, "`deno run -A cli.ts init -p nope.yaml`");
    const task = await run(DENO, ["task", "cli", "validate"], clone);
    assertEquals(task.code, 0, task.stderr);
    assertStringIncludes(task.stdout, "mlflow-auth.yaml: valid (1 host rule");
    const lock = await run("git", [
      "diff",
      "--no-index",
      "--quiet",
      "deno.lock",
      `${clone}/deno.lock`,
    ], ROOT.pathname);
    assertEquals(lock.code, 0, "running from the clone changed its lockfile");
  } finally {
    await Deno.remove(clone, { recursive: true });
  }
});

Deno.test("deno task install-cli puts a working mlflow-secrets-auth on PATH (--help, --version, validate)", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    tasks: Record<string, string>;
  };
  const words = config.tasks["install-cli"]!.split(" ");
  assertEquals(words.slice(0, 3), ["deno", "install", "-g"]);
  const root = await Deno.makeTempDir({ prefix: "msa-install-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "msa-user-" });
  try {
    const install = await run(
      DENO,
      [...words.slice(1, 3), "--root", root, ...words.slice(3)],
      ROOT.pathname,
    );
    assertEquals(install.code, 0, install.stderr);
    const bin = `${root}/bin/mlflow-secrets-auth`;
    const help = await run(bin, ["--help"], elsewhere);
    assertEquals(help.code, 0, help.stderr);
    assertStringIncludes(help.stdout, "Usage: mlflow-secrets-auth");
    const version = await run(bin, ["--version"], elsewhere);
    assertEquals(version.stdout, `${VERSION}\n`);
    await Deno.writeTextFile(`${elsewhere}/mlflow-auth.yaml`, PROFILE);
    const validate = await run(bin, ["validate"], elsewhere);
    assertEquals(validate.code, 0, validate.stderr);
    assertStringIncludes(validate.stdout, "mlflow-auth.yaml: valid (1 host rule");
    // A hint that shows a command shows this one, as installed (not `deno run …`).
    const missing = await run(bin, ["validate", "-p", "nope.yaml"], elsewhere, [`${root}/bin`]);
    assertEquals(missing.code, 2, "a usage error is exit 2 through the installed command too");
    assertStringIncludes(missing.stderr, "`mlflow-secrets-auth init -p nope.yaml`");
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});
