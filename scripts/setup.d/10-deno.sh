#!/usr/bin/env bash
# npm packages for Deno, exactly as locked.
set -euo pipefail
deno install --frozen
