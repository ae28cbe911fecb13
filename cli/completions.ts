/**
 * `completions bash|zsh|fish`: a shell completion script generated from the command line's own
 * commands and options, so it cannot drift from them.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** The shells a script can be generated for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
/** A shell a script can be generated for. */
export type Shell = typeof SHELLS[number];

/** The parts of a commander option the scripts need. */
export interface OptionLike {
  readonly long?: string | undefined;
  readonly short?: string | undefined;
  readonly description: string;
  /** Takes a mandatory value (`<value>`). */
  readonly required: boolean;
  /** Takes an optional value (`[value]`). */
  readonly optional: boolean;
  /** Takes several values (`<value...>`). */
  readonly variadic: boolean;
  readonly argChoices?: readonly string[] | undefined;
  readonly hidden?: boolean;
  readonly flags: string;
}

/** The parts of a commander command the scripts need. */
export interface CommandLike {
  name(): string;
  description(): string;
  readonly commands: readonly CommandLike[];
  readonly options: readonly OptionLike[];
  readonly registeredArguments: readonly { readonly argChoices?: readonly string[] | undefined }[];
}

interface OptSpec {
  readonly long: string | undefined;
  readonly short: string | undefined;
  readonly description: string;
  readonly takesValue: boolean;
  readonly repeatable: boolean;
  readonly choices: readonly string[] | undefined;
  readonly files: boolean;
  readonly valueName: string;
}

interface CommandSpec {
  readonly name: string;
  readonly description: string;
  readonly options: readonly OptSpec[];
  /** Choices for the first positional argument, if any. */
  readonly argChoices: readonly string[] | undefined;
}

interface ProgramSpec {
  readonly name: string;
  readonly options: readonly OptSpec[];
  readonly commands: readonly CommandSpec[];
}

const HELP: OptSpec = {
  long: "--help",
  short: "-h",
  description: "display help for command",
  takesValue: false,
  repeatable: false,
  choices: undefined,
  files: false,
  valueName: "",
};

/** Options whose value is a file path. */
const FILE_OPTIONS = new Set(["--profile", "--path"]);

function optSpec(o: OptionLike): OptSpec {
  const valueName = /[<[]([^>\].]+)/.exec(o.flags)?.[1] ?? "value";
  return {
    long: o.long,
    short: o.short,
    description: o.description,
    takesValue: o.required || o.optional,
    repeatable: o.variadic,
    choices: o.argChoices,
    files: o.long !== undefined && FILE_OPTIONS.has(o.long),
    valueName,
  };
}

function specOf(program: CommandLike): ProgramSpec {
  const commands: CommandSpec[] = program.commands.map((c) => ({
    name: c.name(),
    description: c.description(),
    options: [...c.options.filter((o) => !o.hidden).map(optSpec), HELP],
    argChoices: c.registeredArguments[0]?.argChoices,
  }));
  commands.push({
    name: "help",
    description: "display help for command",
    options: [],
    argChoices: commands.map((c) => c.name),
  });
  return {
    name: program.name(),
    options: [...program.options.filter((o) => !o.hidden).map(optSpec), HELP],
    commands,
  };
}

/**
 * Generates a completion script.
 *
 * @param program The command line's commander program.
 * @param shell `bash`, `zsh` or `fish`.
 * @returns The script.
 * @throws {UsageError} for another shell.
 *
 * @example
 * ```ts
 * import { Command } from "../deps/commander.ts";
 * import { completionScript } from "./completions.ts";
 * const program = new Command().name("tool");
 * program.command("check").option("--json", "machine-readable output");
 * const script = completionScript(program, "bash");
 * if (!script.includes("--json")) throw new Error("option missing");
 * ```
 */
export function completionScript(program: CommandLike, shell: string): string {
  const spec = specOf(program);
  switch (shell) {
    case "bash":
      return bash(spec);
    case "zsh":
      return zsh(spec);
    case "fish":
      return fish(spec);
  }
  throw new UsageError(
    `Cannot print completions for "${shell}": use one of ${SHELLS.join(", ")}`,
  );
}

function funcName(name: string): string {
  return `_${name.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

function words(opts: readonly OptSpec[]): string {
  return opts.flatMap((o) => [o.short, o.long].filter((x): x is string => x !== undefined)).join(
    " ",
  );
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_.,:/@%+=-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function bash(spec: ProgramSpec): string {
  const fn = funcName(spec.name);
  const cases = spec.commands.map((c) => {
    const valueCases = c.options.filter((o) => o.takesValue).map((o) => {
      const pats = [o.short, o.long].filter((x) => x !== undefined).join("|");
      const action = o.files
        ? `COMPREPLY=( $(compgen -f -- "$cur") )`
        : o.choices
        ? `COMPREPLY=( $(compgen -W ${shellWord(o.choices.join(" "))} -- "$cur") )`
        : "COMPREPLY=()";
      return `        ${pats}) ${action}; return 0 ;;`;
    });
    const positional = c.argChoices
      ? `COMPREPLY=( $(compgen -W ${shellWord(c.argChoices.join(" "))} -- "$cur") )`
      : "COMPREPLY=()";
    return [
      `    ${c.name})`,
      ...(valueCases.length ? ['      case "$prev" in', ...valueCases, "      esac"] : []),
      `      if [[ "$cur" == -* ]]; then`,
      `        COMPREPLY=( $(compgen -W ${shellWord(words(c.options))} -- "$cur") )`,
      "      else",
      `        ${positional}`,
      "      fi",
      "      ;;",
    ].join("\n");
  });
  return `# bash completion for ${spec.name}; generated by \`${spec.name} completions bash\`.
