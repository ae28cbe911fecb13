/**
 * An air-gapped host for tests: a network namespace with only its own loopback up
 * (`unshare -n`, as root; `unshare -rn` otherwise), where `_airgap_scenario.ts` runs an artifact
 * against loopback peers.
 */

/** What to run inside the namespace. */
export interface ScenarioSpec {
  /**
   * The artifact's command line, run from an empty directory that holds only `files`.
   * `{tracking_port}`, `{proxy_port}`, `{moto_port}`, `{moto_key_id}`, `{moto_secret_key}`,
   * `{vault_port}`, `{vault_role_id}`, `{vault_secret_id}` and `{dir}` are replaced.
   */
  readonly command: readonly string[];
  /** Files copied into the empty directory (the bundle or the binary). */
  readonly files: readonly string[];
  /** The artifact's whole environment, besides PATH, HOME, DENO_DIR (empty) and NO_COLOR. */
  readonly env: Readonly<Record<string, string>>;
  /** The secret provider to start inside the namespace, if any. */
  readonly peer?:
    | {
      /** moto, the AWS emulator: one secret. */
      readonly kind: "moto";
      readonly region: string;
      readonly secretId: string;
      readonly secret: string;
    }
    | {
      /**
       * The Vault double: `data` at `kv/mlflow/auth` (KV v2), readable by the AppRole
       * `{vault_role_id}` / `{vault_secret_id}` on mount `approle`.
       */
      readonly kind: "vault";
      readonly data: Readonly<Record<string, string>>;
    };
  /**
   * `proxy` (default): wait until the artifact says it listens on `{proxy_port}`, send `paths`
   * through it, then SIGTERM it. `exec`: the artifact runs a child itself; wait for its exit.
   */
  readonly mode?: "proxy" | "exec";
  /** Paths requested through the proxy. */
  readonly paths: readonly string[];
  /** Headers the client sends. */
  readonly clientHeaders?: Readonly<Record<string, string>>;
  /** The header the tracking endpoint records. */
  readonly header: string;
}

/** What the scenario saw. */
export interface ScenarioResult {
  /** Network interfaces in the namespace. */
  interfaces: string[];
  /** Routes (IPv4, IPv6) in the main table: none. */
  routes: string[];
  /** The run directory before the artifact started. */
  dirBefore: string[];
  /** DENO_DIR before the artifact started. */
  denoDirBefore: string[];
  /** Whether the proxy said it listens. */
  started: boolean;
  /** Spawn to that line (`exec`: to the exit), in milliseconds. */
  startupMs: number;
  /** Responses through the proxy. */
  responses: { path: string; status: number; body: string }[];
  /** What the tracking endpoint received. */
  received: { path: string; authorization: string | null }[];
  /** The artifact's output lines. */
  output: string[];
  /** The artifact's exit code (after SIGTERM, for `proxy`). */
  exitCode?: number;
}

const SCENARIO = new URL("./_airgap_scenario.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Runs a scenario in a fresh network namespace and returns what it saw.
 *
 * @param spec The scenario.
 * @returns The result.
 * @throws When the namespace cannot be made or the scenario fails.
 */
export async function runAirgapped(spec: ScenarioSpec): Promise<ScenarioResult> {
  const root = Deno.uid() === 0;
  const out = await new Deno.Command("unshare", {
    args: [
      ...(root ? ["-n"] : ["-r", "-n"]),
      "--",
      "sh",
      "-c",
      'ip link set lo up && exec "$@"',
      "sh",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      SCENARIO,
      JSON.stringify(spec),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  const last = stdout.split("\n").pop() ?? "";
  if (!out.success || !last.startsWith("{")) {
    throw new Error(`The air-gapped scenario failed (exit ${out.code}):\n${stdout}\n${stderr}`);
  }
  return JSON.parse(last) as ScenarioResult;
}
