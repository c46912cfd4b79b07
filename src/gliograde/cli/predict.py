"""``gliograde predict BUNDLE CASE... --out DIR``: grade new cases, with evidence (LayerCAM, or top radiomics features).

    gliograde predict runs/m new/Brats18_X --out preds                  # BraTS case folder (t1ce + seg)
    gliograde predict runs/m scan.png --out preds                       # scan_mask.png beside it
    gliograde predict runs/m t1ce.nii.gz --mask seg.nii.gz --out preds
    gliograde predict runs/m dicom_case/ --out preds                    # *.dcm + mask.nii.gz or mask/
    gliograde predict runs/m cohort/ --out preds                        # batch: every case -> preds/summary.csv

Each case gives DIR/<case>/prediction.json and overlay.png (slice + ROI | model input + evidence; a radiomics
bundle, the `recommended` preset's, shows the ROI and lists the top contributing features instead of a map);
DIR/summary.csv lists every case (status ok/error), DIR/timings.json the warm-up and median latencies.
Cases are named case-<hash> unless --keep-ids, and a message names a file by its place in the case
(case-<hash>/file-0003), not by its name; --write-aliases adds DIR/aliases.csv (alias -> input) to map back.
DIR/config.yaml holds the settings (its ``predict:`` section);
``--config DIR/config.yaml`` replays them on the cases given (precedence: ``--config`` YAML < flags).
``--executor ray`` grades the cases in parallel Ray tasks (the bundle and each case's files reach the workers
through Ray's object store; outputs are written here as cases finish; docs/distributed.md): the same files.
The console, summary.csv, prediction.json and overlay.png say what the model cannot recognise (a grade 2 vs 3
model: grade 4) and which WHO grading its labels follow, and flag a case unlike the training data beside its grade
(``unlike_training``, ``max_abs_z``). The exit status is 1 when any case of a batch failed.
Research use only: not a medical device.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from gliograde.cli._common import (
    EXECUTOR_FLAGS,
    add_config,
    add_executor,
    add_out,
    add_write_aliases,
    print_config,
    resolve_args,
)

#: Parsed-argument name -> the RunConfig key it sets.
FLAGS = {**{name: (f"predict.{name}",) for name in ("explain", "mask_heat", "keep_ids", "threads", "slice_index",
                                                   "write_aliases")},
         **EXECUTOR_FLAGS}
#: Threads ``gliograde predict`` uses unless told (the library leaves torch's setting alone).
DEFAULT_THREADS = 1


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser("predict", help="grade new cases with a trained bundle (+ Grad-CAM)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle folder written by `gliograde train`")
    p.add_argument("cases", type=Path, nargs="+", metavar="CASE",
                   help="slice image, NIfTI file, case folder (BraTS / DICOM / slices) or a folder of cases")
    add_out(p, help_="folder for prediction.json, overlay.png per case and summary.csv")
    p.add_argument("--mask", type=Path, default=None,
                   help="mask of a single image/volume CASE (default: found beside it)")
    p.add_argument("--keep-ids", action="store_true", default=None,
                   help="name cases by folder/file name (default: off, case-<sha256> so no identity leaks)")
    add_write_aliases(p, "case alias -> input path")
    p.add_argument("--no-cam", action="store_false", dest="explain", default=None,
                   help="skip the evidence (LayerCAM map / top radiomics features) and overlay.png "
                        "(default: compute them)")
    p.add_argument("--show-all-heat", action="store_false", dest="mask_heat", default=None,
                   help="draw evidence over the whole crop in overlay.png (default: inside the ROI only; "
                        "heat_in_roi in the JSON is always measured on the whole map)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the model (default: 1; one case at a time gains little from more, "
                        "and on a busy machine extra threads stall each other: 20 ms became 200-3900 ms)")
    p.add_argument("--slice-index", type=int, default=None,
                   help="use this slice instead of the largest tumour cross-section (default: largest)")
    add_executor(p, "case")
    add_config(p)
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde.bundles import load_bundle  # loads torch: only when the command runs
    from gliograde.errors import InputError
    from gliograde.prediction.run import failures_line, find_cases, grade_line, model_lines, run_predict, unlike_text

    cfg = resolve_args("predict", args, FLAGS)
    if cfg.predict.threads is None:
        cfg = replace(cfg, predict=replace(cfg.predict, threads=DEFAULT_THREADS))
    if args.print_config:
        return print_config(cfg, "predict")
    if args.mask is not None and len(args.cases) != 1:
        raise InputError(f"--mask {args.mask} given with {len(args.cases)} cases; --mask pairs with one CASE only")
    bundle = load_bundle(args.bundle)
    cases, batch = find_cases(args.cases, args.mask)
    if not cases:
        raise InputError(f"{args.cases[0]}: no case found; give image/mask files, case folders or a folder of them")
    results = run_predict(bundle, cases, args.out, cfg.predict, executor=cfg.executor, progress=not args.quiet)
    for line in model_lines(bundle):
        print(line)
    for r in results:
        if r.status == "ok":
            print(f"{r.case}: {grade_line(r, unlike_text(r))}")
        else:
            print(f"{r.case}: error: {r.message}")
    n_bad = sum(r.status != "ok" for r in results)
    print(f"wrote {args.out / 'summary.csv'} ({len(results) - n_bad} ok, {n_bad} error)")
    if n_bad and not batch and len(results) == 1:
        raise InputError(results[0].message)
    if failed := failures_line(n_bad, len(results), "case", "status error in summary.csv"):
        print(failed, file=sys.stderr)  # a batch with failed cases is not a success: the graded ones are written
        return 1
    return 0
