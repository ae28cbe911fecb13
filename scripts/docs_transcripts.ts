/**
 * `deno task docs:transcripts`: regenerates the generated parts of the docs from the real CLI.
 *
 * A generated part sits between two markers in a Markdown file:
 *
 * ```text
 * <!-- generated: transcript validate-broken -->
 * …
 * <!-- /generated -->
 * ```
 *
 * - `transcript ID` runs the command of {@linkcode TRANSCRIPTS} with that id (`deno run -A cli.ts
 *   …` in `tests/testdata/docs/`, a fixed environment, a temporary HOME, `NO_COLOR=1`) and writes
 *   the command line, its stdout, its stderr after a `[stderr]` line, and its exit code.
 * - `file PATH [INFO…]` copies a file of the repository into a fenced block (info string `INFO`,
 *   default from the file's extension), so a profile shown next to its transcripts is the one they
 *   ran on.
 *
 * Output is normalised so that it does not depend on the machine or the run: the stand-in
 * tracking server's port is shown as 5000 and the closed port as 5001 (the ports the docs name),
 * any other ephemeral loopback port as `<port>`, timings as `N ms`, timestamps as `<time>`, the
 * checkout as `<checkout>`, the temporary HOME as `~`, and Deno's versions as `<version>`.
 *
 * `tests/docs/docs_test.ts` renders the same parts again and fails when a doc differs; this
 * script writes them (`--check` only reports). The commands run against a stand-in on loopback
 * that answers `GET /api/2.0/mlflow/experiments/search` like MLflow (a 401 for any other
 * credential); `tests/cli/doctor_mlflow_test.ts` runs `doctor` against a real MLflow server.
 *
 * @module
 */

import { fromFileUri, relativeFromRoot, walkMarkdown } from "./_docs_files.ts";

export { relativeFromRoot, walkMarkdown };

/** The repository root, as a file URL ending in `/`. */
export const ROOT: URL = new URL("../", import.meta.url);
/** Where the transcripts run, relative to the root; its `mlflow-auth.yaml` is the default profile. */
export const TRANSCRIPT_DIR = "tests/testdata/docs";
/** The port the docs show for the stand-in tracking server, and for the port nothing listens on. */
export const SHOWN_PORTS = { server: 5000, closed: 5001 } as const;

/** The credentials every transcript gets; none of them may ever appear in a transcript. */
export const DOC_SECRETS = {
  MLFLOW_TOKEN: "docs-token-6f1c2a9e",
  MLFLOW_CRED: JSON.stringify({ username: "alice", password: "docs-pass-9b7e41" }),
} as const;

/** One transcript: the arguments after `mlflow-secrets-auth`, and what else it needs. */
export interface Transcript {
  /** The id named by the marker. */
  readonly id: string;
  /** The CLI's arguments; `127.0.0.1:5000` and `:5001` are mapped to the real ports. */
  readonly args: readonly string[];
  /** Extra environment variables; `export` lines are shown for them before the command. */
  readonly env?: Readonly<Record<string, string>>;
  /** Environment variables that differ from the defaults but are not shown (e.g. a wrong token). */
  readonly hiddenEnv?: Readonly<Record<string, string>>;
  /** Where it runs, below the transcript directory (default: that directory). */
  readonly cwd?: string;
  /** Files written into the transcript directory before the run and removed after it. */
  readonly files?: Readonly<Record<string, string>>;
  /** Files the command writes, removed before and after the run. */
  readonly writes?: readonly string[];
}

const PLUGIN_ENV = {
  MLFLOW_SECRETS_AUTH_ENABLE: "vault",
  VAULT_ADDR: "https://vault.company.com:8200",
  VAULT_TOKEN: "hvs.docs-example-not-a-token",
  MLFLOW_VAULT_SECRET_PATH: "secret/data/mlflow/auth",
  MLFLOW_VAULT_TTL_SEC: "600",
  MLFLOW_TRACKING_URI: "https://mlflow.company.com",
  MLFLOW_SECRETS_ALLOWED_HOSTS: "mlflow.company.com,*.corp.company.com,mlflow-*.company.com",
};

