/**
 * The `file` provider: a secret is a file's content, one trailing newline trimmed.
 *
 * ```yaml
 * providers:
 *   mounted:
 *     kind: file
 * hosts:
 *   - match: https://*.staging.company.com
 *     provider: mounted
 *     secret: { path: /run/secrets/mlflow.json }
 *     auth: { type: basic, username_field: user, password_field: pass }
 * ```
 *
 * Kubernetes and Docker secret mounts and Vault Agent sinks rotate files in place, so the file
 * is checked again at most every second (a `stat`; it is re-read only when its size, mtime or
 * inode changed). A value that parses as a JSON object is used as an object. The version shown in
 * logs and metrics is the file's mtime and inode (`mtime:…,ino:…`), never anything derived from
 * its content.
 *
 * @module
 */

import { SecretResolutionError } from "../core/errors.ts";
import { checkRegularFile, FileRefusal, readRegularTextFile } from "../core/_regular_file.ts";
import { secretFromText } from "./_json_value.ts";
import { type ProviderDescriptor, setting } from "./descriptor.ts";
import type {
  ProviderContext,
  ProviderFactory,
  ResolvedSecret,
  SecretProvider,
  SecretRef,
} from "./types.ts";

/** Options of the file provider. */
export interface FileProviderOptions {
  /** Always `file`. */
  readonly kind?: "file";
  /** How often the file is checked for changes, in ms. Default 1000. */
  readonly checkIntervalMs?: number;
}

interface Memo {
  readonly stamp: string;
  readonly value: ResolvedSecret;
}

/**
 * Creates a file provider.
 *
 * @param name Instance name.
 * @param options Provider block.
 * @param _context Unused: files are read with `Deno.readTextFile`.
 * @returns The provider.
 *
 * @example
 * ```ts
 * import { createFileProvider } from "./file.ts";
 * import { Redactor } from "../core/redact.ts";
 * import { silentLogger } from "../core/log.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "tok-1\n");
 * const p = createFileProvider("mounted", {}, {
 *   env: () => undefined, fetch, now: Date.now, logger: silentLogger, redactor: new Redactor(),
 * });
 * const r = await p.resolve({ path }, { signal: new AbortController().signal });
 * await Deno.remove(path);
 * if (r.value !== "tok-1") throw new Error("newline not trimmed");
 * ```
 */
export function createFileProvider(
  name: string,
  options: FileProviderOptions,
  _context: ProviderContext,
): SecretProvider {
  const memo = new Map<string, Memo>();
  const interval = options.checkIntervalMs ?? 1_000;
  return {
    name,
    kind: "file",
    describe: (ref: SecretRef) => `file:${String(ref.path)}`,
    async resolve(ref, { signal }) {
      signal.throwIfAborted();
      const path = String(ref.path);
      const reference = `file:${path}`;
      try {
        const stat = await Deno.stat(path);
        checkRegularFile(stat);
        const known = memo.get(path);
        if (known !== undefined && known.stamp === stampOf(stat)) return known.value;
        const { text, info } = await readRegularTextFile(path, { signal });
        const stamp = stampOf(info);
        const trimmed = text.endsWith("\r\n")
          ? text.slice(0, -2)
          : text.endsWith("\n")
          ? text.slice(0, -1)
          : text;
        const version = versionOf(info);
        const value: ResolvedSecret = {
          value: secretFromText(trimmed),
          maxTtlMs: interval,
          ...(version !== undefined ? { version } : {}),
        };
        memo.set(path, { stamp, value });
        return value;
      } catch (cause) {
        if (cause instanceof SecretResolutionError) throw cause;
        if (cause instanceof FileRefusal) {
          throw new SecretResolutionError(`"${path}" is not a regular file; point path at a file`, {
            provider: name,
            reference,
            status: 404,
            cause,
          });
        }
        if (cause instanceof Deno.errors.NotFound) {
          throw new SecretResolutionError(
            `file "${path}" does not exist; check the path and that the secret is mounted`,
            { provider: name, reference, status: 404, cause },
          );
        }
        if (
          cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable
        ) {
          throw new SecretResolutionError(
            `file "${path}" cannot be read: permission denied; check the file mode and --allow-read`,
            { provider: name, reference, status: 403, cause },
          );
        }
        throw new SecretResolutionError(`file "${path}" cannot be read`, {
          provider: name,
          reference,
          transient: true,
          cause,
        });
      }
    },
  };
}

/**
 * The version of a file as shown in logs and metrics: its mtime and inode, e.g.
 * `mtime:2026-05-01T09:30:00.000Z,ino:4211`. Never derived from the content; undefined where the
 * platform reports neither.
 */
function versionOf(info: Deno.FileInfo): string | undefined {
  const parts = [
    ...(info.mtime !== null ? [`mtime:${info.mtime.toISOString()}`] : []),
    ...(info.ino !== null ? [`ino:${info.ino}`] : []),
  ];
  return parts.length > 0 ? parts.join(",") : undefined;
}

/** Registry entry. */
export const fileProvider: ProviderFactory = {
  kind: "file",
  create: (name, config, context) =>
    createFileProvider(name, config as FileProviderOptions, context),
};

/** What the command line and the bundler know about the `file` kind. */
export const fileDescriptor: ProviderDescriptor = {
  factory: fileProvider,
  exported: { module: import.meta.url, name: "fileDescriptor" },
  sdks: [],
  permissions(_config, grant) {
    for (const secret of grant.secrets) {
      const path = setting(secret.path);
      if (path !== undefined) grant.read(path);
    }
  },
  init: {
    name: "mounted",
    questions: [{
      key: "path",
      flag: "--path",
      argument: "path",
      help: "the secret file",
      question: "File holding the secret (e.g. /run/secrets/mlflow)",
    }],
    render: (a) => ({ provider: [], secret: [["path", a.path]] }),
  },
  exec: { local: true },
  secretFacts: {
    expiry: () => ["a check of the file every second (read again only when it changed)"],
    version: () => "the file's mtime and inode (never its content)",
    limit: "the file is checked every second, and read again only when it changed",
  },
};

function stampOf(info: Deno.FileInfo): string {
  return `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
}
