#!/usr/bin/env bash
# The bundler that `deno bundle` runs (esbuild, an npm package) into Deno's cache, so that the
# `bundle` and `compile` commands and their tests work without a registry afterwards.
set -euo pipefail
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo 'export const ok = 1;' >"$tmp/warm.ts"
deno bundle --quiet --no-config --output "$tmp/warm.js" "$tmp/warm.ts"
