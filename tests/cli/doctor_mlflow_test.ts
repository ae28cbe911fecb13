/**
 * `doctor` against a real MLflow tracking server with basic auth: it passes with the admin's
 * credentials and fails with a wrong password, exactly as a direct request does.
 */

import { main } from "../../cli.ts";
import type { DoctorReport } from "../../cli/doctor.ts";
import { assertEquals, assertNoCanary, assertStringIncludes } from "../_assert.ts";
import { fakeIo, tempFile } from "./_io.ts";
import { startMlflow } from "../_peers/mlflow.ts";

Deno.test("main() doctor's verdict on a real MLflow server matches a direct request", async () => {
  const mlflow = await startMlflow({ basicAuth: true });
  const admin = mlflow.admin!;
  try {
    const profile = await tempFile(
      "mlflow-auth.yaml",
      [
        "version: 1",
        "providers: { ci: { kind: env } }",
        "hosts:",
        `  - { match: "${mlflow.url}", provider: ci, secret: { var: MLFLOW_CRED }, auth: basic }`,
        "",
      ].join("\n"),
    );
    const search = `${mlflow.url}/api/2.0/mlflow/experiments/search?max_results=1`;
    const direct = async (password: string): Promise<number> => {
      const res = await fetch(search, {
        headers: { authorization: `Basic ${btoa(`${admin.username}:${password}`)}` },
      });
      await res.body?.cancel();
      return res.status;
    };

    for (
      const [password, expectedCode, expectedStatus] of [
        [admin.password, 0, 200],
        ["not-the-password", 1, 401],
      ] as const
    ) {
      assertEquals(await direct(password), expectedStatus);
      const io = fakeIo({
        env: {
          MLFLOW_CRED: JSON.stringify({ username: admin.username, password }),
        },
      });
      const code = await main(["doctor", "-p", profile, "--json"], io);
      assertEquals(code, expectedCode, io.out() + io.err());
      assertNoCanary(io.out() + io.err(), password);
      const report: DoctorReport = JSON.parse(io.out());
      const server = report.targets[0]!.steps.find((s) => s.step === "server")!;
      assertStringIncludes(server.detail, `: ${expectedStatus} `);
      if (expectedStatus === 200) assertStringIncludes(server.detail, "MLflow answered");
      else assertStringIncludes(server.cause ?? "", "rejected the credentials (401)");
    }
  } finally {
    await mlflow.close();
  }
});
