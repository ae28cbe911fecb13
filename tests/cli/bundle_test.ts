/**
 * `bundle`: one JavaScript file with the profile embedded and only its providers, runnable with
 * nothing but the deno binary, proved inside a network namespace with no network at all.
 */

import { main } from "../../cli.ts";
import { foreignImports, formatBytes, PROVIDER_MODULES } from "../../cli/_artifact.ts";
import type { BundleReport } from "../../cli/bundle.ts";
import { permissionFlags } from "../../cli/permissions.ts";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { runAirgapped } from "./_airgap.ts";
import {
  AWS_PROFILE,
  bundledModules,
  bundledPackages,
  captureIo,
  ENV_PROFILE,
  run,
  tempFile,
  VAULT_PROFILE,
} from "./_build.ts";
import { motoInstalled } from "../_peers/moto.ts";

const DENO = Deno.execPath();

async function bundle(
  text: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<{ dir: string; report: BundleReport; code: string }> {
  const { dir, path } = await tempFile("p.yaml", text);
  const output = `${dir}/dist/mlflow-auth.js`;
  const { io, out, err } = captureIo(env);
  const code = await main(["bundle", "--profile", path, "-o", output, "--json", ...extra], io);
  assertEquals(code, 0, err.join(""));
  const report = JSON.parse(out.join("")) as BundleReport;
  return { dir, report, code: await Deno.readTextFile(output) };
}

/** SDK packages (as esbuild names their folders) of the kinds not in `kinds`. */
function otherSdkFolders(kinds: readonly string[]): string[] {
  return Object.entries(PROVIDER_MODULES)
    .filter(([k]) => !kinds.includes(k))
    .flatMap(([, m]) => m.sdks.map((s) => s.replace("/", "+")));
}

Deno.test("main() bundle embeds the profile and only the env provider, and imports no package", async () => {
  const { dir, report, code } = await bundle(ENV_PROFILE, { TRACKING_PORT: "1" });
  try {
    console.log(`env-only bundle: ${formatBytes(report.bytes)} (${report.bytes} bytes)`);
    assertEquals(report.providers, ["env"]);
    assertEquals(report.embedded, "embedded:p.yaml");
    assert(code.includes(JSON.stringify(ENV_PROFILE)), "the profile text is not embedded");
    const modules = bundledModules(code);
    assert(modules.includes("providers/env.ts"), modules.join(" "));
    for (const kind of Object.keys(PROVIDER_MODULES).filter((k) => k !== "env")) {
      assert(!modules.includes(PROVIDER_MODULES[kind]!.module), `${kind} is in the bundle`);
    }
    const packages = bundledPackages(code);
    for (const sdk of otherSdkFolders(["env"])) {
      assert(!packages.some((p) => p.startsWith(`${sdk}@`)), `${sdk} is in the bundle`);
    }
    // No import that an air-gapped host would have to fetch; at most the left-out SDKs, from
    // code that lists every SDK (doctor) and never runs them in this build.
    const allowed = Object.values(PROVIDER_MODULES).flatMap((m) => m.sdks);
    for (const spec of foreignImports(code)) {
      assert(allowed.includes(spec), `the bundle imports "${spec}"`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() bundle with an AWS profile carries the AWS SDK inside and no other provider", async () => {
  const { dir, report, code } = await bundle(AWS_PROFILE, { TRACKING_PORT: "1", MOTO_PORT: "2" });
  try {
    console.log(`aws bundle: ${formatBytes(report.bytes)} (${report.bytes} bytes)`);
    assertEquals(report.providers, ["aws-secrets-manager"]);
    const packages = bundledPackages(code);
    assert(
      packages.some((p) => p.startsWith("@aws-sdk+client-secrets-manager@")),
      `the AWS SDK is not inside: ${packages.join(" ")}`,
    );
    for (const sdk of otherSdkFolders(["aws-secrets-manager"])) {
      assert(!packages.some((p) => p.startsWith(`${sdk}@`)), `${sdk} is in the bundle`);
    }
    const modules = bundledModules(code);
    for (const kind of ["env", "file", "vault", "azure-key-vault"]) {
      assert(!modules.includes(PROVIDER_MODULES[kind]!.module), `${kind} is in the bundle`);
    }
    const aws = PROVIDER_MODULES["aws-secrets-manager"]!.sdks;
    for (const spec of foreignImports(code)) {
      assert(!aws.includes(spec), `the AWS SDK "${spec}" is imported, not inlined`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() bundle uses --profile, then MLFLOW_SECRETS_AUTH_PROFILE, then the embedded profile", async () => {
  const { dir, report } = await bundle(ENV_PROFILE, { TRACKING_PORT: "1" });
  try {
    const other = `${dir}/other.yaml`;
    await Deno.writeTextFile(
      other,
      ENV_PROFILE.replace("MLFLOW_TOKEN", "OTHER_TOKEN").replace("${TRACKING_PORT}", "4242"),
    );
    const args = [
      "run",
      "--no-config",
      "--no-prompt",
      ...permissionFlags(report.permissions),
      `--allow-read=${other}`,
      report.output,
    ];
    const env = { TRACKING_PORT: "9999", NO_COLOR: "1", PATH: "/usr/bin:/bin", HOME: dir };
    const embedded = await run(DENO, [...args, "explain"], { cwd: dir, env });
    assertEquals(embedded.code, 0, embedded.stderr);
    assertStringIncludes(embedded.stdout, "embedded:p.yaml");
    assertStringIncludes(embedded.stdout, "http://127.0.0.1:9999");
    console.log(`bundle start-up (explain, empty DENO_DIR): ${embedded.ms} ms`);

    const fromEnv = await run(DENO, [...args, "explain"], {
      cwd: dir,
      env: { ...env, MLFLOW_SECRETS_AUTH_PROFILE: other },
    });
    assertEquals(fromEnv.code, 0, fromEnv.stderr);
    assertStringIncludes(fromEnv.stdout, "OTHER_TOKEN");

    const fromFlag = await run(DENO, [...args, "explain", "--profile", other], {
      cwd: dir,
      env: { ...env, MLFLOW_SECRETS_AUTH_PROFILE: `${dir}/missing.yaml` },
    });
    assertEquals(fromFlag.code, 0, fromFlag.stderr);
    assertStringIncludes(fromFlag.stdout, "http://127.0.0.1:4242");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() bundle refuses an invalid profile before building anything", async () => {
  const { dir, path } = await tempFile("bad.yaml", "version: 1\nproviders: {}\nhosts: []\n");
  try {
    const { io, err } = captureIo();
    const code = await main(["bundle", "--profile", path, "-o", `${dir}/out.js`], io);
    assertEquals(code, 2);
    assertStringIncludes(err.join(""), "bad.yaml");
    assertEquals(await Deno.stat(`${dir}/out.js`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Exactly the command `bundle` printed, with the bundle at `{dir}` (where the namespace holds it)
 * and `args` after it.
 */
function bundleCommand(report: BundleReport, args: readonly string[]): string[] {
  const name = report.output.split("/").pop()!;
  return [DENO, ...report.run.slice(1, -1), `{dir}/${name}`, ...args];
}

/** The proxy scenario for a bundle: run with nothing but deno, inside a namespace with no network. */
async function airgappedProxy(report: BundleReport, options: {
  env: Record<string, string>;
  peer?: Parameters<typeof runAirgapped>[0]["peer"];
}) {
  return await runAirgapped({
    files: [report.output],
    command: bundleCommand(report, [
      "proxy",
      "--upstream",
      "http://127.0.0.1:{tracking_port}",
      "--listen",
      "127.0.0.1:{proxy_port}",
    ]),
    env: options.env,
    ...(options.peer ? { peer: options.peer } : {}),
    paths: ["/api/2.0/mlflow/experiments/search?max_results=1"],
    header: "authorization",
  });
}

/**
 * Bundles `profile` to listen on 127.0.0.1, serves proxy from the bundle with {@linkcode
 * airgappedProxy}, logs the start-up time, and asserts what every such run must show: only the
 * loopback interface, an empty DENO_DIR, a started proxy, and one request answered 200 that
 * reached the tracking server with `authorization`.
 */
async function assertProxyOffline(profile: string, options: {
  label: string;
  bundleEnv: Record<string, string>;
  env: Record<string, string>;
  peer?: Parameters<typeof runAirgapped>[0]["peer"];
  authorization: string;
}): Promise<Awaited<ReturnType<typeof runAirgapped>>> {
  const { dir, report } = await bundle(profile, options.bundleEnv, ["--listen", "127.0.0.1"]);
  try {
    const result = await airgappedProxy(report, options);
    console.log(
      `${options.label} bundle ${
        formatBytes(report.bytes)
      }: proxy start-up in the namespace (spawn to listening, empty DENO_DIR): ${result.startupMs} ms`,
    );
    assertEquals(result.interfaces, ["lo"]);
    assertEquals(result.denoDirBefore, []);
    assert(result.started, `the proxy did not start:\n${result.output.join("\n")}`);
    assertEquals(result.responses.map((r) => r.status), [200], JSON.stringify(result));
    assertEquals(result.received.map((r) => r.authorization), [options.authorization]);
    return result;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("main() bundle serves proxy in a namespace with no network, no DENO_DIR cache and no node_modules", async () => {
  const result = await assertProxyOffline(ENV_PROFILE, {
    label: "env",
    bundleEnv: { TRACKING_PORT: "1" },
    env: { TRACKING_PORT: "{tracking_port}", MLFLOW_TOKEN: "tok-airgap-env" },
    authorization: "Bearer tok-airgap-env",
  });
  assertEquals(result.routes, []);
  assertEquals(result.dirBefore, ["mlflow-auth.js"]);
});

Deno.test({
  name:
    "main() bundle with AWS Secrets Manager serves proxy against moto, both inside a namespace with no network",
  ignore: !motoInstalled(),
  fn: async () => {
    await assertProxyOffline(AWS_PROFILE, {
      label: "aws",
      bundleEnv: { TRACKING_PORT: "1", MOTO_PORT: "2" },
      env: {
        TRACKING_PORT: "{tracking_port}",
        MOTO_PORT: "{moto_port}",
        AWS_ACCESS_KEY_ID: "{moto_key_id}",
        AWS_SECRET_ACCESS_KEY: "{moto_secret_key}",
      },
      peer: {
        kind: "moto",
        region: "eu-west-1",
        secretId: "mlflow/airgap/auth",
        secret: JSON.stringify({ username: "airgap-user", password: "airgap-pass" }),
      },
      authorization: `Basic ${btoa("airgap-user:airgap-pass")}`,
    });
  },
});

Deno.test("main() bundle with Vault (AppRole) serves proxy against the Vault double, both inside a namespace with no network", async () => {
  await assertProxyOffline(VAULT_PROFILE, {
    label: "vault",
    bundleEnv: { TRACKING_PORT: "1", VAULT_PORT: "2" },
    env: {
      TRACKING_PORT: "{tracking_port}",
      VAULT_PORT: "{vault_port}",
      VAULT_ROLE_ID: "{vault_role_id}",
      VAULT_SECRET_ID: "{vault_secret_id}",
    },
    peer: { kind: "vault", data: { token: "tok-airgap-vault" } },
    authorization: "Bearer tok-airgap-vault",
  });
});

Deno.test("main() bundle --exec runs exec offline: the child reaches the tracking endpoint through the proxy, without the real credential", async () => {
  const { dir, report } = await bundle(ENV_PROFILE, { TRACKING_PORT: "1" }, ["--exec"]);
  try {
    assert(report.run.includes("--allow-run"), report.run.join(" "));
    const child = [
      `const env = Deno.env.toObject();`,
      `console.log("child sees MLFLOW_TOKEN: " + ("MLFLOW_TOKEN" in env));`,
      `const res = await fetch(env.MLFLOW_TRACKING_URI + "/api/2.0/mlflow/experiments/search", {`,
      `  headers: { authorization: "Bearer " + env.MLFLOW_TRACKING_TOKEN } });`,
      `console.log("child status " + res.status); await res.body?.cancel();`,
      `Deno.exit(res.status === 200 ? 0 : 3);`,
    ].join("\n");
    const result = await runAirgapped({
      mode: "exec",
      files: [report.output],
      command: bundleCommand(report, [
        "exec",
        "--upstream",
        "http://127.0.0.1:{tracking_port}",
        "--",
        DENO,
        "eval",
        child,
      ]),
      env: { TRACKING_PORT: "{tracking_port}", MLFLOW_TOKEN: "tok-airgap-exec" },
      paths: [],
      header: "authorization",
    });
    console.log(`exec through the bundle, offline (spawn to exit): ${result.startupMs} ms`);
    assertEquals(result.interfaces, ["lo"]);
    assertEquals(result.exitCode, 0, result.output.join("\n"));
    assert(result.output.includes("child sees MLFLOW_TOKEN: false"), result.output.join("\n"));
    assert(result.output.includes("child status 200"), result.output.join("\n"));
    assertEquals(result.received.map((r) => r.authorization), ["Bearer tok-airgap-exec"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