/** Every transcript the docs may show, in the order they run. */
export const TRANSCRIPTS: readonly Transcript[] = [
  { id: "help", args: ["--help"] },
  { id: "readme-validate", args: ["validate"], cwd: "minimal" },
  {
    id: "readme-explain",
    args: ["explain", "--url", "https://mlflow.company.com/api/2.0/mlflow/runs/get"],
    cwd: "minimal",
  },
  { id: "validate", args: ["validate"] },
  { id: "validate-broken", args: ["validate", "-p", "broken.yaml"] },
  {
    id: "explain-url",
    args: ["explain", "--url", "http://127.0.0.1:5000/api/2.0/mlflow/runs/get"],
  },
  { id: "explain-unmatched", args: ["explain", "--url", "https://mlflow.evil.example/api"] },
  { id: "doctor", args: ["doctor"] },
  {
    id: "doctor-wrong-token",
    args: ["doctor", "--url", "http://127.0.0.1:5000"],
    hiddenEnv: { MLFLOW_TOKEN: "docs-wrong-token-0000" },
  },
  { id: "info", args: ["info"] },
  {
    id: "init",
    args: [
      "init",
      "--stdout",
      "--provider",
      "vault",
      "--host",
      "https://mlflow.company.com",
      "--address",
      "https://vault.company.com:8200",
      "--path",
      "mlflow/auth",
    ],
  },
  {
    id: "init-write",
    args: ["init", "--provider", "env", "--host", "https://mlflow.company.com", "-p", "team.yaml"],
    writes: ["team.yaml"],
  },
  {
    id: "init-exists",
    args: ["init", "--provider", "env", "--host", "https://mlflow.company.com", "-p", "team.yaml"],
    files: { "team.yaml": "version: 1\n" },
  },
  {
    id: "exec",
    args: [
      "exec",
      "--access-log",
      "--upstream",
      "http://127.0.0.1:5000",
      "--",
      "sh",
      "-c",
      'curl -sS -H "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" "$MLFLOW_TRACKING_URI/api/2.0/mlflow/experiments/search?max_results=1"',
    ],
  },
  { id: "from-env", args: ["explain", "--from-env"], env: PLUGIN_ENV },
];

/** The result of one run, normalised. */
export interface RenderedTranscript {
  /** The Markdown between the markers. */
  readonly markdown: string;
  /** Stdout and stderr together, for the secret check. */
  readonly output: string;
}

const MARKER =
  /<!-- generated: (transcript|file) ([^\s>]+)((?: [^\s>]+)*) -->\n[\s\S]*?<!-- \/generated -->/g;

/** One generated part of a doc. */
export interface GeneratedPart {
  /** `transcript` or `file`. */
  readonly kind: "transcript" | "file";
  /** The transcript id or the file path. */
  readonly name: string;
  /** The info string words after the path (`file` only). */
  readonly info: readonly string[];
  /** The whole marked region, markers included. */
  readonly region: string;
  /** 1-based line of the opening marker. */
  readonly line: number;
}

/**
 * Finds the generated parts of a Markdown text.
 *
 * @param text The Markdown.
 * @returns Every marked region, in order.
 */
