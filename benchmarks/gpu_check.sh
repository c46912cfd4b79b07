#!/usr/bin/env bash
# Issue 16's device checks as one short script, for a machine with a CUDA GPU (about 15 minutes on one H200):
# the gpu-marked equality tests (a failure is reported and the benchmarks still run), then the whole protocol run for real with the full recipe, then EfficientNet-Lite0.
# Figures land in benchmarks/results.json (key study_protocol: the last run) and on stdout; copy them into
# docs/performance.md. Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (OUT_DIR gets a copy of each run's JSON)
set -euo pipefail
PY="${PY:-.venv/bin/python}"
OUT="${1:-gpu-check}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
"$PY" -m pytest -q -p no:cacheprovider -m gpu tests/unit/test_augment_fast.py tests/unit/test_device_path.py \
  | tee "$OUT/gpu-tests.txt" || echo "gpu tests failed (exit $?): see $OUT/gpu-tests.txt"
"$PY" -m benchmarks study_protocol --device cuda --preset paper --run-all | tee "$OUT/study-paper.txt" || echo "targets missed"
cp benchmarks/results.json "$OUT/results-paper.json"
"$PY" -m benchmarks study_protocol --device cuda --preset modern | tee "$OUT/study-modern.txt" || echo "targets missed"
cp benchmarks/results.json "$OUT/results-modern.json"
