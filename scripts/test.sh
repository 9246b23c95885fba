#!/usr/bin/env bash
# README command 2: set up .venv if needed, then run every test, printing
# the time each part takes. Extra arguments go to the library's pytest run.
set -euo pipefail
source "$(dirname "$0")/env.sh"
t0=$(date +%s)
part() {  # part NAME COMMAND...: run one part and print its wall time
  local name=$1; shift
  local s=$(date +%s)
  echo "== $name"
  "$@"
  echo "== $name: $(( $(date +%s) - s )) s"
}
part "library tests (tests/)" python -m pytest tests -q -p no:cacheprovider "$@"
echo "== all tests: $(( $(date +%s) - t0 )) s"
