/**
 * The HTTP clients of host rules with `tls:` settings: one `Deno.createHttpClient({ caCerts,
 * cert, key })` per rule, made on first use from the rule's PEM files and kept until `close()`.
 * The middleware and the proxy send a rule's requests with its client; rules without `tls:` use
 * `fetch`'s default.
 *
 * The files are read once, synchronously (a few KiB; only regular files of at most 1 MiB), and
 * checked before a byte is sent: each exists and can be read, the CA file and the client
 * certificate hold a PEM certificate, the key a PEM private key (not an encrypted one), and the
 * key belongs to the certificate. A problem is a `ProfileError` at the setting's line, column and
 * JSON pointer (for a file named by an environment variable, one issue naming the variable); the
 * request that needed the client is not sent. Messages name paths, never file contents.
 *
 * @module
 */

import type { PlanRule, RuleTls, TlsFileSetting } from "../profile/plan.ts";
import { ProfileError, type ProfileIssue } from "../core/errors.ts";
import { checkRegularFile, FileRefusal } from "../core/_regular_file.ts";

/** Largest TLS file read: a CA bundle of a few hundred certificates fits. */
const MAX_TLS_FILE_BYTES = 1 << 20;

/** The clients of a plan's rules, by rule index. */
export class RuleTlsClients {
  readonly #source: string;
  readonly #clients = new Map<number, Deno.HttpClient>();
  #closed = false;

  /**
   * Creates an empty set; clients are made on first use.
   *
   * @param source The profile's name, for errors (`ProfileError.file`).
   */
  constructor(source: string) {
    this.#source = source;
  }

  /**
   * The client of a rule, made on first use.
   *
   * @param rule The rule.
   * @returns Its client, or undefined when the rule has no `tls:` settings.
   * @throws {ProfileError} when a file set in the profile is missing, unreadable or not usable.
   *   For a file named by an environment variable, its one issue names the variable.
   */
  get(rule: PlanRule): Deno.HttpClient | undefined {
    if (rule.tls === undefined) return undefined;
    const known = this.#clients.get(rule.index);
    if (known !== undefined) return known;
    if (this.#closed) throw new Error("The TLS clients are closed");
    const client = createRuleClient(rule.tls, rule.label, this.#source);
    this.#clients.set(rule.index, client);
    return client;
  }

  /** Closes every client made. Later calls to {@linkcode RuleTlsClients.get} throw. */
  close(): void {
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}

interface Problem {
  readonly setting: TlsFileSetting;
  readonly message: string;
}

/**
 * Reads a rule's TLS files and makes its client.
 *
 * @param tls The rule's TLS settings.
 * @param label The rule, for messages (`hosts[0] (https://mlflow.company.com)`).
 * @param source The profile's name.
 * @returns The client.
 * @throws {ProfileError} for a problem with a file set in the profile.
 */
export function createRuleClient(tls: RuleTls, label: string, source: string): Deno.HttpClient {
  const problems: Problem[] = [];
  const read = (setting: TlsFileSetting | undefined, key: string): string | undefined => {
    if (setting === undefined) return undefined;
    try {
      return readTlsFile(setting.path);
    } catch (error) {
      problems.push({ setting, message: fileProblem(setting, key, error) });
      return undefined;
    }
  };
  const ca = read(tls.caCert, "ca_cert");
  const cert = read(tls.clientCert, "client_cert");
  const key = read(tls.clientKey, "client_key");
  if (ca !== undefined && !CERTIFICATE.test(ca)) {
    problems.push({
      setting: tls.caCert!,
      message: `${
        named(tls.caCert!, "ca_cert")
      } holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give the CA's certificate in PEM`,
    });
  }
  if (cert !== undefined && !CERTIFICATE.test(cert)) {
    problems.push({
      setting: tls.clientCert!,
      message: `${
        named(tls.clientCert!, "client_cert")
      } holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give the client certificate in PEM`,
    });
  }
  if (key !== undefined) {
    if (ENCRYPTED_KEY.test(key)) {
      problems.push({
        setting: tls.clientKey!,
        message: `${
          named(tls.clientKey!, "client_key")
        } holds an encrypted private key, which cannot be used; decrypt it into a file only you can read (openssl pkey -in KEY -out PLAIN)`,
      });
    } else if (!PRIVATE_KEY.test(key)) {
      problems.push({
        setting: tls.clientKey!,
        message: `${
          named(tls.clientKey!, "client_key")
        } holds no PEM private key ("-----BEGIN PRIVATE KEY-----"); give the client certificate's key in PEM`,
      });
    }
  }
  if (problems.length > 0) throw tlsError(problems, label, source);
  try {
    return Deno.createHttpClient({
      ...(ca !== undefined ? { caCerts: [ca] } : {}),
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const setting = /KeyMismatch|keys may not be consistent/i.test(reason)
      ? tls.clientKey
      : tls.clientCert ?? tls.caCert;
    const what = /KeyMismatch|keys may not be consistent/i.test(reason)
      ? `${named(tls.clientKey!, "client_key")} is not the key of ${
        named(tls.clientCert!, "client_cert")
      }; give the key the certificate was issued for`
      : `the TLS files cannot be used: ${reason}`;
    throw tlsError([{ setting: setting!, message: what }], label, source);
  }
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/;
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

/** `file "/etc/ssl/ca.pem" (tls.ca_cert)` or `file "/x.pem" (MLFLOW_TRACKING_SERVER_CERT_PATH)`. */
function named(setting: TlsFileSetting, key: string): string {
  return `file "${expandHome(setting.path)}" (${
    "variable" in setting.from ? setting.from.variable : `tls.${key}`
  })`;
}

function readTlsFile(path: string): string {
  const full = expandHome(path);
  checkRegularFile(Deno.statSync(full), MAX_TLS_FILE_BYTES);
  return Deno.readTextFileSync(full);
}

function fileProblem(setting: TlsFileSetting, key: string, error: unknown): string {
  const name = named(setting, key);
  if (error instanceof Deno.errors.NotFound) return `${name} does not exist; check the path`;
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return `${name} cannot be read: permission denied; check the file mode and --allow-read`;
  }
  if (error instanceof FileRefusal) {
    return `${name} cannot be used: ${error.message}; give a PEM file${
      error.reason === "not-regular" ? " (a CA directory is not read: concatenate its PEMs)" : ""
    }`;
  }
  return `${name} cannot be read`;
}

function tlsError(problems: readonly Problem[], label: string, source: string): Error {
  const fromEnv = problems.filter((p) => "variable" in p.setting.from);
  if (fromEnv.length > 0) {
    // Not a position in the profile: one issue about the settings as a whole, shown alone.
    return new ProfileError(source, [{
      pointer: "",
      message: `Cannot use the TLS settings of rule ${label}: ${
        problems.map((p) => p.message).join("; ")
      }`,
      rule: "tls-file",
    }]);
  }
  const issues: ProfileIssue[] = problems.map((p) => {
    const from = p.setting.from as { pointer: string; line?: number; column?: number };
    return {
      pointer: from.pointer,
      ...(from.line !== undefined ? { line: from.line, column: from.column ?? 1 } : {}),
      message: p.message,
      rule: "tls-file",
    };
  });
  return new ProfileError(source, issues);
}

function expandHome(path: string): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  let home: string | undefined;
  try {
    home = Deno.env.get("HOME");
  } catch {
    home = undefined;
  }
  return home === undefined ? path : `${home}${path.slice(1)}`;
}