export function generatedParts(text: string): GeneratedPart[] {
  const parts: GeneratedPart[] = [];
  for (const m of text.matchAll(MARKER)) {
    parts.push({
      kind: m[1] as "transcript" | "file",
      name: m[2]!,
      info: (m[3] ?? "").trim().split(" ").filter(Boolean),
      region: m[0],
      line: text.slice(0, m.index).split("\n").length,
    });
  }
  return parts;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** What a normalisation needs to know about the run. */
interface RunContext {
  readonly root: string;
  readonly home: string;
  readonly ports: ReadonlyMap<number, number>;
}

/**
 * Makes CLI output independent of the machine and the run (ports, paths, timings, versions).
 *
 * @param text Raw output.
 * @param ctx The run's root, temporary HOME and real → shown ports.
 * @returns The normalised text.
 */
export function normalise(text: string, ctx: RunContext): string {
  let t = text.replaceAll(ctx.root, "<checkout>/").replaceAll(ctx.root.slice(0, -1), "<checkout>");
  t = t.replaceAll(ctx.home, "~");
  const loopback = String.raw`(127\.0\.0\.1|localhost|\[::1\])`;
  for (const [real, shown] of ctx.ports) {
    t = t.replace(new RegExp(`${loopback}:${real}(?!\\d)`, "g"), `$1:${shown}`);
  }
  t = t.replace(new RegExp(`${loopback}:(?:3[2-9]\\d{3}|[4-6]\\d{4})(?!\\d)`, "g"), "$1:<port>");
  t = t.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, "<time>");
  t = t.replace(/\(\d+(?:\.\d+)? ms\)/g, "(N ms)");
  t = t.replace(/\bms=\d+(?:\.\d+)?/g, "ms=N");
  t = t.replace(/"ms": ?\d+(?:\.\d+)?/g, '"ms": "N"');
  const v = Deno.version;
  t = t.replaceAll(
    `Deno ${v.deno} (V8 ${v.v8}, TypeScript ${v.typescript})`,
    "Deno <version> (V8 <version>, TypeScript <version>)",
  );
  return t.split("\n").map((l) => l.trimEnd()).join("\n").replace(/\n+$/, "");
}

/** A stand-in tracking server on loopback that answers `experiments/search` like MLflow. */
function standIn(token: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (req.headers.get("authorization") !== `Bearer ${token}`) {
      return Response.json(
        { error_code: "UNAUTHENTICATED", message: "You are not authenticated." },
        { status: 401 },
      );
    }
    if (url.pathname === "/api/2.0/mlflow/experiments/search") {
      return Response.json({
        experiments: [{
          experiment_id: "0",
          name: "Default",
          artifact_location: "mlflow-artifacts:/0",
          lifecycle_stage: "active",
        }],
      });
    }
    return Response.json({ error_code: "ENDPOINT_NOT_FOUND" }, { status: 404 });
  });
}

async function closedPort(): Promise<number> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return await Promise.resolve(port);
}

async function denoDir(): Promise<string | undefined> {
  if (Deno.env.get("DENO_DIR")) return Deno.env.get("DENO_DIR");
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  return out.success ? JSON.parse(new TextDecoder().decode(out.stdout)).denoDir : undefined;
}

/**
 * Runs every transcript (or the ids given) against a stand-in server and renders them.
 *
 * @param ids Only these transcripts; all of them by default.
 * @returns The rendered Markdown of each transcript, by id.
 * @throws {Error} When an id is unknown, or a command cannot be started.
 */
