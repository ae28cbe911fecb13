import { parseProfile } from "../../mod.ts";
import { startProxy } from "../../http/proxy.ts";
import { connectionOwners, procAddresses, sameUserPeer } from "../../http/_peer_uid.ts";
import { assertEquals, assertRejects } from "../_assert.ts";
import { deadlineTest } from "../_deadline.ts";
import { startServer } from "../_servers.ts";

const test = deadlineTest(60);
const TOKEN = "client-token-0123456789abcdef";
const REAL = "real-credential-0123456789";
const isRoot = Deno.build.os === "linux" && Deno.uid() === 0;

function profileFor(match: string) {
  return parseProfile(
    `version: 1
providers: { e: { kind: env } }
hosts:
  - { match: "${match}", provider: e, secret: { var: T }, auth: bearer }
`,
    { env: {} },
  );
}

/** curl without any Authorization, as this user or (setpriv) as nobody; returns the status. */
async function curlStatus(url: string, asNobody: boolean): Promise<number> {
  const curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", url];
  const cmd = asNobody
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...curl]
    : curl;
  const out = await new Deno.Command(cmd[0]!, { args: cmd.slice(1), stderr: "piped" }).output();
  return Number(new TextDecoder().decode(out.stdout));
}

test("procAddresses() encodes addresses as /proc/net/tcp prints them", () => {
  assertEquals(procAddresses({ transport: "tcp", hostname: "127.0.0.1", port: 5055 }), [
    "0100007F:13BF",
    "0000000000000000FFFF00000100007F:13BF",
  ]);
  assertEquals(procAddresses({ transport: "tcp", hostname: "::1", port: 80 }), [
    "00000000000000000000000001000000:0050",
  ]);
});

test("connectionOwners() reads each end in its own direction, ESTABLISHED only", async () => {
  const remote = { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 }; // 9C40
  const local = { transport: "tcp" as const, hostname: "127.0.0.1", port: 5055 }; // 13BF
  const header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  const row = (from: string, to: string, st: string, uid: number) =>
    `   0: ${from} ${to} ${st} 00000000:00000000 00:00000000 00000000  ${uid}        0 1 1 0 100 0 0 10 0\n`;
  const tables = (rows: string) => (path: string) =>
    Promise.resolve(path.endsWith("tcp6") ? header : header + rows);
  // The proxy's socket (root) and the client's (uid 1000).
  const both = row("0100007F:13BF", "0100007F:9C40", "01", 0) +
    row("0100007F:9C40", "0100007F:13BF", "01", 1000) +
    row("0100007F:13BF", "00000000:0000", "0A", 0);
  assertEquals(await connectionOwners(remote, local, tables(both)), { peer: 1000, self: 0 });
  assertEquals(await sameUserPeer(remote, local, tables(both)), false);
  const same = both.replace("  1000 ", "  0 ");
  assertEquals(await sameUserPeer(remote, local, tables(same)), true);
  // A client socket in TIME_WAIT (uid 0 there) is no proof of anything.
  const timeWait = row("0100007F:13BF", "0100007F:9C40", "01", 0) +
    row("0100007F:9C40", "0100007F:13BF", "06", 0);
  assertEquals(await connectionOwners(remote, local, tables(timeWait)), undefined);
  // Unreadable tables: nothing can be told.
  assertEquals(
    await sameUserPeer(remote, local, () => Promise.reject(new Deno.errors.NotCapable("no"))),
    false,
  );
});

test({
  name:
    "startProxy() acceptSameUser serves a token-less request from this user, refuses another user's",
  ignore: !isRoot,
  async fn() {
    await using up = await startServer(() => new Response("ok"));
    await using proxy = await startProxy(profileFor(up.origin), {
      upstream: up.origin,
      env: (n) => n === "T" ? REAL : undefined,
      clientToken: TOKEN,
      acceptSameUser: true,
      accessLog: false,
    });
    const url = `${proxy.url}/api/2.0/mlflow/experiments/search`;
    // The same user, no Authorization: served, with the real credential injected.
    assertEquals(await curlStatus(url, false), 200);
    assertEquals(up.received.length, 1);
    assertEquals(up.received[0]!.headers.get("authorization"), `Bearer ${REAL}`);
    // Another user, no token: refused, nothing sent upstream.
    assertEquals(await curlStatus(url, true), 401);
    assertEquals(up.received.length, 1);
    assertEquals(proxy.metrics.rejected.clientToken, 1);
    // A wrong token is refused even from the same user.
    const wrong = await fetch(url, { headers: { authorization: "Bearer not-the-token" } });
    await wrong.body?.cancel();
    assertEquals(wrong.status, 401);
    // Another user with the token: served.
    const out = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        `Authorization: Bearer ${TOKEN}`,
        url,
      ],
    }).output();
    assertEquals(new TextDecoder().decode(out.stdout), "200");
    assertEquals(up.received.length, 2);
  },
});

test("startProxy() without acceptSameUser demands the token from this user too", async () => {
  await using up = await startServer(() => new Response("ok"));
  await using proxy = await startProxy(profileFor(up.origin), {
    upstream: up.origin,
    env: (n) => n === "T" ? REAL : undefined,
    clientToken: TOKEN,
    accessLog: false,
  });
  const res = await fetch(`${proxy.url}/api/2.0/mlflow/experiments/search`);
  await res.body?.cancel();
  assertEquals(res.status, 401);
  assertEquals(up.received.length, 0);
});

test("startProxy() refuses acceptSameUser with allowRemote", async () => {
  await assertRejects(
    () =>
      startProxy(profileFor("http://127.0.0.1:9"), {
        upstream: "http://127.0.0.1:9",
        listen: "0.0.0.0:0",
        allowRemote: true,
        clientToken: TOKEN,
        acceptSameUser: true,
        env: () => REAL,
        accessLog: false,
      }),
    TypeError,
    "loopback proxy only",
  );
});
