/**
 * This run's Deno cache directory. The npm packages live there (no `node_modules`), and Deno
 * finds it through HOME: a subprocess given a HOME of its own must be given this too, or it
 * would look for the packages in an empty cache and try the registry.
 */

async function find(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir: string }).denoDir;
}

/** Absolute path of this run's Deno cache. */
export const DENO_DIR: string = Deno.env.get("DENO_DIR") ?? await find();
