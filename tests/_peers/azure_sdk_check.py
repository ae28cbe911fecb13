"""Reads the Key Vault double through the official Azure SDK for Python.

Reads a JSON fixture on stdin (URLs, tenants, app ids and secrets, the secret names and versions to
read; secrets never travel on the command line), performs the reads with `azure-keyvault-secrets`
and `azure-identity`, and prints one JSON object of observations: for each read either
{"value", "version", "content_type", "enabled"} or {"error": {"type", "status", "code", "inner"}}.
It asserts nothing: tests/providers/key_vault_double_python_sdk_test.ts compares what it saw
with what the double serves and what the JavaScript SDK reads. Access tokens are reported as
SHA-256 digests only. The CA of the double comes from REQUESTS_CA_BUNDLE.
"""

import hashlib
import importlib.metadata
import json
import os
import sys
import time

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

VAULT_SCOPE = "https://vault.azure.net/.default"


def observe(fn):
    try:
        s = fn()
    except HttpResponseError as e:
        err = e.error
        inner = None
        if err is not None and getattr(err, "innererror", None):
            inner = err.innererror.get("code")
        return {
            "error": {
                "type": type(e).__name__,
                "status": e.status_code,
                "code": err.code if err is not None else None,
                "inner": inner,
            }
        }
    except Exception as e:  # noqa: BLE001 - reported, the test decides
        return {"error": {"type": type(e).__name__, "message": str(e)[:300]}}
    return {
        "value": s.value,
        "version": s.properties.version,
        "content_type": s.properties.content_type,
        "enabled": s.properties.enabled,
    }


def secret_client(fx, credential):
    return SecretClient(fx["vault_url"], credential, verify_challenge_resource=False)


def app_credential(fx, app, **kwargs):
    return ClientSecretCredential(
        app["tenant_id"],
        app["client_id"],
        app["client_secret"],
        authority=fx["authority_host"],
        disable_instance_discovery=True,
        **kwargs,
    )


def reads(fx, client):
    out = {}
    for key, spec in fx["reads"].items():
        out[key] = observe(
            lambda spec=spec: client.get_secret(spec["name"], version=spec.get("version"))
        )
    return out


def main():
    fx = json.load(sys.stdin)
    result = {
        "sdk": {
            "azure-keyvault-secrets": importlib.metadata.version("azure-keyvault-secrets"),
            "azure-identity": importlib.metadata.version("azure-identity"),
        }
    }

    # Client secret: the token endpoint, then every read (the first one answers the challenge).
    credential = app_credential(fx, fx["reader"])
    before = int(time.time())
    token = credential.get_token(VAULT_SCOPE)
    result["token"] = {
        "sha256": hashlib.sha256(token.token.encode()).hexdigest(),
        "expires_in": token.expires_on - before,
    }
    result["reads"] = reads(fx, secret_client(fx, credential))

    # An app the access policy does not allow "get".
    denied = secret_client(fx, app_credential(fx, fx["denied"]))
    result["denied"] = observe(lambda: denied.get_secret(fx["reads"]["latest"]["name"]))

    # A challenge naming another tenant: the token is asked there (allowed explicitly).
    other = fx["other_tenant"]
    cross = secret_client(
        fx, app_credential(fx, other["app"], additionally_allowed_tenants=[other["tenant_id"]])
    )
    result["other_tenant"] = observe(lambda: cross.get_secret(fx["reads"]["latest"]["name"]))

    # Managed identity: App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER), then IMDS. The
    # credential reads the environment when it is made.
    os.environ["IDENTITY_ENDPOINT"] = fx["identity_endpoint"]
    os.environ["IDENTITY_HEADER"] = fx["identity_header"]
    app_service = secret_client(fx, ManagedIdentityCredential())
    result["app_service"] = observe(lambda: app_service.get_secret(fx["reads"]["latest"]["name"]))
    del os.environ["IDENTITY_ENDPOINT"]
    del os.environ["IDENTITY_HEADER"]
    os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = fx["imds_host"]
    imds = secret_client(fx, ManagedIdentityCredential())
    result["imds"] = observe(lambda: imds.get_secret(fx["reads"]["latest"]["name"]))

    print(json.dumps(result))


if __name__ == "__main__":
    main()
