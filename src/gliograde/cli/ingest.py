"""``gliograde ingest DATA --out DIR``: files on disk -> manifest.csv + preprocessed uint8 cache + figures.

    gliograde ingest ../shared/data/tcga-lgg --out runs/tcga                       # the study's preprocessing
    gliograde ingest ../shared/data/tcga-lgg --out runs/tcga-rec --preset recommended   # train/cv's default ingest
    gliograde ingest data --out runs/again --config runs/tcga/config.yaml          # replay an earlier ingest

Precedence: preset (default: paper, the study's) < ``--config`` YAML (its ``ingest:`` section) < flags.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import (
    add_config,
    add_preset,
    names,
    numbers,
    print_config,
    resolve_args,
    whole_numbers,
)
from gliograde.settings import COMMAND_PRESET

#: Parsed-argument name -> the RunConfig key it sets.
FLAGS: dict[str, tuple[str, ...]] = {
    **{name: (f"ingest.{name}",) for name in ("layout", "channels", "roi_labels", "slice_index", "slices", "skip_bad",
                                                "series_map")},
    **{name: (f"ingest.preprocess.{name}",) for name in ("size", "margin", "rim", "intensity", "window", "region",
                                                         "ring_width")}}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("ingest",
                       help="read a cohort (PNG/TIFF slices, NIfTI, DICOM, or a manifest CSV) and preprocess it",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path,
                   help="cohort folder (with labels.csv) or a manifest CSV (patient_id, grade, image, mask[, slice])")
    p.add_argument("--out", type=Path, required=True, help="output folder (required)")
    add_preset(p, COMMAND_PRESET["ingest"])
    p.add_argument("--layout", default=None, metavar="{auto,slices,nifti,dicom,manifest}",
                   help="input layout (default: auto)")
    p.add_argument("--channels", type=names, default=None,
                   help="sequences as channels, comma-separated from t1, flair, t1ce, t2 (default: t1ce)")
    p.add_argument("--series-map", type=names, default=None, metavar="SEQ=PATTERN[,SEQ=PATTERN]",
                   help="DICOM: which series is which sequence, by SeriesDescription (* any text, | or), or a YAML/CSV "
                        "file of such entries, tried before the built-in patterns, e.g. 't1ce=*T1*POST*' (default: "
                        "built-in: *FLAIR*, *T1*POST*/*T1*GD*/..., *T2*, *T1*)")
    p.add_argument("--roi-labels", type=whole_numbers, default=None,
                   help="segmentation labels forming the ROI, e.g. 1,4 (default: every non-zero label)")
    p.add_argument("--slice-index", type=int, default=None,
                   help="use this slice for every case (default: largest tumour cross-section)")
    p.add_argument("--slices", type=int, default=None, help="k neighbouring slices per patient (default: 1)")
    p.add_argument("--size", type=int, default=None, help="output side in pixels (default: 227)")
    p.add_argument("--margin", type=int, default=None, help="pixels around the ROI box (default: 4)")
    p.add_argument("--rim", type=int, default=None,
                   help="pixels of context kept around the outline (default: 0, tumour only)")
    p.add_argument("--intensity", default=None, metavar="{percentile,zscore,robust}",
                   help="8-bit scaling: percentile window, z-score, or robust median/IQR (default: percentile)")
    p.add_argument("--window", type=numbers, default=None,
                   help="percentile window low,high with 0 <= low < high <= 100 (default: 0.5,99.5)")
    p.add_argument("--region", default=None, metavar="{slice,brain,roi,brain_outside_roi,ring}",
                   help="pixels the scaling is computed on; brain_outside_roi = the patient's own tissue outside "
                        "the tumour, ring = a band around it (default: brain)")
    p.add_argument("--ring-width", type=int, default=None, help="width in pixels of --region ring (default: 10)")
    p.add_argument("--skip-bad", action="store_true", default=None,
                   help="ingest the valid patients and list the others (default: stop on any problem)")
    p.add_argument("--no-figures", action="store_true", help="do not draw the example figures (default: draw them)")
    add_config(p)
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde import api

    cfg = resolve_args("ingest", args, FLAGS)
    if args.print_config:
        return print_config(cfg, "ingest")
    result = api.ingest(args.data, args.out, cfg, figures=not args.no_figures, progress=not args.quiet)
    m = result.manifest
    counts = m.drop_duplicates("patient_id")["grade"].value_counts().sort_index()
    print(f"ingested {m['patient_id'].nunique()} patients, {len(m)} slices "
          f"({', '.join(f'grade {g}: {n}' for g, n in counts.items())}) -> {args.out / 'manifest.csv'}")
    if result.problems:
        print(f"left out ({len(result.skipped)}): {', '.join(result.skipped) or 'no labelled patient'}")
        for line in result.problems:
            print(f"  {line}")
    return 0
