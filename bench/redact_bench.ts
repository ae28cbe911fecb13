/**
 * Redacting one 200-byte log line while 1 KB, 100 KB or 1 MiB of secrets are registered (each
 * with its derived forms), against a redactor holding one 40-byte token. The cost must stay flat
 * with the size of the secrets. Run: deno task bench
 */

import { Redactor } from "../core/redact.ts";

/** Printable random text of `bytes` characters, as a PEM body or a JSON secret would be. */
function randomText(bytes: number): string {
  const raw = new Uint8Array(Math.ceil(bytes * 3 / 4) + 3);
  for (let at = 0; at < raw.length; at += 65_536) {
    crypto.getRandomValues(raw.subarray(at, at + 65_536));
  }
  let out = "";
  for (let at = 0; at < raw.length; at += 0x3000) {
    out += btoa(String.fromCharCode(...raw.subarray(at, at + 0x3000)));
  }
  return out.slice(0, bytes);
}

const token = randomText(40);
const line =
  (`2026-12-01T13:40:59.000Z INFO proxied method=POST path=/api/2.0/mlflow/runs/log-metric ` +
    `status=200 ms=3 token=${token} upstream=http://127.0.0.1:5000`).padEnd(200, " ");

function redactorWith(bytes: number): Redactor {
  const r = new Redactor();
  r.add(token);
  if (bytes > 0) r.add({ token, ca_bundle: randomText(bytes) });
  return r;
}

const sizes: readonly [string, number][] = [
  ["40 B token only", 0],
  ["1 KB", 1024],
  ["100 KB", 100 * 1024],
  ["1 MiB", 1024 * 1024],
];
for (const [name, bytes] of sizes) {
  const r = redactorWith(bytes);
  if (line.length !== 200 || r.redact(line).includes(token)) throw new Error("bad bench line");
  Deno.bench(`redact a 200-byte line, ${name} registered`, {
    group: "redact",
    baseline: bytes === 0,
  }, () => {
    r.redact(line);
  });
}
