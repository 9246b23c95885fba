#!/usr/bin/env bash
# The first GPU run of dml in one command (issue 15), and its CPU rehearsal.
#
#   bash benchmarks/gpu_check.sh                        # a fresh GPU machine
#   bash benchmarks/gpu_check.sh --device cpu --quick   # rehearsal (CI)
#
# On a GPU machine it
#   1. installs, into benchmarks/.venv-gpu: torch==2.13.0 from PyPI (the
#      CUDA build on Linux; TORCH_INDEX_URL=https://download.pytorch.org/
#      whl/cu128 picks another), requirements.txt (whose torch pin the CUDA
#      build already meets; -e . installs dml), and the peers
#      pytorch-metric-learning==2.9.0 and faiss-cpu;
#   2. runs every gpu-marked test (pytest -m gpu: CUDA against the CPU);
#   3. benchmarks/deep.py --device cuda at B in {256, 1024, 4096},
#      D in {128, 512}, against pytorch-metric-learning;
#   4. benchmarks/linear.py: our LMNN and NCA fitted on the GPU,
#      N = 50 000, D = 64;
#   5. benchmarks/metrics.py --device cuda: retrieval metrics of
#      N = 1 000 000, D = 128 against pml + faiss-cpu;
# and writes everything, with the GPU's name, to one log (--log, default
# benchmarks/gpu_check.log), ending with a summary of the steps. The
# figures of benchmarks/RESULTS.md's GPU table are copied from that log.
#
# --quick: small sizes (a rehearsal that the script runs, not a timing);
# it skips the installs and uses the project's .venv (or $PYTHON). A peer
# that is not installed is skipped, and the log says so. --no-install
# skips the installs of a full run (an environment prepared beforehand).
# Exit status: 0 when every step passed, 1 otherwise, 2 for bad options.
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE=cuda QUICK=0 INSTALL=1 LOG=benchmarks/gpu_check.log
while [ $# -gt 0 ]; do
  case $1 in
    --device) DEVICE=${2:-}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    --log) LOG=${2:-}; shift 2 ;;
    *) echo "gpu_check.sh: unknown option '$1'; use --device cuda|cpu," \
            "--quick, --no-install, --log FILE" >&2; exit 2 ;;
  esac
done
case $DEVICE in
  cuda|cpu) ;;
  *) echo "gpu_check.sh: --device '$DEVICE' is not supported; use cuda" \
          "or cpu" >&2; exit 2 ;;
esac
[ "$QUICK" = 1 ] && INSTALL=0

STATUS=()      # one "name: ok|FAILED (rc) in N s" line per step
part() {       # part NAME TIMEOUT_S COMMAND...: run, time and record a step
  local name=$1 limit=$2; shift 2
  local s=$(date +%s) rc
  echo; echo "=== $name"; echo "\$ $*"
  if declare -F "$1" >/dev/null; then "$@"; else timeout "$limit" "$@"; fi
  rc=$?
  local took=$(( $(date +%s) - s ))
  if [ $rc = 0 ]; then STATUS+=("$name: ok in ${took} s")
  else STATUS+=("$name: FAILED (exit $rc$([ $rc = 124 ] && echo \
                ", over ${limit} s")) in ${took} s"); fi
  echo "=== $name: exit $rc, ${took} s"
}

install() {
  local venv=benchmarks/.venv-gpu
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || return 1
  PY=$venv/bin/python
  local pip=("$PY" -m pip install -q)
  "${pip[@]}" --upgrade pip || true
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${pip[@]}" torch==2.13.0 --index-url "$TORCH_INDEX_URL" || return 1
  else
    "${pip[@]}" torch==2.13.0 || return 1
  fi
  "${pip[@]}" -r requirements.txt || return 1
  "${pip[@]}" pytorch-metric-learning==2.9.0 faiss-cpu \
    || echo "the peers could not be installed: their rows are skipped"
}

main() {
  local t0=$(date +%s)
  echo "gpu_check.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), device $DEVICE," \
       "quick $QUICK, host $(hostname)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    echo "GPU (nvidia-smi): $(nvidia-smi --query-gpu=name,memory.total,driver_version \
         --format=csv,noheader 2>&1 | head -4 | tr '\n' ';')"
  else
    echo "GPU (nvidia-smi): none found"
  fi
  if [ "$INSTALL" = 1 ]; then
    part "install (torch 2.13.0 CUDA build, requirements.txt, peers)" 1200 \
      install
    PY=benchmarks/.venv-gpu/bin/python
  else
    PY=${PYTHON:-}
    if [ -z "$PY" ]; then
      if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
    fi
    echo "installs skipped ($([ "$QUICK" = 1 ] && echo "--quick rehearsal" \
         || echo "--no-install")); using $PY"
  fi
  "$PY" - "$DEVICE" <<'EOF' || { echo "no usable torch for --device $DEVICE"; return 1; }
import importlib.util, sys, torch
dev = sys.argv[1]
name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), GPU: {name}")
for peer in ("pytorch_metric_learning", "faiss"):
    ok = importlib.util.find_spec(peer) is not None
    print(f"peer {peer}: {'installed' if ok else 'not installed, skipped'}")
if dev == "cuda" and not torch.cuda.is_available():
    sys.exit("--device cuda but torch sees no CUDA device")
EOF

  if [ "$QUICK" = 1 ]; then
    local deep=(--quick)
    local linear=(--quick)
    local metrics=(--quick)
  else
    local deep=(--sizes 256,1024,4096 --dims 128,512 --repeats 5)
    local linear=(--big 50000 --big-dim 64 --repeats 1 --skip-peers
                  --threads "$(nproc)")
    local metrics=(--sizes 1000000 --dim 128 --repeats 1)
  fi
  local big=$([ "$QUICK" = 1 ] && echo 300 || echo 600)
  part "pytest -m gpu" "$big" "$PY" -m pytest tests -m gpu -q \
    -p no:cacheprovider -rs --ignore=tests/test_browser.py \
    --ignore=tests/test_book.py --ignore=tests/test_autograder_e2e.py
  part "deep losses vs pytorch-metric-learning ($DEVICE)" "$big" \
    "$PY" benchmarks/deep.py --device "$DEVICE" --no-venv "${deep[@]}"
  part "LMNN and NCA fits ($DEVICE)" "$big" \
    "$PY" benchmarks/linear.py --device "$DEVICE" --only-big \
    --methods LMNN,NCA "${linear[@]}"
  part "retrieval metrics vs pml + faiss-cpu ($DEVICE)" "$big" \
    "$PY" benchmarks/metrics.py --device "$DEVICE" --no-venv "${metrics[@]}"

  echo; echo "=== summary ($(( $(date +%s) - t0 )) s in all)"
  printf '  %s\n' "${STATUS[@]}"
  for s in "${STATUS[@]}"; do
    case $s in *FAILED*) return 1 ;; esac
  done
  return 0
}

mkdir -p "$(dirname "$LOG")"
main 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
echo "log: $LOG"
exit "$rc"
