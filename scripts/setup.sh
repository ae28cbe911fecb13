#!/usr/bin/env bash
# Installs everything the tests and the demo need, idempotently: npm packages for Deno, a
# project-local Python virtual environment with the real peers (MLflow, moto, hvac, OpenBao, the
# Python plugin this project replaces, the Azure SDK for Python), nginx and wrk (for the proxy
# benchmark) from Debian, and the MLflow Java client from Maven Central into .peers/m2. Each step
# lives in scripts/setup.d/.
set -euo pipefail
cd "$(dirname "$0")/.."
export MSA_ROOT="$PWD"
for step in scripts/setup.d/*.sh; do
  name="$(basename "$step" .sh)"
  start=$(date +%s)
  bash "$step" >"${TMPDIR:-/tmp}/msa-setup-$name.log" 2>&1 || {
    echo "setup: step $name failed; its log follows" >&2
    tail -n 60 "${TMPDIR:-/tmp}/msa-setup-$name.log" >&2
    exit 1
  }
  echo "setup: $name ok ($(( $(date +%s) - start ))s)" >&2
done
