#!/usr/bin/env bash
# npm packages for Deno, exactly as locked, into Deno's cache (deps/ pins each one once).
set -euo pipefail
deno install --frozen --entrypoint mod.ts cli.ts deps/*.ts
