import { isLoopback, parseListen } from "../../http/_proxy_address.ts";
import { assert, assertEquals } from "../_assert.ts";

Deno.test("parseListen() and isLoopback() read host:port forms and recognise loopback", () => {
  assertEquals(parseListen("127.0.0.1:5055"), { hostname: "127.0.0.1", port: 5055 });
  assertEquals(parseListen("[::1]:0"), { hostname: "::1", port: 0 });
  assertEquals(parseListen("localhost:8080"), { hostname: "localhost", port: 8080 });
  assertEquals(parseListen(":5055"), { hostname: "127.0.0.1", port: 5055 });
  assertEquals(parseListen("5055"), { hostname: "127.0.0.1", port: 5055 });
  for (const bad of ["", "host", "::1:80", "1.2.3.4:99999", "a:b"]) {
    let threw = false;
    try {
      parseListen(bad);
    } catch (e) {
      threw = e instanceof TypeError;
    }
    assert(threw, `accepted "${bad}"`);
  }
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"]) {
    assert(isLoopback(h), `${h} is loopback`);
  }
  for (const h of ["0.0.0.0", "10.0.0.1", "127.0.0.256", "::", "example.com", "127.0.0.1.nip.io"]) {
    assert(!isLoopback(h), `${h} is not loopback`);
  }
});
