/**
 * Every command, in the order help lists them: the closed list `cli.ts` assembles the program
 * from. One module that imports the command modules statically, loaded by `cli.ts` with one
 * dynamic import once `--help` has not been answered from the generated texts: eleven dynamic
 * imports cost a measurable few milliseconds of start-up more.
 *
 * @module
 */

import type { CommandUnknownOpts } from "../../deps/commander.ts";
import type { CommandContext } from "./_shared.ts";
import { bundleCommand } from "./bundle.ts";
import { compileCommand } from "./compile.ts";
import { completionsCommand } from "./completions.ts";
import { doctorCommand } from "./doctor.ts";
import { execCommand } from "./exec.ts";
import { explainCommand } from "./explain.ts";
import { infoCommand } from "./info.ts";
import { initCommand } from "./init.ts";
import { proxyCommand } from "./proxy.ts";
import { schemaCommand } from "./schema.ts";
import { validateCommand } from "./validate.ts";

/** Defines one command from what `main()` hands every command. */
export type DefineCommand = (ctx: CommandContext) => CommandUnknownOpts;

/** The commands, in help order. */
export const COMMANDS: readonly DefineCommand[] = [
  validateCommand,
  explainCommand,
  schemaCommand,
  doctorCommand,
  infoCommand,
  initCommand,
  proxyCommand,
  execCommand,
  completionsCommand,
  bundleCommand,
  compileCommand,
];
