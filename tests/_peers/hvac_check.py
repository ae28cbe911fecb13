"""Holds the Vault double to a real Vault client: Python's hvac.

Reads a JSON fixture on stdin (addresses, tokens, role ids, expected values; secrets never
travel on the command line), performs the reads and logins the vault provider uses with hvac,
and prints one JSON object: {"hvac": version, "results": {check: "ok" | "why it failed"}}.
Exits 1 when any check failed, 0 otherwise. Run by tests/providers/vault_double_hvac_test.ts.
"""

import importlib.metadata
import json
import sys
import traceback
import warnings

import hvac
from hvac import exceptions

PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"
INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
KV2_WARNING_PREFIX = "Invalid path for a versioned K/V secrets engine."


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_raises(cls, fn):
    try:
        fn()
    except cls as e:
        return e
    except Exception as e:  # noqa: BLE001 - report what hvac raised instead
        raise CheckFailed(f"expected {cls.__name__}, got {type(e).__name__}: {e}") from e
    raise CheckFailed(f"expected {cls.__name__}, got a result")


def main():
    fx = json.load(sys.stdin)
    address = fx["address"]
    results = {}

    def client(token=None, namespace=None, url=None):
        return hvac.Client(url=url or address, token=token, namespace=namespace, timeout=10)

    def check(name, fn):
        try:
            fn()
            results[name] = "ok"
        except CheckFailed as e:
            results[name] = str(e)
        except Exception as e:  # noqa: BLE001 - any surprise is a failed check
            results[name] = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"

    reader = client(fx["reader_token"])
    kv1 = fx["kv1"]
    kv2 = fx["kv2"]

    def kv1_read():
        r = reader.secrets.kv.v1.read_secret(path=kv1["path"], mount_point=kv1["mount"])
        expect(r["data"] == kv1["data"], f"kv1 data {r['data']!r}")
        expect(r["lease_duration"] == kv1["lease_duration"], f"lease {r['lease_duration']}")
        expect(r["renewable"] is False and r["lease_id"] == "", "lease fields")

    def kv2_latest():
        r = reader.secrets.kv.v2.read_secret_version(
            path=kv2["path"], mount_point=kv2["mount"], raise_on_deleted_version=True
        )
        expect(r["data"]["data"] == kv2["latest"], f"latest data {r['data']['data']!r}")
        meta = r["data"]["metadata"]
        expect(meta["version"] == kv2["latest_version"], f"version {meta['version']}")
        expect(meta["deletion_time"] == "" and meta["destroyed"] is False, f"meta {meta!r}")
        expect(r["lease_duration"] == 0, "kv2 lease_duration must be 0")

    def kv2_pinned():
        r = reader.secrets.kv.v2.read_secret_version(
            path=kv2["path"],
            version=kv2["pinned_version"],
            mount_point=kv2["mount"],
            raise_on_deleted_version=True,
        )
        expect(r["data"]["data"] == kv2["pinned"], f"pinned data {r['data']['data']!r}")
        expect(r["data"]["metadata"]["version"] == kv2["pinned_version"], "pinned version")

    def kv2_deleted():
        e = expect_raises(
            exceptions.InvalidPath,
            lambda: reader.secrets.kv.v2.read_secret_version(
                path=kv2["path"],
                version=kv2["deleted_version"],
                mount_point=kv2["mount"],
                raise_on_deleted_version=True,
            ),
        )
        expect(e.json is not None, "deleted version: 404 must carry a JSON body")
        r = reader.secrets.kv.v2.read_secret_version(
            path=kv2["path"],
            version=kv2["deleted_version"],
            mount_point=kv2["mount"],
            raise_on_deleted_version=False,
        )
        meta = r["data"]["metadata"]
        expect(r["data"]["data"] is None, "deleted version must have data null")
        expect(meta["deletion_time"] != "", "deleted version must have a deletion_time")
        expect(meta["version"] == kv2["deleted_version"], "deleted version number")

    def kv2_destroyed():
        e = expect_raises(
            exceptions.InvalidPath,
            lambda: reader.secrets.kv.v2.read_secret_version(
                path=kv2["path"],
                version=kv2["destroyed_version"],
                mount_point=kv2["mount"],
                raise_on_deleted_version=False,
            ),
        )
        meta = e.json["data"]["metadata"]
        expect(meta["destroyed"] is True, f"destroyed flag {meta!r}")

    def kv2_metadata():
        r = reader.secrets.kv.v2.read_secret_metadata(path=kv2["path"], mount_point=kv2["mount"])
        d = r["data"]
        expect(d["current_version"] == kv2["latest_version"], f"current {d['current_version']}")
        expect(str(kv2["deleted_version"]) in d["versions"], "versions map")
        expect(d["versions"][str(kv2["destroyed_version"])]["destroyed"] is True, "destroyed")

    def kv2_missing():
        e = expect_raises(
            exceptions.InvalidPath,
            lambda: reader.secrets.kv.v2.read_secret_version(
                path="does/not/exist", mount_point=kv2["mount"], raise_on_deleted_version=True
            ),
        )
        expect(e.errors == [], f"404 errors {e.errors!r}")

    def kv1_style_read_on_kv2():
        e = expect_raises(
            exceptions.InvalidPath,
            lambda: reader.secrets.kv.v1.read_secret(path=kv2["path"], mount_point=kv2["mount"]),
        )
        expect(
            e.json is not None and e.json["warnings"][0].startswith(KV2_WARNING_PREFIX),
            f"warning {e.json!r}",
        )

    def mount_lookup():
        for spec, version in ((kv2, "2"), (kv1, "1")):
            r = reader.read(f"sys/internal/ui/mounts/{spec['mount']}/{spec['path']}")
            expect(r is not None, "mount lookup returned nothing")
            d = r["data"]
            expect(d["path"] == spec["mount"] + "/", f"mount path {d['path']!r}")
            expect(d["type"] == "kv", f"type {d['type']!r}")
            expect(d["options"]["version"] == version, f"options {d['options']!r}")

    def mount_lookup_unknown():
        e = expect_raises(
            exceptions.Forbidden, lambda: reader.read("sys/internal/ui/mounts/no-such-mount/x")
        )
        expect(
            e.errors[0].startswith("preflight capability check returned 403"),
            f"errors {e.errors!r}",
        )

    def lookup_self():
        r = reader.auth.token.lookup_self()
        d = r["data"]
        expect(d["id"] == fx["reader_token"], "lookup-self id")
        expect("default" in d["policies"], f"policies {d['policies']!r}")
        expect(d["ttl"] == fx["reader_ttl"], f"ttl {d['ttl']} != {fx['reader_ttl']}")
        expect(d["renewable"] is True, "renewable")
        expect(reader.is_authenticated(), "is_authenticated")

    def renew_self():
        c = client(fx["renewable_token"])
        r = c.auth.token.renew_self()
        a = r["auth"]
        expect(a["client_token"] == fx["renewable_token"], "renew-self keeps the token")
        expect(a["lease_duration"] == fx["renewable_ttl"], f"lease {a['lease_duration']}")
        expect(a["renewable"] is True, "renewable")
        capped = c.auth.token.renew_self(increment="1000h")
        expect(capped["auth"]["lease_duration"] == fx["renewable_max_left"], "capped lease")
        expect(bool(capped.get("warnings")), "capped renewal must warn")

    def expired_token():
        c = client(fx["expired_token"])
        expect(not c.is_authenticated(), "expired token must not authenticate")
        e = expect_raises(exceptions.Forbidden, c.auth.token.lookup_self)
        expect(e.errors == [INVALID_TOKEN], f"errors {e.errors!r}")

    def permission_denied():
        e = expect_raises(
            exceptions.Forbidden,
            lambda: reader.secrets.kv.v2.read_secret_version(
                path=fx["denied_path"], mount_point=kv2["mount"], raise_on_deleted_version=True
            ),
        )
        expect(e.errors == [PERMISSION_DENIED], f"errors {e.errors!r}")

    def approle_login():
        ar = fx["approle"]
        c = client()
        r = c.auth.approle.login(
            role_id=ar["role_id"], secret_id=ar["secret_id"], mount_point=ar["mount"]
        )
        a = r["auth"]
        expect(bool(a["client_token"]), "no client_token")
        expect(a["lease_duration"] == ar["ttl"], f"lease {a['lease_duration']}")
        expect(a["renewable"] is True, "renewable")
        expect(a["metadata"]["role_name"] == ar["role_name"], f"metadata {a['metadata']!r}")
        expect(c.token == a["client_token"], "hvac must adopt the login token")
        v = c.secrets.kv.v2.read_secret_version(
            path=kv2["path"], mount_point=kv2["mount"], raise_on_deleted_version=True
        )
        expect(v["data"]["data"] == kv2["latest"], "read with the AppRole token")
        e = expect_raises(
            exceptions.InvalidRequest,
            lambda: client().auth.approle.login(
                role_id=ar["role_id"], secret_id="wrong-secret-id", mount_point=ar["mount"]
            ),
        )
        expect(e.errors == ["invalid role or secret ID"], f"errors {e.errors!r}")

    def kubernetes_login():
        k = fx["kubernetes"]
        c = client()
        r = c.auth.kubernetes.login(role=k["role"], jwt=k["jwt"], mount_point=k["mount"])
        a = r["auth"]
        expect(bool(a["client_token"]), "no client_token")
        expect(a["metadata"]["role"] == k["role"], f"metadata {a['metadata']!r}")
        expect(a["lease_duration"] == k["ttl"], f"lease {a['lease_duration']}")
        v = c.secrets.kv.v2.read_secret_version(
            path=kv2["path"], mount_point=kv2["mount"], raise_on_deleted_version=True
        )
        expect(v["data"]["data"] == kv2["latest"], "read with the Kubernetes token")
        e = expect_raises(
            exceptions.Forbidden,
            lambda: client().auth.kubernetes.login(
                role=k["role"], jwt="not.a-valid.jwt", mount_point=k["mount"]
            ),
        )
        expect(e.errors == ["permission denied"], f"errors {e.errors!r}")
        e = expect_raises(
            exceptions.InvalidRequest,
            lambda: client().auth.kubernetes.login(
                role="no-such-role", jwt=k["jwt"], mount_point=k["mount"]
            ),
        )
        expect(e.errors == ['invalid role name "no-such-role"'], f"errors {e.errors!r}")

    def namespace_read():
        ns = fx["namespace"]
        c = client(ns["token"], namespace=ns["name"])
        r = c.secrets.kv.v2.read_secret_version(
            path=ns["path"], mount_point=ns["mount"], raise_on_deleted_version=True
        )
        expect(r["data"]["data"] == ns["data"], "namespaced read")
        expect_raises(
            exceptions.Forbidden,
            lambda: client(ns["token"]).secrets.kv.v2.read_secret_version(
                path=ns["path"], mount_point=ns["mount"], raise_on_deleted_version=True
            ),
        )

    def rate_limited():
        e = expect_raises(
            exceptions.RateLimitExceeded,
            lambda: reader.secrets.kv.v2.read_secret_version(
                path=fx["limited_path"], mount_point=kv2["mount"], raise_on_deleted_version=True
            ),
        )
        expect("rate limit quota exceeded" in e.errors[0], f"errors {e.errors!r}")

    def sealed():
        c = client(fx["reader_token"], url=fx["sealed_address"])
        expect(c.sys.is_sealed() is True, "seal-status must say sealed")
        e = expect_raises(
            exceptions.VaultDown,
            lambda: c.secrets.kv.v2.read_secret_version(
                path=kv2["path"], mount_point=kv2["mount"], raise_on_deleted_version=True
            ),
        )
        expect(e.errors == ["Vault is sealed"], f"errors {e.errors!r}")

    def health():
        expect(client().sys.read_health_status(method="GET")["sealed"] is False, "health")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in [
            ("kv1_read", kv1_read),
            ("kv2_latest", kv2_latest),
            ("kv2_pinned", kv2_pinned),
            ("kv2_deleted", kv2_deleted),
            ("kv2_destroyed", kv2_destroyed),
            ("kv2_metadata", kv2_metadata),
            ("kv2_missing", kv2_missing),
            ("kv1_style_read_on_kv2", kv1_style_read_on_kv2),
            ("mount_lookup", mount_lookup),
            ("mount_lookup_unknown", mount_lookup_unknown),
            ("lookup_self", lookup_self),
            ("renew_self", renew_self),
            ("expired_token", expired_token),
            ("permission_denied", permission_denied),
            ("approle_login", approle_login),
            ("kubernetes_login", kubernetes_login),
            ("namespace_read", namespace_read),
            ("rate_limited", rate_limited),
            ("sealed", sealed),
            ("health", health),
        ]:
            check(name, fn)

    json.dump({"hvac": importlib.metadata.version("hvac"), "results": results}, sys.stdout)
    sys.stdout.write("\n")
    return 0 if all(v == "ok" for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
