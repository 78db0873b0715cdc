#!/usr/bin/env bash
# Finds a Python >= 3.12, creates .venv, installs the pinned dependencies once,
# compiles translations and migrates. Re-running it is cheap: it reinstalls only
# when pyproject.toml or requirements.lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidates=() c root
  for c in python3.14 python3.13 python3.12 python3 python; do
    command -v "$c" >/dev/null 2>&1 && candidates+=("$(command -v "$c")")
  done
  root="${PYENV_ROOT:-$HOME/.pyenv}"
  if [ -d "$root/versions" ]; then
    for c in $(ls -1d "$root"/versions/*/bin/python3 2>/dev/null | sort -rV); do candidates+=("$c"); done
  fi
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
  if ! PY=$(find_python); then
    echo "pocketdesk needs Python >= 3.12 with venv: install python3.12 (e.g. 'apt-get install python3.12 python3.12-venv' or 'pyenv install 3.12') and run make again." >&2
    exit 1
  fi
  echo "bootstrap: creating .venv with $PY ($("$PY" -V))"
  rm -rf .venv
  "$PY" -m venv .venv
fi

stamp=.venv/.pocketdesk-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing pinned dependencies (requirements.lock)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c requirements.lock -e '.[dev]'
  echo "$want" > "$stamp"
fi

mkdir -p var
# Translations are compiled from the committed .po files (Babel: no GNU gettext needed).
for po in src/pocketdesk/locale/*/LC_MESSAGES/django.po; do
  [ -f "$po" ] || continue
  mo="${po%.po}.mo"
  if [ ! -f "$mo" ] || [ "$po" -nt "$mo" ]; then
    .venv/bin/pybabel -q compile -i "$po" -o "$mo"
  fi
done
