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
# The browser tests drive Debian's Chromium (no browser is downloaded).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    part "installing chromium for the browser tests (apt)" bash -c \
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null' \
      || echo "== chromium could not be installed: the browser tests will skip"
  else
    echo "== no chromium and no root apt: the browser tests will skip"
  fi
fi
# The grading tests run every notebook in a bubblewrap sandbox (issue 14);
# they need bwrap and do not skip without it.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    part "installing bubblewrap for the grading sandbox (apt)" bash -c \
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null' \
      || echo "== bubblewrap could not be installed: the grading tests will fail"
  else
    echo "== no bwrap (bubblewrap) and no root apt: install it (apt-get install bubblewrap); the grading tests will fail"
  fi
fi
part "library, book-build and browser tests (tests/)" \
  python -m pytest tests -q -p no:cacheprovider "$@"
# Every chapter re-executed by nbval: notebooks are stored without outputs,
# so this checks that no cell raises, and each chapter asserts its claims.
part "chapters executed by nbval (book/)" \
  python -m pytest --nbval-lax book -q -p no:cacheprovider --durations=0
echo "== all tests: $(( $(date +%s) - t0 )) s"
