/**
 * The `schema` command: prints the profile JSON Schema, which loads when it runs.
 *
 * @module
 */

import { Command, type CommandUnknownOpts } from "../../deps/commander.ts";
import { type CommandContext, helpAfter } from "./_shared.ts";

/**
 * Defines `schema`.
 *
 * @param ctx What `main()` hands every command.
 * @returns The command, for `program.addCommand()`.
 */
export function schemaCommand(ctx: CommandContext): CommandUnknownOpts {
  return new Command("schema")
    .description("Print the profile JSON Schema")
    .addHelpText(
      "after",
      helpAfter({ examples: ["mlflow-secrets-auth schema > profile.schema.json"] }),
    )
    .action(async () => {
      const { default: schema } = await import("../../schema/profile.schema.json", {
        with: { type: "json" },
      });
      ctx.io.stdout(JSON.stringify(schema, null, 2) + "\n");
      ctx.setCode(0);
    });
}
