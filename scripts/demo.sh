#!/usr/bin/env bash
# The main job on the embedded synthetic cohort: synth -> ingest -> cv under both protocols (the honest one and
# the study's leaky one, so the report opens with the gap between them; quick preset), then a bundle with the
# honest CV metrics attached, a few cases graded, and the command that opens them in the viewer.
# The output fits on one screen apart from the results tables: one progress line per step (at most a plain line
# a minute when piped), per-unit and per-epoch detail only with VERBOSE=1 (gliograde -v).
# Usage: bash scripts/demo.sh [OUT]   (make demo; VERBOSE=1 make demo for the detail)
set -euo pipefail
OUT="${1:-demo-out}"
G="${GLIOGRADE:-.venv/bin/gliograde}"
if [ -n "${VERBOSE:-}" ]; then G_FLAGS=(-v); else G_FLAGS=(); fi
g() { "$G" "${G_FLAGS[@]}" "$@"; }
mkdir -p "$OUT"
echo "== 1/5 synthesise the embedded cohort (130 patients: 30 / 43 / 57 of grades 2 / 3 / 4, seed 0)"
if [ -f "$OUT/synth/labels.csv" ]; then
  echo "   (already there: the generator is deterministic, so it is reused)"
else
  g synth --out "$OUT/synth" --seed 0
fi
echo "== 2/5 ingest it (largest tumour slice, ROI, 8-bit, 227x227)"
g ingest "$OUT/synth" --out "$OUT/cohort"
echo "== 3/5 cross-validate full / no-pretrain / no-aug / handcrafted, honest and the study's (leaky) protocol"
echo "   (quick preset, 5 folds; the paper protocol splits augmented copies, not patients, between train and test)"
g cv "$OUT/cohort" --out "$OUT/cv" --preset quick --folds 5 --n-boot 1000 --protocol both
echo "== 4/5 train the quick preset's CNN on every patient, with the honest CV metrics attached to its model card"
g train "$OUT/cohort" --out "$OUT/model" --preset quick --cv-run "$OUT/cv"
echo "== 5/5 grade three of its patients with it (training patients: this shows the viewer, it measures nothing)"
CASES=()
for d in "$OUT"/synth/*/; do
  CASES+=("${d%/}")
  [ "${#CASES[@]}" -ge 3 ] && break
done
g predict "$OUT/model" "${CASES[@]}" --out "$OUT/pred"
echo
echo "Open the viewer on the demo's bundle, its graded cases and the CV run (pip extra gliograde[web]; Ctrl-C stops):"
echo "  $G serve $OUT/model $OUT/pred $OUT/cv"
echo "then browse http://127.0.0.1:8000/ (drop a case folder's files there to grade it in the browser)"
