/**
 * Help and version without the argument parser: the generated texts are what the parser prints,
 * they are up to date with `cli.ts`, and asking for them loads no npm package at all.
 *
 * `cli/_help.ts` is also the committed snapshot of every command's help: a change of a flag, a
 * description or an example fails here, naming the command, until `deno task gen:help` is run
 * and the new text committed (and reviewed as a diff of lines).
 */

import { main } from "../../cli.ts";
import { HELP } from "../../cli/_help.ts";
import { commandsOf, generateHelp, HELP_MODULE, parserHelpTexts } from "../../scripts/gen_help.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { captureIo } from "./_build.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

Deno.test("cli/_help.ts is up to date with cli.ts (else: deno task gen:help)", async () => {
  assert(
    await Deno.readTextFile(HELP_MODULE) === await generateHelp(),
    "cli/_help.ts is out of date: run deno task gen:help",
  );
});

Deno.test("every command's and subcommand's --help is the committed snapshot in cli/_help.ts", async () => {
  const texts = await parserHelpTexts();
  // Every command is in the snapshot, and nothing else is: a new command without a snapshot or
  // a removed one still in it fails here.
  assertEquals(Object.keys(HELP).sort(), [...texts.keys()].sort());
  assert(texts.size >= 12, `only ${texts.size} help texts: the walk of the commands found too few`);
  for (const [command, text] of texts) {
    assertEquals(
      text,
      HELP[command],
      `"${command || "(program)"} --help" differs from its snapshot: run deno task gen:help`,
    );
  }
});

Deno.test("main() help <command> prints the command's snapshot, as <command> --help does", async () => {
  for (const command of commandsOf(HELP[""]!)) {
    const { io, out } = captureIo();
    assertEquals(await main(["help", command], io), 0, command);
    assertEquals(out.join(""), HELP[command], command);
  }
});

Deno.test("main() answers --help, <command> -h and --version as the parser does", async () => {
  const cases = [["--help"], ["-h"], ["--version"], ["-V"], ["validate", "--help"], [
    "explain",
    "-h",
  ]];
  for (const command of commandsOf(HELP[""]!)) cases.push([command, "--help"]);
  for (const args of cases) {
    const fast = captureIo();
    const slow = captureIo();
    assertEquals(await main(args, fast.io), 0);
    assertEquals(await main(args, slow.io, { staticHelp: false }), 0);
    assertEquals(fast.out.join(""), slow.out.join(""), args.join(" "));
    assert(fast.out.join("").length > 0, args.join(" "));
  }
});

Deno.test("main() with an embedded profile builds its help from the parser (it names the embedded profile)", async () => {
  const { io, out } = captureIo();
  const embeddedProfile = { text: "version: 1\n", source: "embedded:p.yaml" };
  assertEquals(await main(["validate", "--help"], io, { embeddedProfile }), 0);
  assertStringIncludes(out.join(""), "embedded:p.yaml");
});

async function runNoNpm(args: string[]): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-npm", "--no-prompt", "--allow-read", "--allow-env", CLI, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("cli.ts --help, validate --help and --version load no npm package (they run with --no-npm)", async () => {
  for (const args of [["--help"], ["validate", "--help"], ["--version"]]) {
    const r = await runNoNpm(args);
    assertEquals(r.code, 0, args.join(" "));
    assert(r.stdout.length > 0);
  }
  // Control: --no-npm does stop a command that needs the parser.
  const control = await runNoNpm(["schema"]);
  assert(control.code !== 0, "schema ran without npm packages: the check above proves nothing");
});