# Load it now: source <(${spec.name} completions bash)
# Or for good: ${spec.name} completions bash > ~/.local/share/bash-completion/completions/${spec.name}
${fn}() {
  local cur prev cmd i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev=""
  if (( COMP_CWORD > 0 )); then prev="\${COMP_WORDS[COMP_CWORD-1]}"; fi
  cmd=""
  for (( i = 1; i < COMP_CWORD; i++ )); do
    case "\${COMP_WORDS[i]}" in
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then
      COMPREPLY=( $(compgen -W ${shellWord(words(spec.options))} -- "$cur") )
    else
      COMPREPLY=( $(compgen -W ${shellWord(spec.commands.map((c) => c.name).join(" "))} -- "$cur") )
    fi
    return 0
  fi
  case "$cmd" in
${cases.join("\n")}
    *) COMPREPLY=() ;;
  esac
  return 0
}
complete -o default -F ${fn} ${spec.name}
`;
}

function zshQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function zshDesc(s: string): string {
  return s.replace(/[[\]\\]/g, "\\$&").replaceAll("'", `'\\''`);
}

function zshOption(o: OptSpec): string {
  const names = [o.short, o.long].filter((x): x is string => x !== undefined);
  const value = !o.takesValue
    ? ""
    : `:${o.valueName}:${o.files ? "_files" : o.choices ? `(${o.choices.join(" ")})` : " "}`;
  const body = `[${zshDesc(o.description)}]${value.replaceAll("'", `'\\''`)}`;
  const star = o.repeatable ? "*" : "";
  if (names.length === 1) return `'${star}${names[0]}${body}'`;
  const exclusion = o.repeatable ? "" : `'(${names.join(" ")})'`;
  return `${exclusion}${star ? `'*'` : ""}{${names.join(",")}}'${body}'`;
}

function zsh(spec: ProgramSpec): string {
  const fn = funcName(spec.name);
  const commandList = spec.commands.map((c) =>
    `    ${zshQuote(`${c.name.replaceAll(":", "\\:")}:${c.description}`)}`
  );
  const cases = spec.commands.map((c) => {
    const args = [
      ...c.options.map(zshOption),
      ...(c.argChoices
        ? [`'1:${c.name === "help" ? "command" : "argument"}:(${c.argChoices.join(" ")})'`]
        : []),
    ];
    return [
      `        ${c.name})`,
      args.length
        ? `          _arguments -s \\\n            ${args.join(" \\\n            ")}`
        : "          ;;",
      args.length ? "          ;;" : "",
    ].filter((l) => l !== "").join("\n");
  });
  return `#compdef ${spec.name}
# zsh completion for ${spec.name}; generated by \`${spec.name} completions zsh\`.
# Load it now: source <(${spec.name} completions zsh)
# Or for good: save it as _${spec.name} in a directory of $fpath.
${fn}() {
  local curcontext="$curcontext" state line
  local -a commands
  commands=(
${commandList.join("\n")}
  )
  _arguments -C \\
    ${
    spec.options.map(zshOption).map((o) => o.replace(/^'\(([^)]*)\)'/, "'(- *)'")).join(" \\\n    ")
  } \\
    '1: :->command' \\
    '*:: :->args'
  case $state in
    command)
      _describe -t commands 'command' commands
      ;;
    args)
      case $line[1] in
${cases.join("\n")}
      esac
      ;;
  esac
}
if [[ "$funcstack[1]" == "_${spec.name}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${spec.name}
fi
`;
}

function fishQuote(s: string): string {
  return `'${s.replace(/[\\']/g, "\\$&")}'`;
}

function fish(spec: ProgramSpec): string {
  const c0 = `complete -c ${spec.name}`;
  const lines = [
    `# fish completion for ${spec.name}; generated by \`${spec.name} completions fish\`.`,
    `# Load it now: ${spec.name} completions fish | source`,
    `# Or for good: ${spec.name} completions fish > ~/.config/fish/completions/${spec.name}.fish`,
    `${c0} -f`,
  ];
  const opt = (cond: string, o: OptSpec): string => {
    const parts = [c0, "-n", cond];
    if (o.short) parts.push("-s", o.short.replace(/^-/, ""));
    if (o.long) parts.push("-l", o.long.replace(/^--/, ""));
    if (o.takesValue) {
      if (o.files) parts.push("-r", "-F");
      else if (o.choices) parts.push("-x", "-a", fishQuote(o.choices.join(" ")));
      else parts.push("-x");
    }
    parts.push("-d", fishQuote(o.description));
    return parts.join(" ");
  };
  for (const o of spec.options) lines.push(opt("__fish_use_subcommand", o));
  for (const c of spec.commands) {
    lines.push(
      `${c0} -n __fish_use_subcommand -a ${c.name} -d ${fishQuote(c.description)}`,
    );
  }
  for (const c of spec.commands) {
    const cond = fishQuote(`__fish_seen_subcommand_from ${c.name}`);
    for (const o of c.options) lines.push(opt(cond, o));
    if (c.argChoices) lines.push(`${c0} -n ${cond} -a ${fishQuote(c.argChoices.join(" "))}`);
  }
  return lines.join("\n") + "\n";
}
