#!/usr/bin/env bash
# One prepared GPU check for the Triton backend: CUDA tests, then the speed
# benchmark at GPU sizes. Runs from a bare checkout on a CUDA machine with PyTorch and
# Triton installed and no internet (no pip install: the package is used from src/).
# Budget: < 8 minutes on an H100/H200 (tests <= 180 s, benchmark <= 300 s, both capped;
# most of the test time is compiling kernel specializations).
#
#   bash benchmarks/gpu_check.sh            # results under $OUT if set, else benchmarks/results
#   SWEEP_TILES=1 bash benchmarks/gpu_check.sh   # also time Triton tile candidates (~3 min more)
#
# Writes: tests.log, speed_cuda.json, speed_cuda.png (if matplotlib), gpu_check.log.
set -u
cd "$(dirname "$0")/.."
DEST="${OUT:-benchmarks/results}"
mkdir -p "$DEST"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
status=0
{
  echo "== $(date -u +%FT%TZ) gpu_check"
  nvidia-smi -L 2>/dev/null || echo "nvidia-smi unavailable"
  "$PY" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'triton', triton.__version__, 'device', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'" || exit 2

  echo "== tests (CUDA sizes)"
  if "$PY" -c "import pytest" 2>/dev/null; then
    timeout 180 "$PY" -m pytest -q -p no:cacheprovider tests/ops/test_triton.py \
      2>&1 | tee "$DEST/tests.log"
    rc=${PIPESTATUS[0]}
    echo "tests exit code $rc"
    [ "$rc" -eq 0 ] || status=1
  else
    echo "pytest missing: tests skipped" | tee "$DEST/tests.log"
    status=1
  fi

  echo "== speed (E5 at B1024, training steps, memory vs T)"
  timeout 300 "$PY" benchmarks/speed.py --device cuda --lengths 1,10,64,200,512,1000,2048 \
    --budget 0.4 --out "$DEST/speed_cuda.json"
  rc=$?
  echo "speed exit code $rc"
  [ "$rc" -eq 0 ] || status=1

  if [ "${SWEEP_TILES:-0}" = "1" ]; then
    echo "== Triton tile candidates"
    timeout 240 "$PY" benchmarks/speed.py --device cuda --sweep-tiles \
      --out "$DEST/speed_cuda_tiles.json" || status=1
  fi
  echo "== done, status $status"
  exit "$status"
} 2>&1 | tee "$DEST/gpu_check.log"
exit "${PIPESTATUS[0]}"
