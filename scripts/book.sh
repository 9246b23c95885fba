#!/usr/bin/env bash
# README command 1: set up .venv if needed, then build the HTML book into
# _build/html. Warnings and notebook errors fail the build (-W -n): Jupyter
# Book 1 only warns about a failing notebook otherwise.
set -euo pipefail
source "$(dirname "$0")/env.sh"
s=$(date +%s)
jupyter-book build . -W -n --keep-going
echo "== book built in $(( $(date +%s) - s )) s: _build/html/index.html"
