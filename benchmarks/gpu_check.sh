#!/usr/bin/env bash
# One-command GPU check of zoprl (issue 16), sized for one H100 or H200: under 8 minutes in all,
# compiles included. Every stage writes under OUT; a stage that outruns its time budget is
# stopped and the next one runs.
#
#   bash benchmarks/gpu_check.sh OUT                 the check (needs a CUDA GPU)
#   bash benchmarks/gpu_check.sh --dry-run OUT       the same commands at tiny sizes on a CPU
#                                                    (tests/test_gpu_check.py runs it)
# Options: --wheels DIR (install zoprl's missing dependencies from wheels, offline; default
# ./.whl when it exists), --reproduce NAME (default stochasticity), PYTHON=... (default python3),
# ZOPRL_COMPILE_CACHE=FOLDER (default: a cache under OUT, removed at the end), and the stages'
# time budgets BENCH_S, SCALING_S, REPRODUCE_S (seconds).
#
# Stages (each with a time budget; what a stage measured is on disk before the budget ends):
#   1. zoprl bench --gpu        GridWorld ZPG N = 2^14..2^20 pairs against NumPy (and on every
#                               device when there are several), CartPole MLP ZPG N = 2^12..2^16
#                               against evosax OpenAI-ES, CartPole rollouts, and an 8 seeds x
#                               4 x 4 grid sweep; synchronised timings, compiles apart
#                                                                        -> OUT/bench/
#   2. zoprl bench --scaling    the memory plan (largest batch that fits on the device) and env
#                               steps/s from 2^10 pairs up to it, every 4x   -> OUT/scaling/
#   3. zoprl reproduce NAME --full                                       -> OUT/reproduce/
#   then OUT/gpu_check.log (every line of the run) and OUT/gpu_check.tar.gz (all of OUT).
# --dry-run: stage 1 at tiny sizes (GridWorld only, on 2 simulated devices when the CPU has 2
# cores), stage 2 at tiny sizes (GridWorld only), stage 3 builds every cell of the full profile
# and runs none: about 30 s on 2 cores.
# What it needs beyond the package, and how to run it on a lent machine: benchmarks/RESULTS.md.
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
DRY=0
WHEELS=""
REPRODUCE="stochasticity"
OUT=""
# seconds per stage (150 + 120 + 140 = 410; each may take 20 s more to stop; the rest of the
# 8 minutes is for starting, checking and packing)
BENCH_S="${BENCH_S:-150}"
SCALING_S="${SCALING_S:-120}"
REPRODUCE_S="${REPRODUCE_S:-140}"

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --wheels) WHEELS="$2"; shift ;;
    --reproduce) REPRODUCE="$2"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
    *) OUT="$1" ;;
  esac
  shift
done
if [ -z "$OUT" ]; then
  echo "usage: bash benchmarks/gpu_check.sh [--dry-run] [--wheels DIR] [--reproduce NAME] OUT" >&2
  exit 2
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/gpu_check.log"
: > "$LOG"
say() { echo "gpu_check: $*" | tee -a "$LOG"; }

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if [ -z "$WHEELS" ] && [ -d "$ROOT/.whl" ]; then WHEELS="$ROOT/.whl"; fi

