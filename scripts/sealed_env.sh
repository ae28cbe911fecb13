#!/usr/bin/env bash
# Runs a command (the test suite) sealed off from the machine it runs on: a fresh, empty HOME
# (removed afterwards), no XDG_* directories, and none of the ambient credential variables that
# SDKs and peers pick up on their own (VAULT_*, BAO_*, AWS_*, AZURE_*, the Azure managed-identity
# endpoints, MLFLOW_*). So ~/.vault-token, ~/.aws/credentials, ~/.azure and the caller's tokens
# are never read. Caches stay where they are, so nothing is downloaded again: DENO_DIR points at
# the real Deno cache, npm at the real npm cache, and ~/.m2/repository is linked to the real
# Maven repository (artifacts only, never settings.xml).
#
# Usage: bash scripts/sealed_env.sh deno test -A ...
set -euo pipefail
if [[ $# -eq 0 ]]; then
  echo "usage: bash scripts/sealed_env.sh <command> [args...]" >&2
  exit 2
fi

real_home="${HOME:-}"
if [[ -z "${DENO_DIR:-}" ]]; then
  # Where this deno keeps its cache (the npm packages live there), asked before HOME changes.
  DENO_DIR="$(deno info --json 2>/dev/null | sed -n 's/^ *"denoDir": *"\(.*\)",\{0,1\}$/\1/p' | head -n 1)"
  export DENO_DIR="${DENO_DIR:-${XDG_CACHE_HOME:-$real_home/.cache}/deno}"
fi
if [[ -z "${npm_config_cache:-}" && -n "$real_home" ]]; then
  export npm_config_cache="$real_home/.npm"
fi

sealed_home="$(mktemp -d "${TMPDIR:-/tmp}/msa-test-home.XXXXXX")"
cleanup() { rm -rf "$sealed_home"; }
trap cleanup EXIT
if [[ -n "$real_home" && -d "$real_home/.m2/repository" ]]; then
  mkdir -p "$sealed_home/.m2"
  ln -s "$real_home/.m2/repository" "$sealed_home/.m2/repository"
fi

# Every variable whose name starts with one of these prefixes is removed, plus a few names.
prefixes='^(VAULT_|BAO_|AWS_|AZURE_|MLFLOW_|XDG_)'
names=(IDENTITY_ENDPOINT IDENTITY_HEADER IDENTITY_SERVER_THUMBPRINT MSI_ENDPOINT MSI_SECRET
  IMDS_ENDPOINT GOOGLE_APPLICATION_CREDENTIALS KUBECONFIG)
for name in $(compgen -e); do
  if [[ "$name" =~ $prefixes ]]; then unset "$name"; fi
done
for name in "${names[@]}"; do unset "$name"; done

export HOME="$sealed_home"
# Marks the sealed environment: test peers reuse this HOME instead of making their own.
export MSA_SEALED_HOME="$sealed_home"
# Not exec: the trap removes the temporary HOME once the command is done.
"$@"
