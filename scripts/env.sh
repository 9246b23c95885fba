#!/usr/bin/env bash
# Sourced by book.sh and test.sh: make sure .venv exists and holds
# requirements.txt. The install runs only when requirements.txt or
# pyproject.toml changed since the last one (their hash is kept in
# .venv/.installed), so a second run costs nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
PY=$VENV/bin/python
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
have=$(cat $VENV/.installed 2>/dev/null || true)
if [ ! -x "$PY" ] || [ "$want" != "$have" ]; then
  s=$(date +%s)
  echo "== setting up $VENV (requirements.txt changed or first run)"
  [ -x "$PY" ] || $PYTHON -m venv $VENV
  $PY -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 \
    | grep -v "^WARNING: Location" || true
  $PY -c "import dml, torch, jupyter_book, nbgrader" \
    || { echo "install failed: see the pip output above"; exit 1; }
  $PY -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$want" > $VENV/.installed
  echo "== environment ready in $(( $(date +%s) - s )) s"
fi
export PATH="$PWD/$VENV/bin:$PATH"
