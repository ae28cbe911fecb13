#!/usr/bin/env bash
# wrk from Debian, for the proxy load benchmark (`deno task bench:proxy`: nginx, a Deno.serve +
# fetch pass-through and the proxy under the same load). Skipped when wrk is installed;
# `apt-get update` runs only when the package lists do not know wrk yet, or the install fails.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [[ "$(id -u)" != "0" ]]; then
  sudo="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show wrk >/dev/null 2>&1; then
  $sudo apt-get update -qq
fi
if ! $sudo apt-get install -y -qq --no-install-recommends wrk; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends wrk
fi