# --- what is installed ---------------------------------------------------------------------
missing() {
  "$PYTHON" - <<'EOF'
import importlib.util
need = ["jax", "flax", "optax", "chex", "gymnax", "evosax", "numpy", "pandas", "pyarrow",
        "matplotlib", "yaml", "six"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
}
MISSING="$(missing)"
if [ -n "$MISSING" ]; then
  if [ -n "$WHEELS" ]; then
    say "installing from $WHEELS (missing: $MISSING)"
    SITE="$OUT/site"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$WHEELS"/*.whl \
      || { say "installing the wheels failed"; exit 2; }
    export PYTHONPATH="$SITE:$PYTHONPATH"
  else
    say "installing zoprl's dependencies (missing: $MISSING)"
    "$PYTHON" -m pip install -q -e "$ROOT" || {
      say "cannot install them: give --wheels DIR (benchmarks/RESULTS.md says which wheels)"
      exit 2
    }
  fi
  MISSING="$(missing)"
  [ -z "$MISSING" ] || { say "still missing: $MISSING"; exit 2; }
fi

platform() { "$PYTHON" -c "import jax; print(jax.default_backend())" 2>/dev/null; }
if [ "$DRY" = 0 ] && [ "$(platform)" != "gpu" ]; then
  CUDA=cuda12
  DRIVER="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
  if [ "${DRIVER%%.*}" -ge 580 ] 2>/dev/null; then CUDA=cuda13; fi
  say "jax sees no GPU (driver ${DRIVER:-none}): installing jax[$CUDA]"
  "$PYTHON" -m pip install -q "jax[$CUDA]>=0.10,<0.12" || true
  if [ "$(platform)" != "gpu" ]; then
    say "jax still sees no GPU: install jax with CUDA support (pip install 'jax[$CUDA]') and rerun"
    exit 2
  fi
fi

"$PYTHON" - <<'EOF' 2>&1 | tee -a "$LOG"
import jax
print("gpu_check: jax", jax.__version__, "on", jax.default_backend(), jax.devices())
EOF
command -v nvidia-smi > /dev/null && nvidia-smi 2>&1 | head -15 >> "$LOG"

# --- the stages ----------------------------------------------------------------------------
ZOPRL=("$PYTHON" -m zoprl.cli)
stage() {  # NAME SECONDS COMMAND...
  local name="$1" seconds="$2"
  shift 2
  say "stage $name (at most $seconds s): $*"
  local start=$SECONDS
  timeout --signal=INT --kill-after=20 "$seconds" "$@" 2>&1 | tee -a "$LOG"
  local code=${PIPESTATUS[0]}
  say "stage $name: exit $code after $((SECONDS - start)) s$([ "$code" = 124 ] && echo ' (time budget spent)')"
}

CACHE=(--compile-cache "${ZOPRL_COMPILE_CACHE:-$OUT/jax-cache}")
# the dry run checks the reproduction's full spec (every cell built, nothing compiled)
CHECK_SPEC='
import os, sys
from zoprl.experiment import build_cells
from zoprl.reproduce import EXPERIMENTS, SPECS
from zoprl.reproduce.specs_io import load_profile
name = sys.argv[1]
assert name in EXPERIMENTS, f"unknown reproduction {name}"
cells = build_cells(load_profile(os.path.join(SPECS, f"{name}.toml"), "full"))
print(f"dry run: zoprl reproduce {name} --full would run {len(cells)} cells")
'
if [ "$DRY" = 1 ]; then
  stage bench 300 "${ZOPRL[@]}" bench --tiny --cases gridworld_zpg,gridworld_zpg_cores \
    --out "$OUT/bench" "${CACHE[@]}"
  stage scaling 300 "${ZOPRL[@]}" bench --tiny --scaling --cases gridworld_zpg \
    --out "$OUT/scaling" "${CACHE[@]}"
  stage reproduce 120 "$PYTHON" -c "$CHECK_SPEC" "$REPRODUCE"
else
  stage bench "$BENCH_S" "${ZOPRL[@]}" bench --gpu --out "$OUT/bench" "${CACHE[@]}"
  stage scaling "$SCALING_S" "${ZOPRL[@]}" bench --gpu --scaling --factor 4 --max-seconds 1 \
    --out "$OUT/scaling" "${CACHE[@]}"
  stage reproduce "$REPRODUCE_S" "${ZOPRL[@]}" reproduce "$REPRODUCE" --full \
    --out "$OUT/reproduce" --quiet "${CACHE[@]}"
fi

rm -rf "$OUT/jax-cache" "$OUT/site"
tar -czf "$OUT/gpu_check.tar.gz" --exclude ./gpu_check.tar.gz -C "$OUT" . 2>/dev/null
say "done in $SECONDS s: $OUT/gpu_check.log, $OUT/gpu_check.tar.gz"
