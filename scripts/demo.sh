#!/usr/bin/env bash
# The main job on the embedded synthetic cohort: synth -> ingest -> cv (honest protocol, quick preset).
# Usage: bash scripts/demo.sh [OUT]   (make demo)
set -euo pipefail
OUT="${1:-demo-out}"
G="${GLIOGRADE:-.venv/bin/gliograde}"
mkdir -p "$OUT"
echo "== 1/3 synthesise the embedded cohort (130 patients: 30 / 43 / 57 of grades 2 / 3 / 4, seed 0)"
if [ -f "$OUT/synth/labels.csv" ]; then
  echo "   (already there: the generator is deterministic, so it is reused)"
else
  "$G" synth --out "$OUT/synth" --seed 0
fi
echo "== 2/3 ingest it (largest tumour slice, ROI, 8-bit, 227x227)"
"$G" ingest "$OUT/synth" --out "$OUT/cohort"
echo "== 3/3 cross-validate full / no-pretrain / no-aug / handcrafted (honest protocol, quick preset, 5 folds)"
"$G" cv "$OUT/cohort" --out "$OUT/cv" --preset quick --folds 5 --n-boot 1000
