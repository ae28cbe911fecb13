import {
  compileHostPattern,
  isLoopbackHost,
  matchesHostPattern,
} from "../../profile/host_match.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";

const TABLE: readonly [pattern: string, url: string, expected: boolean][] = [
  // Origins: scheme, host, port, default ports.
  ["https://mlflow.company.com", "https://mlflow.company.com/api/2.0/mlflow/runs/get", true],
  ["https://mlflow.company.com", "https://mlflow.company.com:443/", true],
  ["https://mlflow.company.com:443", "https://mlflow.company.com/", true],
  ["http://127.0.0.1:80", "http://127.0.0.1/", true],
  ["https://mlflow.company.com", "http://mlflow.company.com/", false],
  ["https://mlflow.company.com", "https://mlflow.company.com:8443/", false],
  ["https://mlflow.company.com:8443", "https://mlflow.company.com/", false],
  // Case, trailing dot.
  ["https://MLflow.Company.COM", "https://mlflow.company.com/", true],
  ["https://mlflow.company.com", "https://MLFLOW.company.com./x", true],
  ["https://mlflow.company.com.", "https://mlflow.company.com/x", true],
  // Over plain http, "localhost." is a DNS name, not loopback.
  ["http://localhost:5000", "http://localhost.:5000/x", false],
  ["http://LOCALHOST:5000", "http://localhost:5000/x", true],
  // Look-alikes.
  ["https://mlflow.company.com", "https://mlflow.company.com.evil.com/", false],
  ["https://mlflow.company.com", "https://evilmlflow.company.com/", false],
  ["https://mlflow.company.com", "https://mlflow-company.com/", false],
  // Wildcards: one or more whole labels, never the bare domain.
  ["https://*.company.com", "https://mlflow.company.com/", true],
  ["https://*.company.com", "https://a.b.company.com/", true],
  ["https://*.company.com", "https://company.com/", false],
  ["https://*.company.com", "https://evilcompany.com/", false],
  ["https://*.company.com", "https://mlflow.company.com.evil.com/", false],
  ["https://*.company.com", "https://company.com.evil.com/", false],
  ["https://*.company.com", "https://xcompany.com/", false],
  ["https://*.company.com", "https://mlflow.company.com:444/", false],
  // Userinfo never gets a secret.
  ["https://mlflow.company.com", "https://mlflow.company.com@evil.com/", false],
  ["https://mlflow.company.com", "https://u:p@mlflow.company.com/", false],
  ["https://mlflow.company.com", "https://u@mlflow.company.com/", false],
  ["https://*.company.com", "https://x.company.com@evil.com/", false],
  // IDN in punycode, both ways.
  ["https://bücher.example", "https://xn--bcher-kva.example/", true],
  ["https://xn--bcher-kva.example", "https://bücher.example/", true],
  ["https://*.bücher.example", "https://ml.xn--bcher-kva.example/", true],
  // IPv6 literals.
  ["http://[::1]:5000", "http://[::1]:5000/api", true],
  ["http://[::1]:5000", "http://[0:0:0:0:0:0:0:1]:5000/api", true],
  ["http://[::1]:5000", "http://127.0.0.1:5000/api", false],
  // Path prefixes on segment boundaries.
  ["https://company.com/mlflow", "https://company.com/mlflow", true],
  ["https://company.com/mlflow", "https://company.com/mlflow/api/2.0/x", true],
  ["https://company.com/mlflow/", "https://company.com/mlflow/api", true],
  ["https://company.com/mlflow", "https://company.com/mlflowx", false],
  ["https://company.com/mlflow", "https://company.com/other/mlflow", false],
  ["https://company.com/mlflow", "https://company.com/mlflow/../admin", false],
  ["https://company.com/mlflow", "https://company.com/MLFLOW/api", false],
  // Encoded ways out of a prefix that some servers decode.
  ["https://company.com/mlflow", "https://company.com/mlflow/..%2fadmin", false],
  ["https://company.com/mlflow", "https://company.com/mlflow/..%2Fadmin", false],
  ["https://company.com/mlflow", "https://company.com/mlflow/..%5cadmin", false],
  ["https://company.com/mlflow", "https://company.com/mlflow/%2e%2e/admin", false],
  ["https://company.com/mlflow", "https://company.com/mlflow/..;/admin", false],
  ["https://company.com/mlflow", "https://company.com/mlflow/..\\admin", false],
  ["https://company.com/mlflow", "https://company.com/mlflow/api/2.0/mlflow/runs/get?x=%2f", true],
];

Deno.test("matchesHostPattern() follows the adversarial host-matching table", () => {
  const failures: string[] = [];
  for (const [pattern, url, expected] of TABLE) {
    const got = matchesHostPattern(compileHostPattern(pattern), new URL(url));
    if (got !== expected) failures.push(`${pattern} vs ${url}: expected ${expected}, got ${got}`);
  }
  assertEquals(failures, []);
});

Deno.test("compileHostPattern() rejects malformed patterns with a reason", () => {
  const bad: readonly [string, string][] = [
    ["mlflow.company.com", "scheme://host"],
    ["ftp://mlflow.company.com", "only http and https"],
    ["https://user@mlflow.company.com", "userinfo"],
    ["https://mlflow.*.company.com", '"*"'],
    ["https://*.com", "top-level"],
    ["https://*.10.0.0.1", "IP address"],
    ["https://company.com/?a=1", "query"],
    ["https://", "no host"],
    ["https://:443", "no host"],
  ];
  for (const [text, part] of bad) assertThrows(() => compileHostPattern(text), TypeError, part);
});

Deno.test("compileHostPattern() normalises to a canonical form", () => {
  assertEquals(
    compileHostPattern("HTTPS://MLflow.Company.com:443/ML/").canonical,
    "https://mlflow.company.com/ML",
  );
  assertEquals(compileHostPattern("http://localhost:5000").canonical, "http://localhost:5000");
  assertEquals(
    compileHostPattern("https://*.bücher.example").canonical,
    "https://*.xn--bcher-kva.example",
  );
});

Deno.test("isLoopbackHost() accepts only loopback names and addresses", () => {
  for (const h of ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "LOCALHOST"]) {
    assert(isLoopbackHost(h), h);
  }
  for (
    const h of [
      "10.0.0.1",
      "localhost.evil.com",
      "128.0.0.1",
      "[::2]",
      "mlflow.company.com",
      "api.localhost",
      "localhost.",
      "LOCALHOST.",
      "127.0.0.1.",
      "[::1].",
    ]
  ) {
    assert(!isLoopbackHost(h), h);
  }
});