export async function renderTranscripts(
  ids?: Iterable<string>,
): Promise<Map<string, RenderedTranscript>> {
  const wanted = ids ? new Set(ids) : undefined;
  for (const id of wanted ?? []) {
    if (!TRANSCRIPTS.some((t) => t.id === id)) throw new Error(`Unknown transcript "${id}"`);
  }
  const root = fromFileUri(ROOT);
  const cwd = `${root}${TRANSCRIPT_DIR}`;
  const home = await Deno.makeTempDir({ prefix: "docs-home-" });
  const server = standIn(DOC_SECRETS.MLFLOW_TOKEN);
  const closed = await closedPort();
  const ports = new Map([[server.addr.port, SHOWN_PORTS.server], [closed, SHOWN_PORTS.closed]]);
  const toReal = (s: string) =>
    s.replaceAll(`127.0.0.1:${SHOWN_PORTS.server}`, `127.0.0.1:${server.addr.port}`)
      .replaceAll(`127.0.0.1:${SHOWN_PORTS.closed}`, `127.0.0.1:${closed}`);
  const baseEnv: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    NO_COLOR: "1",
    MLFLOW_PORT: String(server.addr.port),
    CLOSED_PORT: String(closed),
    ...DOC_SECRETS,
  };
  const dir = await denoDir();
  if (dir) baseEnv.DENO_DIR = dir;
  const ctx = { root, home, ports };
  const out = new Map<string, RenderedTranscript>();
  try {
    for (const t of TRANSCRIPTS) {
      if (wanted && !wanted.has(t.id)) continue;
      const dir = t.cwd ? `${cwd}/${t.cwd}` : cwd;
      const temporary = [...Object.keys(t.files ?? {}), ...t.writes ?? []];
      const removeTemporary = () =>
        Promise.all(temporary.map((f) => Deno.remove(`${dir}/${f}`).catch(() => {})));
      await removeTemporary();
      let result: Deno.CommandOutput;
      try {
        for (const [f, text] of Object.entries(t.files ?? {})) {
          await Deno.writeTextFile(`${dir}/${f}`, text);
        }
        result = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${root}cli.ts`, ...t.args.map(toReal)],
          cwd: dir,
          clearEnv: true,
          env: { ...baseEnv, ...t.env, ...t.hiddenEnv },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
      } finally {
        await removeTemporary();
      }
      const dec = new TextDecoder();
      const stdout = normalise(dec.decode(result.stdout), ctx);
      const stderr = normalise(dec.decode(result.stderr), ctx);
      const lines = [
        ...Object.entries(t.env ?? {}).map(([k, v]) => `$ export ${k}=${quote(v)}`),
        `$ mlflow-secrets-auth ${t.args.map(quote).join(" ")}`,
        ...(stdout ? [stdout] : []),
        ...(stderr ? ["[stderr]", stderr] : []),
      ];
      out.set(t.id, {
        markdown: ["```console", ...lines, "```", "", `Exit code: ${result.code}.`].join("\n"),
        output: `${dec.decode(result.stdout)}\n${dec.decode(result.stderr)}`,
      });
    }
  } finally {
    await server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
  return out;
}

function infoFor(path: string, info: readonly string[]): string {
  if (info.length) return info.join(" ");
  const ext = path.split(".").pop() ?? "";
  return { yaml: "yaml", yml: "yaml", ts: "ts ignore", json: "json", sh: "sh" }[ext] ?? "text";
}

/**
 * Renders the body of one generated part.
 *
 * @param part The marked region.
 * @param transcripts Rendered transcripts by id.
 * @returns The region with its body regenerated.
 * @throws {Error} When a transcript id is unknown.
 */
export async function renderPart(
  part: GeneratedPart,
  transcripts: ReadonlyMap<string, RenderedTranscript>,
): Promise<string> {
  let body: string;
  if (part.kind === "transcript") {
    const t = transcripts.get(part.name);
    if (!t) throw new Error(`Unknown transcript "${part.name}"; known: ${[...transcripts.keys()]}`);
    body = t.markdown;
  } else {
    const text = await Deno.readTextFile(new URL(part.name, ROOT));
    body = ["```" + infoFor(part.name, part.info), text.replace(/\n+$/, ""), "```"].join("\n");
  }
  const info = part.info.length ? ` ${part.info.join(" ")}` : "";
  return `<!-- generated: ${part.kind} ${part.name}${info} -->\n\n${body}\n\n<!-- /generated -->`;
}

/**
 * Regenerates every generated part of one Markdown text.
 *
 * @param text The Markdown.
 * @param transcripts Rendered transcripts by id.
 * @returns The new text.
 */
export async function regenerate(
  text: string,
  transcripts: ReadonlyMap<string, RenderedTranscript>,
): Promise<string> {
  let result = "";
  let last = 0;
  for (const m of text.matchAll(MARKER)) {
    const [part] = generatedParts(m[0]);
    result += text.slice(last, m.index) + await renderPart(part!, transcripts);
    last = m.index + m[0].length;
  }
  return result + text.slice(last);
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const files = await walkMarkdown(ROOT);
  const transcripts = await renderTranscripts();
  let stale = 0;
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    if (!generatedParts(text).length) continue;
    const next = await regenerate(text, transcripts);
    if (next === text) continue;
    stale++;
    if (check) console.log(`stale: ${relativeFromRoot(file, ROOT)}`);
    else {
      await Deno.writeTextFile(file, next);
      console.log(`updated ${relativeFromRoot(file, ROOT)}`);
    }
  }
  if (!stale) console.log("docs: every generated part is up to date");
  if (check && stale) Deno.exit(1);
}
