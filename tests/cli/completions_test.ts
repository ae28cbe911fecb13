/**
 * `completions bash|zsh|fish`: generated from the program's own commands and options. The bash
 * script is run in a real bash.
 */

import { main } from "../../cli.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { fakeIo, tempDir } from "./_io.ts";

/** Commands listed by `--help` (every one the program has, whoever registered it). */
async function helpCommands(): Promise<string[]> {
  const io = fakeIo();
  await main(["--help"], io);
  const section = io.out().split("\nCommands:\n")[1] ?? "";
  return section.split("\n").map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && c !== "help");
}

async function script(shell: string): Promise<string> {
  const io = fakeIo();
  assertEquals(await main(["completions", shell], io), 0, io.err());
  return io.out();
}

/** Long options listed by `<command> --help`. */
async function helpOptions(command: string): Promise<string[]> {
  const io = fakeIo();
  await main([command, "--help"], io);
  const options = io.out().split("\nOptions:\n")[1]?.split("\n\n")[0] ?? "";
  return options.split("\n").map((l) => /^ {2}(?:-[A-Za-z], )?(--[a-z][a-z-]*)/.exec(l)?.[1])
    .filter((o): o is string => o !== undefined);
}

async function complete(words: string[], cwd?: string): Promise<string[]> {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/completion.bash`, await script("bash"));
  const line = words.map((w) => `'${w}'`).join(" ");
  const program = [
    `source '${dir}/completion.bash'`,
    `COMP_WORDS=(mlflow-secrets-auth ${line})`,
    `COMP_CWORD=${words.length}`,
    "_mlflow_secrets_auth",
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join("\n");
  const out = await new Deno.Command("bash", {
    args: ["--noprofile", "--norc", "-c", program],
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").sort();
}

Deno.test("main() completions bash completes commands, options and their values in bash", async () => {
  const commands = await helpCommands();
  for (const mine of ["validate", "explain", "schema", "doctor", "info", "init", "completions"]) {
    assert(commands.includes(mine), `${mine} not in --help`);
  }
  assertEquals(await complete([""]), [...commands, "help"].sort());
  assertEquals(await complete(["do"]), ["doctor"]);
  const doctorOpts = await complete(["doctor", "--"]);
  for (const o of ["--profile", "--url", "--timeout", "--json", "--from-env", "--help"]) {
    assert(doctorOpts.includes(o), `${o} missing: ${doctorOpts}`);
  }
  assertEquals(
    await complete(["init", "--provider", ""]),
    ["aws-secrets-manager", "azure-key-vault", "env", "file", "vault"],
  );
  assertEquals(await complete(["completions", ""]), ["bash", "fish", "zsh"]);
  assertEquals(await complete(["--"]), ["--help", "--version"]);
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/team.yaml`, "");
  assertEquals(await complete(["validate", "-p", "te"], dir), ["team.yaml"]);
});

Deno.test("main() completions cover every command and every option of --help, in each shell", async () => {
  const commands = await helpCommands();
  for (const shell of ["bash", "zsh", "fish"]) {
    const text = await script(shell);
    for (const cmd of commands) {
      assertStringIncludes(text, cmd, `${shell}: ${cmd}`);
      for (const option of await helpOptions(cmd)) {
        const name = shell === "fish" ? `-l ${option.slice(2)}` : option;
        assertStringIncludes(text, name, `${shell}: ${cmd} ${option}`);
      }
    }
  }
  assert(/^#compdef mlflow-secrets-auth\n/.test(await script("zsh")), "zsh header");
  assertStringIncludes(await script("zsh"), "compdef _mlflow_secrets_auth mlflow-secrets-auth");
  assertStringIncludes(
    await script("fish"),
    "complete -c mlflow-secrets-auth -n '__fish_seen_subcommand_from init' -l provider -x -a 'env file vault aws-secrets-manager azure-key-vault'",
  );
});

Deno.test("main() completions with another shell exits 2", async () => {
  const io = fakeIo();
  assertEquals(await main(["completions", "powershell"], io), 2);
  assertStringIncludes(io.err(), "Allowed choices are bash, zsh, fish");
  const none = fakeIo();
  assertEquals(await main(["completions"], none), 2);
});
