#!/usr/bin/env bash
# Issue 16's device checks, prepared for a machine with a CUDA GPU, in two stages that each fit one 10-minute
# command (a session lent a GPU gets 15 minutes of device time in all, start-up included: run `protocol` first,
# it holds the figures the issue asks for, then `extras` if time is left):
#   protocol  the gpu-marked equality tests (a failure is reported and the benchmark still runs), then the whole
#             protocol run for real with the full recipe: its wall time, img/s, memory, roofline fraction.
#   extras    folds in parallel (K = 1, 2, 4, 8 short units at once as Ray processes sharing the GPU: the measured
#             choice of issue 16), then EfficientNet-Lite0's rates and one unit.
#   all       both, one after the other (a machine without a per-command limit).
# Budget, from docs/performance.md (AlexNet 8,581 img/s in bf16 on an H200, before the resident path): tests
# about 1 min; the whole protocol at most 4.8 M training images (every epoch of the 40 fine-tuned units), 9.3 min
# at that rate, less with early stopping (patience 3) and the resident path: cut at 8.5 min. Folds in parallel:
# 15 units of 5 epochs x 5,358 images plus a process per unit and Ray's start, about 2 min, cut at 3 (by SIGINT,
# so that the benchmark shuts its Ray down and nothing of it holds the GPU afterwards); EfficientNet-Lite0 about
# 1 min, cut at 2.
# Figures land in benchmarks/results.json (key study_protocol: the last run) and on stdout; copy them into
# docs/performance.md. Usage: bash benchmarks/gpu_check.sh [OUT_DIR] [protocol|extras|all]
set -euo pipefail
PY="${PY:-.venv/bin/python}"
OUT="${1:-gpu-check}"
STAGE="${2:-all}"
case "$STAGE" in protocol|extras|all) ;; *) echo "stage $STAGE: use protocol, extras or all" >&2; exit 2 ;; esac
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
if [ "$STAGE" != extras ]; then
  "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/unit/test_augment_fast.py tests/unit/test_device_path.py \
    | tee "$OUT/gpu-tests.txt" || echo "gpu tests failed (exit $?): see $OUT/gpu-tests.txt"
  timeout -s INT -k 20 510 "$PY" -m benchmarks study_protocol --device cuda --preset paper --run-all \
    | tee "$OUT/study-paper.txt" || echo "whole protocol: targets missed, failed or cut at 510 s (exit $?)"
  cp benchmarks/results.json "$OUT/results-paper.json"
fi
if [ "$STAGE" != protocol ]; then
  if RAY_USAGE_STATS_ENABLED=0 timeout -s INT -k 30 180 "$PY" -m benchmarks study_protocol --device cuda \
    --preset paper --epochs 5 --concurrent 1,2,4,8 | tee "$OUT/study-concurrent.txt"; then
    cp benchmarks/results.json "$OUT/results-concurrent.json"
  else
    echo "folds in parallel: failed or cut at 180 s (exit $?): see $OUT/study-concurrent.txt"
  fi
  timeout -s INT -k 20 120 "$PY" -m benchmarks study_protocol --device cuda --preset modern \
    | tee "$OUT/study-modern.txt" || echo "EfficientNet-Lite0: targets missed, failed or cut (exit $?)"
  cp benchmarks/results.json "$OUT/results-modern.json"
fi
