import { compileHostPattern, matchesHostPattern } from "../../profile/host_match.ts";
import { assert } from "../_assert.ts";
import { check, fc } from "../_property.ts";

// Host matching against the WHATWG URL parser as the oracle: the URL a client sends is whatever
// `new URL()` makes of a string, so the allowlist must agree with the parsed fields, whatever
// the spelling (case, trailing dot, IDN, percent-encoding, userinfo, default ports).

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/);
const unicodeLabel = fc.constantFrom("bücher", "münchen", "xn--bcher-kva", "例え", "ドメイン");
const anyLabel = fc.oneof({ weight: 5, arbitrary: label }, { weight: 1, arbitrary: unicodeLabel });
const hostName = fc.array(anyLabel, { minLength: 2, maxLength: 4 }).map((l) => l.join("."));
const scheme = fc.constantFrom("http", "https");
const port = fc.oneof(fc.constant(undefined), fc.constantFrom(80, 443, 5000, 8443, 65535));

/** A spelling of a host as a client might write it. */
function spell(host: string): fc.Arbitrary<string> {
  return fc.tuple(
    fc.array(fc.boolean(), { minLength: host.length, maxLength: host.length }),
    fc.boolean(),
    fc.boolean(),
  ).map(([upper, trailingDot, encodeFirst]) => {
    let s = [...host].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("");
    if (encodeFirst && /^[a-z]/i.test(s)) {
      s = `%${s.charCodeAt(0).toString(16)}${s.slice(1)}`;
    }
    return trailingDot ? `${s}.` : s;
  });
}

const DEFAULT: Record<string, number> = { "http:": 80, "https:": 443 };

/** What the allowlist must decide, from the parsed URL and the parsed pattern origin. */
function oracle(
  pattern: { wildcard: boolean; origin: URL },
  url: URL,
): boolean {
  if (url.username !== "" || url.password !== "") return false;
  if (url.protocol !== pattern.origin.protocol) return false;
  const effective = (u: URL) => u.port === "" ? DEFAULT[u.protocol] : Number(u.port);
  if (effective(url) !== effective(pattern.origin)) return false;
  const strip = (h: string) => h.replace(/\.$/, "");
  const host = strip(url.hostname);
  const want = strip(pattern.origin.hostname);
  if (!pattern.wildcard) return host === want;
  return host.endsWith(`.${want}`) &&
    host.slice(0, -want.length - 1).split(".").every((l) => l !== "");
}

Deno.test("matchesHostPattern() agrees with the WHATWG URL parser on any spelling of a host", () => {
  const arb = fc.record({
    patternHost: hostName,
    wildcard: fc.boolean(),
    patternScheme: scheme,
    patternPort: port,
    // The URL: either a spelling of the pattern's host (with optional extra labels in front or
    // behind), or an unrelated host.
    related: fc.boolean(),
    glue: fc.constantFrom("", "", "", "", "x", "evil-", ".", "a.."),
    before: fc.array(label, { maxLength: 2 }),
    after: fc.array(label, { maxLength: 1 }),
    other: hostName,
    urlScheme: scheme,
    urlPort: port,
    userinfo: fc.constantFrom("", "", "", "u@", "u:p@", "@"),
    path: fc.constantFrom("", "/", "/api/2.0/mlflow/runs/get", "/x?y=1#z"),
  }).chain((r) => {
    // Glued or empty labels in front: "x" + host, "." + host, "a.." + host.
    const base = r.related ? r.glue + [...r.before, r.patternHost, ...r.after].join(".") : r.other;
    return spell(base).map((spelled) => ({ ...r, spelled }));
  });
  check(
    fc.property(arb, (r) => {
      const patternText = `${r.patternScheme}://${r.wildcard ? "*." : ""}${r.patternHost}${
        r.patternPort === undefined ? "" : `:${r.patternPort}`
      }`;
      let pattern;
      try {
        pattern = compileHostPattern(patternText);
      } catch {
        return; // a pattern the validator refuses (e.g. a wildcard over a single label) never runs
      }
      let url: URL;
      try {
        url = new URL(
          `${r.urlScheme}://${r.userinfo}${r.spelled}${
            r.urlPort === undefined ? "" : `:${r.urlPort}`
          }${r.path}`,
        );
      } catch {
        return; // not a URL a client could send
      }
      const origin = new URL(
        `${r.patternScheme}://${r.patternHost}${
          r.patternPort === undefined ? "" : `:${r.patternPort}`
        }`,
      );
      const expected = oracle({ wildcard: r.wildcard, origin }, url);
      assert(
        matchesHostPattern(pattern, url) === expected,
        `${patternText} vs ${url.href}: expected ${expected}`,
      );
    }),
    2_000,
  );
});

// Path prefixes: whatever a server may decode, a URL under the prefix never escapes it.

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9_-]{1,6}$/) },
  {
    weight: 2,
    arbitrary: fc.constantFrom("..", ".", "%2e%2e", "%2E.", "..%2f", "%2fadmin", "..;", "a;b"),
  },
  { weight: 1, arbitrary: fc.constantFrom("%5c..", "..\\admin", "%252f", "x%20y") },
);

/** The path a lenient server might act on: percent-decoded, `;params` cut, dot segments resolved. */
function lenientPath(pathname: string): string {
  let decoded = pathname;
  for (let i = 0; i < 2; i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      break;
    }
  }
  const segments = decoded.replace(/\\/g, "/").split("/").map((s) => s.split(";")[0]!);
  const out: string[] = [];
  for (const s of segments.slice(1)) {
    if (s === "..") out.pop();
    else if (s !== ".") out.push(s);
  }
  return `/${out.join("/")}`;
}

Deno.test("matchesHostPattern() never lets a path escape its prefix, however encoded", () => {
  const arb = fc.record({
    prefix: fc.array(fc.stringMatching(/^[a-z]{1,5}$/), { minLength: 1, maxLength: 2 }),
    rest: fc.array(segment, { maxLength: 4 }),
  });
  check(
    fc.property(arb, ({ prefix, rest }) => {
      const prefixPath = `/${prefix.join("/")}`;
      const pattern = compileHostPattern(`https://mlflow.example.com${prefixPath}`);
      let url: URL;
      try {
        url = new URL(`https://mlflow.example.com${prefixPath}/${rest.join("/")}`);
      } catch {
        return;
      }
      const seen = lenientPath(url.pathname);
      const inside = seen === prefixPath || seen.startsWith(`${prefixPath}/`);
      if (matchesHostPattern(pattern, url)) {
        assert(inside, `${url.pathname} matched ${prefixPath} but a server may read ${seen}`);
      }
      // Plain segments under the prefix always match.
      if (rest.every((s) => /^[a-z0-9_-]+$/.test(s))) {
        assert(matchesHostPattern(pattern, url), `${url.pathname} should match ${prefixPath}`);
      }
    }),
    2_000,
  );
});
