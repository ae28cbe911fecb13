import { createFileProvider } from "../../providers/file.ts";
import { Redactor } from "../../core/redact.ts";
import { silentLogger } from "../../core/log.ts";
import { runProviderContract } from "./_contract.ts";
import { restrictedProvider } from "./_restricted.ts";
import { assertEquals } from "../_assert.ts";

const CANARY = `canary-${crypto.randomUUID()}`;

function provider() {
  return createFileProvider("mounted", {}, {
    env: () => undefined,
    fetch,
    now: Date.now,
    logger: silentLogger,
    redactor: new Redactor(),
  });
}

Deno.test("createFileProvider() passes the provider contract", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, `${CANARY}\n`);
    await Deno.writeTextFile(`${dir}/denied`, CANARY);
    const fifo = `${dir}/hang`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    await runProviderContract(t, {
      provider: provider(),
      existing: { ref: { path: `${dir}/token` }, value: CANARY },
      missing: { path: `${dir}/absent` },
      // A real permission denial: a child process allowed to read another directory only.
      denied: {
        ref: { path: `${dir}/denied` },
        provider: restrictedProvider("file", [`--allow-read=/nonexistent-${crypto.randomUUID()}`]),
      },
      // Reading a FIFO with no writer blocks until aborted.
      hanging: { ref: { path: fifo } },
      canary: CANARY,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createFileProvider() trims one trailing newline and parses JSON objects", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = provider();
    const signal = new AbortController().signal;
    await Deno.writeTextFile(`${dir}/a`, "tok\n\n");
    assertEquals((await p.resolve({ path: `${dir}/a` }, { signal })).value, "tok\n");
    await Deno.writeTextFile(`${dir}/b`, '{"user":"u","pass":"p"}\n');
    assertEquals((await p.resolve({ path: `${dir}/b` }, { signal })).value, {
      user: "u",
      pass: "p",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createFileProvider() picks up a file rotated in place and by rename", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = provider();
    const signal = new AbortController().signal;
    const path = `${dir}/token`;
    await Deno.writeTextFile(path, "v1");
    assertEquals((await p.resolve({ path }, { signal })).value, "v1");
    await Deno.writeTextFile(path, "v2-longer"); // in place
    assertEquals((await p.resolve({ path }, { signal })).value, "v2-longer");
    await Deno.writeTextFile(`${dir}/.tmp`, "v3");
    await Deno.rename(`${dir}/.tmp`, path); // atomic swap, as Kubernetes and Vault Agent do
    assertEquals((await p.resolve({ path }, { signal })).value, "v3");
    const r = await p.resolve({ path }, { signal });
    assertEquals(r.maxTtlMs, 1_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createFileProvider() reports the file's mtime and inode as its version, never its content", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = provider();
    const signal = new AbortController().signal;
    const path = `${dir}/token`;
    await Deno.writeTextFile(path, CANARY);
    await Deno.utime(path, 1_000, new Date("2026-05-01T09:30:00Z"));
    const first = await p.resolve({ path }, { signal });
    const ino = (await Deno.stat(path)).ino;
    assertEquals(first.version, `mtime:2026-05-01T09:30:00.000Z,ino:${ino}`);
    // Rotated by rename: a new inode and mtime, so a new version.
    await Deno.writeTextFile(`${dir}/.tmp`, `${CANARY}-2`);
    await Deno.utime(`${dir}/.tmp`, 1_000, new Date("2026-05-02T09:30:00Z"));
    await Deno.rename(`${dir}/.tmp`, path);
    const second = await p.resolve({ path }, { signal });
    const ino2 = (await Deno.stat(path)).ino;
    assertEquals(second.version, `mtime:2026-05-02T09:30:00.000Z,ino:${ino2}`);
    assertEquals(String(second.version).includes(CANARY), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
