/**
 * Throwaway TLS material for tests: a private certificate authority and the leaf certificates it
 * signs, made with openssl at test time (P-256 keys, valid two days). Nothing trusts the CA unless
 * a test hands it to a client: `Deno.createHttpClient({ caCerts })`, `NODE_EXTRA_CA_CERTS`, a
 * provider's `tls.ca_cert`.
 */

/** A certificate and its private key, in PEM. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** What {@linkcode issueTestCertificates} issued: `cert` and `key` are the server's. */
export interface TestCertificates extends PemPair {
  /** The CA certificate (the trust anchor). */
  readonly ca: string;
  /** The client certificate and key, when `client` was asked for. */
  readonly client?: PemPair;
  /** Where the PEMs were written, when `dir` was given: the same shape, paths for texts. */
  readonly files?: Omit<TestCertificates, "files">;
}

/** Options of {@linkcode issueTestCertificates}. */
export interface IssueOptions {
  /** Also issue a client certificate (extendedKeyUsage clientAuth, DNS name "mlflow-client"). */
  readonly client?: boolean;
  /**
   * Also write the PEMs into this existing directory, which the caller owns: `ca.pem`,
   * `server.pem`, `server.key` and, with `client`, `client.pem` and `client.key`.
   */
  readonly dir?: string;
}

type WithClient = { readonly client: PemPair };

/**
 * Creates a throwaway CA and a server certificate for IP 127.0.0.1 and DNS localhost
 * (extendedKeyUsage serverAuth), optionally a client certificate, all signed by that CA. The
 * CA's key and the signing requests live in a temporary directory that is removed before this
 * returns.
 *
 * @param options A client certificate; a directory to write the PEMs into.
 * @returns The PEM texts and, with `dir`, their paths.
 * @throws When openssl is missing or fails.
 */
export function issueTestCertificates(
  options: { readonly client: true; readonly dir: string },
): Promise<
  TestCertificates & WithClient & { readonly files: PemPair & WithClient & { ca: string } }
>;
export function issueTestCertificates(
  options: { readonly client?: false; readonly dir: string },
): Promise<TestCertificates & { readonly files: PemPair & { ca: string } }>;
export function issueTestCertificates(options?: IssueOptions): Promise<TestCertificates>;
export async function issueTestCertificates(options: IssueOptions = {}): Promise<TestCertificates> {
  const work = await Deno.makeTempDir({ prefix: "msa-tls-" });
  try {
    await openssl(work, [
      "req",
      "-x509",
      ...EC_KEY,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=mlflow-secrets-auth test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    const ca = await Deno.readTextFile(`${work}/ca.pem`);
    const server = await issueLeaf(work, "server", {
      usage: "serverAuth",
      san: "IP:127.0.0.1,DNS:localhost",
    });
    const client = options.client
      ? await issueLeaf(work, "client", { usage: "clientAuth", san: "DNS:mlflow-client" })
      : undefined;
    const issued = { ca, ...server, ...(client ? { client } : {}) };
    if (options.dir === undefined) return issued;
    const dir = options.dir;
    const files = {
      ca: `${dir}/ca.pem`,
      cert: `${dir}/server.pem`,
      key: `${dir}/server.key`,
      ...(client ? { client: { cert: `${dir}/client.pem`, key: `${dir}/client.key` } } : {}),
    };
    await Deno.writeTextFile(files.ca, ca);
    await Deno.writeTextFile(files.cert, server.cert);
    await Deno.writeTextFile(files.key, server.key, { mode: 0o600 });
    if (client && files.client) {
      await Deno.writeTextFile(files.client.cert, client.cert);
      await Deno.writeTextFile(files.client.key, client.key, { mode: 0o600 });
    }
    return { ...issued, files };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Issues `<name>.pem` and `<name>.key` in `work`, signed by the CA there. */
async function issueLeaf(
  work: string,
  name: string,
  options: { readonly usage: string; readonly san: string },
): Promise<PemPair> {
  await Deno.writeTextFile(
    `${work}/${name}.ext`,
    `basicConstraints=CA:FALSE\nextendedKeyUsage=${options.usage}\nsubjectAltName=${options.san}\n`,
  );
  await openssl(work, [
    "req",
    ...EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  ]);
  await openssl(work, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  ]);
  return {
    cert: await Deno.readTextFile(`${work}/${name}.pem`),
    key: await Deno.readTextFile(`${work}/${name}.key`),
  };
}

async function openssl(cwd: string, args: readonly string[]): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args: [...args],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}
