/**
 * The `completions` command: prints a completion script generated from the program it belongs
 * to. What it runs (`cli/completions.ts`) is that module, whose `SHELLS` are the choices.
 *
 * @module
 */

import { Argument, Command, type CommandUnknownOpts } from "../../deps/commander.ts";
import { completionScript, SHELLS } from "../completions.ts";
import { type CommandContext, helpAfter } from "./_shared.ts";

/**
 * Defines `completions`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function completionsCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("completions")
    .description("Print a shell completion script")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELLS))
    .addHelpText(
      "after",
      helpAfter({
        examples: [
          "source <(mlflow-secrets-auth completions bash)",
          "source <(mlflow-secrets-auth completions zsh)",
          "mlflow-secrets-auth completions fish | source",
        ],
      }),
    )
    .action((shell, _opts, command) => {
      // The script describes the whole program: the command's parent.
      ctx.io.stdout(completionScript(command.parent ?? command, shell));
      ctx.setCode(0);
    });
}
