"""``gliograde ingest DATA --out DIR``: files on disk -> manifest.csv + preprocessed uint8 cache + figures."""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import add_config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("ingest",
                       help="read a cohort (PNG/TIFF slices, NIfTI, DICOM, or a manifest CSV) and preprocess it",
                       description="Check a whole cohort, choose each patient's representative slice, preprocess it "
                                   "as in the study and write manifest.csv + a uint8 cache.")
    p.add_argument("data", type=Path,
                   help="cohort folder (with labels.csv) or a manifest CSV (patient_id, grade, image, mask[, slice])")
    p.add_argument("--out", type=Path, required=True, help="output folder (required)")
    p.add_argument("--layout", choices=["auto", "slices", "nifti", "dicom", "manifest"], default=None,
                   help="input layout (default: auto)")
    p.add_argument("--channels", default=None,
                   help="sequences as channels, comma-separated from t1, flair, t1ce, t2 (default: t1ce)")
    p.add_argument("--roi-labels", default=None,
                   help="segmentation labels forming the ROI, e.g. 1,4 (default: every non-zero label)")
    p.add_argument("--slice-index", type=int, default=None,
                   help="use this slice for every case (default: largest tumour cross-section)")
    p.add_argument("--slices", type=int, default=None, help="k neighbouring slices per patient (default: 1)")
    p.add_argument("--size", type=int, default=None, help="output side in pixels (default: 227)")
    p.add_argument("--margin", type=int, default=None, help="pixels around the ROI box (default: 4)")
    p.add_argument("--rim", type=int, default=None,
                   help="pixels of context kept around the outline (default: 0, tumour only)")
    p.add_argument("--intensity", choices=["percentile", "zscore", "robust"], default=None,
                   help="8-bit scaling: percentile window, z-score, or robust median/IQR (default: percentile)")
    p.add_argument("--window", default=None, help="percentile window low,high (default: 0.5,99.5)")
    p.add_argument("--region", choices=["slice", "brain", "roi", "brain_outside_roi", "ring"], default=None,
                   help="pixels the scaling is computed on; brain_outside_roi = the patient's own tissue outside "
                        "the tumour, ring = a band around it (default: brain)")
    p.add_argument("--ring-width", type=int, default=None, help="width in pixels of --region ring (default: 10)")
    p.add_argument("--skip-bad", action="store_true",
                   help="ingest the valid patients and list the others (default: stop on any problem)")
    p.add_argument("--no-figures", action="store_true", help="do not draw the example figures (default: draw them)")
    add_config(p)
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde.data.ingest_run import build_ingest_cfg, run_ingest

    cfg = build_ingest_cfg(args)
    result = run_ingest(args.data, args.out, cfg, figures=not args.no_figures, progress=not args.quiet)
    m = result.manifest
    counts = m.drop_duplicates("patient_id")["grade"].value_counts().sort_index()
    print(f"ingested {m['patient_id'].nunique()} patients, {len(m)} slices "
          f"({', '.join(f'grade {g}: {n}' for g, n in counts.items())}) -> {args.out / 'manifest.csv'}")
    if result.problems:
        print(f"left out ({len(result.skipped)}): {', '.join(result.skipped) or 'no labelled patient'}")
        for line in result.problems:
            print(f"  {line}")
    return 0
