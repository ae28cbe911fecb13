#!/usr/bin/env bash
# nginx from Debian, for the end-to-end tests (a bearer gate and an API-key gate in front of
# MLflow, each test starting its own on a free port). Skipped when nginx is installed;
# `apt-get update` runs only when the package lists do not know nginx yet, or the install fails.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; then
  exit 0
fi
sudo=""
if [[ "$(id -u)" != "0" ]]; then
  sudo="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show nginx >/dev/null 2>&1; then
  $sudo apt-get update -qq
fi
if ! $sudo apt-get install -y -qq --no-install-recommends nginx; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nginx
fi
# Where an init system runs, the package starts a system nginx on port 80; nothing here needs it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  $sudo systemctl stop nginx || true
  $sudo systemctl disable nginx || true
fi
