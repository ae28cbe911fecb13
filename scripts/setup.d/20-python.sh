#!/usr/bin/env bash
# Project-local virtual environment with the pinned peers. Skipped when requirements are unchanged.
set -euo pipefail
stamp=".venv/.requirements.sha256"
want="$(sha256sum requirements-peers.txt | cut -d' ' -f1)"
if [[ -x .venv/bin/python && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
# An existing environment (possibly a symlink to a shared one) is only added to.
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-peers.txt
echo "$want" > "$stamp"
